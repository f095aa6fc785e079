/* ctl_migrate: `remissctl store migrate`, which moves a SQLite store to
 * PostgreSQL: messages, consents, dead letters, the admin queue and the
 * whole audit log with its tree nodes and signed tree heads, row for row,
 * so that `remissctl audit verify` passes on the target and old inclusion
 * proofs still verify against its tree heads. */
#ifndef CTL_MIGRATE_H
#define CTL_MIGRATE_H

#include "ctl_args.h"

/* store migrate --from PATH --to URI (the arguments after "store migrate").
 * Returns the process exit code. */
int ctl_migrate(const ctl_args_t *a);

#endif
