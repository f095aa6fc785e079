/* broker_env: what the broker's modules borrow from the server.
 *
 * server.c owns every object named here and hands the modules (transport,
 * cycle, delivery, admission) one pointer to this struct; when a reload
 * replaces the party registry the server updates parties here, so every
 * module sees the registry in force. A request (broker_req_t) is what the
 * dispatch table hands a handler. */
#ifndef BROKER_ENV_H
#define BROKER_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "config.h"
#include "flood.h"
#include "intake.h"
#include "metrics.h"
#include "parties.h"
#include "remiss_code.h"
#include "store.h"

#define BROKER_RID_MAX 256 /* ZeroMQ routing ids are at most 255 bytes */

typedef struct broker_env {
    const broker_config_t *cfg; /* configuration in force */
    store_t *store;             /* durable state */
    audit_t *audit;             /* tamper-evident log, NULL when switched off */
    metrics_t *metrics;         /* /metrics and /healthz, NULL when off */
    intake_t *intake;           /* policy and consent decisions */
    parties_t *parties;         /* registry in force, replaced on reload */
    flood_t *flood;             /* per-party frame bucket, refusal aggregation */
} broker_env_t;

/* One request from an authenticated party; all borrowed for the call. */
typedef struct broker_req {
    const uint8_t *rid; /* who asked (ROUTER routing id) */
    size_t rid_len;
    const party_t *party; /* authenticated sender */
    uint64_t request_id;
    const uint8_t *raw; /* the frame as received */
    size_t raw_len;
} broker_req_t;

/* Appends an audit entry; returns its index (0 when the log is off or the
 * append failed, which is logged: the commit then fails too and nothing of
 * the cycle stays). */
uint64_t broker_env_audit(const broker_env_t *env, const audit_event_t *ev);

/* An audit entry about a stored message (delivery, withholding, ...): the
 * store keeps only the subject's pseudonym, and it goes in as it is. */
void broker_env_audit_stored(const broker_env_t *env, const store_msg_t *m,
                             Remiss__AuditEvent event, remiss_code_t code, const char *detail);

/* Logs a store failure (event, err's text quoted) at LOG_ERROR. */
void broker_env_log_failure(const char *event, const remiss_err_t *err);

#endif
