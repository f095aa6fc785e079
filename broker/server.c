/* server: the broker's loop, its dispatch table and the objects it owns
 * (include/server.h). Sockets are in transport.c, the cycle's transaction
 * and replies in cycle.c, connections and queues in delivery.c, submitted
 * messages in admission.c, remissctl requests in admin.c, certificate
 * and policy reloads in reload.c. */
#include "server.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admission.h"
#include "audit.h"
#include "broker_env.h"
#include "cluster.h"
#include "cycle.h"
#include "delivery.h"
#include "flood.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "pki.h"
#include "policy.h"
#include "reload.h"
#include "remiss.pb-c.h"
#include "status.h"
#include "store.h"
#include "transport.h"
#include "witnesses.h"

#define S_BATCH   256  /* frames read per poll cycle (one transaction) */
#define S_PING_MS 5000 /* liveness check of receiving connections */

struct server {
    broker_config_t cfg;     /* copy of the configuration */
    broker_env_t env;        /* what the modules borrow; owned here */
    policy_t *policy;        /* secrecy policy in force, replaced on reload */
    EVP_PKEY *sign_key;      /* broker signing key */
    X509 *cert;              /* broker certificate */
    pseudonym_t *pseudonyms; /* subject pseudonyms (intake and audit borrow it) */
    transport_t *transport;  /* sockets and ZAP */
    cycle_t *cycle;          /* the transaction and its replies */
    delivery_t *delivery;    /* connections and queues */
    admission_t *admission;  /* submitted messages */
    witnesses_t *witnesses;  /* C2SP checkpoints and witnesses, NULL without audit */
    status_t *status;        /* remissctl status socket and the reload record */
    cluster_t *cluster;      /* duty leases and news of other nodes (cluster.h) */
    int64_t next_reload, next_scan, next_ping, next_purge, next_admin, next_gauges,
        next_reclaim; /* ms */
};

/* ------------------------------------------------------------ requests */

static void
s_on_status(server_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    Remiss__StatusReply sr = REMISS__STATUS_REPLY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    memset(&m, 0, sizeof m);
    if (!cf->status || cf->status->message_id.len != STORE_ID_LEN) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_MALFORMED, "A status query needs a 16-byte message id.");
        return;
    }
    sr.message_id = cf->status->message_id;
    if (store_find(self->env.store, cf->status->message_id.data, &found, &m, &err) != REMISS_OK) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_STORAGE, NULL);
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
    cycle_reply_frame(self->cycle, q->rid, q->rid_len, &bf);
    store_msg_clear(&m);
}

static void
s_on_proof(server_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    Remiss__ProofReply pr = REMISS__PROOF_REPLY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    remiss_err_t err;
    const Remiss__ProofQuery *pq = cf->proof;
    if (!pq || (pq->message_id.len != 0 && pq->message_id.len != STORE_ID_LEN)) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_MALFORMED,
                           "A proof query needs a 16-byte message id or an index.");
        return;
    }
    if (!self->env.audit) {
        cycle_reply_result(self->cycle, q->rid, q->rid_len, q->request_id, NULL, 0,
                           REMISS_E_POLICY_DENIED, "This broker runs without an audit log.");
        return;
    }
    /* Only the sender of a message gets its entry, and its recipient once
     * it was delivered (never a refusal or withholding); anything else
     * looks the same as an unknown message. */
    remiss_code_t r =
        audit_proof(self->env.audit, q->party->id, pq->message_id.len ? pq->message_id.data : NULL,
                    pq->index, pq->consistency_from, &pr, &err);
    if (r != REMISS_OK) {
        pr.code = (Remiss__ReasonCode)r;
        pr.sentence = err.text;
    } else {
        witnesses_attach(self->witnesses, &pr);
    }
    bf.request_id = q->request_id;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_PROOF;
    bf.proof = &pr;
    /* Durable (the dispatch table says so): a signed head must never
     * cover entries a crash could undo. */
    cycle_reply_frame(self->cycle, q->rid, q->rid_len, &bf);
    witnesses_detach(&pr);
    if (r == REMISS_OK)
        audit_proof_clear(&pr);
}

/* The reply of a request with this flag may only leave after the cycle
 * commits (OpenSSH's MON_ONCE idea: declared per row, not set inside the
 * handler). A submit's receipt names its audit entry and stored message; a
 * proof's signed head must never cover entries a crash could undo. */
#define S_DURABLE 0x1
#define S_FIRST   0x2 /* before the batch's round trip to the store (s_on_batch) */

static void
s_on_submit(server_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    admission_on_submit(self->admission, q, cf);
}

static void
s_on_subscribe(server_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    delivery_on_subscribe(self->delivery, q, cf);
}

static void
s_on_ack(server_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf)
{
    delivery_on_ack(self->delivery, q, cf);
}

typedef void (*s_handler_t)(server_t *, const broker_req_t *, const Remiss__ClientFrame *);

/* Dispatch by frame kind. */
static const struct {
    Remiss__ClientFrame__KindCase kind;
    unsigned flags;
    s_handler_t fn;
} s_dispatch[] = {
    {REMISS__CLIENT_FRAME__KIND_SUBMIT, S_DURABLE, s_on_submit},
    {REMISS__CLIENT_FRAME__KIND_SUBSCRIBE, 0, s_on_subscribe},
    {REMISS__CLIENT_FRAME__KIND_ACK, S_FIRST, s_on_ack},
    {REMISS__CLIENT_FRAME__KIND_STATUS, 0, s_on_status},
    {REMISS__CLIENT_FRAME__KIND_PROOF, S_DURABLE, s_on_proof},
};

/* Why a frame is refused before dispatch, or REMISS_OK. */
static remiss_code_t
s_screen(const server_t *self, const party_t *party, size_t len, bool multipart, const char **why)
{
    *why = NULL;
    if (multipart) {
        *why = "A request is exactly one frame.";
        return REMISS_E_MALFORMED;
    }
    if (!party || party->revoked || log_now_ms() / 1000 >= party->not_after) {
        /* Admitted earlier, revoked since: refuse from the next message on. */
        if (party && !party->revoked)
            *why = "The sender's certificate has expired.";
        return REMISS_E_CERT_REVOKED;
    }
    return (int64_t)len > self->cfg.max_frame ? REMISS_E_TOO_LARGE : REMISS_OK;
}

/* Screens and decodes one frame from an authenticated party: the frame
 * (caller frees) with *row its dispatch row, or NULL after answering a
 * frame that cannot be handled. */
static Remiss__ClientFrame *
s_decode(server_t *self, const transport_frame_t *f, broker_req_t *q, size_t *row)
{
    const char *why;
    size_t i = 0, n = sizeof s_dispatch / sizeof s_dispatch[0];
    *q = (broker_req_t){.rid = f->rid, .rid_len = f->rid_len, .raw = f->data, .raw_len = f->len};
    q->party = parties_by_id(self->env.parties, f->user);
    remiss_code_t r = s_screen(self, q->party, f->len, f->multipart, &why);
    /* Before decoding: a flood buys neither parsing nor log entries. */
    if (!r && !flood_frame_ok(self->env.flood, q->party->id, log_now_ms())) {
        r = REMISS_E_RATE_LIMITED;
        why = "More frames per second from this party than the broker decodes; send again "
              "shortly.";
    }
    Remiss__ClientFrame *cf = r ? NULL : remiss__client_frame__unpack(NULL, f->len, f->data);
    if (!r && !cf) {
        r = REMISS_E_MALFORMED;
        why = "The frame could not be decoded.";
    }
    while (cf && i < n && s_dispatch[i].kind != cf->kind_case)
        i++;
    if (cf && i == n) {
        r = REMISS_E_MALFORMED;
        why = "The frame asks for nothing the broker knows.";
    }
    if (r == REMISS_OK) {
        q->request_id = cf->request_id;
        *row = i;
        return cf;
    }
    cycle_reply_receipt(self->cycle, f->rid, f->rid_len, cf ? cf->request_id : 0, NULL, r, why,
                        NULL, f->user, NULL);
    remiss__client_frame__free_unpacked(cf, NULL);
    return NULL;
}

/* The frames of one read, in order (transport_batch_fn), but for the
 * acknowledgements: what the frames need from the store is asked for
 * together, the acknowledgements written and the submissions' message ids
 * looked up in one go before any submission is admitted (on PostgreSQL
 * each would be a round trip of its own). */
static void
s_on_batch(void *ctx, const transport_frame_t *f, size_t n)
{
    server_t *self = ctx;
    Remiss__ClientFrame *cf[TRANSPORT_BATCH_MAX];
    broker_req_t q[TRANSPORT_BATCH_MAX];
    size_t row[TRANSPORT_BATCH_MAX], nids = 0;
    uint8_t ids[TRANSPORT_BATCH_MAX][STORE_ID_LEN];
    bool prefetch = store_prefetches(self->env.store);
    for (size_t i = 0; i < n; i++) {
        cf[i] = s_decode(self, &f[i], &q[i], &row[i]);
        if (cf[i] && prefetch && admission_peek_id(cf[i], ids[nids]))
            nids++;
    }
    /* The acknowledgements go first, written with the look-up of the
     * submissions' ids (one round trip): the message one of them ends is
     * none that a submission of the batch could touch. */
    for (size_t i = 0; i < n; i++)
        if (cf[i] && (s_dispatch[row[i]].flags & S_FIRST))
            s_dispatch[row[i]].fn(self, &q[i], cf[i]);
    delivery_settle(self->delivery, (const uint8_t(*)[STORE_ID_LEN])ids, nids);
    for (size_t i = 0; i < n; i++) {
        if (!cf[i] || (s_dispatch[row[i]].flags & S_FIRST))
            continue;
        if (s_dispatch[row[i]].flags & S_DURABLE)
            cycle_need_durable(self->cycle);
        s_dispatch[row[i]].fn(self, &q[i], cf[i]);
    }
    for (size_t i = 0; i < n; i++)
        remiss__client_frame__free_unpacked(cf[i], NULL);
}

/* ------------------------------------------------------------ timers */

static void
s_purge(server_t *self, int64_t now)
{
    remiss_err_t err;
    uint64_t purged = 0;
    if (store_purge(self->env.store, now - self->cfg.retention_s * 1000, &purged, &err) !=
        REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    else if (purged)
        log_emit(LOG_INFO, "purged", "messages=%llu", (unsigned long long)purged);
}

/* Clamps x into [lo, hi]. */
static int64_t
s_clamp(int64_t x, int64_t lo, int64_t hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* One aggregated refusal entry (flood_flush). */
static void
s_flood_emit(void *ctx, const char *party, uint64_t count, const char *detail)
{
    (void)count;
    audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_REFUSED,
                       .sender = party,
                       .code = REMISS_E_RATE_LIMITED,
                       .detail = detail};
    broker_env_audit(ctx, &e);
}

/* The queue gauges and the status snapshot, from one look at the queues. */
static void
s_gauges(server_t *self)
{
    remiss_err_t err;
    size_t max = parties_count(self->env.parties) + 64, n = 0;
    store_queue_t *q = calloc(max, sizeof *q);
    if (q && store_queues(self->env.store, q, max, &n, &err) != REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    delivery_gauges(self->delivery, q, n);
    status_update(self->status, &self->env, self->delivery, self->cert, q, n);
    free(q);
}

static void
s_timers(server_t *self, int64_t now, volatile sig_atomic_t *reload)
{
    flood_flush(self->env.flood, now, s_flood_emit, &self->env);
    if (*reload)
        reload_policy(&self->env, self->status, self->cfg.policy, &self->policy);
    if (*reload || now >= self->next_reload) {
        *reload = 0;
        reload_certificates(&self->env, self->status, self->cfg.pki, self->cfg.crl_grace_s);
        self->next_reload = now + self->cfg.crl_check_s * 1000;
    }
    if (now >= self->next_scan) {
        delivery_scan(self->delivery); /* redelivery: look for what is due */
        self->next_scan = now + s_clamp(self->cfg.redeliver_ms / 4, 50, 1000);
    }
    if (now >= self->next_ping) {
        delivery_ping(self->delivery);
        self->next_ping = now + S_PING_MS;
    }
    if (self->env.metrics && now >= self->next_gauges) {
        s_gauges(self);
        self->next_gauges = now + 1000;
    }
    if (now >= self->next_purge && cluster_holds(self->cluster, CLUSTER_PURGE)) {
        s_purge(self, now);
        /* Often enough that a body never outlives its retention by much. */
        self->next_purge = now + s_clamp(self->cfg.retention_s * 1000 / 2, 1000, 60000);
    }
}

/* Another node queued a message for party (NULL: for someone). */
static void
s_news(void *ctx, const char *party)
{
    server_t *self = ctx;
    if (!party)
        delivery_scan(self->delivery);
    else if (delivery_is_connected(self->delivery, party))
        delivery_mark_dirty(self->delivery, party);
}

/* What a node that died had in flight is due again at once, not after
 * --redeliver-ms: its recipient may be connected here already. Once a
 * second, on the node holding the lease (store_reclaim). */
static void
s_reclaim(server_t *self, int64_t now)
{
    remiss_err_t err;
    uint64_t n = 0;
    if (now < self->next_reclaim || !cluster_holds(self->cluster, CLUSTER_REDELIVER))
        return;
    self->next_reclaim = now + CLUSTER_TICK_MS;
    if (store_reclaim(self->env.store, &n, &err) != REMISS_OK)
        broker_env_log_failure("store_failed", &err);
    else if (n > 0)
        log_emit(LOG_WARN, "redelivery_reclaimed", "messages=%llu", (unsigned long long)n);
}

/* Leases, news from the other nodes and their gauges (cluster.h). */
static void
s_cluster(server_t *self, int64_t now)
{
    store_stats_t st;
    cluster_stats_t cs;
    metrics_cluster_t mc = {0};
    if (!cluster_shared(self->cluster))
        return;
    store_stats(self->env.store, &st);
    cluster_tick(self->cluster, now);
    cluster_drain(self->cluster, st.session, s_news, self);
    s_reclaim(self, now);
    if (!self->env.metrics || now < self->next_gauges)
        return;
    cluster_stats(self->cluster, &cs);
    mc.round_trips = st.round_trips + cs.checks;
    mc.round_trip_seconds = st.round_trip_seconds + cs.check_seconds;
    mc.notifications = cs.notifications;
    for (int d = 0; d < CLUSTER_DUTIES; d++) {
        mc.duty[d] = cluster_duty_name((cluster_duty_t)d);
        mc.held[d] = cluster_holds(self->cluster, (cluster_duty_t)d);
    }
    metrics_set_cluster(self->env.metrics, &mc);
}

/* Appends a broker life-cycle event and signs a tree head, in its own
 * transaction (start and stop are outside the poll cycles). */
static void
s_lifecycle(server_t *self, Remiss__AuditEvent event, const char *detail)
{
    remiss_err_t err;
    if (!self->env.audit || store_begin(self->env.store, &err) != REMISS_OK)
        return;
    audit_event_t e = {.event = event, .sender = "broker", .detail = detail};
    if (broker_env_audit(&self->env, &e) == 0 && audit_size(self->env.audit) == 0) {
        store_rollback(self->env.store);
        return;
    }
    if (audit_sign_head(self->env.audit, true, 0, 0, &err) != REMISS_OK ||
        store_commit(self->env.store, &err) != REMISS_OK) {
        char q[400];
        store_rollback(self->env.store);
        metrics_sign_failed(self->env.metrics);
        audit_reload(self->env.audit, &err);
        log_emit(LOG_ERROR, "audit_failed", "reason=%s", log_quote(q, sizeof q, err.text));
    }
}

/* ------------------------------------------------------------ lifecycle */

void
server_keys_clear(server_keys_t *keys)
{
    parties_free(&keys->parties);
    EVP_PKEY_free(keys->sign_key);
    X509_free(keys->cert);
    pseudonym_free(&keys->pseudonyms);
    OPENSSL_cleanse(keys, sizeof *keys);
}

/* The store, policy, intake, audit log and metrics. */
static remiss_code_t
s_open(server_t *self, remiss_err_t *err)
{
    const broker_config_t *cfg = &self->cfg;
    broker_env_t *env = &self->env;
    char kek[CONFIG_PATH_MAX + 32];
    /* Bodies at rest are sealed under data keys wrapped by PKI_DIR/broker.kek. */
    snprintf(kek, sizeof kek, "%s/broker.kek", cfg->pki);
    if (!(self->policy = policy_load(cfg->policy, err)) ||
        !(env->store = store_open(cfg->db, err)) ||
        store_use_keys(env->store, kek, err) != REMISS_OK ||
        store_checkpoint_behind(env->store, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    if (!(env->intake = intake_new_with(env->store, self->policy, self->pseudonyms)))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    if (cfg->audit &&
        !(env->audit = audit_open_with(env->store, self->sign_key, self->pseudonyms, err)))
        return REMISS_E_CONFIG;
    audit_set_policy(env->audit, self->policy);
    /* Without a listener too: the status socket reads the counters. */
    if (!(env->metrics = metrics_start(cfg->metrics, err)) ||
        !(self->status = status_start(cfg, store_engine(env->store), env->metrics, err)))
        return REMISS_E_CONFIG;
    metrics_set_crl(env->metrics, true, parties_crl_next_update(env->parties), cfg->crl_grace_s);
    status_policy(self->status, cfg->policy, true, NULL);
    if (env->audit && !(self->witnesses = witnesses_start(cfg, env->metrics, err)))
        return REMISS_E_CONFIG;
    if (!(self->cluster = cluster_new(cfg->db)))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    return REMISS_OK;
}

/* The four modules, bound to env. */
static remiss_code_t
s_modules(server_t *self, const uint8_t curve_secret[32], remiss_err_t *err)
{
    if (!(self->transport = transport_new(&self->env, curve_secret, err)))
        return REMISS_E_CONFIG;
    if (!(self->cycle = cycle_new(&self->env, self->transport, self->sign_key)) ||
        !(self->delivery = delivery_new(&self->env, self->cycle, self->transport)) ||
        !(self->admission = admission_new(&self->env, self->cycle, self->delivery)))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    return REMISS_OK;
}

server_t *
server_new(const broker_config_t *cfg, server_keys_t *keys, remiss_err_t *err)
{
    server_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        server_keys_clear(keys);
        return NULL;
    }
    self->cfg = *cfg;
    self->env.cfg = &self->cfg;
    self->env.flood = flood_new(cfg->rate_per_s, cfg->rate_burst);
    self->env.parties = keys->parties;
    self->sign_key = keys->sign_key;
    self->cert = keys->cert;
    self->pseudonyms = keys->pseudonyms;
    keys->parties = NULL;
    keys->sign_key = NULL;
    keys->cert = NULL;
    keys->pseudonyms = NULL;
    remiss_code_t r = self->env.flood ? s_open(self, err)
                                      : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    if (r == REMISS_OK)
        r = s_modules(self, keys->curve_secret, err);
    server_keys_clear(keys);
    if (r != REMISS_OK) {
        server_destroy(&self);
        return NULL;
    }
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
    witnesses_stop(&self->witnesses);
    status_stop(&self->status);
    cluster_free(&self->cluster);
    metrics_stop(&self->env.metrics);
    flood_free(&self->env.flood);
    admission_destroy(&self->admission);
    delivery_destroy(&self->delivery);
    cycle_destroy(&self->cycle);
    transport_destroy(&self->transport);
    audit_close(&self->env.audit);
    intake_free(&self->env.intake);
    store_close(&self->env.store);
    policy_free(&self->policy);
    parties_free(&self->env.parties);
    pseudonym_free(&self->pseudonyms);
    EVP_PKEY_free(self->sign_key);
    X509_free(self->cert);
    free(self);
    *self_p = NULL;
}

/* The store cannot begin a transaction: handshakes go on and every frame
 * is answered E_STORAGE. */
static void
s_cycle_without_store(server_t *self, const remiss_err_t *err)
{
    broker_env_log_failure("store_failed", err);
    metrics_set_health(self->env.metrics, false, self->policy != NULL);
    transport_serve_zap(self->transport);
    transport_read_batch(self->transport, S_BATCH, s_on_batch, self);
    cycle_flush(self->cycle, false);
}

/* Signs a tree head when one is due (interval or entries). */
static void
s_sign_head(server_t *self)
{
    remiss_err_t err;
    if (!self->env.audit || !cluster_holds(self->cluster, CLUSTER_HEADS))
        return;
    if (audit_sign_head(self->env.audit, false, self->cfg.sth_interval_s * 1000,
                        (uint64_t)self->cfg.sth_every, &err) != REMISS_OK) {
        metrics_sign_failed(self->env.metrics);
        broker_env_log_failure("audit_failed", &err);
    }
    metrics_set_audit_size(self->env.metrics, audit_size(self->env.audit));
}

/* Commits and flushes the cycle. What just became durable goes out
 * first, in the next transaction, read in the commit's round trip; the
 * receipts follow (latency is to the recipient). */
static void
s_commit(server_t *self)
{
    store_due_req_t *due = NULL;
    bool begun = false;
    size_t ndue = delivery_pump_plan(self->delivery, &due);
    remiss_code_t c = ndue ? cycle_commit_reopen(self->cycle, due, ndue, log_now_ms(), &begun)
                           : cycle_commit(self->cycle);
    metrics_set_health(self->env.metrics, c == REMISS_OK, self->policy != NULL);
    if (ndue)
        delivery_pump_hand(self->delivery, begun, cycle_since(self->cycle));
    cycle_flush(self->cycle, c == REMISS_OK);
}

/* One poll cycle: everything of it, handshake refusals and timer work
 * too, commits together with its audit entries. */
static void
s_cycle(server_t *self, int64_t now, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    remiss_err_t err;
    if (cycle_begin(self->cycle, now, &err) != REMISS_OK)
        return s_cycle_without_store(self, &err);
    transport_serve_zap(self->transport);
    s_cluster(self, now);
    s_timers(self, now, reload);
    /* Deliver what earlier cycles committed; then read new frames. */
    delivery_pump_dirty(self->delivery, now);
    transport_read_batch(self->transport, S_BATCH, s_on_batch, self);
    if (now >= self->next_admin && cluster_holds(self->cluster, CLUSTER_ADMIN)) {
        admin_run(&self->env, self->delivery, now);
        self->next_admin = now + 500;
    }
    s_sign_head(self);
    if (cycle_must_commit(self->cycle, now, *stop))
        s_commit(self);
    else
        cycle_flush(self->cycle, true);
}

int
server_run(server_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload)
{
    char detail[CONFIG_PATH_MAX + 64];
    snprintf(detail, sizeof detail, "listen=%s parties=%zu", self->cfg.listen,
             parties_count(self->env.parties));
    s_lifecycle(self, REMISS__AUDIT_EVENT__EV_BROKER_STARTED, detail);
    char db[CONFIG_PATH_MAX];
    log_emit(LOG_INFO, "started", "listen=%s parties=%zu db=%s audit=%s", self->cfg.listen,
             parties_count(self->env.parties), store_redact(self->cfg.db, db, sizeof db),
             self->env.audit ? "on" : "off");
    while (!*stop) {
        /* A transaction holding the store's write lock holds up the other
         * nodes: it commits in the next cycle, without waiting. */
        long timeout =
            delivery_has_dirty(self->delivery) || store_locked(self->env.store) ? 0 : 100;
        if (transport_wait_fd(self->transport, cycle_wait_ms(self->cycle, log_now_ms(), timeout),
                              cluster_fd(self->cluster)) < 0)
            break;
        s_cycle(self, log_now_ms(), stop, reload);
    }
    /* What the last cycles did (acks, delivery marks) is kept. */
    if (cycle_is_open(self->cycle))
        cycle_commit(self->cycle);
    s_lifecycle(self, REMISS__AUDIT_EVENT__EV_BROKER_STOPPED, "signal");
    log_emit(LOG_INFO, "stopped", "listen=%s", self->cfg.listen);
    return 0;
}
