/* intake: the secrecy decision for an authenticated, signature-checked
 * envelope, with the consent registry in the store.
 *
 * The broker calls intake_decide for every routed message when it arrives
 * and again when it is about to be delivered (a consent may have been
 * withdrawn, or the policy changed, in between), and intake_consent for
 * consent grants and revocations. The subject is looked up by its keyed
 * pseudonym, never by personnummer in clear. */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "category.h"
#include "policy.h"
#include "pseudonym.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"
#include "store.h"

typedef struct intake intake_t;

/* What a decision found, for the receipt, the store and the audit log. */
typedef struct intake_result {
    remiss_code_t code;
    char sentence[320];     /* why, for a person; never personal data */
    catset_t categories;    /* present in the message */
    bool has_subject;       /* a valid subject was found */
    uint8_t pseudonym[32];  /* its pseudonym (pseudonym.h); the personnummer in
                               clear stays inside intake */
    char detail[160];       /* rule / consent used, non-personal */
    char consent_used[128]; /* id of the consent relied on, "" if none */
    bool withhold_pending;  /* a revocation: queued messages on consent_id must stop */
} intake_result_t;

/* store, policy and ps are borrowed. NULL on out of memory. */
intake_t *intake_new_with(store_t *store, const policy_t *policy, const pseudonym_t *ps);
/* The same, keying its own pseudonyms with hmac_key (32 bytes, copied into
 * the MAC context; the caller wipes its copy). */
intake_t *intake_new(store_t *store, const policy_t *policy, const uint8_t hmac_key[32]);
void intake_free(intake_t **self_p);

/* Replaces the policy in force (after a reload). Borrowed. */
void intake_set_policy(intake_t *self, const policy_t *policy);
/* Drops the consents kept decoded since the store last changed under them:
 * call it when a transaction that may have registered consents is undone. */
void intake_forget(intake_t *self);

/* Decides a routed message (not a consent message) from sender today. */
remiss_code_t intake_decide(intake_t *self, const char *sender, const Remiss__Envelope *env,
                            int64_t now_ms, intake_result_t *out);

/* Decides a CONSENT_GRANT or CONSENT_REVOKE against the registry and
 * writes nothing: the grant's id must be new, the revocation must name a
 * registered consent its sender may withdraw. out says who the subject is
 * and, for a revocation, withhold_pending. */
remiss_code_t intake_consent_check(intake_t *self, const char *sender, const Remiss__Envelope *env,
                                   int64_t now_ms, intake_result_t *out);

/* Writes what intake_consent_check allowed (decided is its result) to the
 * registry, in the caller's savepoint: a grant with envelope/len (the
 * serialized Envelope, kept as its evidence), or the revocation. Only
 * storage failures remain (REMISS_E_STORAGE with err). */
remiss_code_t intake_consent_write(intake_t *self, const char *sender, const Remiss__Envelope *env,
                                   const uint8_t *envelope, size_t len, int64_t now_ms,
                                   const intake_result_t *decided, remiss_err_t *err);

/* intake_consent_check, then intake_consent_write if it allowed it. */
remiss_code_t intake_consent(intake_t *self, const char *sender, const Remiss__Envelope *env,
                             const uint8_t *envelope, size_t len, int64_t now_ms,
                             intake_result_t *out);

/* The pseudonym of canonical (pseudonym_of with intake's key) into out. */
void intake_pseudonym(const intake_t *self, const char *canonical, uint8_t out[32]);

#endif
