/* libremiss: the agency client library. */
#include "remiss.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "audit_verify.h"
#include "certcache.h"
#include "frameq.h"
#include "inbound.h"
#include "idset.h"
#include "nodes.h"
#include "pki.h"
#include "receipt.h"
#include "remiss_private.h"
#include "seen.h"

#define S_DEFAULT_TIMEOUT  10000
#define S_MAX_FRAME        (64u << 20)
#define S_RESUBSCRIBE_MS   2000
#define S_SILENT_MS        6000                  /* a node this silent is gone (several nodes) */
#define S_STATE_HORIZON_MS (30LL * 86400 * 1000) /* processed ids kept this long */

struct remiss_message {
    Remiss__Delivery *delivery;  /* as received */
    Remiss__Envelope *env;       /* decoded, verified */
    char sender[PKI_ID_MAX + 1]; /* verified sender party */
};

struct remiss_client {
    char party[PKI_ID_MAX + 1];  /* who we are */
    char endpoint[256];          /* the broker, for error sentences */
    void *zctx, *sock, *monitor; /* ZeroMQ context, DEALER, handshake monitor */
    EVP_PKEY *key;               /* our signing key */
    pki_trust_t *trust;          /* CA (+ CRL) */
    EVP_PKEY *broker_pub;        /* verifies receipts and tree heads */
    X509 *broker_cert;           /* owns broker_pub */
    int timeout_ms;
    uint64_t next_request; /* request ids */
    bool subscribed;
    unsigned window;                             /* subscribed window */
    int64_t last_subscribe;                      /* ms, for renewal */
    bool auth_failed;                            /* the broker refused our key */
    frameq_item_t *deliveries, *deliveries_tail; /* deliveries not yet returned */
    frameq_item_t *receipts, *receipts_tail;     /* receipts of pipelined submits */
    idset_t *acked;                              /* acknowledged ids (without a state file) */
    idset_t *handed;                             /* returned to the application, not yet acked */
    seen_t *seen;                                /* acknowledged ids across runs, if state_path */
    certcache_t *certs;                          /* verified sender certificates */
    receipt_seen_t receipts_seen;                /* last receipt batch whose signature held */
    nodes_t *nodes;                              /* the broker's endpoints (several nodes) */
    bool lost;                                   /* the monitor saw the node go away */
    int64_t last_heard;                          /* ms: the last frame from the broker */
};

/* ------------------------------------------------------------ connect */

static remiss_code_t
s_load_broker(remiss_client_t *self, const char *dir, remiss_err_t *err)
{
    char path[4096];
    pki_identity_t id;
    if (!pki_path(path, sizeof path, dir, "broker.crt") ||
        !(self->broker_cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    remiss_err_t why;
    if (pki_verify_cert(self->trust, self->broker_cert, 0, &id, &why) != REMISS_OK ||
        strcmp(id.role, "broker") != 0 || strcmp(id.party, "broker") != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "broker.crt is not a broker certificate of this federation CA (%s)",
                              why.text);
    self->broker_pub = X509_get0_pubkey(self->broker_cert);
    int one = 1;
    return zmq_setsockopt(self->sock, ZMQ_CURVE_SERVERKEY, id.curve_pub, 32) == 0 &&
                   zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one) == 0
               ? REMISS_OK
               : remiss_err_set(err, REMISS_E_INTERNAL, "cannot set the broker key");
}

static remiss_code_t
s_load_self(remiss_client_t *self, const char *dir, remiss_err_t *err)
{
    char path[4096], name[128];
    uint8_t secret[32], pub[32];
    pki_identity_t id;
    X509 *cert = NULL;
    remiss_code_t r = REMISS_E_CONFIG;
    snprintf(name, sizeof name, "parties/%s.crt", self->party);
    if (!pki_path(path, sizeof path, dir, name) || !(cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if (pki_cert_identity(cert, &id, err) != REMISS_OK || strcmp(id.party, self->party) != 0) {
        r = remiss_err_set(err, REMISS_E_CONFIG, "%s does not name party %s", path, self->party);
        goto out;
    }
    snprintf(name, sizeof name, "parties/%s.key", self->party);
    if (!pki_path(path, sizeof path, dir, name) || !(self->key = pki_key_load(path, err)))
        goto out;
    if (X509_check_private_key(cert, self->key) != 1) {
        r = remiss_err_set(err, REMISS_E_CONFIG, "%s does not match the party's certificate", path);
        goto out;
    }
    snprintf(name, sizeof name, "parties/%s.curve", self->party);
    if (!pki_path(path, sizeof path, dir, name) ||
        pki_curve_load(path, secret, pub, err) != REMISS_OK)
        goto out;
    if (memcmp(pub, id.curve_pub, 32) != 0) {
        r = remiss_err_set(err, REMISS_E_CONFIG,
                           "the CURVE key in %s is not the one the certificate binds", path);
        goto out;
    }
    if (zmq_setsockopt(self->sock, ZMQ_CURVE_PUBLICKEY, pub, 32) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_CURVE_SECRETKEY, secret, 32) != 0) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot set the CURVE keys");
        goto out;
    }
    r = REMISS_OK;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    X509_free(cert);
    return r;
}

/* The options of remiss_connect, with a sentence that names the fix. */
static remiss_code_t
s_check_opts(const remiss_opts_t *opts, remiss_err_t *err)
{
    if (!opts || !opts->pki_dir || !opts->party || !opts->endpoint)
        return remiss_err_set(err, REMISS_E_USAGE,
                              "connect needs a PKI directory, a party id and "
                              "the broker's endpoint");
    if (!pki_id_valid(opts->party)) {
        char lower[PKI_ID_MAX + 1];
        size_t n = 0;
        for (; opts->party[n] && n < PKI_ID_MAX; n++)
            lower[n] = (char)(opts->party[n] >= 'A' && opts->party[n] <= 'Z' ? opts->party[n] + 32
                                                                             : opts->party[n]);
        lower[n] = '\0';
        if (pki_id_valid(lower))
            return remiss_err_set(err, REMISS_E_USAGE, "party ids are lower case: write --as %s",
                                  lower);
        return remiss_err_set(err, REMISS_E_USAGE,
                              "a party id is 1 to %d lower-case letters, digits and '-', not "
                              "starting with '-'",
                              PKI_ID_MAX);
    }
    /* One endpoint or a list of nodes (nodes.h). */
    nodes_t *nodes = nodes_parse(opts->endpoint, err);
    if (!nodes)
        return err ? err->code : REMISS_E_USAGE;
    nodes_free(&nodes);
    return REMISS_OK;
}

remiss_client_t *
remiss_connect(const remiss_opts_t *opts, remiss_err_t *err)
{
    char ca[4096], crl[4096], mon[64];
    remiss_client_t *self = NULL;
    if (s_check_opts(opts, err) != REMISS_OK)
        return NULL;
    if (!(self = calloc(1, sizeof *self))) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(self->party, sizeof self->party, "%s", opts->party);
    if (!(self->nodes = nodes_parse(opts->endpoint, err)))
        goto fail;
    snprintf(self->endpoint, sizeof self->endpoint, "%s", nodes_current(self->nodes));
    self->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : S_DEFAULT_TIMEOUT;
    self->next_request = 1;
    if (!pki_path(ca, sizeof ca, opts->pki_dir, "ca.crt") ||
        !pki_path(crl, sizeof crl, opts->pki_dir, "crl.pem") ||
        !(self->trust = pki_trust_load(ca, crl, err)))
        goto fail;
    if (!(self->zctx = zmq_ctx_new()) || !(self->sock = zmq_socket(self->zctx, ZMQ_DEALER))) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot create a ZeroMQ socket");
        goto fail;
    }
    /* Linger so acknowledgements sent just before close still leave. */
    int linger = 2000, maxmsg = (int)S_MAX_FRAME;
    int64_t maxmsg64 = maxmsg;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &maxmsg64, sizeof maxmsg64);
    if (s_load_broker(self, opts->pki_dir, err) != REMISS_OK ||
        s_load_self(self, opts->pki_dir, err) != REMISS_OK)
        goto fail;
    if (!(self->handed = idset_new()) || !(self->acked = idset_new()) ||
        !(self->certs = certcache_new())) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        goto fail;
    }
    if (opts->state_path &&
        !(self->seen = seen_open(opts->state_path, log_now_ms(), S_STATE_HORIZON_MS, err)))
        goto fail;
    /* A monitor tells a refused handshake apart from a silent broker. */
    snprintf(mon, sizeof mon, "inproc://remiss-monitor-%p", (void *)self);
    if (zmq_socket_monitor(self->sock, mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
        !(self->monitor = zmq_socket(self->zctx, ZMQ_PAIR)) ||
        zmq_connect(self->monitor, mon) != 0) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot monitor the connection");
        goto fail;
    }
    if (zmq_connect(self->sock, self->endpoint) != 0) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot connect to %s: %s", self->endpoint,
                       zmq_strerror(zmq_errno()));
        goto fail;
    }
    self->last_heard = log_now_ms();
    return self;
fail:
    remiss_close(&self);
    return NULL;
}

void
remiss_close(remiss_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    remiss_client_t *self = *self_p;
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->sock) {
        zmq_socket_monitor(self->sock, NULL, 0);
        zmq_close(self->sock);
    }
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    frameq_free(self->deliveries);
    frameq_free(self->receipts);
    idset_free(&self->acked);
    idset_free(&self->handed);
    certcache_free(&self->certs);
    seen_close(&self->seen);
    nodes_free(&self->nodes);
    EVP_PKEY_free(self->key);
    X509_free(self->broker_cert);
    pki_trust_free(&self->trust);
    free(self);
    *self_p = NULL;
}

const char *
remiss_party(const remiss_client_t *self)
{
    return self->party;
}

/* ------------------------------------------------------------ frames */

static void s_check_monitor(remiss_client_t *self);
static void s_watch(remiss_client_t *self);

/* Sends one frame, waiting at most the client's timeout for the connection:
 * with ZMQ_IMMEDIATE there is nowhere to queue until the handshake is done,
 * and a refused handshake never will be. */
static remiss_code_t
s_send_bytes(remiss_client_t *self, const void *buf, size_t len, remiss_err_t *err)
{
    int64_t deadline = log_now_ms() + self->timeout_ms;
    for (;;) {
        if (zmq_send(self->sock, buf, len, ZMQ_DONTWAIT) >= 0)
            return REMISS_OK;
        if (zmq_errno() != EAGAIN)
            return remiss_err_set(err, REMISS_E_IO, "cannot send to the broker: %s",
                                  zmq_strerror(zmq_errno()));
        s_check_monitor(self);
        if (self->auth_failed)
            return remiss_err_set(err, REMISS_E_CERT_REVOKED,
                                  "The broker refused this party at the handshake: its "
                                  "certificate is unknown to the broker, revoked or expired.");
        s_watch(self);
        int64_t left = deadline - log_now_ms();
        if (left <= 0)
            return remiss_err_set(err, REMISS_E_TIMEOUT,
                                  "The broker at %s could not be reached within %d ms.",
                                  self->endpoint, self->timeout_ms);
        zmq_pollitem_t it[] = {{self->sock, 0, ZMQ_POLLOUT, 0}, {self->monitor, 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, left > 200 ? 200 : (long)left);
    }
}

static remiss_code_t
s_send_frame(remiss_client_t *self, const Remiss__ClientFrame *cf, remiss_err_t *err)
{
    size_t len = remiss__client_frame__get_packed_size(cf);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    remiss__client_frame__pack(cf, buf);
    remiss_code_t r = s_send_bytes(self, buf, len, err);
    /* With several nodes a submission is kept until its receipt comes, to
     * be sent again on the next node if this one goes away. Kept once sent
     * (to the node in use), so a move while waiting to send does not send
     * it twice. */
    if (r == REMISS_OK && nodes_count(self->nodes) > 1 &&
        cf->kind_case == REMISS__CLIENT_FRAME__KIND_SUBMIT)
        nodes_track(self->nodes, cf->request_id, buf, len);
    free(buf);
    return r;
}

/* True if the monitor frame addr names the endpoint in use. */
static bool
s_is_current(const remiss_client_t *self, zmq_msg_t *addr)
{
    size_t n = zmq_msg_size(addr);
    return n == strlen(self->endpoint) && memcmp(zmq_msg_data(addr), self->endpoint, n) == 0;
}

static void
s_check_monitor(remiss_client_t *self)
{
    zmq_msg_t ev;
    uint16_t event = 0;
    zmq_msg_init(&ev);
    while (zmq_msg_recv(&ev, self->monitor, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_size(&ev) >= 2) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                self->auth_failed = true;
        }
        /* Every event is two frames: the event and the address. A node
         * that went away (or refuses connections) is left for the next
         * when there are several (s_failover); a node left behind still
         * reports on its old endpoint, which is not the one in use. */
        while (zmq_msg_more(&ev) && zmq_msg_recv(&ev, self->monitor, ZMQ_DONTWAIT) >= 0)
            if ((event == ZMQ_EVENT_DISCONNECTED || event == ZMQ_EVENT_CONNECT_RETRIED) &&
                !zmq_msg_more(&ev) && s_is_current(self, &ev))
                self->lost = nodes_count(self->nodes) > 1;
    }
    zmq_msg_close(&ev);
}

/* Moves to the next node: what was sent to the old one and not answered
 * goes again (s_resend), the subscription is renewed there (s_renew). */
static void
s_failover(remiss_client_t *self)
{
    zmq_disconnect(self->sock, self->endpoint);
    snprintf(self->endpoint, sizeof self->endpoint, "%s", nodes_next(self->nodes));
    zmq_connect(self->sock, self->endpoint);
    self->lost = false;
    self->last_heard = log_now_ms();
    self->last_subscribe = 0;
}

/* Sends unanswered requests to the node in use, as far as it takes them
 * without waiting (the rest at the next call). */
static void
s_resend(remiss_client_t *self)
{
    const uint8_t *frame;
    size_t len;
    uint64_t id;
    while ((frame = nodes_unsent(self->nodes, &len, &id)) != NULL &&
           zmq_send(self->sock, frame, len, ZMQ_DONTWAIT) >= 0)
        nodes_sent(self->nodes, id);
}

/* With several nodes: moves on if the node in use went away, or if it
 * owes receipts or deliveries (it pings a subscriber every 5 s) and has
 * been silent for half the timeout, at least S_SILENT_MS. */
static void
s_watch(remiss_client_t *self)
{
    int64_t silent = self->timeout_ms / 2 > S_SILENT_MS ? self->timeout_ms / 2 : S_SILENT_MS;
    if (nodes_count(self->nodes) < 2)
        return;
    s_check_monitor(self);
    if (self->lost || ((nodes_pending(self->nodes) > 0 || self->subscribed) &&
                       log_now_ms() - self->last_heard > silent))
        s_failover(self);
    s_resend(self);
}

/* With several nodes: records that f answers a kept request (nodes.h),
 * and says whether f is a receipt that came before (the request was sent
 * again after a move): that repeat is dropped, the first one counts. */
static bool
s_repeat(remiss_client_t *self, const Remiss__BrokerFrame *f, uint64_t request_id)
{
    return nodes_count(self->nodes) > 1 && f->request_id &&
           !nodes_answered(self->nodes, f->request_id) &&
           f->kind_case == REMISS__BROKER_FRAME__KIND_RECEIPT && f->request_id != request_id;
}

/* Receives frames until one answers request_id (0 = any receipt, for
 * pipelining), queueing deliveries and stray receipts on the way. Returns
 * the answer or NULL with err set (E_TIMEOUT, or the handshake refusal). */
static Remiss__BrokerFrame *
s_wait(remiss_client_t *self, uint64_t request_id, bool want_delivery, int timeout_ms,
       remiss_err_t *err)
{
    int64_t deadline = log_now_ms() + timeout_ms;
    for (;;) {
        if (want_delivery && self->deliveries)
            return frameq_pop(&self->deliveries, &self->deliveries_tail);
        if (!want_delivery && request_id == 0 && self->receipts)
            return frameq_pop(&self->receipts, &self->receipts_tail);
        int64_t left = deadline - log_now_ms();
        if (left <= 0) {
            remiss_err_set(err, REMISS_E_TIMEOUT, "The broker at %s did not answer within %d ms.",
                           self->endpoint, timeout_ms);
            return NULL;
        }
        /* What has arrived is taken without a poll; the handshake monitor
         * is looked at only before waiting (each ZeroMQ call costs system
         * calls). */
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            s_check_monitor(self);
            if (self->auth_failed) {
                remiss_err_set(err, REMISS_E_CERT_REVOKED,
                               "The broker refused this party at the handshake: its "
                               "certificate is unknown to the broker, revoked or expired.");
                return NULL;
            }
            s_watch(self);
            zmq_pollitem_t it[] = {{self->sock, 0, ZMQ_POLLIN, 0},
                                   {self->monitor, 0, ZMQ_POLLIN, 0}};
            zmq_poll(it, 2, left > 200 ? 200 : (long)left);
            continue;
        }
        Remiss__BrokerFrame *f =
            remiss__broker_frame__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        self->last_heard = log_now_ms();
        if (!f)
            continue; /* not from a broker we understand: ignore */
        if (s_repeat(self, f, request_id)) {
            remiss__broker_frame__free_unpacked(f, NULL);
            continue;
        }
        switch (f->kind_case) {
        case REMISS__BROKER_FRAME__KIND_DELIVERY:
            frameq_push(&self->deliveries, &self->deliveries_tail, f);
            continue;
        case REMISS__BROKER_FRAME__KIND__NOT_SET:
            remiss__broker_frame__free_unpacked(f, NULL); /* liveness ping */
            continue;
        default:
            break;
        }
        if (!want_delivery &&
            (f->request_id == request_id || f->request_id == 0 || request_id == 0))
            return f;
        if (f->kind_case == REMISS__BROKER_FRAME__KIND_RECEIPT)
            frameq_push(&self->receipts, &self->receipts_tail, f);
        else
            remiss__broker_frame__free_unpacked(f, NULL);
    }
}

/* ------------------------------------------------------------ sending */

remiss_code_t
remiss_seal(remiss_client_t *self, Remiss__Envelope *env, uint8_t **out, size_t *len,
            remiss_err_t *err)
{
    uint8_t *body = NULL, sig[PKI_SIG_MAX];
    size_t blen, siglen;
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    *out = NULL;
    if (env->message_id.len == 0) {
        if (!(env->message_id.data = malloc(REMISS_ID_LEN)) ||
            RAND_bytes(env->message_id.data, REMISS_ID_LEN) != 1)
            return remiss_err_set(err, REMISS_E_INTERNAL, "no randomness for a message id");
        env->message_id.len = REMISS_ID_LEN;
    }
    if (env->message_id.len != REMISS_ID_LEN)
        return remiss_err_set(err, REMISS_E_MALFORMED, "a message id is 16 bytes");
    if (!env->sender || strcmp(env->sender, self->party) != 0) {
        /* The caller may have left it empty (or a static string); we own a copy. */
        char *copy = strdup(self->party);
        if (!copy)
            return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        if (env->sender && env->sender != protobuf_c_empty_string)
            free(env->sender);
        env->sender = copy;
    }
    if (env->created_at == 0)
        env->created_at = log_now_ms();
    blen = remiss__envelope__get_packed_size(env);
    if (!(body = malloc(blen ? blen : 1)))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    remiss__envelope__pack(env, body);
    if (!pki_sign(self->key, PKI_CTX_ENVELOPE, body, blen, sig, &siglen)) {
        free(body);
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot sign the message");
    }
    se.envelope.data = body;
    se.envelope.len = blen;
    se.signature.data = sig;
    se.signature.len = siglen;
    *len = remiss__signed_envelope__get_packed_size(&se);
    if ((*out = malloc(*len)))
        remiss__signed_envelope__pack(&se, *out);
    free(body);
    return *out ? REMISS_OK : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
}

/* Submits SignedEnvelope bytes in a frame with a fresh request id. */
static remiss_code_t
s_submit_raw(remiss_client_t *self, const uint8_t *signed_env, size_t len, uint64_t *request_id,
             remiss_err_t *err)
{
    Remiss__SignedEnvelope *se = remiss__signed_envelope__unpack(NULL, len, signed_env);
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    if (!se)
        return remiss_err_set(err, REMISS_E_MALFORMED, "not a signed envelope");
    cf.request_id = *request_id = self->next_request++;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBMIT;
    cf.submit = se;
    remiss_code_t r = s_send_frame(self, &cf, err);
    remiss__signed_envelope__free_unpacked(se, NULL);
    return r;
}

/* A reason code from the wire; anything outside the enum is an internal
 * error, never trusted as another code. */
static remiss_code_t
s_wire_code(int value)
{
    return remiss_code_is_wire(value) ? (remiss_code_t)value : REMISS_E_INTERNAL;
}

/* The code of a broker Result; err gets its sentence when it is not OK. */
static remiss_code_t
s_result_code(const Remiss__Result *res, remiss_err_t *err)
{
    remiss_code_t r = s_wire_code(res->code);
    if (r != REMISS_OK)
        remiss_err_set(err, r, "%s", res->sentence);
    return r;
}

/* Verifies a receipt frame and fills rc. */
static remiss_code_t
s_receipt(remiss_client_t *self, const Remiss__BrokerFrame *f, remiss_receipt_t *rc,
          remiss_err_t *err)
{
    memset(rc, 0, sizeof *rc);
    if (f->kind_case == REMISS__BROKER_FRAME__KIND_RESULT && f->result) {
        /* A result instead of a receipt: the broker answered outside intake. */
        rc->code = s_wire_code(f->result->code);
        snprintf(rc->sentence, sizeof rc->sentence, "%s", f->result->sentence);
        return remiss_err_set(err, rc->code, "%s", rc->sentence);
    }
    if (f->kind_case != REMISS__BROKER_FRAME__KIND_RECEIPT || !f->receipt)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the broker sent no receipt");
    const Remiss__SignedReceipt *sr = f->receipt;
    if (!receipt_verify(self->broker_pub, sr, &self->receipts_seen))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "The receipt does not carry a valid broker signature.");
    Remiss__Receipt *r = remiss__receipt__unpack(NULL, sr->receipt.len, sr->receipt.data);
    if (!r)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the receipt could not be decoded");
    if (r->message_id.len == REMISS_ID_LEN)
        memcpy(rc->message_id, r->message_id.data, REMISS_ID_LEN);
    rc->code = s_wire_code(r->code);
    snprintf(rc->sentence, sizeof rc->sentence, "%s", r->sentence ? r->sentence : "");
    rc->audit_index = r->audit_index;
    rc->broker_time = r->broker_time;
    remiss__receipt__free_unpacked(r, NULL);
    rc->signed_len = remiss__signed_receipt__get_packed_size(sr);
    if ((rc->signed_receipt = malloc(rc->signed_len)))
        remiss__signed_receipt__pack(sr, rc->signed_receipt);
    if (rc->code != REMISS_OK)
        return remiss_err_set(err, rc->code, "%s", rc->sentence);
    return REMISS_OK;
}

void
remiss_receipt_clear(remiss_receipt_t *rc)
{
    if (!rc)
        return;
    free(rc->signed_receipt);
    memset(rc, 0, sizeof *rc);
}

remiss_code_t
remiss_send_raw(remiss_client_t *self, const uint8_t *signed_env, size_t len, remiss_receipt_t *rc,
                remiss_err_t *err)
{
    uint64_t req;
    memset(rc, 0, sizeof *rc);
    remiss_code_t r = s_submit_raw(self, signed_env, len, &req, err);
    if (r != REMISS_OK)
        return r;
    Remiss__BrokerFrame *f = s_wait(self, req, false, self->timeout_ms, err);
    if (!f)
        return err ? err->code : REMISS_E_TIMEOUT;
    r = s_receipt(self, f, rc, err);
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

remiss_code_t
remiss_send(remiss_client_t *self, Remiss__Envelope *env, remiss_receipt_t *rc, remiss_err_t *err)
{
    uint8_t *sealed = NULL;
    size_t len;
    memset(rc, 0, sizeof *rc);
    remiss_code_t r = remiss_seal(self, env, &sealed, &len, err);
    if (r == REMISS_OK)
        r = remiss_send_raw(self, sealed, len, rc, err);
    free(sealed);
    return r;
}

remiss_code_t
remiss_submit(remiss_client_t *self, Remiss__Envelope *env, uint8_t id[REMISS_ID_LEN],
              remiss_err_t *err)
{
    uint8_t *sealed = NULL;
    size_t len;
    uint64_t req;
    remiss_code_t r = remiss_seal(self, env, &sealed, &len, err);
    if (r == REMISS_OK) {
        memcpy(id, env->message_id.data, REMISS_ID_LEN);
        r = s_submit_raw(self, sealed, len, &req, err);
    }
    free(sealed);
    return r;
}

remiss_code_t
remiss_next_receipt(remiss_client_t *self, int timeout_ms, remiss_receipt_t *rc, remiss_err_t *err)
{
    memset(rc, 0, sizeof *rc);
    Remiss__BrokerFrame *f = s_wait(self, 0, false, timeout_ms, err);
    if (!f)
        return err ? err->code : REMISS_E_TIMEOUT;
    remiss_code_t r = s_receipt(self, f, rc, err);
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

/* ------------------------------------------------------------ receiving */

/* Sends a request and waits for its Result. */
static remiss_code_t
s_request_result(remiss_client_t *self, Remiss__ClientFrame *cf, remiss_err_t *err)
{
    cf->request_id = self->next_request++;
    remiss_code_t r = s_send_frame(self, cf, err);
    if (r != REMISS_OK)
        return r;
    Remiss__BrokerFrame *f = s_wait(self, cf->request_id, false, self->timeout_ms, err);
    if (!f)
        return err ? err->code : REMISS_E_TIMEOUT;
    if (f->kind_case == REMISS__BROKER_FRAME__KIND_RESULT && f->result) {
        r = s_result_code(f->result, err);
    } else {
        remiss_receipt_t rc;
        r = s_receipt(self, f, &rc, err); /* a refusal comes as a receipt */
        remiss_receipt_clear(&rc);
        if (r == REMISS_OK)
            r = remiss_err_set(err, REMISS_E_MALFORMED, "unexpected answer from the broker");
    }
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

remiss_code_t
remiss_subscribe(remiss_client_t *self, unsigned window, remiss_err_t *err)
{
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__Subscribe sub = REMISS__SUBSCRIBE__INIT;
    sub.window = window;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBSCRIBE;
    cf.subscribe = &sub;
    remiss_code_t r = s_request_result(self, &cf, err);
    if (r == REMISS_OK) {
        self->subscribed = true;
        self->window = window;
        self->last_subscribe = log_now_ms();
    }
    return r;
}

/* True if the application has processed id (in this run or, with a state
 * file, an earlier one). */
static bool
s_processed(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN])
{
    return self->seen ? seen_has(self->seen, id) : idset_has(self->acked, id);
}

/* Remembers an id as processed: in the state file if kept (durably, so a
 * crash after this never hands the message out again), else in memory. */
static remiss_code_t
s_remember(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], remiss_err_t *err)
{
    idset_del(self->handed, id);
    if (self->seen)
        return seen_add(self->seen, id, log_now_ms(), err);
    return idset_add(self->acked, id) ? REMISS_OK
                                      : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
}

static remiss_code_t
s_ack(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], Remiss__AckKind kind,
      const char *reason, bool wait, remiss_err_t *err)
{
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__Ack ack = REMISS__ACK__INIT;
    ack.message_id.data = (uint8_t *)id;
    ack.message_id.len = REMISS_ID_LEN;
    ack.kind = kind;
    ack.reason = (char *)(reason ? reason : "");
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_ACK;
    cf.ack = &ack;
    /* Only an acknowledgement marks a message processed. A refused message
     * was not processed: an operator may requeue it, and the redelivery
     * must reach the application (issue 12, bug 1). */
    bool processed = kind == REMISS__ACK_KIND__RECEIVED;
    if (!wait) {
        idset_del(self->handed, id);
        remiss_code_t kept = processed ? s_remember(self, id, err) : REMISS_OK;
        if (kept != REMISS_OK)
            return kept;
        cf.request_id = self->next_request++;
        return s_send_frame(self, &cf, err); /* the Result is dropped when it comes */
    }
    remiss_code_t r = s_request_result(self, &cf, err);
    /* The id and kind are well formed, so the broker's E_MALFORMED can only
     * mean it knows no such message waiting for this party. */
    if (r == REMISS_E_MALFORMED)
        r = remiss_err_set(err, REMISS_E_UNKNOWN_MESSAGE,
                           "No message with this id is waiting for this party's answer.");
    if (r == REMISS_OK)
        idset_del(self->handed, id);
    if (r == REMISS_OK && processed)
        r = s_remember(self, id, err);
    return r;
}

remiss_code_t
remiss_ack(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], remiss_err_t *err)
{
    return s_ack(self, id, REMISS__ACK_KIND__RECEIVED, NULL, false, err);
}

remiss_code_t
remiss_ack_sync(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], remiss_err_t *err)
{
    return s_ack(self, id, REMISS__ACK_KIND__RECEIVED, NULL, true, err);
}

remiss_code_t
remiss_refuse(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], const char *reason,
              remiss_err_t *err)
{
    return s_ack(self, id, REMISS__ACK_KIND__REFUSE, reason, true, err);
}

/* inbound_take with this client's trust, cache and party, now. */
static remiss_code_t
s_take(remiss_client_t *self, const Remiss__Delivery *d, Remiss__Envelope **env,
       char sender[PKI_ID_MAX + 1], uint8_t refuse_id[REMISS_ID_LEN], bool *refuse,
       remiss_err_t *why)
{
    inbound_check_t dc = {self->trust, self->certs, self->party, log_now_ms()};
    return inbound_take(&dc, d, env, sender, refuse_id, refuse, why);
}

/* A restarted broker has forgotten this subscription: renew it while idle
 * (the broker treats a renewal as a no-op). */
static void
s_renew(remiss_client_t *self, int64_t now)
{
    if (now - self->last_subscribe < S_RESUBSCRIBE_MS)
        return;
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__Subscribe sub = REMISS__SUBSCRIBE__INIT;
    sub.window = self->window;
    cf.request_id = self->next_request++;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBSCRIBE;
    cf.subscribe = &sub;
    remiss_err_t ignored;
    s_send_frame(self, &cf, &ignored);
    self->last_subscribe = now;
}

/* Makes a message of a verified delivery frame (taking its delivery). */
static remiss_code_t
s_hand_out(remiss_client_t *self, Remiss__BrokerFrame *f, Remiss__Envelope *env, const char *sender,
           remiss_message_t **out, remiss_err_t *err)
{
    remiss_message_t *m = calloc(1, sizeof *m);
    if (!m || !idset_add(self->handed, env->message_id.data)) {
        free(m);
        remiss__envelope__free_unpacked(env, NULL);
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    }
    m->env = env;
    snprintf(m->sender, sizeof m->sender, "%s", sender);
    /* Keep the delivery; detach it from the frame so one free suffices. */
    m->delivery = f->delivery;
    f->delivery = NULL;
    f->kind_case = REMISS__BROKER_FRAME__KIND__NOT_SET;
    *out = m;
    return REMISS_OK;
}

/* What a delivery frame becomes: a message for the application (*out), or
 * nothing (*out NULL) when it does not verify (refused back to the broker),
 * was processed before (acknowledged again, quietly) or is still held by
 * the application. Frees f. */
static remiss_code_t
s_sort(remiss_client_t *self, Remiss__BrokerFrame *f, remiss_message_t **out, remiss_err_t *err)
{
    Remiss__Envelope *env = NULL;
    char sender[PKI_ID_MAX + 1];
    uint8_t refuse_id[REMISS_ID_LEN];
    bool refuse;
    remiss_err_t why, ignored;
    remiss_code_t r = REMISS_OK;
    *out = NULL;
    if (s_take(self, f->delivery, &env, sender, refuse_id, &refuse, &why) != REMISS_OK) {
        /* Never hand out what does not verify; tell the broker why. */
        if (refuse)
            s_ack(self, refuse_id, REMISS__ACK_KIND__REFUSE, why.text, false, NULL);
    } else if (s_processed(self, env->message_id.data)) {
        /* Processed before: the ack was lost; say it again. */
        s_ack(self, env->message_id.data, REMISS__ACK_KIND__RECEIVED, NULL, false, &ignored);
    } else if (!idset_has(self->handed, env->message_id.data)) {
        r = s_hand_out(self, f, env, sender, out, err);
        env = NULL;
    }
    remiss__envelope__free_unpacked(env, NULL);
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

remiss_code_t
remiss_recv(remiss_client_t *self, int timeout_ms, remiss_message_t **out, remiss_err_t *err)
{
    *out = NULL;
    if (!self->subscribed) {
        remiss_code_t r = remiss_subscribe(self, 0, err);
        if (r != REMISS_OK)
            return r;
    }
    int64_t deadline = log_now_ms() + timeout_ms;
    for (;;) {
        int64_t now = log_now_ms(), left = deadline - now;
        s_renew(self, now);
        if (left > S_RESUBSCRIBE_MS)
            left = S_RESUBSCRIBE_MS;
        Remiss__BrokerFrame *f = s_wait(self, 0, true, left > 0 ? (int)left : 0, err);
        if (!f && err && err->code == REMISS_E_TIMEOUT && log_now_ms() < deadline)
            continue;
        if (!f)
            return err ? err->code : REMISS_E_TIMEOUT;
        remiss_code_t r = s_sort(self, f, out, err);
        if (r != REMISS_OK || *out)
            return r;
    }
}

const Remiss__Envelope *
remiss_message_envelope(const remiss_message_t *m)
{
    return m->env;
}

const uint8_t *
remiss_message_id(const remiss_message_t *m)
{
    return m->env->message_id.data;
}

const char *
remiss_message_sender(const remiss_message_t *m)
{
    return m->sender;
}

int64_t
remiss_message_accepted_at(const remiss_message_t *m)
{
    return m->delivery ? m->delivery->accepted_at : 0;
}

uint32_t
remiss_message_attempt(const remiss_message_t *m)
{
    return m->delivery ? m->delivery->attempt : 0;
}

void
remiss_message_free(remiss_message_t **m_p)
{
    if (!m_p || !*m_p)
        return;
    remiss__envelope__free_unpacked((*m_p)->env, NULL);
    remiss__delivery__free_unpacked((*m_p)->delivery, NULL);
    free(*m_p);
    *m_p = NULL;
}

/* ------------------------------------------------------------ queries */

remiss_code_t
remiss_status(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], Remiss__StatusReply **out,
              remiss_err_t *err)
{
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__StatusQuery q = REMISS__STATUS_QUERY__INIT;
    *out = NULL;
    q.message_id.data = (uint8_t *)id;
    q.message_id.len = REMISS_ID_LEN;
    cf.request_id = self->next_request++;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_STATUS;
    cf.status = &q;
    remiss_code_t r = s_send_frame(self, &cf, err);
    if (r != REMISS_OK)
        return r;
    Remiss__BrokerFrame *f = s_wait(self, cf.request_id, false, self->timeout_ms, err);
    if (!f)
        return err ? err->code : REMISS_E_TIMEOUT;
    if (f->kind_case == REMISS__BROKER_FRAME__KIND_STATUS && f->status) {
        *out = f->status;
        f->status = NULL;
        f->kind_case = REMISS__BROKER_FRAME__KIND__NOT_SET;
        r = REMISS_OK;
    } else if (f->kind_case == REMISS__BROKER_FRAME__KIND_RESULT && f->result) {
        r = s_result_code(f->result, err);
    } else {
        remiss_receipt_t rc;
        r = s_receipt(self, f, &rc, err);
        remiss_receipt_clear(&rc);
        if (r == REMISS_OK)
            r = remiss_err_set(err, REMISS_E_MALFORMED, "unexpected answer from the broker");
    }
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

remiss_code_t
remiss_proof(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], uint64_t consistency_from,
             Remiss__ProofReply **out, remiss_err_t *err)
{
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__ProofQuery q = REMISS__PROOF_QUERY__INIT;
    *out = NULL;
    q.message_id.data = (uint8_t *)id;
    q.message_id.len = REMISS_ID_LEN;
    q.consistency_from = consistency_from;
    cf.request_id = self->next_request++;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_PROOF;
    cf.proof = &q;
    remiss_code_t r = s_send_frame(self, &cf, err);
    if (r != REMISS_OK)
        return r;
    Remiss__BrokerFrame *f = s_wait(self, cf.request_id, false, self->timeout_ms, err);
    if (!f)
        return err ? err->code : REMISS_E_TIMEOUT;
    if (f->kind_case == REMISS__BROKER_FRAME__KIND_PROOF && f->proof) {
        Remiss__ProofReply *pr = f->proof;
        /* The broker answers an unknown id and another party's message
         * alike, on purpose: to this party both are unknown. */
        if (pr->code == REMISS__REASON_CODE__E_POLICY_DENIED)
            r = remiss_err_set(err, REMISS_E_UNKNOWN_MESSAGE, NULL);
        else if (pr->code != REMISS__REASON_CODE__OK)
            r = remiss_err_set(err, s_wire_code(pr->code), "%s",
                               pr->sentence ? pr->sentence : "no proof");
        /* Never take the broker's word: the tree head must carry its
         * signature and the entry must be in that tree and name our id. */
        else
            r = audit_verify_proof(pr, self->broker_pub, id, NULL, err);
        if (r == REMISS_OK) {
            *out = pr;
            f->proof = NULL;
            f->kind_case = REMISS__BROKER_FRAME__KIND__NOT_SET;
        }
    } else if (f->kind_case == REMISS__BROKER_FRAME__KIND_RESULT && f->result) {
        r = s_result_code(f->result, err);
    } else {
        r = remiss_err_set(err, REMISS_E_MALFORMED, "unexpected answer from the broker");
    }
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

remiss_code_t
remiss_raw_request(remiss_client_t *self, const uint8_t *frame, size_t len, uint8_t **reply,
                   size_t *reply_len, remiss_err_t *err)
{
    *reply = NULL;
    *reply_len = 0;
    remiss_code_t r = s_send_bytes(self, frame, len, err);
    if (r != REMISS_OK)
        return r;
    int64_t deadline = log_now_ms() + self->timeout_ms;
    for (;;) {
        s_check_monitor(self);
        if (self->auth_failed)
            return remiss_err_set(err, REMISS_E_CERT_REVOKED, "refused at the handshake");
        int64_t left = deadline - log_now_ms();
        if (left <= 0)
            return remiss_err_set(err, REMISS_E_TIMEOUT, NULL);
        zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, left > 200 ? 200 : (long)left) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, self->sock, 0) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        size_t n = zmq_msg_size(&msg);
        Remiss__BrokerFrame *f = remiss__broker_frame__unpack(NULL, n, zmq_msg_data(&msg));
        bool skip = !f || f->kind_case == REMISS__BROKER_FRAME__KIND__NOT_SET ||
                    f->kind_case == REMISS__BROKER_FRAME__KIND_DELIVERY;
        remiss__broker_frame__free_unpacked(f, NULL);
        if (!skip && (*reply = malloc(n ? n : 1))) {
            memcpy(*reply, zmq_msg_data(&msg), n);
            *reply_len = n;
        }
        zmq_msg_close(&msg);
        if (!skip)
            return *reply ? REMISS_OK : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    }
}

/* ------------------------------------------------------------ private */

remiss_code_t
remiss_private_check_frame(remiss_client_t *self, const uint8_t *frame, size_t len,
                           remiss_err_t *err)
{
    /* As s_wait decodes what the socket hands it. */
    Remiss__BrokerFrame *f = remiss__broker_frame__unpack(NULL, len, frame);
    remiss_code_t r = REMISS_OK;
    if (!f)
        return remiss_err_set(err, REMISS_E_MALFORMED, "not a broker frame");
    switch (f->kind_case) {
    case REMISS__BROKER_FRAME__KIND__NOT_SET: /* liveness ping */
        break;
    case REMISS__BROKER_FRAME__KIND_DELIVERY: {
        Remiss__Envelope *env = NULL;
        char sender[PKI_ID_MAX + 1];
        uint8_t refuse_id[REMISS_ID_LEN];
        bool refuse;
        r = s_take(self, f->delivery, &env, sender, refuse_id, &refuse, err);
        if (r == REMISS_OK)
            (void)(s_processed(self, env->message_id.data) ||
                   idset_has(self->handed, env->message_id.data));
        remiss__envelope__free_unpacked(env, NULL);
        break;
    }
    case REMISS__BROKER_FRAME__KIND_STATUS: /* remiss_status hands it over as it is */
        break;
    default: {
        /* Receipts and results, as remiss_send_raw and s_request_result read them. */
        remiss_receipt_t rc;
        r = s_receipt(self, f, &rc, err);
        remiss_receipt_clear(&rc);
        break;
    }
    }
    remiss__broker_frame__free_unpacked(f, NULL);
    return r;
}

/* ------------------------------------------------------------ version */

const char *
remiss_version(void)
{
    return REMISS_VERSION;
}

const Remiss__Delivery *
remiss_private_delivery(const remiss_message_t *m)
{
    return m ? m->delivery : NULL;
}
