/* seen: the client's de-duplication state, the message ids this party has
 * processed, kept in a SQLite file so that it survives a crash mid-write
 * and a later run never hands a processed message out again.
 *
 * Bounded: ids recorded longer ago than the horizon given to seen_open are
 * dropped when the file is opened (the broker stops redelivering long
 * before). The file is created 0600 whatever the umask. */
#ifndef SEEN_H
#define SEEN_H

#include <stdbool.h>
#include <stdint.h>

#include "remiss_code.h"

#define SEEN_ID_LEN 16

typedef struct seen seen_t;

/* Opens (creating) the state file at path and drops ids recorded before
 * now_ms - horizon_ms. NULL with err (E_IO naming the file) on failure.
 * The caller closes it with seen_close. */
seen_t *seen_open(const char *path, int64_t now_ms, int64_t horizon_ms, remiss_err_t *err);
void seen_close(seen_t **self_p);

/* True if id was recorded (and not yet dropped). */
bool seen_has(seen_t *self, const uint8_t id[SEEN_ID_LEN]);

/* Records id as processed at now_ms, durably before it returns. */
remiss_code_t seen_add(seen_t *self, const uint8_t id[SEEN_ID_LEN], int64_t now_ms,
                       remiss_err_t *err);

/* How many ids are recorded. */
int64_t seen_count(seen_t *self);

#endif
