/* ctl_audit: `remissctl audit ...`, the administrator's tools for the
 * audit log, run on the broker host against its database and PKI directory:
 *
 *   audit verify DB --pki DIR               recompute and check the whole log
 *   audit subject PNR --db DB --pki DIR [--json]
 *                                           every entry about one person (an
 *                                           access request, GDPR art. 15)
 *   audit export DB [--since INDEX]         the entries as JSON lines
 *   audit proof DB INDEX --pki DIR [--json] inclusion proof of one entry
 *                                           against the latest signed head
 *
 * Output goes to stdout; every error is "error: CODE: sentence" on stderr
 * with a non-zero exit status (2 for a wrong command line). Nothing here
 * writes to the database. */
#ifndef CTL_AUDIT_H
#define CTL_AUDIT_H

#include <stdio.h>

/* Runs one audit subcommand. argv[0] is the subcommand ("verify",
 * "subject", "export", "proof" or "--help"), i.e. remissctl passes what
 * follows "audit": ctl_audit_main(argc - 2, argv + 2). Returns the process
 * exit status. */
int ctl_audit_main(int argc, char **argv);

/* Prints the audit subcommands' usage lines to out (for remissctl --help). */
void ctl_audit_usage(FILE *out);

#endif
