/* metrics: Prometheus text-format metrics and a health check on a loopback
 * HTTP listener (libmicrohttpd, its own thread).
 *
 * The broker thread updates counters with atomic operations; the HTTP
 * thread only reads them, so it never touches broker state. GET /metrics
 * answers the metrics, GET /healthz answers 200 "ok" when the store was
 * writable at the last commit and a policy is loaded, 503 otherwise. */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

typedef struct metrics metrics_t;

/* Starts the listener on "127.0.0.1:PORT"; only loopback addresses are
 * accepted. NULL or "" as address: the counters without a listener (the
 * status socket still reads them). NULL with err on failure. */
metrics_t *metrics_start(const char *address, remiss_err_t *err);
void metrics_stop(metrics_t **self_p);

/* Counting. Every function accepts NULL (metrics off). */
void metrics_accepted(metrics_t *self, int type); /* Remiss__MessageType */
void metrics_refused(metrics_t *self, remiss_code_t code);
void metrics_delivered(metrics_t *self);
void metrics_acked(metrics_t *self);
void metrics_auth_refused(metrics_t *self);
void metrics_commit_seconds(metrics_t *self, double seconds);
void metrics_verify_seconds(metrics_t *self, double seconds);
void metrics_set_connected(metrics_t *self, uint64_t parties);
void metrics_set_audit_size(metrics_t *self, uint64_t size);
void metrics_set_health(metrics_t *self, bool store_ok, bool policy_ok);
/* Witnesses (any thread): configured, the quorum asked for, how many
 * cosigned the latest checkpoint and its size; one failed submission. A
 * witness that is down does not make the broker unhealthy: /healthz shows
 * "witnesses=COSIGNED/CONFIGURED quorum=K" and monitoring alerts on it. */
void metrics_set_witnesses(metrics_t *self, uint64_t configured, uint64_t quorum, uint64_t cosigned,
                           uint64_t size);
void metrics_witness_failed(metrics_t *self);
/* The CRL in force (nextUpdate, grace, both seconds) and whether the last
 * reload could use the file; /healthz says degraded or unhealthy. */
void metrics_set_crl(metrics_t *self, bool reload_ok, int64_t next_update_s, int64_t grace_s);

/* Several nodes on one store (cluster.h): this node's database round trips
 * (count, total seconds), which duty leases it holds, and notifications
 * of other nodes' commits received. Replaces the previous values. */
typedef struct metrics_cluster {
    uint64_t round_trips;
    double round_trip_seconds;
    const char *duty[4]; /* names, NULL-terminated */
    bool held[4];
    uint64_t notifications;
} metrics_cluster_t;
void metrics_set_cluster(metrics_t *self, const metrics_cluster_t *c);

/* Replaces the queue-depth gauges: n recipients with their depths. */
void metrics_set_queues(metrics_t *self, const char *const *recipients, const uint64_t *depths,
                        size_t n);

/* ---- operations (issue 18): what an operator watches and alerts on.
 * remiss_certificate_expiry_seconds{party,kind}, remiss_crl_next_update_seconds,
 * remiss_reload_success, remiss_reload_last_timestamp_seconds,
 * remiss_dead_letters, remiss_oldest_message_age_seconds{recipient},
 * remiss_audit_sign_failures_total, remiss_build_info{version}.
 * /healthz says "degraded REASON..." (still 200) when the last reload was
 * refused (reload=refused) or a certificate is within warn_s of its end
 * (cert=expiring) or past it (cert=expired). */
typedef struct metrics_cert {
    const char *party; /* party id, "broker" or "ca" */
    const char *kind;  /* "party", "broker" or "ca" */
    int64_t not_after; /* Unix seconds */
} metrics_cert_t;

/* Replaces the certificate list (copied) and the CRL's nextUpdate (0: none). */
void metrics_set_expiry(metrics_t *self, const metrics_cert_t *certs, size_t n,
                        int64_t crl_next_update, int64_t warn_s);
/* A reload (SIGHUP, or the periodic certificate reload) loaded everything
 * (ok) or was refused, at when_s. */
void metrics_reload(metrics_t *self, bool ok, int64_t when_s);
void metrics_set_dead_letters(metrics_t *self, uint64_t n);
/* The accepted_at (ms, 0 = empty) of the oldest message of n recipients;
 * shown for the recipients of the last metrics_set_queues. */
void metrics_set_oldest(metrics_t *self, const char *const *recipients, const int64_t *accepted_at,
                        size_t n);
void metrics_sign_failed(metrics_t *self);

/* Counters as numbers (remissctl status). Zeros when self is NULL. */
typedef struct metrics_counts {
    uint64_t accepted, refused, delivered, acked, auth_refused, connected;
    uint64_t dead_letters, sign_failures;
    double last_commit_seconds;
} metrics_counts_t;
void metrics_read(metrics_t *self, metrics_counts_t *out);
/* The degraded reasons as /healthz shows them (" reload=refused ..."),
 * "" when none; returns the length. */
size_t metrics_degraded(metrics_t *self, char *out, size_t size);

#endif
