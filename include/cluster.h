/* cluster: what one broker node does about the other nodes on its store.
 *
 * Any number of remissd nodes may share one PostgreSQL store and one
 * broker identity (store.h: their writing transactions run one after
 * another under the store's write lock). This module adds the two things a
 * node needs besides: duties that must run on one node at a time (retention
 * purge, tree heads on the timer, remissctl's admin queue, redelivery),
 * each held as a
 * lease, and the news that another node queued a message for a recipient
 * connected here. The node holding the redelivery lease hands out again
 * at once what a node that died had in flight (store_reclaim, in its own
 * store transaction), instead of after --redeliver-ms.
 *
 * Both ride on one connection of the node's own, apart from the store's:
 * a lease is a session advisory lock (pg_try_advisory_lock), so it ends
 * when the node or its connection dies and another node takes it at its
 * next tick; the news is LISTEN on the channel the store notifies once per
 * commit that queued messages (store_pg.c), with the periodic redelivery
 * scan as the fallback when a notification is lost. On SQLite (one node)
 * the node holds every duty and there is no news. */
#ifndef CLUSTER_H
#define CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

typedef struct cluster cluster_t;

typedef enum cluster_duty {
    CLUSTER_PURGE,     /* retention purge of message bodies */
    CLUSTER_HEADS,     /* signing tree heads on the timer and every N entries */
    CLUSTER_ADMIN,     /* carrying out remissctl's requests */
    CLUSTER_REDELIVER, /* handing out again what a dead node had in flight */
    CLUSTER_DUTIES
} cluster_duty_t;

#define CLUSTER_TICK_MS  1000 /* leases are looked at this often */
#define CLUSTER_RETRY_MS 3000 /* between attempts to connect again */

/* For the store named spec (store.h). A SQLite store gives a node that
 * holds every duty; a PostgreSQL one connects at the first tick (a
 * database that is down is no error: the node holds nothing until it is
 * back). NULL only when out of memory. */
cluster_t *cluster_new(const char *spec);
void cluster_free(cluster_t **self_p);

/* True if other nodes may share the store. */
bool cluster_shared(const cluster_t *self);

/* Keeps the connection and the leases (at most every CLUSTER_TICK_MS). */
void cluster_tick(cluster_t *self, int64_t now_ms);

/* True while this node holds duty. */
bool cluster_holds(const cluster_t *self, cluster_duty_t duty);

/* "purge", "heads", "admin", "redeliver". */
const char *cluster_duty_name(cluster_duty_t duty);

/* The socket to wait on for news, -1 if none. */
int cluster_fd(const cluster_t *self);

/* Reads the news that arrived: fn(ctx, party) for every recipient named,
 * fn(ctx, NULL) for "look at every queue". own_session is the store
 * connection's server process (store_stats): its own commits are not news.
 * Returns the number of notifications from other nodes. */
typedef void (*cluster_news_fn)(void *ctx, const char *party);
size_t cluster_drain(cluster_t *self, int own_session, cluster_news_fn fn, void *ctx);

/* Notifications from other nodes since the start; round trips of the
 * lease checks and their total time. */
typedef struct cluster_stats {
    uint64_t notifications;
    uint64_t checks;
    double check_seconds;
} cluster_stats_t;
void cluster_stats(const cluster_t *self, cluster_stats_t *out);

#endif
