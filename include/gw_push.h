/* gw_push: delivers the inbox to the case system by HTTP POST.
 *
 * One thread takes the oldest message of the inbox, POSTs its JSON to
 * deliver_to and, on a 2xx answer, acknowledges it at the broker (via
 * gw_link_ack). Anything else (no connection, a timeout, 4xx, 5xx) is
 * retried with exponential backoff (0.25 s doubling up to 30 s), the same
 * message first: so messages arrive in the order they were delivered, which
 * keeps each sender's order, and at least once (a gateway killed between
 * the 2xx and the acknowledgement posts the message again after restart).
 *
 * Each POST carries
 *   X-Remiss-Signature: sha256=HEX(HMAC-SHA256(secret, body))
 *   X-Remiss-Message-Id: the message id (32 hex digits)
 * so the case system can check that the body came from its gateway. */
#ifndef GW_PUSH_H
#define GW_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "gw_link.h"

typedef struct gw_push gw_push_t;

/* Starts the push thread. url is http(s)://…; secret is the shared HMAC
 * key (copied, wiped on stop). NULL with err on failure. */
gw_push_t *gw_push_start(gw_link_t *link, const char *url, const uint8_t *secret, size_t secret_len,
                         const char *ca_file, remiss_err_t *err);

/* Stops the thread (after the POST in flight, bounded by its timeout). */
void gw_push_stop(gw_push_t **self_p);

/* The signature header value for body: "sha256=" + 64 hex digits + NUL
 * (out holds at least 72 bytes). */
void gw_push_signature(const uint8_t *secret, size_t secret_len, const char *body, size_t len,
                       char out[72]);

#endif
