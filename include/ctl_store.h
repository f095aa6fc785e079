/* ctl_store: `remissctl deadletter list|requeue` and `remissctl consent
 * list`, on the broker's database (--db, which must exist). Changes go
 * through the broker's admin queue so the broker performs and audits them.
 * Each returns the exit status after printing its result or the error. */
#ifndef CTL_STORE_H
#define CTL_STORE_H

#include "ctl_args.h"

int ctl_deadletter_list(const ctl_args_t *a);
int ctl_deadletter_requeue(const ctl_args_t *a);
int ctl_consent_list(const ctl_args_t *a);

/* "list" and the options of ctl_consent_list (for tests in-process). */
int ctl_consent_main(int argc, char **argv);

#endif
