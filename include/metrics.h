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

/* Starts the listener on "127.0.0.1:PORT" (or "[::1]:PORT"); only loopback
 * addresses are accepted. NULL with err on failure. */
metrics_t *metrics_start(const char *address, remiss_err_t *err);
void metrics_stop(metrics_t **self_p);

/* Counting. Every function accepts NULL (metrics off). */
void metrics_accepted(metrics_t *self);
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

#endif
