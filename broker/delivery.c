/* delivery: connections, in-flight sets, the dirty set and pumping
 * (include/delivery.h). */
#include "delivery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define S_PUMP_MAX 64 /* messages read per recipient and connection per cycle */

/* A connection that subscribed to deliveries. */
typedef struct s_conn {
    uint8_t rid[BROKER_RID_MAX]; /* ROUTER routing id */
    size_t rid_len;
    char party[PKI_ID_MAX + 1];        /* authenticated party */
    uint32_t window;                   /* deliveries in flight at most */
    uint8_t (*inflight)[STORE_ID_LEN]; /* ids delivered and not yet acknowledged */
    uint32_t ninflight;
} s_conn_t;

/* An acknowledgement waiting for delivery_settle; every pointer borrows
 * from the request, valid until the batch it came in is done. */
typedef struct s_ack {
    const uint8_t *rid;
    size_t rid_len;
    uint64_t request_id;
    const char *party; /* the acknowledging recipient */
    const uint8_t *id; /* STORE_ID_LEN bytes */
    bool refuse;
    const char *reason; /* for a refusal */
} s_ack_t;

/* One recipient of a pump: the connection its rows go to (by routing id:
 * an earlier one may be dropped meanwhile, which moves the others). */
typedef struct s_pumped {
    uint8_t rid[BROKER_RID_MAX];
    size_t rid_len;
} s_pumped_t;

/* A pump between its plan and its hand (delivery_pump_plan). */
typedef struct delivery_plan {
    char (*dirty)[PKI_ID_MAX + 1]; /* the recipients it unmarked */
    store_due_req_t *req;          /* the reads, one per recipient with room */
    s_pumped_t *to;                /* and where their rows go */
    store_msg_t *rows;             /* room for every read's rows */
    size_t n;                      /* of req and to */
} delivery_plan_t;

struct delivery {
    const broker_env_t *env; /* borrowed */
    cycle_t *cycle;          /* replies (borrowed) */
    transport_t *transport;  /* deliveries go out here at once (borrowed) */
    s_conn_t *conns;         /* subscribed connections */
    size_t nconns;
    char (*dirty)[PKI_ID_MAX + 1]; /* recipients with something to deliver */
    size_t ndirty, capdirty;
    s_ack_t acks[DELIVERY_ACKS_MAX]; /* acknowledgements not yet written (delivery_settle) */
    size_t nacks;
    store_finish_req_t
        fin[DELIVERY_ACKS_MAX]; /* their writes (delivery_settle's, kept off the stack) */
    delivery_plan_t plan;       /* the pump being read (delivery_pump_plan) */
};

/* How one delivery attempt went. */
typedef enum { S_SENT, S_SKIPPED, S_BUSY, S_GONE } s_sent_t;

delivery_t *
delivery_new(const broker_env_t *env, cycle_t *cycle, transport_t *transport)
{
    delivery_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->env = env;
    self->cycle = cycle;
    self->transport = transport;
    return self;
}

void
delivery_destroy(delivery_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    delivery_t *self = *self_p;
    for (size_t i = 0; i < self->nconns; i++)
        free(self->conns[i].inflight);
    free(self->conns);
    free(self->dirty);
    free(self);
    *self_p = NULL;
}

void
delivery_mark_dirty(delivery_t *self, const char *party)
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

bool
delivery_has_dirty(const delivery_t *self)
{
    return self->ndirty > 0;
}

size_t
delivery_connections(const delivery_t *self)
{
    return self->nconns;
}

bool
delivery_is_connected(const delivery_t *self, const char *party)
{
    for (size_t i = 0; i < self->nconns; i++)
        if (strcmp(self->conns[i].party, party) == 0)
            return true;
    return false;
}

/* Makes what was in flight to party due at once. A failure is logged: the
 * redelivery timer brings the messages back later anyway. */
static void
s_resend_now(delivery_t *self, const char *party)
{
    remiss_err_t err;
    if (store_resend_now(self->env->store, party, &err) != REMISS_OK)
        broker_env_log_failure("store_failed", &err);
}

static void
s_conn_drop(delivery_t *self, s_conn_t *c)
{
    /* What was in flight on it is due again at once for the party's other
     * (or next) connection. */
    if (c->ninflight)
        s_resend_now(self, c->party);
    delivery_mark_dirty(self, c->party);
    free(c->inflight);
    size_t i = (size_t)(c - self->conns);
    self->conns[i] = self->conns[--self->nconns];
}

static s_conn_t *
s_conn_find(delivery_t *self, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < self->nconns; i++)
        if (self->conns[i].rid_len == rid_len && memcmp(self->conns[i].rid, rid, rid_len) == 0)
            return &self->conns[i];
    return NULL;
}

void
delivery_inflight_done(delivery_t *self, const char *party, const uint8_t *id)
{
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = &self->conns[i];
        if (strcmp(c->party, party) != 0)
            continue;
        for (uint32_t k = 0; k < c->ninflight; k++)
            if (memcmp(c->inflight[k], id, STORE_ID_LEN) == 0) {
                memmove(c->inflight[k], c->inflight[c->ninflight - 1], STORE_ID_LEN);
                c->ninflight--;
                delivery_mark_dirty(self, party);
                return;
            }
    }
}

void
delivery_gauges(delivery_t *self, const store_queue_t *queues, size_t nqueues)
{
    size_t n = parties_count(self->env->parties), k = 0, connected = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    uint64_t *depths = calloc(n ? n : 1, sizeof *depths);
    for (size_t i = 0; names && depths && i < n; i++) {
        const party_t *p = parties_at(self->env->parties, i);
        const store_queue_t *q = store_queue_of(queues, nqueues, p->id);
        depths[k] = q ? q->depth : 0;
        names[k++] = p->id;
        connected += delivery_is_connected(self, p->id);
    }
    metrics_set_queues(self->env->metrics, names, depths, k);
    metrics_set_connected(self->env->metrics, connected);
    free(names);
    free(depths);
}

/* ------------------------------------------------------------ subscribe and ack */

/* Receiving connections party holds. */
static size_t
s_party_conns(const delivery_t *self, const char *party)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nconns; i++)
        n += strcmp(self->conns[i].party, party) == 0;
    return n;
}

/* A new receiving connection for q's party; NULL (answered) if refused.
 * No party takes every connection (--max-party-connections). */
static s_conn_t *
s_conn_add(delivery_t *self, const broker_req_t *q)
{
    if (s_party_conns(self, q->party->id) >= (size_t)self->env->cfg->max_party_connections) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_RATE_LIMITED,
                           "This party has as many receiving connections as the broker allows "
                           "one party.");
        return NULL;
    }
    if (self->nconns >= (size_t)self->env->cfg->max_connections) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_RATE_LIMITED,
                           "The broker has as many receiving connections as it allows.");
        return NULL;
    }
    s_conn_t *grown = realloc(self->conns, (self->nconns + 1) * sizeof *grown);
    if (!grown) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_INTERNAL, NULL);
        return NULL;
    }
    self->conns = grown;
    /* Deliveries to an earlier connection of this party that is gone
     * should not wait for the redelivery timer. */
    bool other_live = delivery_is_connected(self, q->party->id);
    s_conn_t *c = &self->conns[self->nconns++];
    memset(c, 0, sizeof *c);
    memcpy(c->rid, q->rid, q->rid_len);
    c->rid_len = q->rid_len;
    snprintf(c->party, sizeof c->party, "%s", q->party->id);
    if (!other_live)
        s_resend_now(self, c->party);
    return c;
}

void
delivery_on_subscribe(delivery_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    uint32_t max = (uint32_t)self->env->cfg->window;
    uint32_t window = cf->subscribe && cf->subscribe->window ? cf->subscribe->window : max;
    s_conn_t *c = s_conn_find(self, q->rid, q->rid_len);
    if (window > max * 16)
        window = max * 16;
    if (!c && !(c = s_conn_add(self, q)))
        return;
    if (window != c->window) {
        void *grown = realloc(c->inflight, window * sizeof *c->inflight);
        if (!grown && window) {
            cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                               REMISS_E_INTERNAL, NULL);
            return;
        }
        c->inflight = grown;
        if (c->ninflight > window)
            c->ninflight = window; /* the rest come back by redelivery */
        c->window = window;
    }
    delivery_mark_dirty(self, c->party);
    cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0, REMISS_OK,
                       "Subscribed to deliveries.");
}

/* Acknowledging twice is fine; acknowledging what is not yours is not. */
static bool
s_acked_before(delivery_t *self, const char *party, const uint8_t *id, bool refuse)
{
    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    bool mine = store_find(self->env->store, id, &found, &m, &err) == REMISS_OK && found &&
                strcmp(m.recipient, party) == 0;
    bool done = mine && m.state == (refuse ? STORE_DEAD : STORE_DONE);
    if (found)
        store_msg_clear(&m);
    return done;
}

void
delivery_on_ack(delivery_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    const Remiss__Ack *ack = cf->ack;
    if (!ack || ack->message_id.len != STORE_ID_LEN ||
        (ack->kind != REMISS__ACK_KIND__RECEIVED && ack->kind != REMISS__ACK_KIND__REFUSE)) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_MALFORMED,
                           "An acknowledgement needs a 16-byte message id and a kind.");
        return;
    }
    bool refuse = ack->kind == REMISS__ACK_KIND__REFUSE;
    self->acks[self->nacks++] = (s_ack_t){
        .rid = q->rid,
        .rid_len = q->rid_len,
        .request_id = q->request_id,
        .party = q->party->id,
        .id = ack->message_id.data,
        .refuse = refuse,
        .reason = ack->reason && ack->reason[0] ? ack->reason : "refused by the recipient",
    };
    if (self->nacks == DELIVERY_ACKS_MAX)
        delivery_settle(self, NULL, 0);
}

/* Answers one acknowledgement that store_finish_many wrote (r) and
 * records it in the audit log if it changed the message. */
static void
s_ack_done(delivery_t *self, const s_ack_t *a, remiss_code_t r, const store_finish_req_t *f)
{
    if (r != REMISS_OK) {
        cycle_reply_result(self->cycle, a->rid, a->rid_len, a->request_id, a->id, STORE_ID_LEN,
                           REMISS_E_STORAGE, NULL);
        return;
    }
    delivery_inflight_done(self, a->party, a->id);
    if (f->changed && !a->refuse)
        metrics_acked(self->env->metrics);
    if (f->changed && f->has_row)
        broker_env_audit_stored(self->env, &f->row,
                                a->refuse ? REMISS__AUDIT_EVENT__EV_DEAD_LETTERED
                                          : REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED,
                                REMISS_OK, a->refuse ? "refused by the recipient" : NULL);
    if (!f->changed && !s_acked_before(self, a->party, a->id, a->refuse)) {
        cycle_reply_result(self->cycle, a->rid, a->rid_len, a->request_id, a->id, STORE_ID_LEN,
                           REMISS_E_MALFORMED,
                           "No message with this id is waiting for your acknowledgement.");
        return;
    }
    cycle_reply_result(
        self->cycle, a->rid, a->rid_len, a->request_id, a->id, STORE_ID_LEN, REMISS_OK,
        a->refuse ? "Refused; the message is on the dead-letter list." : "Acknowledged.");
}

void
delivery_settle(delivery_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids)
{
    store_finish_req_t *f = self->fin;
    remiss_err_t err;
    size_t n = self->nacks;
    if (n == 0) {
        store_prefetch(self->env->store, ids, nids);
        return;
    }
    self->nacks = 0;
    for (size_t i = 0; i < n; i++) {
        const s_ack_t *a = &self->acks[i];
        f[i] = (store_finish_req_t){.id = a->id,
                                    .recipient = a->party,
                                    .state = a->refuse ? STORE_DEAD : STORE_DONE,
                                    .code = REMISS_OK,
                                    .reason = a->refuse ? a->reason : ""};
    }
    /* One round trip for the batch's acknowledgements (PostgreSQL); the
     * rows come back for the audit entries. A failure answers every one
     * E_STORAGE: acknowledging again is harmless. */
    remiss_code_t r = store_prefetch_finish(self->env->store, ids, nids, f, n, log_now_ms(),
                                            self->env->audit != NULL, &err);
    if (r != REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    for (size_t i = 0; i < n; i++) {
        s_ack_done(self, &self->acks[i], r, &f[i]);
        if (f[i].has_row)
            store_msg_clear(&f[i].row);
    }
}

/* ------------------------------------------------------------ delivering */

/* Ends a message that will not be delivered (dead-lettered, damaged or
 * withheld) and records it with event (0: no audit entry). A store failure
 * is logged and the message stays due: the next pump tries again. */
static void
s_end(delivery_t *self, const store_msg_t *m, store_state_t state, remiss_code_t code,
      const char *sentence, int64_t now, Remiss__AuditEvent event, const char *detail)
{
    remiss_err_t err;
    bool changed;
    if (store_finish(self->env->store, m->message_id, NULL, state, code, sentence, now, &changed,
                     &err) != REMISS_OK) {
        broker_env_log_failure("store_failed", &err);
        return;
    }
    if (event)
        broker_env_audit_stored(self->env, m, event, code, detail);
    /* It will not be acknowledged: its place in the window is free. */
    delivery_inflight_done(self, m->recipient, m->message_id);
}

/* Decides m again at delivery: a consent may have been withdrawn or the
 * policy changed since it was accepted. REMISS_OK to send; a transient
 * failure (E_STORAGE, E_INTERNAL) to try again later; else the message
 * was withheld. */
static remiss_code_t
s_recheck(delivery_t *self, const store_msg_t *m, const Remiss__SignedEnvelope *se, int64_t now)
{
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, se->envelope.len, se->envelope.data);
    intake_result_t ir;
    remiss_code_t verdict =
        env ? intake_decide(self->env->intake, m->sender, env, now, &ir) : REMISS_E_MALFORMED;
    if (verdict != REMISS_OK && verdict != REMISS_E_STORAGE && verdict != REMISS_E_INTERNAL) {
        char sentence[400];
        snprintf(sentence, sizeof sentence, "Withheld at delivery: %s",
                 env ? ir.sentence : "the stored envelope is damaged");
        s_end(self, m, STORE_HELD, verdict, sentence, now, REMISS__AUDIT_EVENT__EV_WITHHELD,
              "at delivery");
    }
    remiss__envelope__free_unpacked(env, NULL);
    return verdict;
}

/* Sends se as a Delivery of m over c. */
static s_sent_t
s_send(delivery_t *self, s_conn_t *c, const store_msg_t *m, Remiss__SignedEnvelope *se, int64_t now)
{
    Remiss__Delivery d = REMISS__DELIVERY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    const party_t *from = parties_by_id(self->env->parties, m->sender);
    remiss_err_t err;
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
    size_t flen = remiss__broker_frame__get_packed_size(&bf);
    uint8_t *frame = malloc(flen ? flen : 1);
    if (!frame)
        return S_GONE;
    remiss__broker_frame__pack(&bf, frame);
    int e = transport_send(self->transport, c->rid, c->rid_len, frame, flen);
    free(frame);
    /* A full queue towards a slow recipient is not a vanished one: try
     * again next cycle; only an unreachable peer is dropped. */
    if (e != 0)
        return e == EAGAIN ? S_BUSY : S_GONE;
    metrics_delivered(self->env->metrics);
    broker_env_audit_stored(self->env, m, REMISS__AUDIT_EVENT__EV_DELIVERED, REMISS_OK, NULL);
    /* Not marked: the message stays due and goes out again next pump; the
     * client library recognises the repeat. */
    if (store_mark_sent(self->env->store, m->seq, now, now + self->env->cfg->redeliver_ms, &err) !=
        REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    delivery_inflight_done(self, m->recipient, m->message_id); /* a redelivery: once */
    memcpy(c->inflight[c->ninflight++], m->message_id, STORE_ID_LEN);
    return S_SENT;
}

static s_sent_t
s_deliver_one(delivery_t *self, s_conn_t *c, const store_msg_t *m, int64_t now)
{
    Remiss__SignedEnvelope *se = NULL;
    if ((int64_t)m->attempts >= self->env->cfg->max_attempts) {
        char sentence[200];
        snprintf(sentence, sizeof sentence,
                 "Not acknowledged after %u deliveries; moved to the dead-letter list.",
                 m->attempts);
        s_end(self, m, STORE_DEAD, REMISS_OK, sentence, now, REMISS__AUDIT_EVENT__EV_DEAD_LETTERED,
              "not acknowledged");
        return S_SKIPPED;
    }
    if (!m->envelope ||
        !(se = remiss__signed_envelope__unpack(NULL, m->envelope_len, m->envelope))) {
        s_end(self, m, STORE_DEAD, REMISS_E_INTERNAL,
              "The stored message is damaged or was purged.", now, 0, NULL);
        return S_SKIPPED;
    }
    s_sent_t sent = S_SKIPPED;
    if (s_recheck(self, m, se, now) == REMISS_OK)
        sent = s_send(self, c, m, se, now);
    remiss__signed_envelope__free_unpacked(se, NULL);
    return sent;
}

/* Hands rows (due for party) to connection c, clearing each; false if c
 * is gone (and was dropped). room: what was asked for. */
static bool
s_pump_rows(delivery_t *self, s_conn_t *c, const char *party, store_msg_t *rows, size_t n,
            size_t room, int64_t now)
{
    s_sent_t last = S_SENT;
    for (size_t k = 0; k < n; k++) {
        if (last != S_BUSY && last != S_GONE)
            last = s_deliver_one(self, c, &rows[k], now);
        store_msg_clear(&rows[k]);
    }
    if (last == S_GONE) {
        s_conn_drop(self, c);
        return false;
    }
    /* A busy queue drains: go on next cycle; a full batch may have more. */
    if (last == S_BUSY || n == room)
        delivery_mark_dirty(self, party);
    return true;
}

/* The first connection of party with room, or NULL. */
static s_conn_t *
s_conn_with_room(delivery_t *self, const char *party)
{
    for (size_t i = 0; i < self->nconns; i++)
        if (strcmp(self->conns[i].party, party) == 0 &&
            self->conns[i].ninflight < self->conns[i].window)
            return &self->conns[i];
    return NULL;
}

/* Plans reading what is due for every dirty recipient together (one round
 * trip on PostgreSQL), one connection with room each; a recipient with more
 * connections with room stays dirty for the next cycle (a second read in
 * the same batch would see the same rows, not yet marked sent). */
size_t
delivery_pump_plan(delivery_t *self, store_due_req_t **reqs)
{
    delivery_plan_t *p = &self->plan;
    size_t ndirty = self->ndirty, nrows = 0;
    *reqs = NULL;
    if (!ndirty)
        return 0;
    p->dirty = malloc(ndirty * sizeof *p->dirty);
    p->req = calloc(ndirty, sizeof *p->req);
    p->to = calloc(ndirty, sizeof *p->to);
    if (!p->dirty || !p->req || !p->to) {
        delivery_pump_hand(self, false, 0); /* out of memory: next cycle */
        return 0;
    }
    memcpy(p->dirty, self->dirty, ndirty * sizeof *p->dirty);
    self->ndirty = 0;
    for (size_t i = 0; i < ndirty; i++) {
        s_conn_t *c = s_conn_with_room(self, p->dirty[i]);
        if (!c)
            continue;
        size_t room = c->window - c->ninflight;
        p->req[p->n] = (store_due_req_t){.recipient = p->dirty[i],
                                         .max = room > S_PUMP_MAX ? S_PUMP_MAX : room};
        nrows += p->req[p->n].max;
        memcpy(p->to[p->n].rid, c->rid, c->rid_len);
        p->to[p->n++].rid_len = c->rid_len;
    }
    if (p->n == 0 || !(p->rows = calloc(nrows, sizeof *p->rows))) {
        delivery_pump_hand(self, false, 0);
        return 0;
    }
    for (size_t i = 0, at = 0; i < p->n; at += p->req[i++].max)
        p->req[i].out = p->rows + at;
    *reqs = p->req;
    return p->n;
}

/* Hands the planned reads' rows out (read: they were read, else the
 * recipients stay dirty) and ends the plan. */
void
delivery_pump_hand(delivery_t *self, bool read, int64_t now)
{
    delivery_plan_t *p = &self->plan;
    for (size_t i = 0; i < p->n; i++) {
        s_conn_t *c = read ? s_conn_find(self, p->to[i].rid, p->to[i].rid_len) : NULL;
        if (c)
            s_pump_rows(self, c, p->req[i].recipient, p->req[i].out, p->req[i].n, p->req[i].max,
                        now);
        for (size_t k = 0; !c && k < p->req[i].n; k++)
            store_msg_clear(&p->req[i].out[k]);
        if (!read)
            delivery_mark_dirty(self, p->req[i].recipient);
    }
    free(p->rows);
    free(p->to);
    free(p->req);
    free(p->dirty);
    *p = (delivery_plan_t){0};
}

void
delivery_pump_dirty(delivery_t *self, int64_t now)
{
    store_due_req_t *req;
    remiss_err_t err;
    size_t n = delivery_pump_plan(self, &req);
    if (n == 0)
        return;
    remiss_code_t r = store_due_many(self->env->store, req, n, now, &err);
    if (r != REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    delivery_pump_hand(self, true, now);
}

void
delivery_scan(delivery_t *self)
{
    for (size_t i = 0; i < self->nconns; i++)
        delivery_mark_dirty(self, self->conns[i].party);
}

void
delivery_ping(delivery_t *self)
{
    /* An empty frame costs nothing and tells a vanished peer apart. */
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    uint8_t buf[16];
    size_t len = remiss__broker_frame__pack(&bf, buf);
    for (size_t i = 0; i < self->nconns; i++)
        if (transport_send(self->transport, self->conns[i].rid, self->conns[i].rid_len, buf, len) ==
            EHOSTUNREACH) {
            s_conn_drop(self, &self->conns[i]);
            i--;
        }
}
