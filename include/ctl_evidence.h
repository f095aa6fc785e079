/* ctl_evidence: remissctl verify-evidence, the offline check of a bundle
 * written by `remiss evidence` (common/evidence.c). */
#ifndef CTL_EVIDENCE_H
#define CTL_EVIDENCE_H

#include "ctl_args.h"

/* verify-evidence FILE --ca CA.crt [--witnesses FILE] [--json]: exit 0
 * when every check passes, 1 with "error: CODE: sentence" otherwise, 2 on
 * a usage error. */
int ctl_verify_evidence(const ctl_args_t *a);

#endif
