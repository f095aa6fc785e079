/* Unit tests of receipt: batch-signed receipts verify for every member of
 * batches of many sizes, and any change to a receipt, its path, its index,
 * the batch head or the signature makes it fail, with or without the cache
 * of the last verified batch. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receipt.h"

#define S_MAX 70

static EVP_PKEY *s_key, *s_other;
static uint8_t s_bodies[S_MAX][40];
static const uint8_t *s_ptrs[S_MAX];
static size_t s_lens[S_MAX];

static void
s_setup(void)
{
    s_key = EVP_EC_gen("P-256");
    s_other = EVP_EC_gen("P-256");
    cr_assert(s_key && s_other);
    for (size_t i = 0; i < S_MAX; i++) {
        Remiss__Receipt rc = REMISS__RECEIPT__INIT;
        uint8_t id[16];
        memset(id, (int)i, sizeof id);
        rc.message_id = (ProtobufCBinaryData){sizeof id, id};
        rc.audit_index = 1000 + i;
        rc.sender = "sdf-rinkeby-kista";
        s_lens[i] = remiss__receipt__get_packed_size(&rc);
        cr_assert_leq(s_lens[i], sizeof s_bodies[i]);
        remiss__receipt__pack(&rc, s_bodies[i]);
        s_ptrs[i] = s_bodies[i];
    }
}

static void
s_teardown(void)
{
    EVP_PKEY_free(s_key);
    EVP_PKEY_free(s_other);
}

TestSuite(receipt, .init = s_setup, .fini = s_teardown);

/* Fills sr (pointing into b, path and hashes) for member i of batch b. */
static void
s_member(const receipt_batch_t *b, size_t i, Remiss__SignedReceipt *sr,
         uint8_t path[][MERKLE_HASH_LEN], ProtobufCBinaryData *hashes)
{
    size_t plen = 0;
    cr_assert_eq(receipt_batch_path(b, i, path, MERKLE_MAX_PROOF, &plen), REMISS_OK);
    remiss__signed_receipt__init(sr);
    for (size_t h = 0; h < plen; h++)
        hashes[h] = (ProtobufCBinaryData){MERKLE_HASH_LEN, path[h]};
    sr->receipt = (ProtobufCBinaryData){s_lens[i], s_bodies[i]};
    sr->signature = (ProtobufCBinaryData){b->sig_len, (uint8_t *)b->sig};
    sr->batch = (ProtobufCBinaryData){b->head_len, (uint8_t *)b->head};
    sr->batch_index = i;
    sr->n_batch_path = plen;
    sr->batch_path = hashes;
}

Test(receipt, every_member_of_every_batch_size_verifies_and_nothing_else)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    ProtobufCBinaryData hashes[MERKLE_MAX_PROOF];
    Remiss__SignedReceipt sr;
    size_t checked = 0;

    for (size_t n = 1; n <= S_MAX; n++) {
        receipt_batch_t b;
        receipt_seen_t seen;
        memset(&seen, 0, sizeof seen);
        cr_assert_eq(receipt_batch_sign(&b, s_key, s_ptrs, s_lens, n, 1700000000000), REMISS_OK);
        for (size_t i = 0; i < n; i++) {
            s_member(&b, i, &sr, path, hashes);
            cr_assert(receipt_verify(s_key, &sr, NULL), "n=%zu i=%zu", n, i);
            cr_assert(receipt_verify(s_key, &sr, &seen), "n=%zu i=%zu", n, i);
            cr_assert_not(receipt_verify(s_other, &sr, &seen), "another broker's key");
            /* Another member's body at this index, or this body at another
             * index, fails; the cache does not help either. */
            sr.receipt = (ProtobufCBinaryData){s_lens[(i + 1) % S_MAX], s_bodies[(i + 1) % S_MAX]};
            cr_assert_not(receipt_verify(s_key, &sr, &seen), "n=%zu i=%zu", n, i);
            sr.receipt = (ProtobufCBinaryData){s_lens[i], s_bodies[i]};
            sr.batch_index = i + 1;
            cr_assert_not(receipt_verify(s_key, &sr, &seen), "n=%zu i=%zu", n, i);
            sr.batch_index = i;
            for (size_t h = 0; h < sr.n_batch_path; h++) {
                path[h][h % MERKLE_HASH_LEN] ^= 0x20;
                cr_assert_not(receipt_verify(s_key, &sr, &seen));
                path[h][h % MERKLE_HASH_LEN] ^= 0x20;
            }
            if (sr.n_batch_path > 0) {
                sr.n_batch_path--;
                cr_assert_not(receipt_verify(s_key, &sr, &seen), "a shortened path");
                sr.n_batch_path++;
            }
            cr_assert(receipt_verify(s_key, &sr, &seen));
            checked++;
        }
        receipt_batch_clear(&b);
    }
    cr_assert_eq(checked, S_MAX * (S_MAX + 1) / 2);
}

Test(receipt, a_changed_head_or_signature_fails_even_after_the_batch_was_seen)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    ProtobufCBinaryData hashes[MERKLE_MAX_PROOF];
    Remiss__SignedReceipt sr;
    receipt_batch_t b, b2;
    receipt_seen_t seen;

    memset(&seen, 0, sizeof seen);
    cr_assert_eq(receipt_batch_sign(&b, s_key, s_ptrs, s_lens, 9, 1), REMISS_OK);
    cr_assert_eq(receipt_batch_sign(&b2, s_key, s_ptrs, s_lens, 9, 2), REMISS_OK);
    s_member(&b, 4, &sr, path, hashes);
    cr_assert(receipt_verify(s_key, &sr, &seen));

    /* Each byte of the head changed in turn (its root, size and time). */
    for (size_t k = 0; k < b.head_len; k++) {
        b.head[k] ^= 0x01;
        cr_assert_not(receipt_verify(s_key, &sr, &seen), "head byte %zu", k);
        b.head[k] ^= 0x01;
    }
    b.sig[b.sig_len / 2] ^= 0x01;
    cr_assert_not(receipt_verify(s_key, &sr, &seen), "a changed signature");
    b.sig[b.sig_len / 2] ^= 0x01;
    /* The other batch's signature with this batch's head. */
    sr.signature = (ProtobufCBinaryData){b2.sig_len, b2.sig};
    cr_assert_not(receipt_verify(s_key, &sr, &seen));
    /* The other batch, whole, is fine and becomes the one remembered. */
    s_member(&b2, 4, &sr, path, hashes);
    cr_assert(receipt_verify(s_key, &sr, &seen));
    cr_assert_eq(seen.head_len, b2.head_len);
    cr_assert_arr_eq(seen.head, b2.head, b2.head_len);
    receipt_batch_clear(&b);
    receipt_batch_clear(&b2);
}

Test(receipt, single_signed_receipts_and_malformed_batches)
{
    Remiss__SignedReceipt sr = REMISS__SIGNED_RECEIPT__INIT;
    uint8_t sig[PKI_SIG_MAX], junk[MERKLE_HASH_LEN] = {0};
    ProtobufCBinaryData one = {sizeof junk, junk};
    size_t siglen;

    cr_assert(pki_sign(s_key, PKI_CTX_RECEIPT, s_bodies[0], s_lens[0], sig, &siglen));
    sr.receipt = (ProtobufCBinaryData){s_lens[0], s_bodies[0]};
    sr.signature = (ProtobufCBinaryData){siglen, sig};
    cr_assert(receipt_verify(s_key, &sr, NULL), "a receipt signed alone");
    sr.n_batch_path = 1;
    sr.batch_path = &one;
    cr_assert_not(receipt_verify(s_key, &sr, NULL), "a path without a batch");
    sr.n_batch_path = 0;
    /* The same signature presented as a batch head's. */
    sr.batch = sr.receipt;
    cr_assert_not(receipt_verify(s_key, &sr, NULL));
    uint8_t garbage[RECEIPT_HEAD_MAX + 1];
    memset(garbage, 0xff, sizeof garbage);
    sr.batch = (ProtobufCBinaryData){sizeof garbage, garbage};
    cr_assert_not(receipt_verify(s_key, &sr, NULL));
    cr_assert_not(receipt_verify(NULL, &sr, NULL));
    cr_assert_not(receipt_verify(s_key, NULL, NULL));

    receipt_batch_t b;
    cr_assert_eq(receipt_batch_sign(&b, s_key, s_ptrs, s_lens, 0, 1), REMISS_E_USAGE);
    receipt_batch_clear(&b);
}
