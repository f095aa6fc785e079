/* gw_link: remiss-gateway's side towards the broker.
 *
 * One libremiss connection as the agency's party, shared by the HTTP
 * threads under a lock (a libremiss handle serves one thread at a time),
 * plus a receiver thread that takes deliveries into an in-memory inbox.
 *
 * Delivery: a message stays in the inbox, unacknowledged at the broker,
 * until the case system acknowledges or refuses it (over HTTP, or by a 2xx
 * from the push target). Only then is the acknowledgement sent and
 * confirmed by the broker. A gateway that dies in between has acknowledged
 * nothing, so the broker delivers the message again to the next gateway.
 * Inbox calls lease what they return for lease_ms: a case system that
 * fetched a message and crashed sees it again after the lease.
 *
 * Sending: a POST with an Idempotency-Key (or a message id in the JSON) is
 * signed once and the SignedEnvelope bytes are kept under the key in
 * STATE/gateway.db (SQLite, 0600) before they go out. A retry sends the
 * same bytes again, which the broker answers with the original receipt: a
 * retry never makes a second message, even across gateway restarts. */
#ifndef GW_LINK_H
#define GW_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "gw_router.h"
#include "remiss.h"

typedef struct gw_link gw_link_t;

typedef struct gw_link_opts {
    const char *pki_dir; /* as remiss_opts_t */
    const char *party;
    const char *endpoint;
    const char *state_dir; /* gateway.db and PARTY.seen live here */
    int timeout_ms;        /* broker answers */
    int lease_ms;          /* how long an inbox call hides what it returned */
} gw_link_opts_t;

/* Connects, opens the state and starts the receiver thread. NULL with err
 * on failure. */
gw_link_t *gw_link_open(const gw_link_opts_t *opts, remiss_err_t *err);

/* Stops the receiver thread, closes the connection, frees the inbox (what
 * is in it was never acknowledged: the broker delivers it again). */
void gw_link_close(gw_link_t **self_p);

/* The router's backend on this link. */
void gw_link_ops(gw_link_t *self, gw_ops_t *ops);

/* For push delivery: the oldest message in the inbox, waiting up to
 * wait_ms. REMISS_OK with id and *json (the JSON the inbox shows, one
 * line, malloc'd); REMISS_E_TIMEOUT if none. Does not lease it. */
remiss_code_t gw_link_peek(gw_link_t *self, int wait_ms, uint8_t id[REMISS_ID_LEN], char **json);

/* Acknowledges (reason NULL) or refuses a message of the inbox at the
 * broker and removes it from the inbox. GW_E_NOT_FOUND if it is not in the
 * inbox. */
remiss_code_t gw_link_ack(gw_link_t *self, const uint8_t id[REMISS_ID_LEN], const char *reason,
                          remiss_err_t *err);

/* Counts a push attempt (for /metrics). */
void gw_link_count_push(gw_link_t *self, bool ok);

#endif
