/* decide: the consent and secrecy decision for one envelope.
 *
 * Pure functions: no I/O, no clock, no allocation. The caller (the broker)
 * passes the loaded policy, the sender's party id taken from the
 * authenticated channel, the decoded envelope, today's date and the
 * consents registered for the subject; it gets a reason code and one
 * sentence. Sentences name rules, roles, parties, purposes, categories,
 * consent ids and dates; never a personnummer, a name or case text, since
 * they are logged and returned to senders.
 *
 * decide_envelope checks, in this order, and stops at the first failure:
 *   0. the envelope is routable: a routed type whose body matches, a known
 *      sender, a known recipient, a purpose (E_MALFORMED,
 *      E_POLICY_DENIED, E_UNKNOWN_RECIPIENT);
 *   1. the subject is present (E_MALFORMED) and its personnummer or
 *      samordningsnummer is valid (E_INVALID_PERSONNUMMER): every later
 *      step (age, consent lookup) depends on who the person is, and a
 *      mistyped number must never be matched to someone's consent;
 *   2. protected identity with contact data (E_PROTECTED_IDENTITY): an
 *      absolute ban that no rule or consent can lift, so it is reported
 *      before anything a sender might try to fix with another rule;
 *   3. a rule for type + sender role + recipient role + purpose
 *      (E_POLICY_DENIED; default deny);
 *   4. the person's age, from the birth date in the number, within that
 *      rule's min_age..max_age (E_AGE_OUT_OF_SCOPE);
 *   5. every category present (derived by category_of_envelope, never
 *      what the sender declares) allowed by the rule
 *      (E_CATEGORY_NOT_COVERED): the rule caps what any consent can cover;
 *   6. for a consent basis, a consent that covers subject, sender (party
 *      id or "role:ROLE" in from_parties), recipient (likewise in
 *      to_parties), purpose and every category present, is in force today
 *      (valid_from <= today <= valid_until, both inclusive), is not
 *      revoked, and, for a minor (age < minor_age), was given by
 *      SUBJECT_AND_GUARDIAN when the policy demands it.
 *      Secrecy binds the disclosing authority (DESIGN.md §2): if the
 *      envelope names a consent_id ("ID", the sender's own first, or
 *      "PARTY/ID": ids are scoped by the registering party), only that
 *      consent is considered, and its own first failure is reported in
 *      the order subject, revoked, dates, sender/recipient/purpose,
 *      category, guardian, then a consent not registered by the
 *      disclosing side for a category in the policy's
 *      recipient_consent_forbidden. Otherwise only consents registered by
 *      the disclosing side count (the sender, or a party of its role
 *      named in from_parties and not in to_parties), and when none
 *      covers, the closest failure:
 *      a revoked consent that would otherwise cover (dates aside)
 *      E_CONSENT_REVOKED, else one failing only on its dates
 *      E_CONSENT_EXPIRED, else one failing only on a category
 *      E_CATEGORY_NOT_COVERED, else E_NO_CONSENT.
 * Checks 3-5 come before the consent so that a flow the policy forbids
 * is refused as such, whatever consents exist. */
#ifndef DECIDE_H
#define DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "category.h"
#include "pnr.h"
#include "policy.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

/* A registered consent as the store hands it over. All pointers are
 * borrowed from the caller and must outlive the call. */
typedef struct consent_rec {
    const char *consent_id;            /* the grant's Envelope.consent_id */
    const char *granted_by;            /* party that registered it (the grant's sender) */
    const char *subject;               /* pnr_t.canonical of the grant's subject */
    const Remiss__ConsentGrant *grant; /* the decoded grant */
    bool revoked;                      /* withdrawn */
    int64_t revoked_at_ms;             /* when it was withdrawn (ms), if revoked */
} consent_rec_t;

/* What decide_envelope found, besides the code. */
typedef struct decision {
    const policy_rule_t *rule;    /* rule applied (or whose scope failed); borrowed from the
                                     policy; NULL before step 3 succeeds */
    const consent_rec_t *consent; /* consent relied on, or the one whose failure is reported;
                                     borrowed from the caller's array; NULL otherwise */
    catset_t categories;          /* categories present in the envelope */
    pnr_t subject;                /* the parsed subject (for the audit pseudonym); zeroed
                                     unless step 1 succeeded */
} decision_t;

/* Decides whether env from sender (authenticated party id) may be delivered
 * today. consents may be NULL when n_consents is 0. Fills *out (required)
 * and err (may be NULL) and returns the code: REMISS_OK or the reason.
 * Consent messages are not routed: for CONSENT_GRANT and CONSENT_REVOKE
 * this returns E_MALFORMED; use the two functions below. */
remiss_code_t decide_envelope(const policy_t *policy, const char *sender,
                              const Remiss__Envelope *env, pnr_date_t today,
                              const consent_rec_t *consents, size_t n_consents, decision_t *out,
                              remiss_err_t *err);

/* Validates a CONSENT_GRANT envelope before it is registered: recipient
 * "broker", a consent_id ([A-Za-z][A-Za-z0-9._-]*, at most 64; ids are
 * echoed in sentences, so they must not hold personal data), a valid subject
 * and nothing but the subject's identity, from_parties / to_parties naming
 * known parties or "role:ROLE" of known roles and including the sender
 * (a party registers consents only for exchanges it takes part in),
 * purposes known to the policy, valid categories including identity (every
 * message carries it), real dates with valid_from <= valid_until and
 * valid_until not before today, given_by set, SUBJECT_AND_GUARDIAN when
 * the person is a minor on the first day the consent is in force, and
 * evidence_sha256 of 64 hex digits. Uniqueness of the consent_id is the
 * store's job. On REMISS_OK fills *subject (may be NULL) with the parsed
 * subject; the caller keeps subject->canonical as consent_rec_t.subject. */
remiss_code_t decide_consent_grant(const policy_t *policy, const char *sender,
                                   const Remiss__Envelope *env, pnr_date_t today, pnr_t *subject,
                                   remiss_err_t *err);

/* Validates a CONSENT_REVOKE envelope: recipient "broker", the consent_id
 * of a consent among consents (the store looks it up by id), the subject,
 * if given, valid and the consent's own, no case data, a sender who
 * registered the consent or is one of the parties it covers (the person
 * may withdraw consent at any of them), and the consent not already
 * revoked (E_CONSENT_REVOKED). On REMISS_OK sets *target (may be NULL) to
 * the consent to mark revoked, borrowed from the array. */
remiss_code_t decide_consent_revoke(const policy_t *policy, const char *sender,
                                    const Remiss__Envelope *env, pnr_date_t today,
                                    const consent_rec_t *consents, size_t n_consents,
                                    const consent_rec_t **target, remiss_err_t *err);

#endif
