/* metrics: Prometheus exposition over libmicrohttpd. */
#include "metrics.h"

#include <arpa/inet.h>
#include <time.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msgtype.h"
#include "remiss.h"

#define S_NCODES     (REMISS_WIRE_CODE_MAX + 1)
#define S_NBUCKETS   12
#define S_MAX_QUEUES 256
#define S_MAX_CERTS  (S_MAX_QUEUES + 2) /* every party, the broker and the CA */
#define S_NTYPES     16                 /* message type values (remiss.proto) */

/* Upper bounds (seconds) of the latency histogram buckets. */
static const double s_bounds[S_NBUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

typedef struct s_hist {
    _Atomic uint64_t buckets[S_NBUCKETS + 1]; /* last one: +Inf */
    _Atomic uint64_t sum_ns;                  /* sum in nanoseconds */
    _Atomic uint64_t count;
} s_hist_t;

/* What an operator watches (issue 18): certificate and CRL expiry, the last
 * reload, dead letters, the oldest message per recipient, signing
 * failures. The arrays are guarded by metrics.lock. */
typedef struct s_ops {
    struct {
        char party[64]; /* party id, "broker" or "ca" */
        char kind[8];   /* "party", "broker", "ca" */
        int64_t not_after;
    } certs[S_MAX_CERTS];
    size_t ncerts;
    int64_t crl_next_update;         /* 0: no CRL */
    int64_t cert_warn_s;             /* warning period before notAfter */
    int64_t oldest_at[S_MAX_QUEUES]; /* accepted_at (ms) per queue_names[i], 0 = empty */
    _Atomic bool reload_ok;          /* the last reload (or the start) loaded everything */
    _Atomic int64_t reload_at;       /* Unix seconds of the last reload attempt */
    _Atomic uint64_t dead_letters;   /* messages in state DEAD */
    _Atomic uint64_t sign_failures;  /* tree heads that could not be signed */
    _Atomic uint64_t commit_ns;      /* the last commit's latency */
} s_ops_t;

struct metrics {
    struct MHD_Daemon *daemon; /* HTTP listener */
    _Atomic uint64_t delivered, acked, auth_refused;
    _Atomic uint64_t accepted[S_NTYPES]; /* by message type */
    _Atomic uint64_t refused[S_NCODES];  /* by reason code */
    _Atomic uint64_t connected, audit_size;
    _Atomic bool store_ok, policy_ok;
    /* witnesses (broker/witnesses.c): configured, quorum, cosigners of the
     * latest checkpoint, its size, failed submissions */
    _Atomic uint64_t wit_n, wit_k, wit_cosigned, wit_size, wit_failures;
    _Atomic bool crl_refused;            /* the last reload's CRL was refused */
    _Atomic int64_t crl_next, crl_grace; /* CRL in force: nextUpdate, grace (s) */
    s_hist_t commit, verify;
    pthread_mutex_t lock;      /* guards the queue gauges and cluster */
    metrics_cluster_t cluster; /* several nodes (copied; names are static) */
    char queue_names[S_MAX_QUEUES][64];
    uint64_t queue_depths[S_MAX_QUEUES];
    size_t nqueues;
    s_ops_t ops; /* operations: expiry, reloads, dead letters */
};

typedef struct s_buf {
    char *data;
    size_t len, cap;
} s_buf_t;

static void __attribute__((format(printf, 2, 3))) s_printf(s_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n =
            vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->data && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)n;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return;
        b->data = grown;
        b->cap = cap;
    }
}

static void
s_hist_print(s_buf_t *b, const char *name, const char *help, s_hist_t *h)
{
    s_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < S_NBUCKETS; i++) {
        cum += atomic_load(&h->buckets[i]);
        s_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, s_bounds[i], (unsigned long long)cum);
    }
    cum += atomic_load(&h->buckets[S_NBUCKETS]);
    s_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    s_printf(b, "%s_sum %.9f\n%s_count %llu\n", name, (double)atomic_load(&h->sum_ns) / 1e9, name,
             (unsigned long long)atomic_load(&h->count));
}

static void
s_counter(s_buf_t *b, const char *name, const char *help, uint64_t v, bool gauge)
{
    s_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
             gauge ? "gauge" : "counter", name, (unsigned long long)v);
}

/* ------------------------------------------------------------ operations */

static void
s_render_expiry(metrics_t *m, s_buf_t *b)
{
    s_printf(b, "# HELP remiss_certificate_expiry_seconds notAfter of each certificate the broker "
                "holds, Unix time.\n# TYPE remiss_certificate_expiry_seconds gauge\n");
    for (size_t i = 0; i < m->ops.ncerts; i++)
        s_printf(b, "remiss_certificate_expiry_seconds{party=\"%s\",kind=\"%s\"} %lld\n",
                 m->ops.certs[i].party, m->ops.certs[i].kind, (long long)m->ops.certs[i].not_after);
    if (m->ops.crl_next_update)
        s_printf(b,
                 "# HELP remiss_crl_next_update_seconds nextUpdate of the loaded CRL, Unix "
                 "time.\n# TYPE remiss_crl_next_update_seconds gauge\n"
                 "remiss_crl_next_update_seconds %lld\n",
                 (long long)m->ops.crl_next_update);
}

static void
s_render_oldest(metrics_t *m, s_buf_t *b, int64_t now_ms)
{
    s_printf(b, "# HELP remiss_oldest_message_age_seconds Age of the oldest queued or in-flight "
                "message per recipient.\n# TYPE remiss_oldest_message_age_seconds gauge\n");
    for (size_t i = 0; i < m->nqueues; i++) {
        int64_t at = m->ops.oldest_at[i];
        double age = at > 0 && now_ms > at ? (double)(now_ms - at) / 1000.0 : 0.0;
        s_printf(b, "remiss_oldest_message_age_seconds{recipient=\"%s\"} %.3f\n", m->queue_names[i],
                 age);
    }
}

/* The metrics of s_ops_t. */
static void
s_render_ops(metrics_t *m, s_buf_t *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s_printf(b,
             "# HELP remiss_build_info The running build.\n# TYPE remiss_build_info gauge\n"
             "remiss_build_info{version=\"%s\"} 1\n",
             remiss_version());
    s_counter(b, "remiss_reload_success", "1 if the last reload (or the start) loaded everything.",
              atomic_load(&m->ops.reload_ok), true);
    s_counter(b, "remiss_reload_last_timestamp_seconds", "Unix time of the last reload attempt.",
              (uint64_t)atomic_load(&m->ops.reload_at), true);
    s_counter(b, "remiss_dead_letters", "Messages on the dead-letter list.",
              atomic_load(&m->ops.dead_letters), true);
    s_counter(b, "remiss_audit_sign_failures_total", "Tree heads the broker failed to sign.",
              atomic_load(&m->ops.sign_failures), false);
    pthread_mutex_lock(&m->lock);
    s_render_expiry(m, b);
    s_render_oldest(m, b, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    pthread_mutex_unlock(&m->lock);
}

/* Why /healthz says degraded: " reload=refused cert=expiring", or "". */
static const char *s_crl_state(metrics_t *m, bool *degraded, bool *failed);

/* Why the broker is degraded, as " key=value" words (empty: it is not). */
static void
s_degraded(metrics_t *m, char *out, size_t size)
{
    size_t len = 0;
    bool crl_degraded = false, failed = false;
    const char *crl = s_crl_state(m, &crl_degraded, &failed);
    out[0] = '\0';
    if (!atomic_load(&m->ops.reload_ok))
        len += (size_t)snprintf(out + len, size - len, " reload=refused");
    if (crl_degraded && len < size)
        len += (size_t)snprintf(out + len, size - len, " crl=%s", crl);
    int64_t now = (int64_t)time(NULL), soonest = INT64_MAX;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->ops.ncerts; i++)
        if (m->ops.certs[i].not_after < soonest)
            soonest = m->ops.certs[i].not_after;
    int64_t warn = m->ops.cert_warn_s;
    pthread_mutex_unlock(&m->lock);
    if (soonest == INT64_MAX || len >= size)
        return;
    if (soonest <= now)
        snprintf(out + len, size - len, " cert=expired");
    else if (soonest - now < warn)
        snprintf(out + len, size - len, " cert=expiring");
}

/* The node's view of the cluster (cluster.h); nothing on SQLite. */
static void
s_render_cluster(const metrics_cluster_t *c, s_buf_t *b)
{
    if (!c->duty[0])
        return;
    s_counter(b, "remiss_db_round_trips_total", "Round trips to the database (store and leases).",
              c->round_trips, false);
    s_printf(b,
             "# HELP remiss_db_round_trip_seconds_total Time spent in them.\n"
             "# TYPE remiss_db_round_trip_seconds_total counter\n"
             "remiss_db_round_trip_seconds_total %.6f\n",
             c->round_trip_seconds);
    s_printf(b, "# HELP remiss_lease_held 1 while this node holds the duty's lease.\n"
                "# TYPE remiss_lease_held gauge\n");
    for (size_t i = 0; i < 4 && c->duty[i]; i++)
        s_printf(b, "remiss_lease_held{duty=\"%s\"} %d\n", c->duty[i], c->held[i] ? 1 : 0);
    s_counter(b, "remiss_cluster_notifications_total",
              "Notifications of other nodes' commits received.", c->notifications, false);
}

static void
s_render(metrics_t *m, s_buf_t *b)
{
    s_printf(b, "# HELP remiss_messages_accepted_total Messages accepted and stored, by type.\n"
                "# TYPE remiss_messages_accepted_total counter\n");
    for (int t = 1; t < S_NTYPES; t++)
        if (msgtype_name((Remiss__MessageType)t))
            s_printf(b, "remiss_messages_accepted_total{type=\"%s\"} %llu\n",
                     msgtype_name((Remiss__MessageType)t),
                     (unsigned long long)atomic_load(&m->accepted[t]));
    s_printf(b, "# HELP remiss_messages_refused_total Messages refused, by reason code.\n"
                "# TYPE remiss_messages_refused_total counter\n");
    for (int c = 1; c < S_NCODES; c++)
        s_printf(b, "remiss_messages_refused_total{code=\"%s\"} %llu\n",
                 remiss_code_name((remiss_code_t)c),
                 (unsigned long long)atomic_load(&m->refused[c]));
    s_counter(b, "remiss_deliveries_total", "Deliveries handed to recipients (incl. redeliveries).",
              atomic_load(&m->delivered), false);
    s_counter(b, "remiss_acknowledgements_total", "Messages acknowledged by recipients.",
              atomic_load(&m->acked), false);
    s_counter(b, "remiss_auth_refused_total", "Clients refused at the CURVE/ZAP handshake.",
              atomic_load(&m->auth_refused), false);
    s_counter(b, "remiss_connected_parties", "Parties with a receiving connection.",
              atomic_load(&m->connected), true);
    s_counter(b, "remiss_audit_tree_size", "Entries in the audit log.", atomic_load(&m->audit_size),
              true);
    s_counter(b, "remiss_witnesses_configured", "Witnesses the broker submits checkpoints to.",
              atomic_load(&m->wit_n), true);
    s_counter(b, "remiss_witnesses_quorum", "Cosignatures the witness policy asks for.",
              atomic_load(&m->wit_k), true);
    s_counter(b, "remiss_checkpoint_cosignatures", "Witnesses that cosigned the latest checkpoint.",
              atomic_load(&m->wit_cosigned), true);
    s_counter(b, "remiss_checkpoint_size", "Tree size of the latest checkpoint.",
              atomic_load(&m->wit_size), true);
    s_counter(b, "remiss_witness_failures_total",
              "Checkpoint submissions a witness refused or did not answer.",
              atomic_load(&m->wit_failures), false);
    s_printf(b, "# HELP remiss_queue_depth Queued and in-flight messages per recipient.\n"
                "# TYPE remiss_queue_depth gauge\n");
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nqueues; i++)
        s_printf(b, "remiss_queue_depth{recipient=\"%s\"} %llu\n", m->queue_names[i],
                 (unsigned long long)m->queue_depths[i]);
    s_render_cluster(&m->cluster, b);
    pthread_mutex_unlock(&m->lock);
    s_hist_print(b, "remiss_commit_seconds", "Store commit latency per poll cycle.", &m->commit);
    s_hist_print(b, "remiss_verify_seconds", "Envelope signature verification latency.",
                 &m->verify);
    s_render_ops(m, b);
}

/* The CRL's state now: current, stale (past nextUpdate, in its grace),
 * refused (the last reload's file was not usable; the old one is in
 * force) or expired (past the grace: every party is refused). */
static const char *
s_crl_state(metrics_t *m, bool *degraded, bool *failed)
{
    int64_t next = atomic_load(&m->crl_next), now = (int64_t)time(NULL);
    if (next == 0)
        return "unknown";
    if (now >= next + atomic_load(&m->crl_grace))
        return *failed = true, "expired";
    if (atomic_load(&m->crl_refused))
        return *degraded = true, "refused";
    if (now >= next)
        return *degraded = true, "stale";
    return "current";
}

/* "ok", "degraded REASONS" (still 200: it asks an operator, not a
 * restart) or "unhealthy" (503), then the state of each part. */
static void
s_health(metrics_t *m, s_buf_t *b, unsigned *status)
{
    bool store = atomic_load(&m->store_ok), policy = atomic_load(&m->policy_ok);
    bool crl_degraded = false, failed = !store || !policy;
    const char *crl = s_crl_state(m, &crl_degraded, &failed);
    char why[160];
    s_degraded(m, why, sizeof why);
    if (failed)
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    s_printf(b, "%s%s store=%s policy=%s crl=%s witnesses=%llu/%llu quorum=%llu\n",
             failed   ? "unhealthy"
             : why[0] ? "degraded"
                      : "ok",
             failed ? "" : why, store ? "writable" : "failing", policy ? "loaded" : "missing", crl,
             (unsigned long long)atomic_load(&m->wit_cosigned),
             (unsigned long long)atomic_load(&m->wit_n),
             (unsigned long long)atomic_load(&m->wit_k));
}

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    metrics_t *m = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    s_buf_t b = {0};
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        s_printf(&b, "only GET\n");
    } else if (strcmp(url, "/metrics") == 0) {
        s_render(m, &b);
    } else if (strcmp(url, "/healthz") == 0) {
        s_health(m, &b, &status);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        s_printf(&b, "not found: try /metrics or /healthz\n");
    }
    if (!b.data)
        return MHD_NO;
    resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(b.data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            strcmp(url, "/metrics") == 0 ? "text/plain; version=0.0.4"
                                                         : "text/plain; charset=utf-8");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* Counters without a listener (metrics = off): remissctl status reads them. */
static metrics_t *
s_new(remiss_err_t *err)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    atomic_store(&m->ops.reload_ok, true);
    atomic_store(&m->ops.reload_at, (int64_t)time(NULL));
    m->ops.cert_warn_s = 30 * 86400;
    return m;
}

/* The loopback address of "127.0.0.1:PORT" into sin. */
static bool
s_parse_address(const char *address, struct sockaddr_in *sin, remiss_err_t *err)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    memset(sin, 0, sizeof *sin);
    if (!colon || (size_t)(colon - address) >= sizeof host) {
        remiss_err_set(err, REMISS_E_CONFIG, "metrics address must be HOST:PORT");
        return false;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    if (*end || port <= 0 || port > 65535 || inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
        (ntohl(sin->sin_addr.s_addr) >> 24) != 127) {
        remiss_err_set(err, REMISS_E_CONFIG,
                       "metrics must listen on a loopback address such as 127.0.0.1:9474");
        return false;
    }
    return true;
}

metrics_t *
metrics_start(const char *address, remiss_err_t *err)
{
    struct sockaddr_in sin;
    if (address && address[0] && !s_parse_address(address, &sin, err))
        return NULL;
    metrics_t *m = s_new(err);
    if (!m || !address || !address[0])
        return m;
    m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                                 ntohs(sin.sin_port), NULL, NULL, s_answer, m, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!m->daemon) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot listen for metrics on %s", address);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void
metrics_stop(metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->daemon)
        MHD_stop_daemon((*self_p)->daemon);
    pthread_mutex_destroy(&(*self_p)->lock);
    free(*self_p);
    *self_p = NULL;
}

void
metrics_accepted(metrics_t *self, int type)
{
    if (self && type > 0 && type < S_NTYPES)
        atomic_fetch_add(&self->accepted[type], 1);
}

void
metrics_refused(metrics_t *self, remiss_code_t code)
{
    if (self && remiss_code_is_wire((int)code))
        atomic_fetch_add(&self->refused[code], 1);
}

void
metrics_delivered(metrics_t *self)
{
    if (self)
        atomic_fetch_add(&self->delivered, 1);
}

void
metrics_acked(metrics_t *self)
{
    if (self)
        atomic_fetch_add(&self->acked, 1);
}

void
metrics_auth_refused(metrics_t *self)
{
    if (self)
        atomic_fetch_add(&self->auth_refused, 1);
}

static void
s_observe(s_hist_t *h, double seconds)
{
    int i = 0;
    while (i < S_NBUCKETS && seconds > s_bounds[i])
        i++;
    atomic_fetch_add(&h->buckets[i], 1);
    atomic_fetch_add(&h->sum_ns, (uint64_t)(seconds * 1e9));
    atomic_fetch_add(&h->count, 1);
}

void
metrics_commit_seconds(metrics_t *self, double seconds)
{
    if (!self)
        return;
    s_observe(&self->commit, seconds);
    atomic_store(&self->ops.commit_ns, (uint64_t)(seconds * 1e9));
}

void
metrics_verify_seconds(metrics_t *self, double seconds)
{
    if (self)
        s_observe(&self->verify, seconds);
}

void
metrics_set_connected(metrics_t *self, uint64_t parties)
{
    if (self)
        atomic_store(&self->connected, parties);
}

void
metrics_set_cluster(metrics_t *self, const metrics_cluster_t *c)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->cluster = *c;
    pthread_mutex_unlock(&self->lock);
}

void
metrics_set_audit_size(metrics_t *self, uint64_t size)
{
    if (self)
        atomic_store(&self->audit_size, size);
}

void
metrics_set_crl(metrics_t *self, bool reload_ok, int64_t next_update_s, int64_t grace_s)
{
    if (!self)
        return;
    atomic_store(&self->crl_refused, !reload_ok);
    atomic_store(&self->crl_next, next_update_s);
    atomic_store(&self->crl_grace, grace_s);
}

void
metrics_set_health(metrics_t *self, bool store_ok, bool policy_ok)
{
    if (!self)
        return;
    atomic_store(&self->store_ok, store_ok);
    atomic_store(&self->policy_ok, policy_ok);
}

void
metrics_set_queues(metrics_t *self, const char *const *recipients, const uint64_t *depths, size_t n)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->nqueues = 0;
    for (size_t i = 0; i < n && self->nqueues < S_MAX_QUEUES; i++) {
        snprintf(self->queue_names[self->nqueues], sizeof self->queue_names[0], "%s",
                 recipients[i]);
        self->queue_depths[self->nqueues++] = depths[i];
    }
    pthread_mutex_unlock(&self->lock);
}

void
metrics_set_witnesses(metrics_t *self, uint64_t configured, uint64_t quorum, uint64_t cosigned,
                      uint64_t size)
{
    if (!self)
        return;
    atomic_store(&self->wit_n, configured);
    atomic_store(&self->wit_k, quorum);
    atomic_store(&self->wit_cosigned, cosigned);
    atomic_store(&self->wit_size, size);
}

void
metrics_witness_failed(metrics_t *self)
{
    if (self)
        atomic_fetch_add(&self->wit_failures, 1);
}

/* ------------------------------------------------------------ operations */

void
metrics_set_expiry(metrics_t *self, const metrics_cert_t *certs, size_t n, int64_t crl_next_update,
                   int64_t warn_s)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->ops.ncerts = 0;
    for (size_t i = 0; i < n && self->ops.ncerts < S_MAX_CERTS; i++) {
        size_t k = self->ops.ncerts++;
        snprintf(self->ops.certs[k].party, sizeof self->ops.certs[k].party, "%s", certs[i].party);
        snprintf(self->ops.certs[k].kind, sizeof self->ops.certs[k].kind, "%s", certs[i].kind);
        self->ops.certs[k].not_after = certs[i].not_after;
    }
    self->ops.crl_next_update = crl_next_update;
    self->ops.cert_warn_s = warn_s;
    pthread_mutex_unlock(&self->lock);
}

void
metrics_reload(metrics_t *self, bool ok, int64_t when_s)
{
    if (!self)
        return;
    atomic_store(&self->ops.reload_ok, ok);
    atomic_store(&self->ops.reload_at, when_s);
}

void
metrics_set_dead_letters(metrics_t *self, uint64_t n)
{
    if (self)
        atomic_store(&self->ops.dead_letters, n);
}

void
metrics_set_oldest(metrics_t *self, const char *const *recipients, const int64_t *accepted_at,
                   size_t n)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->nqueues; i++) {
        self->ops.oldest_at[i] = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(self->queue_names[i], recipients[j]) == 0)
                self->ops.oldest_at[i] = accepted_at[j];
    }
    pthread_mutex_unlock(&self->lock);
}

void
metrics_sign_failed(metrics_t *self)
{
    if (self)
        atomic_fetch_add(&self->ops.sign_failures, 1);
}

void
metrics_read(metrics_t *self, metrics_counts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!self)
        return;
    for (int t = 0; t < S_NTYPES; t++)
        out->accepted += atomic_load(&self->accepted[t]);
    for (int c = 0; c < S_NCODES; c++)
        out->refused += atomic_load(&self->refused[c]);
    out->delivered = atomic_load(&self->delivered);
    out->acked = atomic_load(&self->acked);
    out->auth_refused = atomic_load(&self->auth_refused);
    out->connected = atomic_load(&self->connected);
    out->dead_letters = atomic_load(&self->ops.dead_letters);
    out->sign_failures = atomic_load(&self->ops.sign_failures);
    out->last_commit_seconds = (double)atomic_load(&self->ops.commit_ns) / 1e9;
}

size_t
metrics_degraded(metrics_t *self, char *out, size_t size)
{
    if (!self || size == 0)
        return 0;
    s_degraded(self, out, size);
    return strlen(out);
}
