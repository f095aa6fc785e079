/* cycle: the loop's transaction and its reply queue (include/cycle.h). */
#include "cycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "receipts.h"

/* A reply waiting for the transaction to commit. */
typedef struct s_reply {
    uint8_t rid[BROKER_RID_MAX];
    size_t rid_len;
    uint8_t *data; /* packed BrokerFrame; NULL for a receipt until sealed */
    size_t len;
    long slot; /* a receipt: its slot in the receipts builder, else -1 */
} s_reply_t;

struct cycle {
    const broker_env_t *env; /* borrowed */
    transport_t *transport;  /* where replies go (borrowed) */
    receipts_t *receipts;    /* this commit's receipts */
    s_reply_t *replies;      /* replies of the current cycle */
    size_t nreplies, capreplies;
    bool durable;     /* a queued reply may only leave after a commit */
    bool tx_open;     /* a store transaction spans cycles */
    int64_t tx_since; /* ms, when it began */
};

cycle_t *
cycle_new(const broker_env_t *env, transport_t *transport, EVP_PKEY *sign_key)
{
    cycle_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->env = env;
    self->transport = transport;
    if (!(self->receipts = receipts_new(sign_key)))
        cycle_destroy(&self);
    return self;
}

void
cycle_destroy(cycle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cycle_t *self = *self_p;
    for (size_t i = 0; i < self->nreplies; i++)
        free(self->replies[i].data);
    free(self->replies);
    receipts_free(&self->receipts);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------ transaction */

remiss_code_t
cycle_begin(cycle_t *self, int64_t now, remiss_err_t *err)
{
    if (self->tx_open)
        return REMISS_OK;
    remiss_code_t r = store_begin(self->env->store, err);
    if (r == REMISS_OK) {
        self->tx_open = true;
        self->tx_since = now;
    }
    return r;
}

bool
cycle_is_open(const cycle_t *self)
{
    return self->tx_open;
}

int64_t
cycle_since(const cycle_t *self)
{
    return self->tx_since;
}

long
cycle_wait_ms(const cycle_t *self, int64_t now, long timeout_ms)
{
    if (!self->tx_open || timeout_ms <= 0)
        return timeout_ms;
    int64_t left = CYCLE_TX_MAX_MS - (now - self->tx_since);
    return left < 0 ? 0 : left < timeout_ms ? (long)left : timeout_ms;
}

bool
cycle_must_commit(const cycle_t *self, int64_t now, bool stopping)
{
    /* Holding the store's write lock holds up every other node. */
    return self->durable || now - self->tx_since >= CYCLE_TX_MAX_MS || stopping ||
           store_locked(self->env->store);
}

/* Commits; with reopen (at now) the next transaction begins in the same
 * round trip, and due[0..ndue) are read in it (store_commit_begin). */
static remiss_code_t
s_commit(cycle_t *self, bool reopen, store_due_req_t *due, size_t ndue, int64_t now, bool *begun_p)
{
    const broker_env_t *env = self->env;
    struct timespec c0, c1;
    remiss_err_t err;
    bool begun = false;
    clock_gettime(CLOCK_MONOTONIC, &c0);
    remiss_code_t c = reopen ? store_commit_begin(env->store, due, ndue, now, &begun, &err)
                             : store_commit(env->store, &err);
    self->tx_open = begun;
    if (begun_p)
        *begun_p = begun;
    self->tx_since = now;
    clock_gettime(CLOCK_MONOTONIC, &c1);
    metrics_commit_seconds(env->metrics, (double)(c1.tv_sec - c0.tv_sec) +
                                             (double)(c1.tv_nsec - c0.tv_nsec) / 1e9);
    if (c == REMISS_OK)
        return c;
    broker_env_log_failure("commit_failed", &err);
    /* Nothing of the cycle is kept: the log's frontier and the consents
     * intake remembers go back to what the store holds. */
    intake_forget(env->intake);
    if (env->audit && audit_reload(env->audit, &err) != REMISS_OK)
        broker_env_log_failure("audit_failed", &err);
    return c;
}

remiss_code_t
cycle_commit(cycle_t *self)
{
    return s_commit(self, false, NULL, 0, 0, NULL);
}

remiss_code_t
cycle_commit_reopen(cycle_t *self, store_due_req_t *due, size_t ndue, int64_t now, bool *begun)
{
    return s_commit(self, true, due, ndue, now, begun);
}

/* ------------------------------------------------------------ replies */

static s_reply_t *
s_reply_add(cycle_t *self, const uint8_t *rid, size_t rid_len)
{
    if (self->nreplies == self->capreplies) {
        size_t cap = self->capreplies ? self->capreplies * 2 : 64;
        void *grown = realloc(self->replies, cap * sizeof *self->replies);
        if (!grown)
            return NULL;
        self->replies = grown;
        self->capreplies = cap;
    }
    s_reply_t *r = &self->replies[self->nreplies++];
    memset(r, 0, sizeof *r);
    memcpy(r->rid, rid, rid_len);
    r->rid_len = rid_len;
    r->slot = -1;
    return r;
}

void
cycle_need_durable(cycle_t *self)
{
    self->durable = true;
}

bool
cycle_needs_durable(const cycle_t *self)
{
    return self->durable;
}

size_t
cycle_replies(const cycle_t *self)
{
    return self->nreplies;
}

void
cycle_reply_frame(cycle_t *self, const uint8_t *rid, size_t rid_len, const Remiss__BrokerFrame *bf)
{
    s_reply_t *r = s_reply_add(self, rid, rid_len);
    if (!r)
        return;
    r->len = remiss__broker_frame__get_packed_size(bf);
    if (!(r->data = malloc(r->len ? r->len : 1))) {
        self->nreplies--;
        return;
    }
    remiss__broker_frame__pack(bf, r->data);
}

void
cycle_reply_result(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                   const uint8_t *id, size_t idlen, remiss_code_t code, const char *sentence)
{
    Remiss__Result res = REMISS__RESULT__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    res.message_id.data = (uint8_t *)id;
    res.message_id.len = id ? idlen : 0;
    res.code = (Remiss__ReasonCode)code;
    res.sentence = (char *)(sentence ? sentence : remiss_code_sentence(code));
    bf.request_id = request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_RESULT;
    bf.result = &res;
    cycle_reply_frame(self, rid, rid_len, &bf);
}

void
cycle_reply_body(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                 const uint8_t *id, const char *sender, uint8_t *body, size_t len)
{
    s_reply_t *r = s_reply_add(self, rid, rid_len);
    if (!r) {
        free(body);
        return;
    }
    /* A receipt names an audit entry and maybe a stored message: it waits
     * for the commit that keeps them. */
    self->durable = true;
    if ((r->slot = receipts_add(self->receipts, request_id, id, sender, body, len)) < 0)
        self->nreplies--;
}

void
cycle_reply_stored(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                   const store_msg_t *m)
{
    uint8_t *frame = NULL;
    size_t flen = 0;
    s_reply_t *r = s_reply_add(self, rid, rid_len);
    if (!r)
        return;
    r->slot = receipts_add_stored(self->receipts, request_id, m, &frame, &flen);
    if (r->slot >= 0)
        self->durable = true; /* signed with this commit's batch */
    else if (frame) {
        r->data = frame;
        r->len = flen;
    } else
        self->nreplies--;
}

/* Counts and logs a refusal (the log names no text from the message). */
static void
s_refused(const cycle_t *self, const uint8_t *id, remiss_code_t code, const char *sender)
{
    metrics_refused(self->env->metrics, code);
    if (!self->env->cfg->verbose)
        return;
    char hex[33] = "-";
    if (id)
        log_hex(hex, id, STORE_ID_LEN);
    log_emit(LOG_INFO, "refused", "msg=%s from=%s code=%s", hex, sender ? sender : "-",
             remiss_code_name(code));
}

void
cycle_reply_receipt(cycle_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                    const uint8_t *id, remiss_code_t code, const char *sentence,
                    const uint8_t *env_hash, const char *sender, const audit_event_t *ev)
{
    uint64_t audit_index = 0;
    uint8_t *body;
    size_t blen;
    if (code != REMISS_OK && code != REMISS_E_STORAGE) {
        audit_event_t e = ev ? *ev : (audit_event_t){0};
        e.event = REMISS__AUDIT_EVENT__EV_REFUSED;
        e.code = code;
        e.sender = sender;
        e.message_id = id;
        e.envelope_sha256 = env_hash;
        /* Past its allowance a party's refusals are counted into one
         * aggregated entry per interval (flood.h). */
        if (flood_refusal_individual(self->env->flood, sender, code, log_now_ms()))
            audit_index = broker_env_audit(self->env, &e);
    }
    if (receipts_body(audit_index, id, code, sentence, env_hash, sender, &body, &blen))
        cycle_reply_body(self, rid, rid_len, request_id, id, sender, body, blen);
    if (code != REMISS_OK)
        s_refused(self, id, code, sender);
}

void
cycle_flush(cycle_t *self, bool committed)
{
    receipts_seal(self->receipts, committed);
    for (size_t i = 0; i < self->nreplies; i++) {
        s_reply_t *r = &self->replies[i];
        if (r->slot >= 0)
            r->data = receipts_frame(self->receipts, r->slot, &r->len);
        if (r->data)
            transport_send(self->transport, r->rid, r->rid_len, r->data, r->len);
        free(r->data);
    }
    receipts_reset(self->receipts);
    self->nreplies = 0;
    self->durable = false;
}
