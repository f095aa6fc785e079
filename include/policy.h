/* policy: the declarative secrecy policy of the broker.
 *
 * The policy file is INI (parsed with inih) and says which flows may carry
 * personal data between the authorities of the federation, and on what
 * legal basis. Anything it does not allow is denied.
 *
 *   [general]
 *   roles         = jobbtorg, sdf, kommunhubb        ; every role a party may have
 *   purposes      = anvisning, oro                   ; every purpose a rule may name
 *   minor_age     = 18                               ; optional, default 18
 *   minor_consent = subject_and_guardian             ; optional, default; or subject
 *   recipient_consent_forbidden = health, criminal   ; optional, default none
 *
 *   [party sdf-rinkeby-kista]                        ; party id = certificate identity
 *   role = sdf
 *
 *   [rule referral-anvisning]                        ; rule name, unique
 *   type       = referral                            ; message type name (category.h)
 *   from       = sdf                                 ; sender role
 *   to         = jobbtorg                            ; recipient role
 *   purposes   = anvisning                           ; comma list, declared in [general]
 *   categories = identity, contact, social           ; data categories allowed
 *   basis      = consent                             ; consent | statute
 *   statute    = "SoL 14 kap. 1 §"                   ; required for, and only for, statute
 *   min_age    = 16                                  ; optional, inclusive, whole years
 *   max_age    = 29                                  ; optional, inclusive, whole years
 *
 * Comments start a line with ';' or '#', or follow a value after " ;".
 * Identifiers (roles, purposes, party ids, rule names) are [a-z0-9_-]+.
 * A value may be wrapped in double quotes, which are removed. There are no
 * continuation lines and a key may be given once per section.
 *
 * Refused at load, each with "file:line: reason": syntax errors, lines
 * longer than inih's line buffer, NUL bytes, unknown sections or keys, keys
 * outside a section, a key given twice, empty sections, duplicate [general],
 * parties or rules, the reserved party id "broker", unknown roles, types,
 * purposes or categories, missing required keys, a statute rule without a
 * citation (or a consent rule with one), a statute rule that allows
 * criminal data (crime data travels only on a consent that names it),
 * min_age > max_age, and two rules for the same type, roles and purpose
 * whose age ranges overlap (the decision must never depend on rule order). */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "category.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

typedef struct policy policy_t;

typedef enum policy_basis {
    POLICY_BASIS_CONSENT = 1, /* the person's consent (OSL 10 kap. 1 §) must cover the message */
    POLICY_BASIS_STATUTE = 2, /* a statute breaks secrecy; no consent needed */
} policy_basis_t;

/* A read-only view of one rule. It is plain data like pnr_t, so it is not
 * opaque; every pointer in it is owned by the policy and lives as long as
 * the policy does. */
typedef struct policy_rule {
    const char *name;            /* rule name from [rule NAME] */
    Remiss__MessageType type;    /* message type */
    const char *from_role;       /* sender role */
    const char *to_role;         /* recipient role */
    const char *const *purposes; /* purposes the rule serves */
    size_t n_purposes;           /* number of purposes (at least 1) */
    catset_t categories;         /* data categories the rule allows */
    policy_basis_t basis;        /* consent or statute */
    const char *statute;         /* citation for a statute basis; NULL for consent */
    int min_age;                 /* lowest age in scope, -1 = no limit */
    int max_age;                 /* highest age in scope, -1 = no limit */
    int line;                    /* line of the [rule] header in the file */
} policy_rule_t;

/* Loads and validates the policy file at path. Returns a new policy the
 * caller frees with policy_free, or NULL with err set: REMISS_E_IO if the
 * file cannot be opened, REMISS_E_CONFIG with "path:line: reason" for any
 * content problem. On failure nothing stays allocated. */
policy_t *policy_load(const char *path, remiss_err_t *err);

/* Frees the policy and sets *self_p to NULL; accepts NULL and *self_p NULL. */
void policy_free(policy_t **self_p);

/* The role of a party id, or NULL for an unknown party. Owned by the policy. */
const char *policy_party_role(const policy_t *self, const char *party);

/* Parties in file order: count, and the id at i (NULL if i is out of range). */
size_t policy_party_count(const policy_t *self);
const char *policy_party_at(const policy_t *self, size_t i);

/* True if role is declared in [general] roles. */
bool policy_role_known(const policy_t *self, const char *role);

/* True if purpose is declared in [general] purposes. */
bool policy_purpose_known(const policy_t *self, const char *purpose);

/* Below this age a person is a minor ([general] minor_age, default 18). */
int policy_minor_age(const policy_t *self);

/* Who must have given a minor's consent ([general] minor_consent):
 * REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN (the default) or SUBJECT. */
Remiss__GivenBy policy_minor_given_by(const policy_t *self);

/* Categories for which a consent registered by the receiving side may not
 * lift secrecy even when the sender names it ([general]
 * recipient_consent_forbidden, default none). */
catset_t policy_recipient_consent_forbidden(const policy_t *self);

/* Rules in file order: count, and the rule at i (NULL if out of range). */
size_t policy_rule_count(const policy_t *self);
const policy_rule_t *policy_rule_at(const policy_t *self, size_t i);

/* True if the rule serves purpose. */
bool policy_rule_has_purpose(const policy_rule_t *rule, const char *purpose);

/* True if age is within the rule's [min_age, max_age]. */
bool policy_rule_age_ok(const policy_rule_t *rule, int age);

/* The basis name: "consent" or "statute". Static string. */
const char *policy_basis_name(policy_basis_t basis);

#endif
