/* idset: a set of 16-byte message ids in memory (the client library's
 * "handed to the application, not yet acknowledged" set, and its processed
 * set when no state file is kept). Ids are random, so their bytes are the
 * hash. */
#ifndef IDSET_H
#define IDSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDSET_ID_LEN 16

typedef struct idset idset_t;

/* An empty set, NULL when out of memory; free with idset_free. */
idset_t *idset_new(void);
void idset_free(idset_t **self_p);

bool idset_has(const idset_t *s, const uint8_t *id);

/* Adds id (a no-op if present). False only when out of memory. */
bool idset_add(idset_t *s, const uint8_t *id);

/* Removes id if present. */
void idset_del(idset_t *s, const uint8_t *id);

size_t idset_count(const idset_t *s);

#endif
