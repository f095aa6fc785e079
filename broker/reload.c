/* reload: certificates and policy read again (include/reload.h). */
#include "reload.h"

#include <stdbool.h>
#include <stdio.h>

#include "audit.h"
#include "config.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "parties.h"
#include "remiss.pb-c.h"

/* A policy file that does not validate is refused with file:line and
 * the old policy stays in force. */
void
reload_policy(broker_env_t *env, status_t *status, const char *path, policy_t **policy)
{
    remiss_err_t err;
    char q[400];
    policy_t *fresh = policy_load(path, &err);
    status_policy(status, path, fresh != NULL, err.text);
    if (!fresh) {
        log_emit(LOG_ERROR, "policy_refused", "reason=%s", log_quote(q, sizeof q, err.text));
        return;
    }
    intake_set_policy(env->intake, fresh);
    audit_set_policy(env->audit, fresh);
    policy_free(policy);
    *policy = fresh;
    char detail[CONFIG_PATH_MAX + 32];
    snprintf(detail, sizeof detail, "%s rules=%zu", path, policy_rule_count(fresh));
    audit_event_t e = {
        .event = REMISS__AUDIT_EVENT__EV_POLICY_RELOADED, .sender = "broker", .detail = detail};
    broker_env_audit(env, &e);
    log_emit(LOG_INFO, "policy_reloaded", "file=%s rules=%zu", path, policy_rule_count(fresh));
}

void
reload_certificates(broker_env_t *env, status_t *status, const char *pki, int64_t crl_grace_s)
{
    remiss_err_t err;
    parties_t *fresh = parties_load_grace(pki, crl_grace_s, &err);
    status_certificates(status, fresh != NULL, err.text);
    metrics_set_crl(env->metrics, fresh != NULL,
                    parties_crl_next_update(fresh ? fresh : env->parties), crl_grace_s);
    if (!fresh) {
        char q[400];
        /* Keep the registry in force: a broken CRL file must not open the
         * door, and the old registry already knows the old revocations. */
        log_emit(LOG_ERROR, "reload_failed", "reason=%s", log_quote(q, sizeof q, err.text));
        return;
    }
    size_t revoked = 0;
    bool changed = parties_count(fresh) != parties_count(env->parties);
    for (size_t i = 0; i < parties_count(fresh); i++) {
        const party_t *np = parties_at(fresh, i), *op = parties_by_id(env->parties, np->id);
        revoked += np->revoked;
        changed = changed || !op || np->revoked != op->revoked;
        if (np->revoked && (!op || !op->revoked)) {
            audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_CERT_REVOKED,
                               .sender = np->id,
                               .code = REMISS_E_CERT_REVOKED,
                               .detail = "certificate on the CRL"};
            broker_env_audit(env, &e);
            log_emit(LOG_WARN, "party_revoked", "party=%s", np->id);
        }
    }
    parties_free(&env->parties);
    env->parties = fresh;
    /* Every --crl-check seconds: at info only when something changed. */
    log_emit(changed ? LOG_INFO : LOG_DEBUG, "certificates_reloaded", "parties=%zu revoked=%zu",
             parties_count(fresh), revoked);
}
