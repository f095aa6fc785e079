/* ctl_keys: `remissctl keys rotate` (key-encryption keys of the store's
 * encryption at rest, include/atrest.h). */
#ifndef CTL_KEYS_H
#define CTL_KEYS_H

#include "ctl_args.h"

/* keys rotate --db DB --pki DIR [--json]: adds a KEK, rewraps every data
 * key under it while remissd runs (SQLite or PostgreSQL store), then
 * destroys the old KEKs. Returns the exit code. */
int ctl_keys_rotate(const ctl_args_t *a);

#endif
