/* cycle: one turn of the broker's loop as a store transaction, and the
 * replies that wait for it.
 *
 * Every poll cycle runs in one store transaction. Replies are queued, not
 * sent: a reply that needs durability (a receipt names an audit entry and
 * a stored message; a request the dispatch table declares durable) may
 * only leave after the commit, so its cycle commits (and fsyncs) before
 * the replies are flushed. Acknowledgements and delivery marks alone can
 * wait up to CYCLE_TX_MAX_MS: lost in a crash they only cause a
 * redelivery, which the client library recognises. This is remiss's
 * version of Redis's AE_BARRIER: the fsync comes before the reply.
 *
 * Receipts of one commit are sealed together (receipts.h) after it: one
 * signature per commit; after a failed commit each says E_STORAGE. */
#ifndef CYCLE_H
#define CYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_env.h"
#include "remiss.pb-c.h"
#include "transport.h"

#define CYCLE_TX_MAX_MS 50 /* a transaction stays open at most this long */

typedef struct cycle cycle_t;

/* env, transport and sign_key are borrowed. NULL on out of memory. */
cycle_t *cycle_new(const broker_env_t *env, transport_t *transport, EVP_PKEY *sign_key);
void cycle_destroy(cycle_t **self_p);

/* ---- the transaction */

/* Opens the cycle's transaction unless one is open (since now). */
remiss_code_t cycle_begin(cycle_t *self, int64_t now, remiss_err_t *err);
/* True while a transaction is open; when it began (ms). */
bool cycle_is_open(const cycle_t *self);
int64_t cycle_since(const cycle_t *self);
/* How long the loop may wait (at most timeout_ms) before this
 * transaction must end. */
long cycle_wait_ms(const cycle_t *self, int64_t now, long timeout_ms);
/* True if the transaction must commit now: a queued reply needs it, it
 * is CYCLE_TX_MAX_MS old, or the broker is stopping. */
bool cycle_must_commit(const cycle_t *self, int64_t now, bool stopping);
/* Commits. On failure nothing of the cycle is kept: intake's consent
 * cache and the audit frontier go back to what the store holds. */
remiss_code_t cycle_commit(cycle_t *self);
/* cycle_commit, and the next transaction begun at now in the same round
 * trip where the store can, with the reads due[0..ndue) in it (for what
 * follows the commit at once: the delivery of what it made durable;
 * store_commit_begin). *begun: the transaction is open and the rows read. */
remiss_code_t cycle_commit_reopen(cycle_t *self, store_due_req_t *due, size_t ndue, int64_t now,
                                  bool *begun);

/* ---- replies */

/* Declares that this cycle's replies may only leave after a commit. */
void cycle_need_durable(cycle_t *self);
/* True if a queued reply needs a commit first. */
bool cycle_needs_durable(const cycle_t *self);
/* Queues a packed BrokerFrame (copied from bf). */
void cycle_reply_frame(cycle_t *self, const uint8_t *rid, size_t rid_len,
                       const Remiss__BrokerFrame *bf);
/* Queues a Result. */
void cycle_reply_result(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                        const uint8_t *id, size_t idlen, remiss_code_t code, const char *sentence);
/* Queues a receipt body (taken over) for the sealing after the commit. */
void cycle_reply_body(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                      const uint8_t *id, const char *sender, uint8_t *body, size_t len);
/* Queues a receipt. A refusal is recorded in the audit log first (ev adds
 * what is known about the message; NULL for a frame that could not be
 * read) and the receipt names its entry. */
void cycle_reply_receipt(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                         const uint8_t *id, remiss_code_t code, const char *sentence,
                         const uint8_t *env_hash, const char *sender, const audit_event_t *ev);
/* Queues the stored receipt of m again (an idempotent resend). */
void cycle_reply_stored(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                        const store_msg_t *m);
/* Number of replies queued. */
size_t cycle_replies(const cycle_t *self);

/* Seals the receipts (as E_STORAGE unless committed) and sends every
 * queued reply; the queue is empty afterwards. */
void cycle_flush(cycle_t *self, bool committed);

#endif
