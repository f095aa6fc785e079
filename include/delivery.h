/* delivery: connections that receive, what is in flight on them, and
 * pumping a recipient's queue.
 *
 * A party subscribes on a connection with a window (deliveries in flight
 * at most). A recipient with something to deliver is marked dirty (a
 * message accepted for it, an acknowledgement freeing its window, a
 * redelivery scan); each cycle pumps the dirty recipients: due messages
 * are decided again (a consent may have been withdrawn since), sent, and
 * marked sent with their redelivery time. A connection that vanished is
 * dropped and what was in flight on it is due again at once. */
#ifndef DELIVERY_H
#define DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_env.h"
#include "cycle.h"
#include "remiss.pb-c.h"
#include "transport.h"

typedef struct delivery delivery_t;

/* All borrowed. NULL on out of memory. */
delivery_t *delivery_new(const broker_env_t *env, cycle_t *cycle, transport_t *transport);
void delivery_destroy(delivery_t **self_p);

/* Handlers of the dispatch table: SUBSCRIBE and ACK. */
void delivery_on_subscribe(delivery_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf);
void delivery_on_ack(delivery_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf);

#define DELIVERY_ACKS_MAX 256 /* acknowledgements written together at most */

/* Writes the acknowledgements delivery_on_ack took since the last call,
 * together, and answers them; the look-up of the batch's submission ids
 * ids[0..nids) goes in the same round trip (store_prefetch_finish).
 * delivery_on_ack keeps pointers into the request: call this before the
 * batch of requests is freed. */
void delivery_settle(delivery_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids);

/* Marks party as having something to deliver. */
void delivery_mark_dirty(delivery_t *self, const char *party);
/* True if some recipient is marked. */
bool delivery_has_dirty(const delivery_t *self);
/* Delivers what is due for every marked recipient (and unmarks them). */
void delivery_pump_dirty(delivery_t *self, int64_t now);
/* delivery_pump_dirty in two halves, for a caller that reads the rows
 * itself (store_commit_begin): the plan unmarks the recipients and gives
 * the reads to fill (*reqs, owned by the delivery; the count, 0 for none);
 * the hand delivers what they read (read false: nothing was, and the
 * recipients are marked again). Nothing else of the delivery may be called
 * between the two. */
size_t delivery_pump_plan(delivery_t *self, store_due_req_t **reqs);
void delivery_pump_hand(delivery_t *self, bool read, int64_t now);

/* Removes id from the in-flight set of whichever connection of party
 * holds it (the message ended some other way). */
void delivery_inflight_done(delivery_t *self, const char *party, const uint8_t *id);

/* Redelivery scan: marks every receiving party. */
void delivery_scan(delivery_t *self);
/* Liveness: an empty frame to every connection; drops the unreachable. */
void delivery_ping(delivery_t *self);
/* True if party has a receiving connection. */
bool delivery_is_connected(const delivery_t *self, const char *party);
/* Sets the metrics' gauges: queue depth of every party of the registry,
 * and the number of parties receiving. */
void delivery_gauges(delivery_t *self, const store_queue_t *queues, size_t nqueues);
/* Number of receiving connections. */
size_t delivery_connections(const delivery_t *self);

#endif
