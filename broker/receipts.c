/* receipts: receipt bodies, resends and sealing one commit's receipts
 * (include/receipts.h). */
#include "receipts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "merkle.h"
#include "receipt.h"
#include "remiss.pb-c.h"

/* A receipt waiting for its batch. */
typedef struct s_slot {
    uint64_t request_id;
    uint8_t message_id[STORE_ID_LEN];
    bool has_id;
    char sender[STORE_NAME_MAX]; /* as stored: a receipt may be re-made from a row */
    uint8_t *body;               /* serialized Receipt; NULL until re-made */
    size_t body_len;
    uint8_t *frame; /* packed BrokerFrame after sealing */
    size_t frame_len;
} s_slot_t;

struct receipts {
    EVP_PKEY *key;  /* broker signing key (borrowed) */
    s_slot_t *slot; /* this commit's receipts */
    size_t n, cap;
};

bool
receipts_body(uint64_t audit_index, const uint8_t *id, remiss_code_t code, const char *sentence,
              const uint8_t *env_hash, const char *sender, uint8_t **out, size_t *len)
{
    Remiss__Receipt rc = REMISS__RECEIPT__INIT;

    if (id) {
        rc.message_id.data = (uint8_t *)id;
        rc.message_id.len = STORE_ID_LEN;
    }
    rc.code = (Remiss__ReasonCode)code;
    rc.sentence = (char *)(sentence ? sentence : remiss_code_sentence(code));
    rc.audit_index = audit_index;
    if (env_hash) {
        rc.envelope_sha256.data = (uint8_t *)env_hash;
        rc.envelope_sha256.len = STORE_HASH_LEN;
    }
    rc.broker_time = log_now_ms();
    rc.sender = (char *)(sender ? sender : "");
    *len = remiss__receipt__get_packed_size(&rc);
    if (!(*out = malloc(*len ? *len : 1)))
        return false;
    remiss__receipt__pack(&rc, *out);
    return true;
}

bool
receipts_stored_form(const uint8_t *body, size_t len, uint8_t **out, size_t *out_len)
{
    Remiss__SignedReceipt unsigned_rc = REMISS__SIGNED_RECEIPT__INIT;
    unsigned_rc.receipt = (ProtobufCBinaryData){len, (uint8_t *)body};
    *out_len = remiss__signed_receipt__get_packed_size(&unsigned_rc);
    if (!(*out = malloc(*out_len ? *out_len : 1)))
        return false;
    remiss__signed_receipt__pack(&unsigned_rc, *out);
    return true;
}

receipts_t *
receipts_new(EVP_PKEY *key)
{
    receipts_t *self = calloc(1, sizeof *self);
    if (self)
        self->key = key;
    return self;
}

void
receipts_free(receipts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    receipts_reset(*self_p);
    free((*self_p)->slot);
    free(*self_p);
    *self_p = NULL;
}

void
receipts_reset(receipts_t *self)
{
    for (size_t i = 0; i < self->n; i++) {
        free(self->slot[i].body);
        free(self->slot[i].frame);
    }
    self->n = 0;
}

size_t
receipts_count(const receipts_t *self)
{
    return self->n;
}

long
receipts_add(receipts_t *self, uint64_t request_id, const uint8_t *id, const char *sender,
             uint8_t *body, size_t len)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        void *grown = realloc(self->slot, cap * sizeof *self->slot);
        if (!grown) {
            free(body);
            return -1;
        }
        self->slot = grown;
        self->cap = cap;
    }
    s_slot_t *s = &self->slot[self->n];
    memset(s, 0, sizeof *s);
    s->request_id = request_id;
    if (id) {
        memcpy(s->message_id, id, STORE_ID_LEN);
        s->has_id = true;
    }
    snprintf(s->sender, sizeof s->sender, "%s", sender ? sender : "");
    s->body = body;
    s->body_len = len;
    return (long)self->n++;
}

static bool
s_pack(const Remiss__BrokerFrame *f, uint8_t **out, size_t *len)
{
    *len = remiss__broker_frame__get_packed_size(f);
    if (!(*out = malloc(*len ? *len : 1)))
        return false;
    remiss__broker_frame__pack(f, *out);
    return true;
}

long
receipts_add_stored(receipts_t *self, uint64_t request_id, const store_msg_t *m, uint8_t **frame,
                    size_t *frame_len)
{
    Remiss__SignedReceipt *sr = remiss__signed_receipt__unpack(NULL, m->receipt_len, m->receipt);
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    uint8_t *body;
    long slot = -1;

    *frame = NULL;
    if (!sr)
        return -1;
    if (sr->signature.len == 0) {
        if ((body = malloc(sr->receipt.len ? sr->receipt.len : 1))) {
            memcpy(body, sr->receipt.data, sr->receipt.len);
            slot = receipts_add(self, request_id, m->message_id, m->sender, body, sr->receipt.len);
        }
    } else {
        bf.request_id = request_id;
        bf.kind_case = REMISS__BROKER_FRAME__KIND_RECEIPT;
        bf.receipt = sr;
        if (!s_pack(&bf, frame, frame_len))
            *frame = NULL;
    }
    remiss__signed_receipt__free_unpacked(sr, NULL);
    return slot;
}

/* After a failed commit every receipt says E_STORAGE: nothing was kept. */
static size_t
s_remake(receipts_t *self, bool committed)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++) {
        s_slot_t *s = &self->slot[i];
        if (!committed || !s->body) {
            free(s->body);
            s->body = NULL;
            receipts_body(0, s->has_id ? s->message_id : NULL, REMISS_E_STORAGE, NULL, NULL,
                          s->sender, &s->body, &s->body_len);
        }
        n += s->body != NULL;
    }
    return n;
}

/* Packs slot s's frame: its body, the batch signature and its path. */
static void
s_frame(s_slot_t *s, const receipt_batch_t *b, size_t k)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    ProtobufCBinaryData hashes[MERKLE_MAX_PROOF];
    Remiss__SignedReceipt sr = REMISS__SIGNED_RECEIPT__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    size_t plen = 0;

    if (receipt_batch_path(b, k, path, MERKLE_MAX_PROOF, &plen) != REMISS_OK)
        return;
    for (size_t h = 0; h < plen; h++)
        hashes[h] = (ProtobufCBinaryData){MERKLE_HASH_LEN, path[h]};
    sr.receipt = (ProtobufCBinaryData){s->body_len, s->body};
    sr.signature = (ProtobufCBinaryData){b->sig_len, (uint8_t *)b->sig};
    sr.batch = (ProtobufCBinaryData){b->head_len, (uint8_t *)b->head};
    sr.batch_index = k;
    sr.n_batch_path = plen;
    sr.batch_path = hashes;
    bf.request_id = s->request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_RECEIPT;
    bf.receipt = &sr;
    if (!s_pack(&bf, &s->frame, &s->frame_len))
        s->frame = NULL;
}

void
receipts_seal(receipts_t *self, bool committed)
{
    size_t n = s_remake(self, committed);
    const uint8_t **bodies = n ? malloc(n * sizeof *bodies) : NULL;
    size_t *lens = n ? malloc(n * sizeof *lens) : NULL;
    receipt_batch_t b = {0};

    if (n == 0)
        return;
    n = 0;
    for (size_t i = 0; bodies && lens && i < self->n; i++)
        if (self->slot[i].body) {
            bodies[n] = self->slot[i].body;
            lens[n++] = self->slot[i].body_len;
        }
    remiss_code_t c = bodies && lens
                          ? receipt_batch_sign(&b, self->key, bodies, lens, n, log_now_ms())
                          : REMISS_E_INTERNAL;
    if (c != REMISS_OK)
        log_emit(LOG_ERROR, "receipt_failed", "receipts=%zu code=%s", n, remiss_code_name(c));
    for (size_t i = 0, k = 0; c == REMISS_OK && i < self->n; i++)
        if (self->slot[i].body)
            s_frame(&self->slot[i], &b, k++);
    receipt_batch_clear(&b);
    free(bodies);
    free(lens);
}

uint8_t *
receipts_frame(receipts_t *self, long slot, size_t *len)
{
    if (slot < 0 || (size_t)slot >= self->n)
        return NULL;
    uint8_t *f = self->slot[slot].frame;
    *len = self->slot[slot].frame_len;
    self->slot[slot].frame = NULL;
    return f;
}
