/* broker_env: helpers every broker module shares (include/broker_env.h). */
#include "broker_env.h"

#include "log.h"

uint64_t
broker_env_audit(const broker_env_t *env, const audit_event_t *ev)
{
    uint64_t index = 0;
    remiss_err_t err;
    if (env->audit && audit_append(env->audit, ev, &index, &err) != REMISS_OK) {
        broker_env_log_failure("audit_failed", &err);
        return 0;
    }
    return index;
}

void
broker_env_audit_stored(const broker_env_t *env, const store_msg_t *m, Remiss__AuditEvent event,
                        remiss_code_t code, const char *detail)
{
    if (!env->audit)
        return;
    audit_event_t e = {
        .event = event,
        .sender = m->sender,
        .recipient = m->recipient,
        .type = (Remiss__MessageType)m->type,
        .message_id = m->message_id,
        .purpose = m->purpose,
        .code = code,
        .envelope_sha256 = m->envelope_sha256,
        .detail = detail,
        .subject_pseudonym = m->has_subject ? m->subject : NULL,
    };
    broker_env_audit(env, &e);
}

void
broker_env_log_failure(const char *event, const remiss_err_t *err)
{
    char q[400];
    log_emit(LOG_ERROR, event, "reason=%s", log_quote(q, sizeof q, err->text));
}
