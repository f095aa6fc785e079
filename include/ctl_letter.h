/* ctl_letter: the answer to a person's access request (GDPR article 15) as
 * a printable letter in Swedish, for `remissctl audit subject PNR --format
 * html`: who sent what kind of message about the person to whom, when, for
 * which purpose and data categories and on which legal basis (the consent
 * id, or the statute with its citation from the policy), what was stopped
 * and why, and how the answer can be verified against the broker's signed
 * tree head.
 *
 * It prints only what the audit entries about the person hold and the
 * policy says about its rules: never case text (the log holds none), never
 * the personnummer, never another person. Every value is HTML-escaped. */
#ifndef CTL_LETTER_H
#define CTL_LETTER_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <openssl/evp.h>

#include "audit_verify.h"
#include "policy.h"
#include "remiss.pb-c.h"
#include "store.h"

typedef struct ctl_letter ctl_letter_t;

/* A new, empty letter that looks rules up in policy (borrowed: it must
 * outlive the letter) and is dated now. NULL when out of memory. */
ctl_letter_t *ctl_letter_new(const policy_t *policy, time_t now);

/* Adds one audit entry about the person, in log order. The letter takes
 * ownership of e (it frees it). Returns false when out of memory (e is
 * freed then too). */
bool ctl_letter_add(ctl_letter_t *self, Remiss__AuditEntry *e);

/* Counts an entry about the person that could not be read; the letter
 * says so instead of leaving it out silently. */
void ctl_letter_damaged(ctl_letter_t *self);

/* Writes the whole page to out, with the verified signed tree head th the
 * entries are part of (NULL: the log has no signed tree head yet). Returns
 * false if out could not be written. */
bool ctl_letter_print(const ctl_letter_t *self, const audit_tree_head_t *th, FILE *out);

/* The whole job: reads the entries at idx[0..n) from store, verifies the
 * store's latest signed tree head with broker_pub and writes the letter,
 * dated now, to out. Returns REMISS_OK, or an error with err set (the
 * letter is still written, with a note, when entries are damaged:
 * REMISS_E_BAD_SIGNATURE then). */
remiss_code_t ctl_letter_write(FILE *out, store_t *store, const uint64_t *idx, size_t n,
                               const policy_t *policy, EVP_PKEY *broker_pub, time_t now,
                               remiss_err_t *err);

/* Frees the letter and its entries; accepts NULL and sets *self_p to NULL. */
void ctl_letter_free(ctl_letter_t **self_p);

#endif
