/* transport: the broker's ZeroMQ side.
 *
 * One ROUTER socket with CURVE server security for the parties, and the
 * ZAP handler (inproc REP, RFC 27) that admits only CURVE keys bound to
 * valid, unrevoked party certificates, logging refusals at most
 * S_AUTH_LOG_PER_S a second. Reading hands each request frame to a
 * callback; sending never blocks. */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_env.h"

typedef struct transport transport_t;

/* Binds the ZAP handler and env->cfg->listen with curve_secret (copied,
 * wiped on destroy). env is borrowed. NULL with err on failure. */
transport_t *transport_new(const broker_env_t *env, const uint8_t curve_secret[32],
                           remiss_err_t *err);
void transport_destroy(transport_t **self_p);

/* Waits up to timeout_ms for a frame or a handshake. -1 on an error other
 * than an interrupted wait. */
int transport_wait(transport_t *self, long timeout_ms);
/* The same, waking up too when fd (if >= 0) is readable (cluster.h). */
int transport_wait_fd(transport_t *self, long timeout_ms, int fd);

/* Answers every ZAP request waiting. */
void transport_serve_zap(transport_t *self);

/* One request of a batch: valid until on_batch returns. */
typedef struct transport_frame {
    const uint8_t *rid; /* routing id, 1..BROKER_RID_MAX bytes */
    size_t rid_len;
    const char *user; /* authenticated party id, "" if none */
    const uint8_t *data;
    size_t len;
    bool multipart; /* the request had more frames (dropped) */
} transport_frame_t;

#define TRANSPORT_BATCH_MAX 256 /* requests in one batch at most */

/* Reads up to max (at most TRANSPORT_BATCH_MAX) requests without blocking
 * and hands them to on_batch together, in arrival order, so that the
 * caller can look up what they need from the store in one go. Returns how
 * many were read. */
typedef void(transport_batch_fn)(void *ctx, const transport_frame_t *frames, size_t n);
size_t transport_read_batch(transport_t *self, size_t max, transport_batch_fn *on_batch, void *ctx);

/* Sends one frame to a routing id without blocking. 0, or the errno
 * (EAGAIN: the peer's queue is full; EHOSTUNREACH: it is gone). */
int transport_send(transport_t *self, const uint8_t *rid, size_t rid_len, const uint8_t *data,
                   size_t len);

#endif
