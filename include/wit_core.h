/* wit_core: the state and decisions of remiss-witness, a C2SP tlog-witness
 * (c2sp.org/tlog-witness) that another authority runs.
 *
 * For every log it is configured with (a vkey whose name is the log's
 * checkpoint origin), the witness remembers the latest checkpoint it
 * cosigned, in SQLite (WAL, synchronous=FULL, file mode 0600): a crash in the
 * middle of an update leaves either the old or the new checkpoint, never a
 * mix. add-checkpoint checks the request and updates that record in one
 * IMMEDIATE transaction, so two requests can never both pass the old-size
 * check against the same stored size; it answers only after the commit.
 *
 * The HTTP layer (clients/witness.c) only moves bytes: every decision and
 * status code is made here, which is what tests/fuzz/fuzz_witness drives. */
#ifndef WIT_CORE_H
#define WIT_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "note.h"
#include "remiss_code.h"

/* Largest add-checkpoint body: the old line, 63 proof lines, a note. */
#define WIT_BODY_MAX  (32 + 63 * 46 + NOTE_MAX)
#define WIT_LOGS_MAX  64
#define WIT_PROOF_MAX 63

typedef struct wit wit_t;

/* An answer: HTTP status, content type and body (NUL-terminated). */
typedef struct wit_reply {
    unsigned status;
    const char *content_type;
    char body[NOTE_MAX + NOTE_LINE_MAX];
    size_t body_len;
} wit_reply_t;

/* Opens (creating 0600 if needed) the state database at db_path. key is the
 * witness's NOTE_TYPE_COSIG signer and logs the n trusted log keys, both
 * copied (the signer's EVP_PKEY is taken up with a reference). */
wit_t *wit_open(const char *db_path, const note_signer_t *key, const note_verifier_t *logs,
                size_t n, remiss_err_t *err);
void wit_close(wit_t **self_p);

/* POST add-checkpoint: body is the request body (len bytes, untrusted),
 * now the time for the cosignature (seconds). Fills out: 200 with the
 * cosignature line; 400 malformed or old size larger than the checkpoint;
 * 403 no trusted log signature; 404 unknown origin; 409 with the stored
 * size (text/x.tlog.size) when the old size is not the stored one or the
 * same size has another root; 413 too large; 422 a consistency proof that
 * does not verify; 500 if the store fails. */
void wit_add_checkpoint(wit_t *self, const char *body, size_t len, uint64_t now, wit_reply_t *out);

/* GET of the latest cosigned checkpoint of origin (monitors): 200 with the
 * signed note (the log's signature lines and the witness's cosignature), 404
 * if none. */
void wit_latest(wit_t *self, const char *origin, wit_reply_t *out);

/* The stored size for origin (0 if none); for tests and logs. */
uint64_t wit_size(wit_t *self, const char *origin);

#endif
