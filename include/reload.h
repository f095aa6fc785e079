/* reload: the broker's certificate registry (parties, CRL) and secrecy
 * policy, read again on SIGHUP and (certificates) every --crl-check
 * seconds. What does not load is refused, logged and recorded in status;
 * the old registry or policy stays in force (fail closed). */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdint.h>

#include "broker_env.h"
#include "policy.h"
#include "status.h"

/* Loads the policy file path; on success hands it to intake and audit,
 * frees *policy and replaces it, and audits EV_POLICY_RELOADED. */
void reload_policy(broker_env_t *env, status_t *status, const char *path, policy_t **policy);

/* Loads the PKI directory pki again; on success replaces env->parties and
 * audits every newly revoked party. */
void reload_certificates(broker_env_t *env, status_t *status, const char *pki, int64_t crl_grace_s);

#endif
