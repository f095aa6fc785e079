/* receipt: signing receipts in batches and verifying them (receipt.h). */
#include "receipt.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- batches */

static remiss_code_t
s_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_LEN])
{
    receipt_batch_t *b = ctx;
    if (level >= MERKLE_MAX_LEVELS || index >= (b->size >> level))
        return REMISS_E_INTERNAL;
    memcpy(b->nodes[b->level_at[level] + index], hash, MERKLE_HASH_LEN);
    return REMISS_OK;
}

static remiss_code_t
s_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    const receipt_batch_t *b = ctx;
    if (level >= MERKLE_MAX_LEVELS || index >= (b->size >> level))
        return REMISS_E_INTERNAL;
    memcpy(out, b->nodes[b->level_at[level] + index], MERKLE_HASH_LEN);
    return REMISS_OK;
}

remiss_code_t
receipt_batch_sign(receipt_batch_t *b, EVP_PKEY *key, const uint8_t *const *bodies,
                   const size_t *lens, size_t n, int64_t now)
{
    Remiss__ReceiptBatch head = REMISS__RECEIPT_BATCH__INIT;
    merkle_frontier_t f;
    uint8_t leaf[MERKLE_HASH_LEN], root[MERKLE_HASH_LEN];
    size_t total = 0;
    remiss_code_t r;

    memset(b, 0, sizeof *b);
    if (n == 0 || n > RECEIPT_BATCH_MAX || !key || !bodies || !lens)
        return REMISS_E_USAGE;
    b->size = n;
    for (unsigned l = 0; l < MERKLE_MAX_LEVELS && (n >> l) > 0; l++) {
        b->level_at[l] = total;
        total += n >> l;
    }
    if (!(b->nodes = malloc(total * sizeof *b->nodes)))
        return REMISS_E_INTERNAL;
    merkle_frontier_init(&f);
    for (size_t i = 0; i < n; i++)
        if ((r = merkle_leaf_hash(bodies[i], lens[i], leaf)) != REMISS_OK ||
            (r = merkle_frontier_append(&f, leaf, s_emit, b)) != REMISS_OK)
            return r;
    if ((r = merkle_frontier_root(&f, root)) != REMISS_OK)
        return r;
    head.root_hash = (ProtobufCBinaryData){sizeof root, root};
    head.size = n;
    head.broker_time = now;
    if ((b->head_len = remiss__receipt_batch__get_packed_size(&head)) > sizeof b->head)
        return REMISS_E_INTERNAL;
    remiss__receipt_batch__pack(&head, b->head);
    if (!pki_sign(key, PKI_CTX_RECEIPTS, b->head, b->head_len, b->sig, &b->sig_len))
        return REMISS_E_INTERNAL;
    return REMISS_OK;
}

remiss_code_t
receipt_batch_path(const receipt_batch_t *b, size_t i, uint8_t path[][MERKLE_HASH_LEN], size_t cap,
                   size_t *len)
{
    return merkle_inclusion_proof(i, b->size, s_get, (void *)b, path, cap, len);
}

void
receipt_batch_clear(receipt_batch_t *b)
{
    free(b->nodes);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- verify */

static bool
s_seen(const receipt_seen_t *s, const EVP_PKEY *key, const ProtobufCBinaryData *head,
       const ProtobufCBinaryData *sig)
{
    return s && s->key == key && s->head_len == head->len && s->sig_len == sig->len &&
           memcmp(s->head, head->data, head->len) == 0 && memcmp(s->sig, sig->data, sig->len) == 0;
}

bool
receipt_verify(EVP_PKEY *broker, const Remiss__SignedReceipt *sr, receipt_seen_t *seen)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], leaf[MERKLE_HASH_LEN];
    Remiss__ReceiptBatch *head;
    bool ok;

    if (!broker || !sr)
        return false;
    if (sr->batch.len == 0)
        return sr->n_batch_path == 0 && sr->batch_index == 0 &&
               pki_verify(broker, PKI_CTX_RECEIPT, sr->receipt.data, sr->receipt.len,
                          sr->signature.data, sr->signature.len);
    if (sr->batch.len > RECEIPT_HEAD_MAX || sr->n_batch_path > MERKLE_MAX_PROOF ||
        sr->signature.len > PKI_SIG_MAX)
        return false;
    for (size_t k = 0; k < sr->n_batch_path; k++) {
        if (sr->batch_path[k].len != MERKLE_HASH_LEN)
            return false;
        memcpy(path[k], sr->batch_path[k].data, MERKLE_HASH_LEN);
    }
    if (!(head = remiss__receipt_batch__unpack(NULL, sr->batch.len, sr->batch.data)))
        return false;
    ok = head->root_hash.len == MERKLE_HASH_LEN && head->size > 0 &&
         head->size <= RECEIPT_BATCH_MAX &&
         merkle_leaf_hash(sr->receipt.data, sr->receipt.len, leaf) == REMISS_OK &&
         merkle_verify_inclusion(sr->batch_index, head->size, leaf,
                                 (const uint8_t(*)[MERKLE_HASH_LEN])path, sr->n_batch_path,
                                 head->root_hash.data);
    remiss__receipt_batch__free_unpacked(head, NULL);
    if (!ok)
        return false;
    if (s_seen(seen, broker, &sr->batch, &sr->signature))
        return true;
    if (!pki_verify(broker, PKI_CTX_RECEIPTS, sr->batch.data, sr->batch.len, sr->signature.data,
                    sr->signature.len))
        return false;
    if (seen) {
        seen->key = broker;
        memcpy(seen->head, sr->batch.data, sr->batch.len);
        seen->head_len = sr->batch.len;
        memcpy(seen->sig, sr->signature.data, sr->signature.len);
        seen->sig_len = sr->signature.len;
    }
    return true;
}
