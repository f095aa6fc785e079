/* receipts: the receipts the broker issues (common/receipt.c is the
 * verifier a client runs; this is the issuing side).
 *
 * A receipt body is a serialized Receipt. The bodies of one commit are
 * collected in a builder and signed together as one batch after the commit
 * (receipts_seal: one signature per commit, each receipt with its Merkle
 * path to the signed batch head); after a failed commit every body is first
 * remade as E_STORAGE, since nothing of the cycle was kept. A message's
 * receipt is stored with it unsigned, so a resend gets the same Receipt,
 * signed with the batch it goes out in. */
#ifndef RECEIPTS_H
#define RECEIPTS_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"
#include "store.h"

/* A serialized Receipt into *out (malloc'd, caller frees); sentence NULL
 * means the code's own sentence. False on out of memory. */
bool receipts_body(uint64_t audit_index, const uint8_t *id, remiss_code_t code,
                   const char *sentence, const uint8_t *env_hash, const char *sender, uint8_t **out,
                   size_t *len);

/* The form kept with a stored message: an unsigned SignedReceipt around
 * body, into *out (malloc'd). False on out of memory. */
bool receipts_stored_form(const uint8_t *body, size_t len, uint8_t **out, size_t *out_len);

typedef struct receipts receipts_t;

/* A builder signing with key (borrowed). NULL on out of memory. */
receipts_t *receipts_new(EVP_PKEY *key);
void receipts_free(receipts_t **self_p);

/* Adds a receipt for request_id (id: the message's, or NULL; sender as
 * stored) with body (taken over). Returns its slot, or -1 (body freed) on
 * out of memory. */
long receipts_add(receipts_t *self, uint64_t request_id, const uint8_t *id, const char *sender,
                  uint8_t *body, size_t len);

/* The stored receipt of m again (an idempotent resend). Returns its slot
 * when it was stored unsigned (it is signed with this batch); -1 when it
 * was stored signed (then *frame is its packed BrokerFrame, malloc'd) or
 * when it cannot be read or memory is short (*frame NULL). */
long receipts_add_stored(receipts_t *self, uint64_t request_id, const store_msg_t *m,
                         uint8_t **frame, size_t *frame_len);

/* Signs every receipt added since the last reset as one batch (committed
 * false: each is remade as E_STORAGE first) and packs each one's frame. A
 * receipt that cannot be made is dropped: its sender's request times out
 * and is resent, as after a lost frame. */
void receipts_seal(receipts_t *self, bool committed);

/* After receipts_seal: slot's packed BrokerFrame (ownership passes to the
 * caller), or NULL if it could not be made. */
uint8_t *receipts_frame(receipts_t *self, long slot, size_t *len);

/* Number of receipts added since the last reset. */
size_t receipts_count(const receipts_t *self);

/* Empties the builder for the next commit. */
void receipts_reset(receipts_t *self);

#endif
