/* transport: sockets, ZAP, reading and sending (include/transport.h). */
#include "transport.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "pki.h"

#define S_HARD_FACTOR    4  /* frames over max_frame * this drop the connection */
#define S_AUTH_LOG_PER_S 10 /* auth refusals logged per second at most */
#define S_ZAP_PARTS      8  /* frames of a ZAP request kept */

struct transport {
    const broker_env_t *env;  /* registry, audit, metrics (borrowed) */
    void *zctx;               /* ZeroMQ context */
    void *router;             /* parties connect here */
    void *zap;                /* ZAP handler socket (inproc REP) */
    uint8_t curve_secret[32]; /* broker CURVE secret */
    int64_t auth_log_sec;     /* second of the current auth log allowance */
    unsigned auth_logged;     /* auth refusals logged in that second */
    uint64_t auth_suppressed; /* ... and not logged */
};

/* The verdict on one ZAP request. */
typedef struct s_verdict {
    const char *status, *text, *user; /* ZAP reply fields */
    const party_t *party;             /* the key's party, if any */
    char peer[64];                    /* peer address, for the log */
} s_verdict_t;

static remiss_code_t
s_configure(transport_t *self, remiss_err_t *err)
{
    int one = 1, zero = 0;
    int64_t hard = self->env->cfg->max_frame * S_HARD_FACTOR;
    int hwm = 10000;
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
    return REMISS_OK;
}

static remiss_code_t
s_bind(transport_t *self, remiss_err_t *err)
{
    const char *listen = self->env->cfg->listen;
    if (!(self->zctx = zmq_ctx_new()))
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot create the ZeroMQ context");
    self->zap = zmq_socket(self->zctx, ZMQ_REP);
    if (!self->zap || zmq_bind(self->zap, "inproc://zeromq.zap.01") != 0)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot bind the ZAP handler: %s",
                              zmq_strerror(zmq_errno()));
    self->router = zmq_socket(self->zctx, ZMQ_ROUTER);
    if (!self->router)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot create the socket");
    if (s_configure(self, err) != REMISS_OK)
        return REMISS_E_INTERNAL;
    if (zmq_bind(self->router, listen) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot listen on %s: %s", listen,
                              zmq_strerror(zmq_errno()));
    return REMISS_OK;
}

transport_t *
transport_new(const broker_env_t *env, const uint8_t curve_secret[32], remiss_err_t *err)
{
    transport_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    self->env = env;
    memcpy(self->curve_secret, curve_secret, 32);
    if (s_bind(self, err) != REMISS_OK)
        transport_destroy(&self);
    return self;
}

void
transport_destroy(transport_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    transport_t *self = *self_p;
    if (self->router)
        zmq_close(self->router);
    if (self->zap)
        zmq_close(self->zap);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    OPENSSL_cleanse(self->curve_secret, sizeof self->curve_secret);
    free(self);
    *self_p = NULL;
}

int
transport_wait(transport_t *self, long timeout_ms)
{
    return transport_wait_fd(self, timeout_ms, -1);
}

int
transport_wait_fd(transport_t *self, long timeout_ms, int fd)
{
    zmq_pollitem_t items[] = {
        {self->router, 0, ZMQ_POLLIN, 0},
        {self->zap, 0, ZMQ_POLLIN, 0},
        {NULL, fd, ZMQ_POLLIN, 0},
    };
    if (zmq_poll(items, fd >= 0 ? 3 : 2, timeout_ms) < 0 && zmq_errno() != EINTR)
        return -1;
    return 0;
}

int
transport_send(transport_t *self, const uint8_t *rid, size_t rid_len, const uint8_t *data,
               size_t len)
{
    if (zmq_send(self->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno;
    if (zmq_send(self->router, data, len, ZMQ_DONTWAIT) < 0)
        return errno;
    return 0;
}

/* ------------------------------------------------------------ ZAP */

/* Receives one ZAP request into part[]; returns the number of frames, 0
 * for a request of more than S_ZAP_PARTS frames (drained and refused). */
static int
s_zap_recv(transport_t *self, zmq_msg_t part[S_ZAP_PARTS])
{
    int n = 0, more = 1;
    while (more && n < S_ZAP_PARTS) {
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], self->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part[n]);
            break;
        }
        more = zmq_msg_more(&part[n]);
        n++;
    }
    while (more) { /* more than S_ZAP_PARTS frames: drain, then refuse */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, self->zap, 0) < 0)
            more = 0;
        else
            more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
        n = 0;
    }
    return n;
}

/* Admits a CURVE key only if it belongs to an admissible party; the
 * party id becomes the connection's User-Id. */
static void
s_zap_judge(transport_t *self, zmq_msg_t *part, int n, s_verdict_t *v)
{
    *v = (s_verdict_t){.status = "400", .text = "not a federation party", .user = "", .peer = "?"};
    if (n < 7 || zmq_msg_size(&part[5]) != 5 || memcmp(zmq_msg_data(&part[5]), "CURVE", 5) != 0 ||
        zmq_msg_size(&part[6]) != PKI_CURVE_KEYLEN)
        return;
    v->party = parties_by_curve(self->env->parties, zmq_msg_data(&part[6]));
    size_t alen =
        zmq_msg_size(&part[3]) < sizeof v->peer - 1 ? zmq_msg_size(&part[3]) : sizeof v->peer - 1;
    memcpy(v->peer, zmq_msg_data(&part[3]), alen);
    v->peer[alen] = '\0';
    if (v->party && parties_admissible(v->party, log_now_ms() / 1000)) {
        v->status = "200";
        v->text = "OK";
        v->user = v->party->id;
    } else if (v->party) {
        v->text = "certificate revoked or expired";
    }
}

/* Records a refusal: at most S_AUTH_LOG_PER_S lines a second, so a flood
 * of strangers does not flood the journal; the count of the rest is
 * logged when the second is over. */
static void
s_zap_refused(transport_t *self, const s_verdict_t *v)
{
    /* Every line below is stamped with this one reading: the audit append
     * in between can carry the clock into the next second, and a line
     * counted against second N must not appear in N+1. */
    int64_t now = log_now_ms(), sec = now / 1000;
    metrics_auth_refused(self->env->metrics);
    if (sec != self->auth_log_sec) {
        if (self->auth_suppressed) {
            char detail[80];
            log_emit_at(now, LOG_WARN, "auth_refused_suppressed", "count=%llu",
                        (unsigned long long)self->auth_suppressed);
            snprintf(detail, sizeof detail, "%llu more refusals in one second",
                     (unsigned long long)self->auth_suppressed);
            audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_AUTH_REFUSED,
                               .code = REMISS_E_CERT_REVOKED,
                               .detail = detail};
            broker_env_audit(self->env, &e);
        }
        self->auth_log_sec = sec;
        self->auth_logged = 0;
        self->auth_suppressed = 0;
    }
    if (self->auth_logged >= S_AUTH_LOG_PER_S) {
        self->auth_suppressed++;
        return;
    }
    char q[80], detail[160];
    self->auth_logged++;
    snprintf(detail, sizeof detail, "peer=%s reason=%s", v->peer, v->text);
    audit_event_t e = {.event = REMISS__AUDIT_EVENT__EV_AUTH_REFUSED,
                       .sender = v->party ? v->party->id : "",
                       .code = REMISS_E_CERT_REVOKED,
                       .detail = detail};
    broker_env_audit(self->env, &e);
    log_emit_at(now, LOG_WARN, "auth_refused", "peer=%s party=%s reason=%s", v->peer,
                v->party ? v->party->id : "-", log_quote(q, sizeof q, v->text));
}

/* Answers one ZAP request (RFC 27). */
static void
s_on_zap(transport_t *self)
{
    zmq_msg_t part[S_ZAP_PARTS];
    int n = s_zap_recv(self, part);
    s_verdict_t v;
    s_zap_judge(self, part, n, &v);
    if (strcmp(v.status, "200") != 0)
        s_zap_refused(self, &v);
    /* Reply: version, request id, status code, status text, user id, metadata. */
    if (n >= 2) {
        zmq_send(self->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(self->zap, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
        zmq_send(self->zap, v.status, 3, ZMQ_SNDMORE);
        zmq_send(self->zap, v.text, strlen(v.text), ZMQ_SNDMORE);
        zmq_send(self->zap, v.user, strlen(v.user), ZMQ_SNDMORE);
        zmq_send(self->zap, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

void
transport_serve_zap(transport_t *self)
{
    zmq_pollitem_t item = {self->zap, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&item, 1, 0) > 0 && (item.revents & ZMQ_POLLIN))
        s_on_zap(self);
}

/* ------------------------------------------------------------ reading */

/* Receives one request without blocking: its routing id and first frame
 * (the rest, if any, dropped: *extra says so). False when none is waiting
 * (nothing to close); true otherwise, with *ok false for a request that
 * cannot be handled. The caller closes both. */
static bool
s_recv_one(transport_t *self, zmq_msg_t *idm, zmq_msg_t *body, bool *ok, bool *extra)
{
    zmq_msg_init(idm);
    if (zmq_msg_recv(idm, self->router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(idm);
        return false;
    }
    zmq_msg_init(body);
    *ok = zmq_msg_more(idm) && zmq_msg_recv(body, self->router, 0) >= 0;
    *extra = *ok && zmq_msg_more(body);
    while (*ok && zmq_msg_more(body)) { /* one frame per request: drop the rest */
        zmq_msg_close(body);
        zmq_msg_init(body);
        if (zmq_msg_recv(body, self->router, 0) < 0)
            break;
    }
    size_t rid_len = zmq_msg_size(idm);
    *ok = *ok && rid_len > 0 && rid_len <= BROKER_RID_MAX;
    return true;
}

static void
s_frame_of(transport_frame_t *f, zmq_msg_t *idm, zmq_msg_t *body, bool extra)
{
    const char *user = zmq_msg_gets(body, "User-Id");
    *f = (transport_frame_t){.rid = zmq_msg_data(idm),
                             .rid_len = zmq_msg_size(idm),
                             .user = user ? user : "",
                             .data = zmq_msg_data(body),
                             .len = zmq_msg_size(body),
                             .multipart = extra};
}

size_t
transport_read_batch(transport_t *self, size_t max, transport_batch_fn *on_batch, void *ctx)
{
    zmq_msg_t idm[TRANSPORT_BATCH_MAX], body[TRANSPORT_BATCH_MAX];
    transport_frame_t f[TRANSPORT_BATCH_MAX];
    size_t read = 0, n = 0;
    bool ok, extra;
    if (max > TRANSPORT_BATCH_MAX)
        max = TRANSPORT_BATCH_MAX;
    while (read < max && s_recv_one(self, &idm[n], &body[n], &ok, &extra)) {
        read++;
        if (ok) {
            s_frame_of(&f[n], &idm[n], &body[n], extra);
            n++;
        } else {
            zmq_msg_close(&body[n]);
            zmq_msg_close(&idm[n]);
        }
    }
    if (n)
        on_batch(ctx, f, n);
    for (size_t i = 0; i < n; i++) {
        zmq_msg_close(&body[i]);
        zmq_msg_close(&idm[i]);
    }
    return read;
}
