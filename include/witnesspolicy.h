/* witnesspolicy: the list of trusted witnesses and the check of a cosigned
 * checkpoint against it, shared by remissd (whom to submit to), libremiss,
 * remiss and remissctl (whose cosignatures count).
 *
 * A witness list file has one entry a line; '#' starts a comment:
 *   VKEY [URL]     a witness: its cosignature vkey (type 0x04) and, for the
 *                  broker, the submission prefix (http://host:port)
 *   log VKEY       the log's own key (type 0x01); when given, a checkpoint
 *                  must also carry a valid signature by it
 *   quorum K       cosignatures a client requires (default: all witnesses)
 * The file is small and trusted (the operator's), but parsed strictly. */
#ifndef WITNESSPOLICY_H
#define WITNESSPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "note.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

#define WLIST_MAX     16
#define WLIST_URL_MAX 512

typedef struct witness_entry {
    note_verifier_t key;     /* NOTE_TYPE_COSIG */
    char url[WLIST_URL_MAX]; /* "" if not given */
} witness_entry_t;

typedef struct witness_list {
    witness_entry_t w[WLIST_MAX];
    size_t n;
    bool has_log;
    note_verifier_t log; /* NOTE_TYPE_ED25519, if has_log */
    size_t quorum;       /* 0 = all n */
} witness_list_t;

/* Reads path into out. REMISS_E_CONFIG with "path:line: reason". */
remiss_code_t witness_list_load(const char *path, witness_list_t *out, remiss_err_t *err);

/* The quorum in force: quorum if 1..n, else n. */
size_t witness_list_quorum(const witness_list_t *wl);

/* What a cosigned checkpoint shows. */
typedef struct witness_result {
    checkpoint_t cp;          /* the parsed checkpoint */
    bool log_signed;          /* a valid signature by the list's log key */
    size_t cosigned;          /* witnesses of the list with a valid cosignature */
    bool by[WLIST_MAX];       /* which ones */
    uint64_t time[WLIST_MAX]; /* their timestamps (s) */
} witness_result_t;

/* Parses the signed note (len bytes) and counts the list's cosignatures.
 * REMISS_E_MALFORMED if it is not a checkpoint; REMISS_E_BAD_SIGNATURE if a
 * signature by a listed key fails or the list names a log key that did not
 * sign. wl may be NULL (nothing counted). */
remiss_code_t witness_check(const char *note, size_t len, const witness_list_t *wl,
                            witness_result_t *out);

/* Checks the checkpoint a proof reply carries (ProofReply.checkpoint)
 * against the reply's tree head (same size and root; the caller has
 * verified the tree head's broker signature) and counts wl's cosignatures.
 * REMISS_OK when at least the quorum cosigned; REMISS_E_POLICY_DENIED when
 * fewer did (out still says who did); REMISS_E_MALFORMED when the checkpoint
 * is missing or is not that tree head; REMISS_E_BAD_SIGNATURE when a listed
 * key's signature fails. err gets a sentence. */
remiss_code_t witness_check_proof(const Remiss__ProofReply *pr, const witness_list_t *wl,
                                  witness_result_t *out, remiss_err_t *err);

/* The result as a JSON object (cJSON): {"cosigned":K,"witnesses":N,
 * "quorum":Q,"satisfied":bool,"cosigners":[{"name":...,"time":...}],
 * "checkpoint_size":S}. malloc'd; NULL on failure. */
char *witness_result_json(const witness_list_t *wl, const witness_result_t *r);

#endif
