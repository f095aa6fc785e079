/* admin: remissctl's requests carried out in the cycle (include/admin.h). */
#include "admin.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "remiss.pb-c.h"
#include "store.h"

/* Requeues a dead letter for remissctl; result gets the answer. */
static void
s_requeue(broker_env_t *env, delivery_t *delivery, const store_admin_t *req, const char *hex,
          char result[256])
{
    bool changed = false, found = false;
    store_msg_t m;
    remiss_err_t err;
    if (store_requeue(env->store, req->message_id, &changed, &err) != REMISS_OK) {
        snprintf(result, 256, "E_STORAGE: %.200s", err.text);
        return;
    }
    if (!changed) {
        snprintf(result, 256, "E_USAGE: message %s is not on the dead-letter list (or was purged)",
                 hex);
        return;
    }
    snprintf(result, 256, "OK: message %s is queued again", hex);
    if (store_find(env->store, req->message_id, &found, &m, &err) == REMISS_OK && found) {
        char detail[160];
        snprintf(detail, sizeof detail, "requeued by %s", req->actor);
        broker_env_audit_stored(env, &m, REMISS__AUDIT_EVENT__EV_REQUEUED, REMISS_OK, detail);
        delivery_mark_dirty(delivery, m.recipient);
        store_msg_clear(&m);
    }
}

/* Carries out what remissctl asked for (in the cycle's transaction, so the
 * action and its audit entry commit together). */
void
admin_run(broker_env_t *env, delivery_t *delivery, int64_t now)
{
    store_admin_t req[16];
    size_t n = 0;
    remiss_err_t err;
    if (store_admin_pending(env->store, req, 16, &n, &err) != REMISS_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char result[256], hex[33];
        log_hex(hex, req[i].message_id, STORE_ID_LEN);
        if (strcmp(req[i].action, "requeue") == 0)
            s_requeue(env, delivery, &req[i], hex, result);
        else
            snprintf(result, sizeof result, "E_USAGE: unknown action %s", req[i].action);
        /* Not marked done: the request stays pending and remissctl keeps
         * waiting; a store that cannot write this cannot commit the
         * action either, so the next round carries it out again. */
        if (store_admin_done(env->store, req[i].id, result, now, &err) != REMISS_OK)
            broker_env_log_failure("store_failed", &err);
        /* The code only ("OK", "E_STORAGE"), not the sentence after it. */
        log_emit(LOG_INFO, "admin_action", "action=%s msg=%s actor=%s result=%.*s", req[i].action,
                 hex, req[i].actor, (int)strcspn(result, ":"), result);
    }
}
