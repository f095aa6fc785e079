/* receipt: the broker's signed receipts, one at a time or in batches.
 *
 * A batch is an RFC 9162 Merkle tree over the serialized Receipts the
 * broker gives out after one commit; the broker signs one ReceiptBatch
 * naming its root (context "remiss-receipts-v1"), and each SignedReceipt
 * carries that head, the signature and its own inclusion path (see
 * proto/remiss.proto). A verifier checks the path, and the signature once
 * per batch: receipt_seen_t remembers the last batch whose signature held. */
#ifndef RECEIPT_H
#define RECEIPT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "pki.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

/* Receipts one batch may hold; the broker's batches are its replies of one
 * commit, far fewer. */
#define RECEIPT_BATCH_MAX 65536
/* A serialized ReceiptBatch is at most this long. */
#define RECEIPT_HEAD_MAX 64

/* A signed batch, built by receipt_batch_sign. */
typedef struct receipt_batch {
    uint8_t head[RECEIPT_HEAD_MAX]; /* serialized ReceiptBatch */
    size_t head_len;
    uint8_t sig[PKI_SIG_MAX]; /* over PKI_CTX_RECEIPTS, head */
    size_t sig_len;
    size_t size;                        /* receipts */
    uint8_t (*nodes)[MERKLE_HASH_LEN];  /* every perfect-subtree node, by level */
    size_t level_at[MERKLE_MAX_LEVELS]; /* where each level starts in nodes */
} receipt_batch_t;

/* Builds the tree over the n receipts bodies[i] (lens[i] bytes each,
 * serialized Receipts) and signs its head with key at time now (ms).
 * REMISS_E_USAGE for n == 0 or n > RECEIPT_BATCH_MAX, REMISS_E_INTERNAL if
 * memory or OpenSSL fail. Clear b with receipt_batch_clear either way. */
remiss_code_t receipt_batch_sign(receipt_batch_t *b, EVP_PKEY *key, const uint8_t *const *bodies,
                                 const size_t *lens, size_t n, int64_t now);
/* The inclusion path of receipt i into path[0 .. *len); cap hashes of room
 * (MERKLE_MAX_PROOF always suffices). */
remiss_code_t receipt_batch_path(const receipt_batch_t *b, size_t i,
                                 uint8_t path[][MERKLE_HASH_LEN], size_t cap, size_t *len);
void receipt_batch_clear(receipt_batch_t *b);

/* The last batch whose signature verified, per verifier; zero it to start. */
typedef struct receipt_seen {
    const EVP_PKEY *key;
    uint8_t head[RECEIPT_HEAD_MAX];
    size_t head_len;
    uint8_t sig[PKI_SIG_MAX];
    size_t sig_len;
} receipt_seen_t;

/* True if sr is a receipt signed by broker: alone, or in a batch whose path
 * leads from the receipt to the signed root. seen (may be NULL) saves the
 * signature check for further receipts of a batch already verified. */
bool receipt_verify(EVP_PKEY *broker, const Remiss__SignedReceipt *sr, receipt_seen_t *seen);

#endif
