/* nodes: the broker nodes a client may use, and what it must send again
 * when it moves to another one (libremiss, several nodes on one store).
 *
 * The endpoint option is one endpoint or a comma-separated list
 * ("tcp://a:7400,tcp://b:7400"). The client talks to one node at a time
 * and moves to the next when its node stops answering; submissions that
 * have no answer yet are sent again there. The broker's store makes the
 * resend idempotent: the answer is the original receipt. */
#ifndef NODES_H
#define NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define NODES_MAX     8    /* endpoints in a list */
#define NODES_EP_MAX  200  /* longest endpoint */
#define NODES_PENDING 4096 /* unanswered submissions kept for a resend */

typedef struct nodes nodes_t;

/* Parses list. NULL with err (E_USAGE naming the problem) if an endpoint
 * names no transport, is too long, or there are too many. */
nodes_t *nodes_parse(const char *list, remiss_err_t *err);
void nodes_free(nodes_t **self_p);

size_t nodes_count(const nodes_t *self);
/* The endpoint in use (borrowed). */
const char *nodes_current(const nodes_t *self);
/* Moves to the next endpoint (round robin) and returns it. */
const char *nodes_next(nodes_t *self);

/* Keeps a copy of a packed request awaiting its answer, as sent to the
 * node in use. False when out of memory or full: that request is then not
 * sent again on a move. */
bool nodes_track(nodes_t *self, uint64_t request_id, const uint8_t *frame, size_t len);
/* The answer to request_id came: forget it. False if it was not kept
 * (answered before: a repeat after a resend). */
bool nodes_answered(nodes_t *self, uint64_t request_id);
/* Requests kept. */
size_t nodes_pending(const nodes_t *self);
/* The oldest kept request not yet sent to the node in use (borrowed;
 * NULL if none); nodes_sent records that it was. */
const uint8_t *nodes_unsent(const nodes_t *self, size_t *len, uint64_t *request_id);
void nodes_sent(nodes_t *self, uint64_t request_id);

#endif
