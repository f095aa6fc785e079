/* admission: submit, envelope checks, rate and queue limits, accepting
 * (include/admission.h). */
#include "admission.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "category.h"
#include "msgtype.h"
#include "log.h"
#include "pki.h"
#include "receipts.h"
#include "utf8.h"

#define S_WITHHOLD_BATCH 64 /* queued messages read per step of a withholding */

/* Per-party accounting: the token bucket of its sending rate and a cached
 * depth of its queue as a recipient (refreshed every second, so admission
 * does not count rows for every message). */
typedef struct s_account {
    char party[PKI_ID_MAX + 1];
    double tokens;       /* messages it may still send now */
    int64_t refilled_at; /* ms */
    uint64_t depth;      /* queued + in flight, as of depth_at, plus since */
    int64_t depth_at;    /* ms; 0 = unknown */
} s_account_t;

struct admission {
    const broker_env_t *env; /* borrowed */
    cycle_t *cycle;          /* replies (borrowed) */
    delivery_t *delivery;    /* told about accepted and withheld messages (borrowed) */
    s_account_t *accounts;   /* per-party rate and queue accounting */
    size_t naccounts;
};

/* One submitted message on its way through admission. */
typedef struct s_sub {
    const broker_req_t *q;
    const Remiss__SignedEnvelope *se;
    Remiss__Envelope *env; /* decoded, or NULL */
    uint8_t env_hash[32];
    bool hashed;       /* env_hash is set */
    const uint8_t *id; /* the message id, if 16 bytes */
    int64_t now;
    intake_result_t ir; /* the policy's (or the consent registry's) decision */
    const char *why;    /* the refusal's sentence, NULL for the code's own */
    char slow[160];     /* the rate limit's sentence */
} s_sub_t;

/* A decision that needs no refusal: the request was answered already. */
#define S_ANSWERED ((remiss_code_t)-1)

admission_t *
admission_new(const broker_env_t *env, cycle_t *cycle, delivery_t *delivery)
{
    admission_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->env = env;
    self->cycle = cycle;
    self->delivery = delivery;
    return self;
}

void
admission_destroy(admission_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->accounts);
    free(*self_p);
    *self_p = NULL;
}

/* ------------------------------------------------------------ limits */

static s_account_t *
s_account(admission_t *self, const char *party)
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
    a->tokens = (double)self->env->cfg->rate_burst;
    a->refilled_at = log_now_ms();
    return a;
}

bool
admission_rate_ok(admission_t *self, const char *party, int64_t now)
{
    const broker_config_t *cfg = self->env->cfg;
    if (cfg->rate_per_s <= 0)
        return true;
    s_account_t *a = s_account(self, party);
    if (!a)
        return false;
    double burst = (double)cfg->rate_burst;
    a->tokens += (double)(now - a->refilled_at) * (double)cfg->rate_per_s / 1000.0;
    if (a->tokens > burst)
        a->tokens = burst;
    a->refilled_at = now;
    if (a->tokens < 1.0)
        return false;
    a->tokens -= 1.0;
    return true;
}

bool
admission_queue_ok(admission_t *self, const char *recipient, int64_t now)
{
    s_account_t *a = s_account(self, recipient);
    remiss_err_t err;
    if (!a)
        return false;
    if (now - a->depth_at >= 1000) {
        if (store_depth(self->env->store, recipient, &a->depth, &err) != REMISS_OK)
            return true; /* the insert will report the storage problem */
        a->depth_at = now;
    }
    return a->depth < (uint64_t)self->env->cfg->max_queue;
}

static void
s_queue_added(admission_t *self, const char *recipient)
{
    s_account_t *a = s_account(self, recipient);
    if (a)
        a->depth++;
}

/* ------------------------------------------------------------ the envelope */

static bool
s_is_consent(const Remiss__Envelope *env)
{
    return env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT ||
           env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
}

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

/* The envelope's shape: id, addresses, type and body, text. */
static remiss_code_t
s_check_shape(const Remiss__Envelope *env, const char **why)
{
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
        !utf8_message_valid((const ProtobufCMessage *)env, ADMISSION_TEXT_MAX)) {
        *why = "The envelope holds text that is not valid UTF-8, or fields this broker does not "
               "know.";
        return REMISS_E_MALFORMED;
    }
    return REMISS_OK;
}

static bool
s_signed_by(admission_t *self, const party_t *from, const Remiss__SignedEnvelope *se)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool good = pki_verify(from->pub, PKI_CTX_ENVELOPE, se->envelope.data, se->envelope.len,
                           se->signature.data, se->signature.len);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_verify_seconds(self->env->metrics, (double)(t1.tv_sec - t0.tv_sec) +
                                                   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return good;
}

/* Consent messages go to the broker; anything else to an admissible party. */
static remiss_code_t
s_check_recipient(admission_t *self, const Remiss__Envelope *env, int64_t now, const char **why)
{
    if (s_is_consent(env)) {
        if (strcmp(env->recipient, "broker") == 0)
            return REMISS_OK;
        *why = "Consent messages are addressed to \"broker\".";
        return REMISS_E_UNKNOWN_RECIPIENT;
    }
    const party_t *to = parties_by_id(self->env->parties, env->recipient);
    if (!to)
        return REMISS_E_UNKNOWN_RECIPIENT;
    if (!parties_admissible(to, now / 1000)) {
        *why = "The recipient's certificate is revoked or expired.";
        return REMISS_E_UNKNOWN_RECIPIENT;
    }
    return REMISS_OK;
}

remiss_code_t
admission_check_envelope(admission_t *self, const party_t *from, const Remiss__SignedEnvelope *se,
                         const Remiss__Envelope *env, int64_t now, const char **why)
{
    remiss_code_t r;
    *why = NULL;
    if ((r = s_check_shape(env, why)) != REMISS_OK)
        return r;
    if (!s_signed_by(self, from, se))
        return REMISS_E_BAD_SIGNATURE;
    if (strcmp(env->sender, from->id) != 0)
        return REMISS_E_SENDER_MISMATCH;
    if (env->created_at < now - self->env->cfg->replay_window_s * 1000) {
        *why = "The message is older than the broker's replay window; send a new one.";
        return REMISS_E_REPLAY;
    }
    if (env->created_at > now + ADMISSION_FUTURE_SKEW) {
        *why = "The message is dated in the future; check the sender's clock.";
        return REMISS_E_MALFORMED;
    }
    return s_check_recipient(self, env, now, why);
}

/* ------------------------------------------------------------ deciding */

/* The frame itself: an envelope, the sender's rate, no unknown fields;
 * then the envelope decoded and hashed. */
static remiss_code_t
s_decide_frame(admission_t *self, s_sub_t *s)
{
    if (!s->se || s->se->envelope.len == 0) {
        s->why = "The frame carries no envelope.";
        return REMISS_E_MALFORMED;
    }
    /* Before any expensive work: a flood must not buy signature checks. */
    if (!admission_rate_ok(self, s->q->party->id, s->now)) {
        snprintf(s->slow, sizeof s->slow,
                 "More than %lld messages per second from this party; send again shortly.",
                 (long long)self->env->cfg->rate_per_s);
        s->why = s->slow;
        return REMISS_E_RATE_LIMITED;
    }
    /* The SignedEnvelope is stored and forwarded re-encoded: a field the
     * broker does not know would travel unchecked, and protobuf-c writes
     * some (an over-long tag 0) back as bytes it cannot decode again. */
    if (s->se->base.n_unknown_fields > 0) {
        s->why = "The signed envelope has fields this broker does not know.";
        return REMISS_E_MALFORMED;
    }
    unsigned int n = 32;
    EVP_Digest(s->se->envelope.data, s->se->envelope.len, s->env_hash, &n, EVP_sha256(), NULL);
    s->hashed = true;
    s->env = remiss__envelope__unpack(NULL, s->se->envelope.len, s->se->envelope.data);
    if (!s->env) {
        s->why = "The envelope could not be decoded.";
        return REMISS_E_MALFORMED;
    }
    if (s->env->message_id.len == STORE_ID_LEN)
        s->id = s->env->message_id.data;
    return REMISS_OK;
}

bool
admission_peek_id(const Remiss__ClientFrame *cf, uint8_t id[STORE_ID_LEN])
{
    const Remiss__SignedEnvelope *se =
        cf->kind_case == REMISS__CLIENT_FRAME__KIND_SUBMIT ? cf->submit : NULL;
    if (!se || se->envelope.len == 0)
        return false;
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, se->envelope.len, se->envelope.data);
    bool ok = env && env->message_id.len == STORE_ID_LEN;
    if (ok)
        memcpy(id, env->message_id.data, STORE_ID_LEN);
    remiss__envelope__free_unpacked(env, NULL);
    return ok;
}

/* A message id is used once. Looked up before the signature: a copy of
 * someone else's envelope is a replay whoever sends it, and the same
 * sender's identical resend gets its original receipt again. */
static remiss_code_t
s_decide_id(admission_t *self, s_sub_t *s)
{
    store_msg_t prev;
    bool found = false;
    remiss_err_t err;
    if (!s->id)
        return REMISS_OK;
    if (store_find(self->env->store, s->id, &found, &prev, &err) != REMISS_OK)
        return REMISS_E_STORAGE;
    if (!found)
        return REMISS_OK;
    bool same = memcmp(prev.envelope_sha256, s->env_hash, 32) == 0 &&
                strcmp(prev.sender, s->q->party->id) == 0;
    if (same)
        cycle_reply_stored(self->cycle, s->q->rid, s->q->rid_len, s->q->request_id, &prev);
    store_msg_clear(&prev);
    if (same)
        return S_ANSWERED;
    s->why = "This message id was already used for another message.";
    return REMISS_E_REPLAY;
}

/* Every check, in order, before anything is written. */
static remiss_code_t
s_decide(admission_t *self, s_sub_t *s)
{
    remiss_code_t r;
    const char *sender = s->q->party->id;
    if ((r = s_decide_frame(self, s)) != REMISS_OK || (r = s_decide_id(self, s)) != REMISS_OK ||
        (r = admission_check_envelope(self, s->q->party, s->se, s->env, s->now, &s->why)) !=
            REMISS_OK)
        return r;
    if (s_is_consent(s->env)) {
        r = intake_consent_check(self->env->intake, sender, s->env, s->now, &s->ir);
    } else if (!admission_queue_ok(self, s->env->recipient, s->now)) {
        s->why = "The recipient's queue is full (it is not collecting its messages); the message "
                 "was not accepted, send it again later.";
        return REMISS_E_RATE_LIMITED;
    } else {
        r = intake_decide(self->env->intake, sender, s->env, s->now, &s->ir);
    }
    if (r != REMISS_OK)
        s->why = s->ir.sentence;
    return r;
}

/* ------------------------------------------------------------ writing */

/* The audit event of a message, from its envelope and the decision. The
 * subject goes in as its pseudonym. */
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
        .categories = ir->categories ? ir->categories : category_of_envelope(env),
        .code = ir->code,
        .envelope_sha256 = env_hash,
        .subject_pseudonym = ir->has_subject ? ir->pseudonym : NULL,
        .detail = ir->detail[0] ? ir->detail : NULL,
    };
    return e;
}

/* The stored row of an accepted message (m->envelope borrowed from
 * packed). */
static void
s_row(const s_sub_t *s, store_msg_t *m, uint8_t *packed, size_t plen)
{
    const Remiss__Envelope *env = s->env;
    memset(m, 0, sizeof *m);
    memcpy(m->message_id, env->message_id.data, STORE_ID_LEN);
    snprintf(m->sender, sizeof m->sender, "%s", env->sender);
    snprintf(m->recipient, sizeof m->recipient, "%s", env->recipient);
    m->type = env->type;
    snprintf(m->purpose, sizeof m->purpose, "%s", env->purpose ? env->purpose : "");
    /* The consent actually relied on, so a revocation finds the message. */
    snprintf(m->consent_id, sizeof m->consent_id, "%s",
             s->ir.consent_used[0] ? s->ir.consent_used
             : env->consent_id     ? env->consent_id
                                   : "");
    memcpy(m->envelope_sha256, s->env_hash, STORE_HASH_LEN);
    m->created_at = env->created_at;
    m->accepted_at = s->now;
    if (env->body_case == REMISS__ENVELOPE__BODY_TRANSFER_ACK &&
        env->transfer_ack->original_message_id.len == STORE_ID_LEN) {
        m->has_linked = true;
        memcpy(m->linked_id, env->transfer_ack->original_message_id.data, STORE_ID_LEN);
    }
    if (s->ir.has_subject) {
        m->has_subject = true;
        memcpy(m->subject, s->ir.pseudonym, STORE_HASH_LEN);
    }
    m->envelope = packed;
    m->envelope_len = plen;
}

/* A withdrawn consent stops every queued message that rested on it: the
 * one place a revocation withholds. E_STORAGE if any could not be
 * withheld (the caller's savepoint undoes the revocation with it). */
static remiss_code_t
s_withhold(admission_t *self, const char *consent_id, int64_t now, remiss_err_t *err)
{
    store_msg_t batch[S_WITHHOLD_BATCH];
    size_t n;
    char sentence[256];
    remiss_code_t r = REMISS_OK;
    snprintf(sentence, sizeof sentence,
             "The consent %s was withdrawn before delivery; the message was withheld.", consent_id);
    do {
        if (store_pending_by_consent(self->env->store, consent_id, S_WITHHOLD_BATCH, batch, &n,
                                     err) != REMISS_OK)
            return REMISS_E_STORAGE;
        for (size_t i = 0; i < n; i++) {
            bool changed;
            if (r == REMISS_OK && (r = store_finish(self->env->store, batch[i].message_id, NULL,
                                                    STORE_HELD, REMISS_E_CONSENT_REVOKED, sentence,
                                                    now, &changed, err)) == REMISS_OK) {
                broker_env_audit_stored(self->env, &batch[i], REMISS__AUDIT_EVENT__EV_WITHHELD,
                                        REMISS_E_CONSENT_REVOKED, consent_id);
                delivery_inflight_done(self->delivery, batch[i].recipient, batch[i].message_id);
            }
            store_msg_clear(&batch[i]);
        }
    } while (r == REMISS_OK && n == S_WITHHOLD_BATCH);
    return r;
}

/* The message's writes, in the open savepoint: the registry for a
 * consent, the row with its audit index and stored receipt, and what
 * follows from it (transfer link, withholding). */
static remiss_code_t
s_write(admission_t *self, const s_sub_t *s, store_msg_t *m, uint8_t *body, size_t blen,
        remiss_err_t *err)
{
    const Remiss__Envelope *env = s->env;
    store_t *st = self->env->store;
    remiss_code_t r = REMISS_OK;
    bool changed;
    if (!receipts_stored_form(body, blen, &m->receipt, &m->receipt_len))
        return REMISS_E_INTERNAL;
    if (!s_is_consent(env)) {
        if ((r = store_insert(st, m, err)) == REMISS_OK && m->has_linked)
            r = store_link_transfer(st, m->linked_id, m->recipient, m->sender,
                                    env->transfer_ack->decision, env->transfer_ack->receiving_unit,
                                    m->message_id, err);
        return r;
    }
    if ((r = store_insert(st, m, err)) == REMISS_OK)
        r = store_finish(st, m->message_id, NULL, STORE_DONE, REMISS_OK, "", s->now, &changed, err);
    if (r == REMISS_OK && s->ir.withhold_pending)
        r = s_withhold(self, s->ir.consent_used, s->now, err); /* PARTY/ID */
    return r;
}

/* The audit entry and the receipt body of an accepted message. */
static remiss_code_t
s_record(admission_t *self, const s_sub_t *s, store_msg_t *m, uint8_t **body, size_t *blen,
         remiss_err_t *err)
{
    const Remiss__Envelope *env = s->env;
    Remiss__AuditEvent event = REMISS__AUDIT_EVENT__EV_ACCEPTED;
    if (env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT)
        event = REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED;
    else if (env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE)
        event = REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED;
    audit_event_t e = s_event_of(env, &s->ir, event, s->env_hash);
    e.in_row = true; /* store_insert keeps m->audit_index */
    if (self->env->audit && audit_append(self->env->audit, &e, &m->audit_index, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    /* The receipt names the audit entry and is stored with the message so
     * a resend gets the same one (signed with the batch it goes out in).
     * Its sentence says which consent was used and who registered it. */
    if (!receipts_body(m->audit_index, m->message_id, REMISS_OK,
                       s->ir.sentence[0] ? s->ir.sentence : NULL, s->env_hash, s->q->party->id,
                       body, blen))
        return REMISS_E_INTERNAL;
    return REMISS_OK;
}

static void
s_accepted(admission_t *self, const s_sub_t *s, const store_msg_t *m)
{
    metrics_accepted(self->env->metrics, m->type);
    if (!s_is_consent(s->env)) {
        delivery_mark_dirty(self->delivery, m->recipient);
        s_queue_added(self, m->recipient);
    }
    if (self->env->cfg->verbose) {
        char hex[33];
        log_emit(LOG_INFO, "accepted", "msg=%s from=%s to=%s type=%s audit=%llu",
                 log_hex(hex, m->message_id, STORE_ID_LEN), m->sender, m->recipient,
                 msgtype_name(s->env->type), (unsigned long long)m->audit_index);
    }
}

/* Writes an accepted message in one savepoint: E_STORAGE (or E_INTERNAL)
 * undoes every part, the registry and the audit entries included. */
static remiss_code_t
s_accept(admission_t *self, const s_sub_t *s)
{
    const broker_env_t *env = self->env;
    size_t plen = remiss__signed_envelope__get_packed_size(s->se), blen = 0;
    uint8_t *packed = malloc(plen ? plen : 1), *body = NULL;
    audit_mark_t mark = env->audit ? audit_mark(env->audit) : (audit_mark_t){0};
    remiss_err_t err = {0};
    store_msg_t m;
    remiss_code_t r;
    if (!packed)
        return REMISS_E_INTERNAL;
    remiss__signed_envelope__pack(s->se, packed);
    s_row(s, &m, packed, plen);
    if ((r = store_savepoint(env->store, &err)) != REMISS_OK)
        goto out;
    if ((!s_is_consent(s->env) ||
         (r = intake_consent_write(env->intake, s->q->party->id, s->env, s->se->envelope.data,
                                   s->se->envelope.len, s->now, &s->ir, &err)) == REMISS_OK) &&
        (r = s_record(self, s, &m, &body, &blen, &err)) == REMISS_OK &&
        (r = s_write(self, s, &m, body, blen, &err)) == REMISS_OK) {
        store_release(env->store);
        cycle_reply_body(self->cycle, s->q->rid, s->q->rid_len, s->q->request_id, m.message_id,
                         s->q->party->id, body, blen);
        body = NULL;
        s_accepted(self, s, &m);
        goto out;
    }
    store_rollback_to(env->store); /* and releases it */
    intake_forget(env->intake);    /* a consent it registered is undone */
    if (env->audit)
        audit_rollback_to(env->audit, mark);
out:
    if (r != REMISS_OK && r != REMISS_E_INTERNAL) {
        broker_env_log_failure("store_failed", &err);
        r = REMISS_E_STORAGE;
    }
    free(body);
    free(m.receipt);
    free(packed);
    return r;
}

/* The one exit for refusals: what is known about the message goes into
 * its audit entry, and the receipt names it. */
static void
s_refuse(admission_t *self, const s_sub_t *s, remiss_code_t r)
{
    const broker_req_t *q = s->q;
    const uint8_t *hash = s->hashed ? s->env_hash : NULL;
    const char *why = s->why;
    if (!s->env) {
        cycle_reply_receipt(self->cycle, q->rid, q->rid_len, q->request_id, NULL, r, why, hash,
                            q->party->id, NULL);
        return;
    }
    /* The sender field is the channel's, whatever the envelope claims. */
    audit_event_t e = s_event_of(s->env, &s->ir, REMISS__AUDIT_EVENT__EV_REFUSED, hash);
    if (r == REMISS_E_SENDER_MISMATCH || r == REMISS_E_BAD_SIGNATURE) {
        e.subject_pseudonym = NULL; /* unsigned claims are not a person's record */
        e.categories = 0;
    }
    cycle_reply_receipt(self->cycle, q->rid, q->rid_len, q->request_id, s->id, r, why, hash,
                        q->party->id, &e);
}

void
admission_on_submit(admission_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    s_sub_t s;
    memset(&s, 0, sizeof s);
    s.q = q;
    s.se = cf->submit;
    s.now = log_now_ms();
    remiss_code_t r = s_decide(self, &s);
    if (r == REMISS_OK)
        r = s_accept(self, &s);
    if (r != REMISS_OK && r != S_ANSWERED)
        s_refuse(self, &s, r);
    remiss__envelope__free_unpacked(s.env, NULL);
}
