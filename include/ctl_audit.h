/* ctl_audit: `remissctl audit verify|subject|export|proof`, reading the
 * broker's database (--db) without a running broker. Each returns the exit
 * status (0, 1, or 2 for a usage error) after printing its result or the
 * error (as JSON with --json). */
#ifndef CTL_AUDIT_H
#define CTL_AUDIT_H

#include "ctl_args.h"

/* Recomputes the whole log and checks every signed tree head. */
int ctl_audit_verify(const ctl_args_t *a);

/* Every entry about the person whose personnummer is the operand. */
int ctl_audit_subject(const ctl_args_t *a);

/* The entries as JSON lines (pseudonyms, never personnummer). */
int ctl_audit_export(const ctl_args_t *a);

/* The inclusion proof of entry INDEX, verified. */
int ctl_audit_proof(const ctl_args_t *a);

/* ARGV[0] names the command (verify, subject, export, proof); the rest is
 * parsed with ctl_args_parse. For tests that run a command in-process. */
int ctl_audit_main(int argc, char **argv);

#endif
