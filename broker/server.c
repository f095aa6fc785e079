/* server: sockets, ZAP, intake, acknowledgements and delivery. */
#include "server.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "audit.h"
#include "category.h"
#include "intake.h"
#include "log.h"
#include "flood.h"
#include "metrics.h"
#include "parties.h"
#include "pki.h"
#include "policy.h"
#include "receipt.h"
#include "remiss.pb-c.h"
#include "store.h"
#include "utf8.h"

#define S_BATCH        256   /* frames read per poll cycle (one transaction) */
#define S_RID_MAX      256   /* ZeroMQ routing ids are at most 255 bytes */
#define S_FUTURE_SKEW  300000 /* ms an envelope may be dated ahead of our clock */
#define S_PING_MS      5000  /* liveness check of receiving connections */
#define S_HARD_FACTOR  4     /* frames over max_frame * this drop the connection */
#define S_AUTH_LOG_PER_S 10  /* auth refusals logged per second at most */
#define S_TX_MAX_MS    50    /* a transaction stays open at most this long */
#define S_TEXT_MAX     (64 * 1024) /* longest text field */

/* A connection that subscribed to deliveries. */
typedef struct s_conn {
    uint8_t rid[S_RID_MAX];      /* ROUTER routing id */
    size_t rid_len;
    char party[PKI_ID_MAX + 1];  /* authenticated party */
    uint32_t window;             /* deliveries in flight at most */
    uint8_t (*inflight)[STORE_ID_LEN]; /* ids delivered and not yet acknowledged */
    uint32_t ninflight;
} s_conn_t;

/* Per-party accounting: the token bucket of its sending rate and a cached
 * depth of its queue as a recipient (refreshed every second, so intake does
 * not count rows for every message). */
typedef struct s_account {
    char party[PKI_ID_MAX + 1];
    double tokens;               /* messages it may still send now */
    int64_t refilled_at;         /* ms */
    uint64_t depth;              /* queued + in flight, as of depth_at, plus since */
    int64_t depth_at;            /* ms; 0 = unknown */
} s_account_t;

/* A reply waiting for the transaction to commit. */
typedef struct s_reply {
    uint8_t rid[S_RID_MAX];
    size_t rid_len;
    uint8_t *data; /* packed BrokerFrame (NULL for a receipt until
                      s_flush_replies signs the batch) */
    size_t len;
    uint8_t *body; /* a receipt: the serialized Receipt */
    size_t body_len;
    bool is_receipt;             /* re-made as E_STORAGE if the commit fails */
    bool durable;                /* may only leave after a commit */
    uint64_t request_id;
    uint8_t message_id[STORE_ID_LEN];
    bool has_id;
    char sender[STORE_NAME_MAX]; /* as stored: a receipt may be re-made from a row */
} s_reply_t;

struct server {
    broker_config_t cfg;          /* copy of the configuration */
    void *zctx;                   /* ZeroMQ context */
    void *router;                 /* parties connect here */
    void *zap;                    /* ZAP handler socket (inproc REP) */
    parties_t *parties;           /* registry, replaced on reload */
    store_t *store;               /* durable state */
    policy_t *policy;             /* secrecy policy in force, replaced on reload */
    intake_t *intake;             /* policy and consent decisions */
    audit_t *audit;               /* tamper-evident log, NULL when switched off */
    metrics_t *metrics;           /* /metrics and /healthz, NULL when off */
    flood_t *flood;               /* per-party frame bucket, refusal aggregation */
    int64_t next_gauges;          /* ms: queue depth and connection gauges */
    int64_t auth_log_sec;         /* second of the current auth log allowance */
    unsigned auth_logged;         /* auth refusals logged in that second */
    uint64_t auth_suppressed;     /* ... and not logged */
    EVP_PKEY *sign_key;           /* broker signing key */
    X509 *cert;                   /* broker certificate */
    uint8_t curve_secret[32];     /* broker CURVE secret */
    s_conn_t *conns;              /* subscribed connections */
    size_t nconns;
    s_account_t *accounts;        /* per-party rate and queue accounting */
    size_t naccounts;
    s_reply_t *replies;           /* replies of the current cycle */
    size_t nreplies, capreplies;
    char (*dirty)[PKI_ID_MAX + 1];/* recipients with something to deliver */
    size_t ndirty, capdirty;
    int64_t next_reload, next_scan, next_ping, next_purge, next_admin; /* timers, ms */
    bool tx_open;                 /* a store transaction spans cycles */
    int64_t tx_since;             /* ms, when it began */
};

/* ------------------------------------------------------------ small helpers */

static void
s_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

static void
s_mark_dirty(server_t *self, const char *party)
{
    for (size_t i = 0; i < self->ndirty; i++)
        if (strcmp(self->dirty[i], party) == 0)
            return;
    if (self->ndirty == self->capdirty) {
        size_t cap = self->capdirty ? self->capdirty * 2 : 16;
        void *grown = realloc(self->dirty, cap * sizeof *self->dirty);
        if (!grown)
            return; /* the periodic scan delivers it later */
        self->dirty = grown;
        self->capdirty = cap;
    }
    snprintf(self->dirty[self->ndirty++], PKI_ID_MAX + 1, "%s", party);
}

static s_conn_t *
s_conn_find(server_t *self, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < self->nconns; i++)
        if (self->conns[i].rid_len == rid_len && memcmp(self->conns[i].rid, rid, rid_len) == 0)
            return &self->conns[i];
    return NULL;
}

static void
s_conn_drop(server_t *self, s_conn_t *c)
{
    remiss_err_t err;
    /* What was in flight on it is due again at once for the party's other
     * (or next) connection. */
    if (c->ninflight)
        store_resend_now(self->store, c->party, &err);
    s_mark_dirty(self, c->party);
    free(c->inflight);
    size_t i = (size_t)(c - self->conns);
    self->conns[i] = self->conns[--self->nconns];
}

/* Sends one frame to a routing id. Returns 0, or the errno. */
static int
s_send_to(server_t *self, const uint8_t *rid, size_t rid_len, const uint8_t *data, size_t len)
{
    if (zmq_send(self->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno;
    if (zmq_send(self->router, data, len, ZMQ_DONTWAIT) < 0)
        return errno;
    return 0;
}

static bool
s_pack_frame(const Remiss__BrokerFrame *f, uint8_t **out, size_t *len)
{
    *len = remiss__broker_frame__get_packed_size(f);
    if (!(*out = malloc(*len ? *len : 1)))
        return false;
    remiss__broker_frame__pack(f, *out);
    return true;
}

static s_reply_t *
s_reply_add(server_t *self, const uint8_t *rid, size_t rid_len)
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
    return r;
}

/* ------------------------------------------------------------ receipts */

/* Builds a serialized Receipt into *out (malloc'd). It is signed with the
 * other receipts of its commit in s_flush_replies. */
static bool
s_receipt_body(uint64_t audit_index, const uint8_t *id, remiss_code_t code, const char *sentence,
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

/* Queues a receipt (body, taken over) for the signing at commit. */
static void
s_reply_body(server_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
             const uint8_t *id, const char *sender, uint8_t *body, size_t body_len)
{
    s_reply_t *r = s_reply_add(self, rid, rid_len);
    if (!r) {
        free(body);
        return;
    }
    r->body = body;
    r->body_len = body_len;
    r->is_receipt = true;
    r->durable = true;
    r->request_id = request_id;
    if (id) {
        memcpy(r->message_id, id, STORE_ID_LEN);
        r->has_id = true;
    }
    snprintf(r->sender, sizeof r->sender, "%s", sender ? sender : "");
}

/* Appends an audit entry; returns its index (0 when the log is off or the
 * append failed: the commit then fails too and nothing of the cycle stays). */
static uint64_t
s_audit(server_t *self, const audit_event_t *ev)
{
    uint64_t index = 0;
    remiss_err_t err;
    if (self->audit && audit_append(self->audit, ev, &index, &err) != REMISS_OK) {
        char q[400];
        log_emit(LOG_ERROR, "audit_failed", "reason=%s", log_quote(q, sizeof q, err.text));
        return 0;
    }
    return index;
}

/* Queues a receipt reply for the current cycle. A refusal is recorded in
 * the audit log first (ev adds what is known about the message; NULL for a
 * frame that could not be read) and the receipt names its entry. */
static void
s_reply_receipt(server_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                const uint8_t *id, remiss_code_t code, const char *sentence,
                uint64_t audit_index, const uint8_t *env_hash, const char *sender,
                const audit_event_t *ev)
{
    if (code != REMISS_OK && code != REMISS_E_STORAGE) {
        audit_event_t e = ev ? *ev : (audit_event_t){0};
        e.event = REMISS__AUDIT_EVENT__EV_REFUSED;
        e.code = code;
        e.sender = sender;
        e.message_id = id;
        e.envelope_sha256 = env_hash;
        if (flood_refusal_individual(self->flood, sender, code, log_now_ms()))
            audit_index = s_audit(self, &e);
    }
    uint8_t *body;
    size_t blen;
    if (s_receipt_body(audit_index, id, code, sentence, env_hash, sender, &body, &blen))
        s_reply_body(self, rid, rid_len, request_id, id, sender, body, blen);
    if (code != REMISS_OK)
        metrics_refused(self->metrics, code);
    if (code != REMISS_OK && self->cfg.verbose) {
        char hex[33] = "-";
        if (id)
            log_hex(hex, id, STORE_ID_LEN);
        log_emit(LOG_INFO, "refused", "msg=%s from=%s code=%s", hex, sender ? sender : "-",
                 remiss_code_name(code));
    }
}

/* Queues the stored receipt of message m (idempotent resend): the same
 * Receipt, signed again with this commit's batch unless it was stored
 * signed. */
static void
s_reply_raw(server_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
            const store_msg_t *m)
{
    Remiss__SignedReceipt *sr = remiss__signed_receipt__unpack(NULL, m->receipt_len, m->receipt);
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    s_reply_t *r;
    uint8_t *body;

    if (!sr)
        return;
    if (sr->signature.len == 0) {
        if ((body = malloc(sr->receipt.len ? sr->receipt.len : 1))) {
            memcpy(body, sr->receipt.data, sr->receipt.len);
            s_reply_body(self, rid, rid_len, request_id, m->message_id, m->sender, body,
                         sr->receipt.len);
        }
    } else if ((r = s_reply_add(self, rid, rid_len))) {
        bf.request_id = request_id;
        bf.kind_case = REMISS__BROKER_FRAME__KIND_RECEIPT;
        bf.receipt = sr;
        if (!s_pack_frame(&bf, &r->data, &r->len))
            self->nreplies--;
    }
    remiss__signed_receipt__free_unpacked(sr, NULL);
}

static void
s_reply_result(server_t *self, const uint8_t *rid, size_t rid_len, uint64_t request_id,
               const uint8_t *id, size_t idlen, remiss_code_t code, const char *sentence)
{
    Remiss__Result res = REMISS__RESULT__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    s_reply_t *r = s_reply_add(self, rid, rid_len);
    if (!r)
        return;
    res.message_id.data = (uint8_t *)id;
    res.message_id.len = id ? idlen : 0;
    res.code = (Remiss__ReasonCode)code;
    res.sentence = (char *)(sentence ? sentence : remiss_code_sentence(code));
    bf.request_id = request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_RESULT;
    bf.result = &res;
    if (!s_pack_frame(&bf, &r->data, &r->len))
        self->nreplies--;
}

/* ------------------------------------------------------------ limits */

static s_account_t *
s_account(server_t *self, const char *party)
{
    for (size_t i = 0; i < self->naccounts; i++)
        if (strcmp(self->accounts[i].party, party) == 0)
            return &self->accounts[i];
    s_account_t *grown = realloc(self->accounts, (self->naccounts + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    self->accounts = grown;
    s_account_t *a = &self->accounts[self->naccounts++];
    memset(a, 0, sizeof *a);
    snprintf(a->party, sizeof a->party, "%s", party);
    a->tokens = (double)self->cfg.rate_burst;
    a->refilled_at = log_now_ms();
    return a;
}

/* True if party may send one more message now (token bucket). */
static bool
s_rate_ok(server_t *self, const char *party, int64_t now)
{
    if (self->cfg.rate_per_s <= 0)
        return true;
    s_account_t *a = s_account(self, party);
    if (!a)
        return false;
    double burst = (double)self->cfg.rate_burst;
    a->tokens += (double)(now - a->refilled_at) * (double)self->cfg.rate_per_s / 1000.0;
    if (a->tokens > burst)
        a->tokens = burst;
    a->refilled_at = now;
    if (a->tokens < 1.0)
        return false;
    a->tokens -= 1.0;
    return true;
}

/* True if recipient's queue has room for one more. */
static bool
s_queue_ok(server_t *self, const char *recipient, int64_t now)
{
    s_account_t *a = s_account(self, recipient);
    remiss_err_t err;
    if (!a)
        return false;
    if (now - a->depth_at >= 1000) {
        if (store_depth(self->store, recipient, &a->depth, &err) != REMISS_OK)
            return true; /* the insert will report the storage problem */
        a->depth_at = now;
    }
    return a->depth < (uint64_t)self->cfg.max_queue;
}

static void
s_queue_added(server_t *self, const char *recipient)
{
    s_account_t *a = s_account(self, recipient);
    if (a)
        a->depth++;
}

/* ------------------------------------------------------------ intake */

static void s_inflight_done(server_t *self, const char *party, const uint8_t *id);

typedef struct s_req {
    const uint8_t *rid;          /* who asked */
    size_t rid_len;
    const party_t *party;        /* authenticated sender */
    uint64_t request_id;
    const uint8_t *raw;          /* the frame as received */
    size_t raw_len;
} s_req_t;

/* True if the envelope or any message inside it carries fields that no
 * version of the contract defines: they would travel unchecked. */
static bool
s_has_unknown(const Remiss__Envelope *env)
{
    const ProtobufCMessage *parts[] = {
        &env->base,
        (const ProtobufCMessage *)env->subject,
        env->subject ? (const ProtobufCMessage *)env->subject->contact : NULL,
        (const ProtobufCMessage *)env->education,
        (const ProtobufCMessage *)env->employment,
        (const ProtobufCMessage *)env->social,
        (const ProtobufCMessage *)env->health,
        (const ProtobufCMessage *)env->criminal,
        /* every body is a message without nested messages; the oneof
         * shares one pointer */
        env->body_case ? (const ProtobufCMessage *)env->referral : NULL,
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (parts[i] && parts[i]->n_unknown_fields > 0)
            return true;
    return false;
}

/* Checks the parts of an envelope that need no store: shape, time, the
 * signature against the channel party's certificate, the sender. */
static remiss_code_t
s_check_envelope(server_t *self, const s_req_t *q, const Remiss__SignedEnvelope *se,
                 const Remiss__Envelope *env, int64_t now, const char **why)
{
    *why = NULL;
    if (env->message_id.len != STORE_ID_LEN) {
        *why = "The message id must be 16 bytes.";
        return REMISS_E_MALFORMED;
    }
    if (!env->sender || !env->recipient || !env->sender[0] || !env->recipient[0] ||
        env->created_at <= 0) {
        *why = "The envelope lacks its sender, recipient or creation time.";
        return REMISS_E_MALFORMED;
    }
    if (msgtype_name(env->type) == NULL || env->body_case != msgtype_body_case(env->type)) {
        *why = "The message type is unknown or does not match the body.";
        return REMISS_E_MALFORMED;
    }
    /* Every text a person will read is valid UTF-8 without NUL, and nothing
     * travels that the policy's category checks did not see. */
    if (s_has_unknown(env) ||
        !utf8_message_valid((const ProtobufCMessage *)env, S_TEXT_MAX)) {
        *why = "The envelope holds text that is not valid UTF-8, or fields this broker does not "
               "know.";
        return REMISS_E_MALFORMED;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool good = pki_verify(q->party->pub, PKI_CTX_ENVELOPE, se->envelope.data, se->envelope.len,
                           se->signature.data, se->signature.len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_verify_seconds(self->metrics,
                           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (!good)
        return REMISS_E_BAD_SIGNATURE;
    if (strcmp(env->sender, q->party->id) != 0)
        return REMISS_E_SENDER_MISMATCH;
    if (env->created_at < now - self->cfg.replay_window_s * 1000) {
        *why = "The message is older than the broker's replay window; send a new one.";
        return REMISS_E_REPLAY;
    }
    if (env->created_at > now + S_FUTURE_SKEW) {
        *why = "The message is dated in the future; check the sender's clock.";
        return REMISS_E_MALFORMED;
    }
    bool to_broker = env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT ||
                     env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    if (to_broker) {
        if (strcmp(env->recipient, "broker") != 0) {
            *why = "Consent messages are addressed to \"broker\".";
            return REMISS_E_UNKNOWN_RECIPIENT;
        }
    } else {
        const party_t *to = parties_by_id(self->parties, env->recipient);
        if (!to)
            return REMISS_E_UNKNOWN_RECIPIENT;
        if (!parties_admissible(to, now / 1000)) {
            *why = "The recipient's certificate is revoked or expired.";
            return REMISS_E_UNKNOWN_RECIPIENT;
        }
    }
    return REMISS_OK;
}

static bool
s_is_consent(const Remiss__Envelope *env)
{
    return env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT ||
           env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
}

/* An audit entry about a stored message (delivery, withholding, ...). */
static void
s_audit_stored(server_t *self, const store_msg_t *m, Remiss__AuditEvent event, remiss_code_t code,
               const char *detail)
{
    if (!self->audit)
        return;
    audit_event_t e = {
        .event = event,
        .sender = m->sender,
        .recipient = m->recipient,
        .type = (Remiss__MessageType)m->type,
        .message_id = m->message_id,
        .purpose = m->purpose,
        .code = code,
        .envelope_sha256 = m->envelope_sha256,
        .detail = detail,
        /* The store keeps only the pseudonym: it goes in as it is. */
        .subject_pseudonym = m->has_subject ? m->subject : NULL,
    };
    s_audit(self, &e);
}

/* A withdrawn consent stops every queued message that rested on it. */
static remiss_code_t
s_withhold_consent(server_t *self, const char *consent_id, int64_t now)
{
    store_msg_t batch[64];
    size_t n;
    remiss_err_t err;
    char sentence[256];
    snprintf(sentence, sizeof sentence,
             "The consent %s was withdrawn before delivery; the message was withheld.",
             consent_id);
    do {
        if (store_pending_by_consent(self->store, consent_id, 64, batch, &n, &err) != REMISS_OK)
            return REMISS_E_STORAGE;
        for (size_t i = 0; i < n; i++) {
            bool changed;
            store_finish(self->store, batch[i].message_id, NULL, STORE_HELD,
                         REMISS_E_CONSENT_REVOKED, sentence, now, &changed, &err);
            s_audit_stored(self, &batch[i], REMISS__AUDIT_EVENT__EV_WITHHELD,
                           REMISS_E_CONSENT_REVOKED, consent_id);
            s_inflight_done(self, batch[i].recipient, batch[i].message_id);
            store_msg_clear(&batch[i]);
        }
    } while (n == 64);
    return REMISS_OK;
}

/* The audit event of a message, from its envelope and the decision. */
static audit_event_t
s_event_of(const Remiss__Envelope *env, const intake_result_t *ir, Remiss__AuditEvent event,
           const uint8_t *env_hash)
{
    audit_event_t e = {
        .event = event,
        .sender = env->sender,
        .recipient = env->recipient,
        .type = env->type,
        .message_id = env->message_id.len == STORE_ID_LEN ? env->message_id.data : NULL,
        .purpose = env->purpose,
        .categories = ir && ir->categories ? ir->categories : category_of_envelope(env),
        .code = ir ? ir->code : REMISS_OK,
        .envelope_sha256 = env_hash,
        .subject = ir && ir->has_subject ? ir->canonical : NULL,
        .detail = ir && ir->detail[0] ? ir->detail : NULL,
    };
    return e;
}

/* Stores an accepted message, records it in the audit log and queues its
 * receipt, all in one savepoint: E_STORAGE undoes every part. Consent
 * messages are registered (or withdrawn) in the same savepoint; their own
 * refusal is answered here (and REMISS_OK returned). */
static remiss_code_t
s_accept(server_t *self, const s_req_t *q, const Remiss__Envelope *env,
         const Remiss__SignedEnvelope *se, const uint8_t env_hash[32], int64_t now,
         const intake_result_t *ir)
{
    remiss_err_t err;
    store_msg_t m;
    uint8_t *receipt = NULL, *body = NULL, *packed = NULL;
    size_t rlen = 0, blen = 0, plen = remiss__signed_envelope__get_packed_size(se);
    Remiss__SignedReceipt unsigned_rc = REMISS__SIGNED_RECEIPT__INIT;
    intake_result_t cr;
    remiss_code_t r;
    audit_mark_t mark = {0};
    bool in_savepoint = false;

    memset(&m, 0, sizeof m);
    memcpy(m.message_id, env->message_id.data, STORE_ID_LEN);
    snprintf(m.sender, sizeof m.sender, "%s", env->sender);
    snprintf(m.recipient, sizeof m.recipient, "%s", env->recipient);
    m.type = env->type;
    snprintf(m.purpose, sizeof m.purpose, "%s", env->purpose ? env->purpose : "");
    /* The consent actually relied on, so a revocation finds the message. */
    snprintf(m.consent_id, sizeof m.consent_id, "%s",
             ir->consent_used[0] ? ir->consent_used : env->consent_id ? env->consent_id : "");
    memcpy(m.envelope_sha256, env_hash, STORE_HASH_LEN);
    m.created_at = env->created_at;
    m.accepted_at = now;
    if (env->body_case == REMISS__ENVELOPE__BODY_TRANSFER_ACK &&
        env->transfer_ack->original_message_id.len == STORE_ID_LEN) {
        m.has_linked = true;
        memcpy(m.linked_id, env->transfer_ack->original_message_id.data, STORE_ID_LEN);
    }
    if (!(packed = malloc(plen ? plen : 1)))
        return REMISS_E_INTERNAL;
    remiss__signed_envelope__pack(se, packed);
    m.envelope = packed;
    m.envelope_len = plen;

    if ((r = store_savepoint(self->store, &err)) != REMISS_OK)
        goto out;
    in_savepoint = true;
    if (self->audit)
        mark = audit_mark(self->audit);
    const intake_result_t *decided = ir;
    Remiss__AuditEvent event = REMISS__AUDIT_EVENT__EV_ACCEPTED;
    if (s_is_consent(env)) {
        r = intake_consent(self->intake, q->party->id, env, se->envelope.data, se->envelope.len,
                           now, &cr);
        if (r != REMISS_OK) {
            store_rollback_to(self->store);
            in_savepoint = false;
            audit_event_t e = s_event_of(env, &cr, REMISS__AUDIT_EVENT__EV_REFUSED, env_hash);
            s_reply_receipt(self, q->rid, q->rid_len, q->request_id, m.message_id, r,
                            cr.sentence, 0, env_hash, q->party->id, &e);
            r = REMISS_OK; /* answered */
            goto out;
        }
        decided = &cr;
        event = env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT
                    ? REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED
                    : REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED;
    }
    if (decided->has_subject) {
        m.has_subject = true;
        memcpy(m.subject, decided->pseudonym, STORE_HASH_LEN);
    }
    audit_event_t e = s_event_of(env, decided, event, env_hash);
    e.in_row = true; /* store_insert below keeps m.audit_index */
    if (self->audit && audit_append(self->audit, &e, &m.audit_index, &err) != REMISS_OK) {
        r = REMISS_E_STORAGE;
        goto fail;
    }
    /* The receipt names the audit entry and is stored with the message so
     * a resend gets the same one (signed with the batch it goes out in). */
    if (!s_receipt_body(m.audit_index, m.message_id, REMISS_OK,
                        decided->sentence, env_hash, q->party->id, &body,
                        &blen)) {
        r = REMISS_E_INTERNAL;
        goto fail;
    }
    unsigned_rc.receipt = (ProtobufCBinaryData){blen, body};
    if (!(receipt = malloc(rlen = remiss__signed_receipt__get_packed_size(&unsigned_rc)))) {
        r = REMISS_E_INTERNAL;
        goto fail;
    }
    remiss__signed_receipt__pack(&unsigned_rc, receipt);
    m.receipt = receipt;
    m.receipt_len = rlen;
    if (s_is_consent(env)) {
        bool changed;
        if ((r = store_insert(self->store, &m, &err)) == REMISS_OK)
            r = store_finish(self->store, m.message_id, NULL, STORE_DONE, REMISS_OK, "", now,
                             &changed, &err);
        if (r == REMISS_OK && cr.withhold_pending)
            r = s_withhold_consent(self, cr.consent_used, now);
    } else if ((r = store_insert(self->store, &m, &err)) == REMISS_OK && m.has_linked) {
        r = store_link_transfer(self->store, m.linked_id, m.recipient, m.sender,
                                env->transfer_ack->decision, env->transfer_ack->receiving_unit,
                                m.message_id, &err);
    }
    if (r != REMISS_OK)
        goto fail;
    store_release(self->store);
    in_savepoint = false;
    s_reply_body(self, q->rid, q->rid_len, q->request_id, m.message_id, q->party->id, body, blen);
    body = NULL;
    metrics_accepted(self->metrics);
    if (!s_is_consent(env)) {
        s_mark_dirty(self, m.recipient);
        s_queue_added(self, m.recipient);
    }
    if (self->cfg.verbose) {
        char hex[33];
        log_emit(LOG_INFO, "accepted", "msg=%s from=%s to=%s type=%s audit=%llu",
                 log_hex(hex, m.message_id, STORE_ID_LEN), m.sender, m.recipient,
                 msgtype_name(env->type), (unsigned long long)m.audit_index);
    }
    goto out;
fail:
    if (in_savepoint) {
        store_rollback_to(self->store);
        in_savepoint = false;
        intake_forget(self->intake); /* a consent it registered is undone */
    }
    if (self->audit)
        audit_rollback_to(self->audit, mark);
    if (r != REMISS_E_INTERNAL) {
        char qs[400];
        log_emit(LOG_ERROR, "store_failed", "reason=%s", log_quote(qs, sizeof qs, err.text));
        r = REMISS_E_STORAGE;
    }
out:
    if (in_savepoint)
        store_release(self->store);
    free(body);
    free(receipt);
    free(packed);
    return r;
}

static void
s_on_submit(server_t *self, const s_req_t *q, const Remiss__ClientFrame *cf)
{
    const Remiss__SignedEnvelope *se = cf->submit;
    Remiss__Envelope *env = NULL;
    uint8_t env_hash[32];
    const uint8_t *id = NULL;
    const char *why = NULL;
    remiss_code_t r;
    int64_t now = log_now_ms();
    remiss_err_t err;
    intake_result_t ir;
    memset(&ir, 0, sizeof ir);

    if (!se || se->envelope.len == 0) {
        s_reply_receipt(self, q->rid, q->rid_len, q->request_id, NULL, REMISS_E_MALFORMED,
                        "The frame carries no envelope.", 0, NULL, q->party->id, NULL);
        return;
    }
    /* Before any expensive work: a flood must not buy signature checks. */
    if (!s_rate_ok(self, q->party->id, now)) {
        char slow[160];
        snprintf(slow, sizeof slow,
                 "More than %lld messages per second from this party; send again shortly.",
                 (long long)self->cfg.rate_per_s);
        s_reply_receipt(self, q->rid, q->rid_len, q->request_id, NULL, REMISS_E_RATE_LIMITED,
                        slow, 0, NULL, q->party->id, NULL);
        return;
    }
    /* The SignedEnvelope is stored and forwarded re-encoded: a field the
     * broker does not know would travel unchecked, and protobuf-c writes
     * some (an over-long tag 0) back as bytes it cannot decode again. */
    if (se->base.n_unknown_fields > 0) {
        s_reply_receipt(self, q->rid, q->rid_len, q->request_id, NULL, REMISS_E_MALFORMED,
                        "The signed envelope has fields this broker does not know.", 0, NULL,
                        q->party->id, NULL);
        return;
    }
    s_sha256(se->envelope.data, se->envelope.len, env_hash);
    env = remiss__envelope__unpack(NULL, se->envelope.len, se->envelope.data);
    if (!env) {
        s_reply_receipt(self, q->rid, q->rid_len, q->request_id, NULL, REMISS_E_MALFORMED,
                        "The envelope could not be decoded.", 0, env_hash, q->party->id, NULL);
        return;
    }
    if (env->message_id.len == STORE_ID_LEN)
        id = env->message_id.data;
    /* A message id is used once. Looked up before the signature: a copy of
     * someone else's envelope is a replay whoever sends it, and the same
     * sender's identical resend gets its original receipt again. */
    if (id) {
        store_msg_t prev;
        bool found = false;
        if (store_find(self->store, id, &found, &prev, &err) != REMISS_OK) {
            r = REMISS_E_STORAGE;
            goto refuse;
        }
        if (found) {
            bool same = memcmp(prev.envelope_sha256, env_hash, 32) == 0 &&
                        strcmp(prev.sender, q->party->id) == 0;
            if (same)
                s_reply_raw(self, q->rid, q->rid_len, q->request_id, &prev);
            store_msg_clear(&prev);
            if (same)
                goto out;
            r = REMISS_E_REPLAY;
            why = "This message id was already used for another message.";
            goto refuse;
        }
    }
    if ((r = s_check_envelope(self, q, se, env, now, &why)) != REMISS_OK)
        goto refuse;
    if (!s_is_consent(env) && !s_queue_ok(self, env->recipient, now)) {
        r = REMISS_E_RATE_LIMITED;
        why = "The recipient's queue is full (it is not collecting its messages); the message "
              "was not accepted, send it again later.";
        goto refuse;
    }
    if (!s_is_consent(env) && intake_decide(self->intake, q->party->id, env, now, &ir) != REMISS_OK) {
        r = ir.code;
        why = ir.sentence;
        goto refuse;
    }
    if ((r = s_accept(self, q, env, se, env_hash, now, &ir)) != REMISS_OK)
        goto refuse;
    goto out;
refuse:;
    /* What is known about a refused message goes into its audit entry;
     * the sender field is the channel's, whatever the envelope claims. */
    audit_event_t e = s_event_of(env, &ir, REMISS__AUDIT_EVENT__EV_REFUSED, env_hash);
    e.sender = q->party->id;
    if (r == REMISS_E_SENDER_MISMATCH || r == REMISS_E_BAD_SIGNATURE) {
        e.subject = NULL; /* unsigned claims are not a person's record */
        e.categories = 0;
    }
    s_reply_receipt(self, q->rid, q->rid_len, q->request_id, id, r, why, 0, env_hash,
                    q->party->id, &e);
out:
    remiss__envelope__free_unpacked(env, NULL);
}

/* Receiving connections party holds. */
static size_t
s_party_conns(const server_t *self, const char *party)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nconns; i++)
        n += strcmp(self->conns[i].party, party) == 0;
    return n;
}

static void
s_on_subscribe(server_t *self, const s_req_t *q, const Remiss__ClientFrame *cf)
{
    s_conn_t *c = s_conn_find(self, q->rid, q->rid_len);
    uint32_t window = cf->subscribe && cf->subscribe->window ? cf->subscribe->window
                                                              : (uint32_t)self->cfg.window;
    if (window > (uint32_t)self->cfg.window * 16)
        window = (uint32_t)self->cfg.window * 16;
    if (!c) {
        if (s_party_conns(self, q->party->id) >= (size_t)self->cfg.max_party_connections) {
            s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_RATE_LIMITED,
                           "This party has as many receiving connections as the broker allows "
                           "one party.");
            return;
        }
        if (self->nconns >= (size_t)self->cfg.max_connections) {
            s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_RATE_LIMITED,
                           "The broker has as many receiving connections as it allows.");
            return;
        }
        s_conn_t *grown = realloc(self->conns, (self->nconns + 1) * sizeof *grown);
        if (!grown) {
            s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_INTERNAL,
                           NULL);
            return;
        }
        self->conns = grown;
        c = &self->conns[self->nconns++];
        memset(c, 0, sizeof *c);
        memcpy(c->rid, q->rid, q->rid_len);
        c->rid_len = q->rid_len;
        snprintf(c->party, sizeof c->party, "%s", q->party->id);
        /* Deliveries to an earlier connection of this party that is gone
         * should not wait for the redelivery timer. */
        bool other_live = false;
        for (size_t i = 0; i + 1 < self->nconns; i++)
            if (strcmp(self->conns[i].party, c->party) == 0)
                other_live = true;
        remiss_err_t err;
        if (!other_live)
            store_resend_now(self->store, c->party, &err);
    }
    if (window != c->window) {
        void *grown = realloc(c->inflight, window * sizeof *c->inflight);
        if (!grown && window) {
            s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_INTERNAL,
                           NULL);
            return;
        }
        c->inflight = grown;
        if (c->ninflight > window)
            c->ninflight = window; /* the rest come back by redelivery */
        c->window = window;
    }
    s_mark_dirty(self, c->party);
    s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_OK,
                   "Subscribed to deliveries.");
}

/* Removes id from the in-flight list of whichever connection of party
 * holds it. */
static void
s_inflight_done(server_t *self, const char *party, const uint8_t *id)
{
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = &self->conns[i];
        if (strcmp(c->party, party) != 0)
            continue;
        for (uint32_t k = 0; k < c->ninflight; k++)
            if (memcmp(c->inflight[k], id, STORE_ID_LEN) == 0) {
                memmove(c->inflight[k], c->inflight[c->ninflight - 1], STORE_ID_LEN);
                c->ninflight--;
                s_mark_dirty(self, party);
                return;
            }
    }
}

static void
s_on_ack(server_t *self, const s_req_t *q, const Remiss__ClientFrame *cf)
{
    const Remiss__Ack *ack = cf->ack;
    remiss_err_t err;
    bool changed = false;
    if (!ack || ack->message_id.len != STORE_ID_LEN ||
        (ack->kind != REMISS__ACK_KIND__RECEIVED && ack->kind != REMISS__ACK_KIND__REFUSE)) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_MALFORMED,
                       "An acknowledgement needs a 16-byte message id and a kind.");
        return;
    }
    const uint8_t *id = ack->message_id.data;
    bool refuse = ack->kind == REMISS__ACK_KIND__REFUSE;
    const char *reason = ack->reason && ack->reason[0] ? ack->reason : "refused by the recipient";
    if (store_finish(self->store, id, q->party->id, refuse ? STORE_DEAD : STORE_DONE, REMISS_OK,
                     refuse ? reason : "",
                     log_now_ms(), &changed, &err) != REMISS_OK) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, id, STORE_ID_LEN,
                       REMISS_E_STORAGE, NULL);
        return;
    }
    s_inflight_done(self, q->party->id, id);
    if (changed && !refuse)
        metrics_acked(self->metrics);
    if (changed && self->audit) {
        store_msg_t m;
        bool found = false;
        if (store_find(self->store, id, &found, &m, &err) == REMISS_OK && found) {
            s_audit_stored(self, &m,
                           refuse ? REMISS__AUDIT_EVENT__EV_DEAD_LETTERED
                                  : REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED,
                           REMISS_OK, refuse ? "refused by the recipient" : NULL);
            store_msg_clear(&m);
        }
    }
    if (!changed) {
        /* Acknowledging twice is fine; acknowledging what is not yours is not. */
        store_msg_t m;
        bool found = false;
        bool mine = store_find(self->store, id, &found, &m, &err) == REMISS_OK && found &&
                    strcmp(m.recipient, q->party->id) == 0;
        bool done = mine && m.state == (refuse ? STORE_DEAD : STORE_DONE);
        if (found)
            store_msg_clear(&m);
        if (!done) {
            s_reply_result(self, q->rid, q->rid_len, q->request_id, id, STORE_ID_LEN,
                           REMISS_E_MALFORMED,
                           "No message with this id is waiting for your acknowledgement.");
            return;
        }
    }
    s_reply_result(self, q->rid, q->rid_len, q->request_id, id, STORE_ID_LEN, REMISS_OK,
                   refuse ? "Refused; the message is on the dead-letter list."
                          : "Acknowledged.");
}

static void
s_on_status(server_t *self, const s_req_t *q, const Remiss__ClientFrame *cf)
{
    Remiss__StatusReply sr = REMISS__STATUS_REPLY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    memset(&m, 0, sizeof m);
    if (!cf->status || cf->status->message_id.len != STORE_ID_LEN) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_MALFORMED,
                       "A status query needs a 16-byte message id.");
        return;
    }
    sr.message_id = cf->status->message_id;
    if (store_find(self->store, cf->status->message_id.data, &found, &m, &err) != REMISS_OK) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_STORAGE, NULL);
        return;
    }
    /* Only the sender (or the recipient) may learn about a message. */
    if (!found || (strcmp(m.sender, q->party->id) != 0 && strcmp(m.recipient, q->party->id) != 0)) {
        sr.state = REMISS__MESSAGE_STATE__UNKNOWN;
        sr.sentence = "No message with this id from or to you is known.";
    } else {
        sr.state = (Remiss__MessageState)m.state;
        sr.code = (Remiss__ReasonCode)m.code;
        sr.sentence = m.state == STORE_HELD || m.state == STORE_DEAD ? m.reason : "";
        sr.recipient = m.recipient;
        sr.accepted_at = m.accepted_at;
        sr.delivered_at = m.delivered_at;
        sr.acked_at = m.acked_at;
        sr.attempts = m.attempts;
        sr.transfer_decision = (Remiss__TransferDecision)m.transfer_decision;
        sr.receiving_unit = m.receiving_unit;
        if (m.has_transfer_ack) {
            sr.transfer_ack_id.data = m.transfer_ack_id;
            sr.transfer_ack_id.len = STORE_ID_LEN;
        }
        if (m.state == STORE_DEAD)
            sr.refuse_reason = m.reason;
    }
    bf.request_id = q->request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_STATUS;
    bf.status = &sr;
    s_reply_t *rep = s_reply_add(self, q->rid, q->rid_len);
    if (rep && !s_pack_frame(&bf, &rep->data, &rep->len))
        self->nreplies--;
    store_msg_clear(&m);
}

static void
s_on_proof(server_t *self, const s_req_t *q, const Remiss__ClientFrame *cf)
{
    Remiss__ProofReply pr = REMISS__PROOF_REPLY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    remiss_err_t err;
    const Remiss__ProofQuery *pq = cf->proof;
    if (!pq || (pq->message_id.len != 0 && pq->message_id.len != STORE_ID_LEN)) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_MALFORMED,
                       "A proof query needs a 16-byte message id or an index.");
        return;
    }
    if (!self->audit) {
        s_reply_result(self, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_E_POLICY_DENIED,
                       "This broker runs without an audit log.");
        return;
    }
    /* Only the parties to a message get its entry; anything else looks the
     * same as an unknown message. */
    remiss_code_t r = audit_proof(self->audit, q->party->id,
                                  pq->message_id.len ? pq->message_id.data : NULL, pq->index,
                                  pq->consistency_from, &pr, &err);
    if (r != REMISS_OK) {
        pr.code = (Remiss__ReasonCode)r;
        pr.sentence = err.text;
    }
    bf.request_id = q->request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_PROOF;
    bf.proof = &pr;
    s_reply_t *rep = s_reply_add(self, q->rid, q->rid_len);
    if (rep && !s_pack_frame(&bf, &rep->data, &rep->len))
        self->nreplies--;
    else if (rep)
        rep->durable = true; /* a signed head must never cover entries a crash could undo */
    if (r == REMISS_OK)
        audit_proof_clear(&pr);
}

typedef void (*s_handler_t)(server_t *, const s_req_t *, const Remiss__ClientFrame *);

/* Dispatch by frame kind (OpenSSH's monitor table idea). */
static const struct {
    Remiss__ClientFrame__KindCase kind;
    s_handler_t fn;
} s_dispatch[] = {
    {REMISS__CLIENT_FRAME__KIND_SUBMIT, s_on_submit},
    {REMISS__CLIENT_FRAME__KIND_SUBSCRIBE, s_on_subscribe},
    {REMISS__CLIENT_FRAME__KIND_ACK, s_on_ack},
    {REMISS__CLIENT_FRAME__KIND_STATUS, s_on_status},
    {REMISS__CLIENT_FRAME__KIND_PROOF, s_on_proof},
};

/* Handles one frame from an authenticated party. */
static void
s_on_frame(server_t *self, const uint8_t *rid, size_t rid_len, const char *user_id,
           const uint8_t *data, size_t len)
{
    s_req_t q = {.rid = rid, .rid_len = rid_len, .raw = data, .raw_len = len};
    const party_t *party = parties_by_id(self->parties, user_id);
    int64_t now = log_now_ms();
    if (!party || party->revoked || now / 1000 >= party->not_after) {
        /* Admitted earlier, revoked since: refuse from the next message on. */
        s_reply_receipt(self, rid, rid_len, 0, NULL, REMISS_E_CERT_REVOKED,
                        party && !party->revoked ? "The sender's certificate has expired." : NULL,
                        0, NULL, user_id, NULL);
        return;
    }
    q.party = party;
    /* Before decoding: a flood buys neither parsing nor log entries. */
    if (!flood_frame_ok(self->flood, party->id, now)) {
        s_reply_receipt(self, rid, rid_len, 0, NULL, REMISS_E_RATE_LIMITED,
                        "More frames per second from this party than the broker decodes; "
                        "send again shortly.",
                        0, NULL, party->id, NULL);
        return;
    }
    if ((int64_t)len > self->cfg.max_frame) {
        s_reply_receipt(self, rid, rid_len, 0, NULL, REMISS_E_TOO_LARGE, NULL, 0, NULL,
                        party->id, NULL);
        return;
    }
    Remiss__ClientFrame *cf = remiss__client_frame__unpack(NULL, len, data);
    if (!cf) {
        s_reply_receipt(self, rid, rid_len, 0, NULL, REMISS_E_MALFORMED,
                        "The frame could not be decoded.", 0, NULL, party->id, NULL);
        return;
    }
    q.request_id = cf->request_id;
    for (size_t i = 0; i < sizeof s_dispatch / sizeof s_dispatch[0]; i++)
        if (s_dispatch[i].kind == cf->kind_case) {
            s_dispatch[i].fn(self, &q, cf);
            remiss__client_frame__free_unpacked(cf, NULL);
            return;
        }
    s_reply_receipt(self, rid, rid_len, cf->request_id, NULL, REMISS_E_MALFORMED,
                    "The frame asks for nothing the broker knows.", 0, NULL, party->id, NULL);
    remiss__client_frame__free_unpacked(cf, NULL);
}

/* ------------------------------------------------------------ delivery */

static bool
s_deliver_one(server_t *self, s_conn_t *c, const store_msg_t *m, int64_t now, bool *busy)
{
    Remiss__SignedEnvelope *se = NULL;
    Remiss__Delivery d = REMISS__DELIVERY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    uint8_t *frame = NULL;
    size_t flen;
    remiss_err_t err;
    bool sent = false;

    if ((int64_t)m->attempts >= self->cfg.max_attempts) {
        bool changed;
        char sentence[200];
        snprintf(sentence, sizeof sentence,
                 "Not acknowledged after %u deliveries; moved to the dead-letter list.",
                 m->attempts);
        store_finish(self->store, m->message_id, NULL, STORE_DEAD, REMISS_OK, sentence, now,
                     &changed, &err);
        s_audit_stored(self, m, REMISS__AUDIT_EVENT__EV_DEAD_LETTERED, REMISS_OK,
                       "not acknowledged");
        s_inflight_done(self, m->recipient, m->message_id);
        return true;
    }
    if (!m->envelope ||
        !(se = remiss__signed_envelope__unpack(NULL, m->envelope_len, m->envelope))) {
        bool changed;
        store_finish(self->store, m->message_id, NULL, STORE_DEAD, REMISS_E_INTERNAL,
                     "The stored message is damaged or was purged.", now, &changed, &err);
        return true;
    }
    /* Decide again: a consent may have been withdrawn or the policy changed
     * since the message was accepted. */
    Remiss__Envelope *env =
        remiss__envelope__unpack(NULL, se->envelope.len, se->envelope.data);
    intake_result_t ir;
    remiss_code_t verdict = env ? intake_decide(self->intake, m->sender, env, now, &ir)
                                : REMISS_E_MALFORMED;
    remiss__envelope__free_unpacked(env, NULL);
    if (verdict == REMISS_E_STORAGE || verdict == REMISS_E_INTERNAL) {
        remiss__signed_envelope__free_unpacked(se, NULL);
        return true; /* transient: try again on a later cycle */
    }
    if (verdict != REMISS_OK) {
        bool changed;
        char sentence[400];
        snprintf(sentence, sizeof sentence, "Withheld at delivery: %s",
                 env ? ir.sentence : "the stored envelope is damaged");
        store_finish(self->store, m->message_id, NULL, STORE_HELD, verdict, sentence, now,
                     &changed, &err);
        s_audit_stored(self, m, REMISS__AUDIT_EVENT__EV_WITHHELD, verdict, "at delivery");
        s_inflight_done(self, m->recipient, m->message_id);
        remiss__signed_envelope__free_unpacked(se, NULL);
        return true;
    }
    const party_t *from = parties_by_id(self->parties, m->sender);
    d.envelope = se;
    if (from) {
        d.sender_cert.data = from->der;
        d.sender_cert.len = from->der_len;
    }
    d.accepted_at = m->accepted_at;
    d.attempt = m->attempts + 1;
    d.audit_index = m->audit_index;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_DELIVERY;
    bf.delivery = &d;
    if (s_pack_frame(&bf, &frame, &flen)) {
        int e = s_send_to(self, c->rid, c->rid_len, frame, flen);
        /* A full queue towards a slow recipient is not a vanished one: try
         * again next cycle; only an unreachable peer is dropped. */
        if (e == EAGAIN)
            *busy = true;
        if (e == 0) {
            sent = true;
            metrics_delivered(self->metrics);
            s_audit_stored(self, m, REMISS__AUDIT_EVENT__EV_DELIVERED, REMISS_OK, NULL);
            store_mark_sent(self->store, m->seq, now, now + self->cfg.redeliver_ms, &err);
            s_inflight_done(self, m->recipient, m->message_id); /* a redelivery: once */
            memcpy(c->inflight[c->ninflight++], m->message_id, STORE_ID_LEN);
        }
    }
    free(frame);
    remiss__signed_envelope__free_unpacked(se, NULL);
    return sent;
}

static void s_pump(server_t *self, const char *party, int64_t now);

/* Delivers what is due for every recipient marked dirty. */
static void
s_pump_dirty(server_t *self, int64_t now)
{
    size_t ndirty = self->ndirty;
    char(*dirty)[PKI_ID_MAX + 1] = NULL;
    if (ndirty && (dirty = malloc(ndirty * sizeof *dirty))) {
        memcpy(dirty, self->dirty, ndirty * sizeof *dirty);
        self->ndirty = 0;
        for (size_t i = 0; i < ndirty; i++)
            s_pump(self, dirty[i], now);
        free(dirty);
    }
}

/* Delivers what is due for one recipient over its subscribed connections. */
static void
s_pump(server_t *self, const char *party, int64_t now)
{
    remiss_err_t err;
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = &self->conns[i];
        if (strcmp(c->party, party) != 0 || c->ninflight >= c->window)
            continue;
        size_t room = c->window - c->ninflight, n = 0;
        if (room > 64)
            room = 64;
        store_msg_t batch[64];
        if (store_due(self->store, party, now, room, batch, &n, &err) != REMISS_OK)
            return;
        bool gone = false, busy = false;
        for (size_t k = 0; k < n; k++) {
            if (!gone && !busy && !s_deliver_one(self, c, &batch[k], now, &busy) && !busy)
                gone = true;
            store_msg_clear(&batch[k]);
        }
        if (busy) {
            s_mark_dirty(self, party); /* its queue drains; go on next cycle */
            continue;
        }
        if (gone) {
            s_conn_drop(self, c);
            i--;
            continue;
        }
        if (n == room)
            s_mark_dirty(self, party); /* maybe more next cycle */
    }
}

/* ------------------------------------------------------------ ZAP */

/* ZAP (RFC 27): admit a CURVE key only if it belongs to an admissible
 * party; the party id becomes the connection's User-Id. */
static void
s_on_zap(server_t *self)
{
    zmq_msg_t part[8];
    int n = 0, more = 1;
    while (more && n < 8) {
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], self->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part[n]);
            break;
        }
        more = zmq_msg_more(&part[n]);
        n++;
    }
    while (more) { /* more than 8 frames: drain, then refuse */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, self->zap, 0) < 0)
            more = 0;
        else
            more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        n = 0;
    }
    const char *status = "400", *text = "not a federation party", *user = "";
    const party_t *p = NULL;
    char peer[64] = "?";
    if (n >= 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&part[6]) == PKI_CURVE_KEYLEN) {
        p = parties_by_curve(self->parties, zmq_msg_data(&part[6]));
        size_t alen = zmq_msg_size(&part[3]) < sizeof peer - 1 ? zmq_msg_size(&part[3])
                                                               : sizeof peer - 1;
        memcpy(peer, zmq_msg_data(&part[3]), alen);
        peer[alen] = '\0';
        if (p && parties_admissible(p, log_now_ms() / 1000)) {
            status = "200";
            text = "OK";
            user = p->id;
        } else if (p) {
            text = "certificate revoked or expired";
        }
    }
    if (strcmp(status, "200") != 0) {
        metrics_auth_refused(self->metrics);
        /* At most S_AUTH_LOG_PER_S lines a second: a flood of strangers must
         * not flood the journal; the count of the rest is logged. */
        int64_t sec = log_now_ms() / 1000;
        if (sec != self->auth_log_sec) {
            if (self->auth_suppressed) {
                char detail[80];
                log_emit(LOG_WARN, "auth_refused_suppressed", "count=%llu",
                         (unsigned long long)self->auth_suppressed);
                snprintf(detail, sizeof detail, "%llu more refusals in one second",
                         (unsigned long long)self->auth_suppressed);
                audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_AUTH_REFUSED,
                                   .code = REMISS_E_CERT_REVOKED,
                                   .detail = detail};
                s_audit(self, &e);
            }
            self->auth_log_sec = sec;
            self->auth_logged = 0;
            self->auth_suppressed = 0;
        }
        if (self->auth_logged < S_AUTH_LOG_PER_S) {
            char q[80], detail[160];
            self->auth_logged++;
            snprintf(detail, sizeof detail, "peer=%s reason=%s", peer, text);
            audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_AUTH_REFUSED,
                               .sender = p ? p->id : "",
                               .code = REMISS_E_CERT_REVOKED,
                               .detail = detail};
            s_audit(self, &e);
            log_emit(LOG_WARN, "auth_refused", "peer=%s party=%s reason=%s", peer,
                     p ? p->id : "-", log_quote(q, sizeof q, text));
        } else {
            self->auth_suppressed++;
        }
    }
    /* Reply: version, request id, status code, status text, user id, metadata. */
    if (n >= 2) {
        zmq_send(self->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(self->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
        zmq_send(self->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(self->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(self->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(self->zap, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

/* ------------------------------------------------------------ lifecycle */

static remiss_code_t
s_load_identity(server_t *self, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    uint8_t pub[32];
    pki_identity_t id;
    snprintf(path, sizeof path, "%s/broker.key", self->cfg.pki);
    if (!(self->sign_key = pki_key_load(path, err)))
        return REMISS_E_CONFIG;
    snprintf(path, sizeof path, "%s/broker.crt", self->cfg.pki);
    if (!(self->cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if (pki_verify_cert(parties_trust(self->parties), self->cert, 0, &id, err) != REMISS_OK ||
        strcmp(id.role, "broker") != 0 || strcmp(id.party, "broker") != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "broker.crt is not a valid broker certificate of this CA");
    if (X509_check_private_key(self->cert, self->sign_key) != 1)
        return remiss_err_set(err, REMISS_E_CONFIG, "broker.key does not match broker.crt");
    snprintf(path, sizeof path, "%s/broker.curve", self->cfg.pki);
    if (pki_curve_load(path, self->curve_secret, pub, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    if (memcmp(pub, id.curve_pub, 32) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "broker.curve does not match the key in broker.crt");
    return REMISS_OK;
}

/* Bodies at rest are sealed under data keys wrapped by PKI_DIR/broker.kek. */
static remiss_code_t
s_use_keys(server_t *self, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/broker.kek", self->cfg.pki);
    return store_use_keys(self->store, path, err);
}

/* The broker secret keys the subject pseudonyms (audit log, consent
 * registry): 64 hex digits in PKI_DIR/broker.secret, readable only by us. */
static remiss_code_t
s_load_secret(server_t *self, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    uint8_t key[32];
    snprintf(path, sizeof path, "%s/broker.secret", self->cfg.pki);
    if (audit_secret_load(path, key, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    self->intake = intake_new(self->store, self->policy, key);
    OPENSSL_cleanse(key, sizeof key);
    return self->intake ? REMISS_OK : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
}

static audit_t *
s_open_audit(server_t *self, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    uint8_t key[32];
    snprintf(path, sizeof path, "%s/broker.secret", self->cfg.pki);
    if (audit_secret_load(path, key, err) != REMISS_OK)
        return NULL;
    audit_t *a = audit_open(self->store, self->sign_key, key, err);
    OPENSSL_cleanse(key, sizeof key);
    return a;
}

static remiss_code_t
s_bind(server_t *self, remiss_err_t *err)
{
    int one = 1, zero = 0;
    int64_t hard = self->cfg.max_frame * S_HARD_FACTOR;
    int hwm = 10000;
    self->zap = zmq_socket(self->zctx, ZMQ_REP);
    if (!self->zap || zmq_bind(self->zap, "inproc://zeromq.zap.01") != 0)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot bind the ZAP handler: %s",
                              zmq_strerror(zmq_errno()));
    self->router = zmq_socket(self->zctx, ZMQ_ROUTER);
    if (!self->router)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot create the socket");
    /* CURVE server with our secret; the ZAP domain makes libzmq consult the
     * handler; MANDATORY makes a send to a vanished peer fail at once; the
     * hard size cap drops peers sending absurd frames before we allocate. */
    if (zmq_setsockopt(self->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, self->curve_secret, 32) != 0 ||
        zmq_setsockopt(self->router, ZMQ_ZAP_DOMAIN, "remiss", 6) != 0 ||
        zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &hard, sizeof hard) != 0 ||
        zmq_setsockopt(self->router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_LINGER, &zero, sizeof zero) != 0)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot configure the socket: %s",
                              zmq_strerror(zmq_errno()));
    if (zmq_bind(self->router, self->cfg.listen) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot listen on %s: %s", self->cfg.listen,
                              zmq_strerror(zmq_errno()));
    return REMISS_OK;
}

server_t *
server_new(const broker_config_t *cfg, remiss_err_t *err)
{
    server_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    if (!(self->flood = flood_new(cfg->rate_per_s, cfg->rate_burst))) {
        free(self);
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    if (!(self->parties = parties_load_grace(cfg->pki, cfg->crl_grace_s, err)) ||
        s_load_identity(self, err) != REMISS_OK ||
        !(self->policy = policy_load(cfg->policy, err)) ||
        !(self->store = store_open(cfg->db, err)) || s_use_keys(self, err) != REMISS_OK ||
        store_checkpoint_behind(self->store, err) != REMISS_OK ||
        s_load_secret(self, err) != REMISS_OK || !(self->zctx = zmq_ctx_new()) ||
        s_bind(self, err) != REMISS_OK) {
        if (!self->zctx && self->store)
            remiss_err_set(err, REMISS_E_INTERNAL, "cannot create the ZeroMQ context");
        server_destroy(&self);
        return NULL;
    }
    if (cfg->audit && !(self->audit = s_open_audit(self, err))) {
        server_destroy(&self);
        return NULL;
    }
    audit_set_policy(self->audit, self->policy);
    if (cfg->metrics[0] && !(self->metrics = metrics_start(cfg->metrics, err))) {
        server_destroy(&self);
        return NULL;
    }
    metrics_set_crl(self->metrics, true, parties_crl_next_update(self->parties), cfg->crl_grace_s);
    int64_t now = log_now_ms();
    self->next_reload = now + cfg->crl_check_s * 1000;
    self->next_scan = now;
    self->next_ping = now + S_PING_MS;
    self->next_purge = now;
    return self;
}

void
server_destroy(server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *self = *self_p;
    metrics_stop(&self->metrics);
    flood_free(&self->flood);
    if (self->router)
        zmq_close(self->router);
    if (self->zap)
        zmq_close(self->zap);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    for (size_t i = 0; i < self->nconns; i++)
        free(self->conns[i].inflight);
    free(self->conns);
    free(self->accounts);
    for (size_t i = 0; i < self->nreplies; i++) {
        free(self->replies[i].data);
        free(self->replies[i].body);
    }
    free(self->replies);
    free(self->dirty);
    audit_close(&self->audit);
    intake_free(&self->intake);
    store_close(&self->store);
    policy_free(&self->policy);
    parties_free(&self->parties);
    EVP_PKEY_free(self->sign_key);
    X509_free(self->cert);
    OPENSSL_cleanse(self->curve_secret, sizeof self->curve_secret);
    free(self);
    *self_p = NULL;
}

/* A policy file that does not validate is refused with file:line and
 * the old policy stays in force. */
static void
s_reload_policy(server_t *self)
{
    remiss_err_t err;
    char q[400];
    policy_t *fresh = policy_load(self->cfg.policy, &err);
    if (!fresh) {
        log_emit(LOG_ERROR, "policy_refused", "reason=%s", log_quote(q, sizeof q, err.text));
        return;
    }
    intake_set_policy(self->intake, fresh);
    audit_set_policy(self->audit, fresh);
    policy_free(&self->policy);
    self->policy = fresh;
    char detail[CONFIG_PATH_MAX + 32];
    snprintf(detail, sizeof detail, "%s rules=%zu", self->cfg.policy, policy_rule_count(fresh));
    audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_POLICY_RELOADED, .sender = "broker",
                       .detail = detail};
    s_audit(self, &e);
    log_emit(LOG_INFO, "policy_reloaded", "file=%s rules=%zu", self->cfg.policy,
             policy_rule_count(fresh));
}

static void
s_reload(server_t *self)
{
    remiss_err_t err;
    parties_t *fresh = parties_load_grace(self->cfg.pki, self->cfg.crl_grace_s, &err);
    metrics_set_crl(self->metrics, fresh != NULL, parties_crl_next_update(fresh ? fresh : self->parties),
                    self->cfg.crl_grace_s);
    if (!fresh) {
        char q[400];
        /* Keep the registry in force: a broken CRL file must not open the
         * door, and the old registry already knows the old revocations. */
        log_emit(LOG_ERROR, "reload_failed", "reason=%s", log_quote(q, sizeof q, err.text));
        return;
    }
    size_t revoked = 0;
    for (size_t i = 0; i < parties_count(fresh); i++) {
        const party_t *np = parties_at(fresh, i), *op = parties_by_id(self->parties, np->id);
        revoked += np->revoked;
        if (np->revoked && (!op || !op->revoked)) {
            audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_CERT_REVOKED,
                               .sender = np->id,
                               .code = REMISS_E_CERT_REVOKED,
                               .detail = "certificate on the CRL"};
            s_audit(self, &e);
            log_emit(LOG_WARN, "party_revoked", "party=%s", np->id);
        }
    }
    parties_free(&self->parties);
    self->parties = fresh;
    log_emit(LOG_INFO, "certificates_reloaded", "parties=%zu revoked=%zu", parties_count(fresh),
             revoked);
}

/* Reads and handles up to S_BATCH frames without blocking. */
static size_t
s_read_batch(server_t *self)
{
    size_t handled = 0;
    while (handled < S_BATCH) {
        zmq_msg_t idm, body;
        zmq_msg_init(&idm);
        if (zmq_msg_recv(&idm, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&idm);
            break;
        }
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&idm) && zmq_msg_recv(&body, self->router, 0) >= 0;
        bool extra = ok && zmq_msg_more(&body);
        while (ok && zmq_msg_more(&body)) { /* one frame per request: drop the rest */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&body, self->router, 0) < 0)
                break;
        }
        size_t rid_len = zmq_msg_size(&idm);
        if (ok && rid_len > 0 && rid_len <= S_RID_MAX) {
            const char *user = zmq_msg_gets(&body, "User-Id");
            if (extra)
                s_reply_receipt(self, zmq_msg_data(&idm), rid_len, 0, NULL, REMISS_E_MALFORMED,
                                "A request is exactly one frame.", 0, NULL, user ? user : "", NULL);
            else
                s_on_frame(self, zmq_msg_data(&idm), rid_len, user ? user : "",
                           zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&body);
        zmq_msg_close(&idm);
        handled++;
    }
    return handled;
}

/* True if a reply of this cycle may only leave after a commit. */
static bool
s_need_durable(const server_t *self)
{
    for (size_t i = 0; i < self->nreplies; i++)
        if (self->replies[i].durable)
            return true;
    return false;
}

/* Signs the cycle's receipts as one batch and packs their frames. After a
 * failed commit every receipt is re-made as E_STORAGE first, since nothing
 * of the cycle was kept. A receipt that cannot be made is dropped: its
 * sender's request times out and is resent, as after a lost frame. */
static void
s_seal_receipts(server_t *self, bool committed)
{
    const uint8_t **bodies = NULL;
    size_t *lens = NULL, n = 0;
    receipt_batch_t b = {0};

    for (size_t i = 0; i < self->nreplies; i++) {
        s_reply_t *r = &self->replies[i];
        if (!r->is_receipt || r->data)
            continue;
        if (!committed || !r->body) {
            free(r->body);
            r->body = NULL;
            s_receipt_body(0, r->has_id ? r->message_id : NULL, REMISS_E_STORAGE, NULL, NULL,
                           r->sender, &r->body, &r->body_len);
        }
        n += r->body != NULL;
    }
    if (n == 0)
        return;
    bodies = malloc(n * sizeof *bodies);
    lens = malloc(n * sizeof *lens);
    n = 0;
    for (size_t i = 0; bodies && lens && i < self->nreplies; i++)
        if (self->replies[i].body && !self->replies[i].data) {
            bodies[n] = self->replies[i].body;
            lens[n++] = self->replies[i].body_len;
        }
    remiss_code_t c = bodies && lens
                          ? receipt_batch_sign(&b, self->sign_key, bodies, lens, n, log_now_ms())
                          : REMISS_E_INTERNAL;
    if (c != REMISS_OK)
        log_emit(LOG_ERROR, "receipt_failed", "receipts=%zu code=%s", n, remiss_code_name(c));
    size_t k = 0;
    for (size_t i = 0; c == REMISS_OK && i < self->nreplies; i++) {
        s_reply_t *r = &self->replies[i];
        uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
        ProtobufCBinaryData hashes[MERKLE_MAX_PROOF];
        Remiss__SignedReceipt sr = REMISS__SIGNED_RECEIPT__INIT;
        Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
        size_t plen = 0;

        if (!r->body || r->data)
            continue;
        if (receipt_batch_path(&b, k, path, MERKLE_MAX_PROOF, &plen) != REMISS_OK) {
            k++;
            continue;
        }
        for (size_t h = 0; h < plen; h++)
            hashes[h] = (ProtobufCBinaryData){MERKLE_HASH_LEN, path[h]};
        sr.receipt = (ProtobufCBinaryData){r->body_len, r->body};
        sr.signature = (ProtobufCBinaryData){b.sig_len, b.sig};
        sr.batch = (ProtobufCBinaryData){b.head_len, b.head};
        sr.batch_index = k++;
        sr.n_batch_path = plen;
        sr.batch_path = hashes;
        bf.request_id = r->request_id;
        bf.kind_case = REMISS__BROKER_FRAME__KIND_RECEIPT;
        bf.receipt = &sr;
        if (!s_pack_frame(&bf, &r->data, &r->len))
            r->data = NULL;
    }
    receipt_batch_clear(&b);
    free(bodies);
    free(lens);
}

/* Sends the cycle's replies. */
static void
s_flush_replies(server_t *self, bool committed)
{
    s_seal_receipts(self, committed);
    for (size_t i = 0; i < self->nreplies; i++) {
        s_reply_t *r = &self->replies[i];
        if (r->data)
            s_send_to(self, r->rid, r->rid_len, r->data, r->len);
        free(r->data);
        free(r->body);
    }
    self->nreplies = 0;
}

/* Carries out what remissctl asked for (in the cycle's transaction, so the
 * action and its audit entry commit together). */
static void
s_admin(server_t *self, int64_t now)
{
    store_admin_t req[16];
    size_t n = 0;
    remiss_err_t err;
    if (store_admin_pending(self->store, req, 16, &n, &err) != REMISS_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        char result[256], hex[33];
        log_hex(hex, req[i].message_id, STORE_ID_LEN);
        if (strcmp(req[i].action, "requeue") == 0) {
            bool changed = false;
            store_msg_t m;
            bool found = false;
            if (store_requeue(self->store, req[i].message_id, &changed, &err) != REMISS_OK)
                snprintf(result, sizeof result, "E_STORAGE: %.200s", err.text);
            else if (!changed)
                snprintf(result, sizeof result,
                         "E_USAGE: message %s is not on the dead-letter list (or was purged)", hex);
            else {
                snprintf(result, sizeof result, "OK: message %s is queued again", hex);
                if (store_find(self->store, req[i].message_id, &found, &m, &err) == REMISS_OK &&
                    found) {
                    char detail[160];
                    snprintf(detail, sizeof detail, "requeued by %s", req[i].actor);
                    s_audit_stored(self, &m, REMISS__AUDIT_EVENT__EV_REQUEUED, REMISS_OK, detail);
                    s_mark_dirty(self, m.recipient);
                    store_msg_clear(&m);
                }
            }
        } else {
            snprintf(result, sizeof result, "E_USAGE: unknown action %s", req[i].action);
        }
        store_admin_done(self->store, req[i].id, result, now, &err);
        log_emit(LOG_INFO, "admin_action", "action=%s msg=%s actor=%s result=%.2s", req[i].action,
                 hex, req[i].actor, result);
    }
}

/* One aggregated refusal entry (flood_flush). */
static void
s_flood_emit(void *ctx, const char *party, uint64_t count, const char *detail)
{
    (void)count;
    audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_REFUSED, .sender = party,
                       .code = REMISS_E_RATE_LIMITED, .detail = detail};
    s_audit(ctx, &e);
}

static void
s_timers(server_t *self, int64_t now, volatile sig_atomic_t *reload)
{
    flood_flush(self->flood, now, s_flood_emit, self);
    if (*reload) {
        s_reload_policy(self);
    }
    if (*reload || now >= self->next_reload) {
        *reload = 0;
        s_reload(self);
        self->next_reload = now + self->cfg.crl_check_s * 1000;
    }
    if (now >= self->next_scan) {
        /* Redelivery: let every receiving party look for what is due. */
        for (size_t i = 0; i < self->nconns; i++)
            s_mark_dirty(self, self->conns[i].party);
        int64_t step = self->cfg.redeliver_ms / 4;
        self->next_scan = now + (step < 50 ? 50 : step > 1000 ? 1000 : step);
    }
    if (now >= self->next_ping) {
        /* An empty frame costs nothing and tells a vanished peer apart. */
        Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
        uint8_t buf[16];
        size_t len = remiss__broker_frame__pack(&bf, buf);
        for (size_t i = 0; i < self->nconns; i++)
            if (s_send_to(self, self->conns[i].rid, self->conns[i].rid_len, buf, len) ==
                EHOSTUNREACH) {
                s_conn_drop(self, &self->conns[i]);
                i--;
            }
        self->next_ping = now + S_PING_MS;
    }
    if (self->metrics && now >= self->next_gauges) {
        /* Queue depth of every party of the registry, and receiving parties. */
        size_t n = parties_count(self->parties), k = 0, connected = 0;
        const char **names = calloc(n ? n : 1, sizeof *names);
        uint64_t *depths = calloc(n ? n : 1, sizeof *depths);
        remiss_err_t err;
        for (size_t i = 0; names && depths && i < n; i++) {
            const party_t *p = parties_at(self->parties, i);
            if (store_depth(self->store, p->id, &depths[k], &err) == REMISS_OK)
                names[k++] = p->id;
            for (size_t c = 0; c < self->nconns; c++)
                if (strcmp(self->conns[c].party, p->id) == 0) {
                    connected++;
                    break;
                }
        }
        metrics_set_queues(self->metrics, names, depths, k);
        metrics_set_connected(self->metrics, connected);
        free(names);
        free(depths);
        self->next_gauges = now + 1000;
    }
    if (now >= self->next_purge) {
        remiss_err_t err;
        uint64_t purged = 0;
        if (store_purge(self->store, now - self->cfg.retention_s * 1000, &purged, &err) ==
                REMISS_OK &&
            purged)
            log_emit(LOG_INFO, "purged", "messages=%llu", (unsigned long long)purged);
        /* Often enough that a body never outlives its retention by much. */
        int64_t every = self->cfg.retention_s * 1000 / 2;
        self->next_purge = now + (every < 1000 ? 1000 : every > 60000 ? 60000 : every);
    }
}

/* Appends a broker life-cycle event and signs a tree head, in its own
 * transaction (start and stop are outside the poll cycles). */
static void
s_lifecycle(server_t *self, Remiss__AuditEvent event, const char *detail)
{
    remiss_err_t err;
    if (!self->audit || store_begin(self->store, &err) != REMISS_OK)
        return;
    audit_event_t e = {.event = event, .sender = "broker", .detail = detail};
    if (s_audit(self, &e) == 0 && audit_size(self->audit) == 0) {
        store_rollback(self->store);
        return;
    }
    if (audit_sign_head(self->audit, true, 0, 0, &err) != REMISS_OK ||
        store_commit(self->store, &err) != REMISS_OK) {
        char q[400];
        store_rollback(self->store);
        audit_reload(self->audit, &err);
        log_emit(LOG_ERROR, "audit_failed", "reason=%s", log_quote(q, sizeof q, err.text));
    }
}

int
server_run(server_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    remiss_err_t err;
    char detail[CONFIG_PATH_MAX + 64];
    snprintf(detail, sizeof detail, "listen=%s parties=%zu", self->cfg.listen,
             parties_count(self->parties));
    s_lifecycle(self, REMISS__AUDIT_EVENT__EV_BROKER_STARTED, detail);
    log_emit(LOG_INFO, "started", "listen=%s parties=%zu db=%s audit=%s", self->cfg.listen,
             parties_count(self->parties), self->cfg.db, self->audit ? "on" : "off");
    while (!*stop) {
        zmq_pollitem_t items[] = {
            {self->router, 0, ZMQ_POLLIN, 0},
            {self->zap, 0, ZMQ_POLLIN, 0},
        };
        long timeout = self->ndirty ? 0 : 100;
        if (self->tx_open && timeout > 0) {
            int64_t left = S_TX_MAX_MS - (log_now_ms() - self->tx_since);
            timeout = left < 0 ? 0 : left < timeout ? (long)left : timeout;
        }
        if (zmq_poll(items, 2, timeout) < 0 && zmq_errno() != EINTR)
            break;
        int64_t now = log_now_ms();

        if (!self->tx_open && store_begin(self->store, &err) != REMISS_OK) {
            char q[400];
            log_emit(LOG_ERROR, "store_failed", "reason=%s", log_quote(q, sizeof q, err.text));
            metrics_set_health(self->metrics, false, self->policy != NULL);
            /* Still answer: handshakes go on, every frame is E_STORAGE. */
            while (zmq_poll(&items[1], 1, 0) > 0 && (items[1].revents & ZMQ_POLLIN))
                s_on_zap(self);
            s_read_batch(self);
            s_flush_replies(self, false);
            continue;
        }
        if (!self->tx_open) {
            self->tx_open = true;
            self->tx_since = now;
        }
        /* Everything of the cycle, handshake refusals and timer work too,
         * commits together with its audit entries. */
        while (zmq_poll(&items[1], 1, 0) > 0 && (items[1].revents & ZMQ_POLLIN))
            s_on_zap(self);
        s_timers(self, now, reload);
        /* Deliver what earlier cycles committed; then read new frames. */
        s_pump_dirty(self, now);
        s_read_batch(self);
        if (now >= self->next_admin) {
            s_admin(self, now);
            self->next_admin = now + 500;
        }
        if (self->audit) {
            if (audit_sign_head(self->audit, false, self->cfg.sth_interval_s * 1000,
                                (uint64_t)self->cfg.sth_every, &err) != REMISS_OK) {
                char q[400];
                log_emit(LOG_ERROR, "audit_failed", "reason=%s", log_quote(q, sizeof q, err.text));
            }
            metrics_set_audit_size(self->metrics, audit_size(self->audit));
        }
        /* Commit (and fsync) when a reply needs it, or at least every
         * S_TX_MAX_MS. Acknowledgements and delivery marks alone can wait:
         * lost in a crash they only cause a redelivery, which the client
         * library recognises. So acks do not cost an fsync each. */
        if (!s_need_durable(self) && now - self->tx_since < S_TX_MAX_MS && !*stop) {
            s_flush_replies(self, true);
            continue;
        }
        struct timespec c0, c1;
        clock_gettime(CLOCK_MONOTONIC, &c0);
        remiss_code_t c = store_commit(self->store, &err);
        self->tx_open = false;
        clock_gettime(CLOCK_MONOTONIC, &c1);
        metrics_commit_seconds(self->metrics, (double)(c1.tv_sec - c0.tv_sec) +
                                                  (double)(c1.tv_nsec - c0.tv_nsec) / 1e9);
        metrics_set_health(self->metrics, c == REMISS_OK, self->policy != NULL);
        if (c != REMISS_OK) {
            char q[400];
            log_emit(LOG_ERROR, "commit_failed", "reason=%s", log_quote(q, sizeof q, err.text));
            /* Nothing of the cycle is kept: the log's frontier and the
             * consents intake remembers go back to what the store holds. */
            intake_forget(self->intake);
            if (self->audit && audit_reload(self->audit, &err) != REMISS_OK)
                log_emit(LOG_ERROR, "audit_failed", "reason=%s",
                         log_quote(q, sizeof q, err.text));
        } else if (self->ndirty && store_begin(self->store, &err) == REMISS_OK) {
            /* What just became durable goes out first, in the next
             * transaction; the receipts follow (latency is to the
             * recipient). */
            self->tx_open = true;
            self->tx_since = log_now_ms();
            s_pump_dirty(self, self->tx_since);
        }
        s_flush_replies(self, c == REMISS_OK);
    }
    if (self->tx_open) {
        /* What the last cycles did (acks, delivery marks) is kept. */
        if (store_commit(self->store, &err) != REMISS_OK && self->audit)
            audit_reload(self->audit, &err);
        self->tx_open = false;
    }
    s_lifecycle(self, REMISS__AUDIT_EVENT__EV_BROKER_STOPPED, "signal");
    log_emit(LOG_INFO, "stopped", "listen=%s", self->cfg.listen);
    return 0;
}
