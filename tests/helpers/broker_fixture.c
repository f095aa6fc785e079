/* broker_fixture: the broker's modules in the test process. */
#include "broker_fixture.h"

#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "pki.h"
#include "pki_admin.h"

void
bfix_init(bfix_t *f, const char *const *parties, void (*cfg_edit)(broker_config_t *))
{
    remiss_err_t err;
    char path[256];
    uint8_t curve[32], pub[32];
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/remiss-fix-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->pki, sizeof f->pki, "%s/pki", f->dir);
    cr_assert_eq(pki_init(f->pki, &err), REMISS_OK, "%s", err.text);
    for (size_t i = 0; parties && parties[i]; i++) {
        char id[64], *role;
        snprintf(id, sizeof id, "%s", parties[i]);
        cr_assert_not_null(role = strchr(id, ':'));
        *role++ = '\0';
        cr_assert_eq(pki_issue(f->pki, id, role, PKI_KEY_P256, 365, &err), REMISS_OK, "%s",
                     err.text);
    }
    config_defaults(&f->cfg);
    snprintf(f->cfg.pki, sizeof f->cfg.pki, "%s", f->pki);
    snprintf(f->cfg.db, sizeof f->cfg.db, "%s/remiss.db", f->dir);
    snprintf(f->cfg.policy, sizeof f->cfg.policy, "config/stockholm.policy");
    snprintf(f->cfg.listen, sizeof f->cfg.listen, "ipc://%s/broker", f->dir);
    f->cfg.audit = true;
    if (cfg_edit)
        cfg_edit(&f->cfg);
    f->env.cfg = &f->cfg;
    cr_assert_not_null(f->env.parties = parties_load(f->pki, &err), "%s", err.text);
    cr_assert_not_null(f->policy = policy_load(f->cfg.policy, &err), "%s", err.text);
    cr_assert_not_null(f->env.store = store_open(f->cfg.db, &err), "%s", err.text);
    snprintf(path, sizeof path, "%s/broker.secret", f->pki);
    cr_assert_not_null(f->ps = pseudonym_load(path, &err), "%s", err.text);
    snprintf(path, sizeof path, "%s/broker.key", f->pki);
    cr_assert_not_null(f->sign_key = pki_key_load(path, &err), "%s", err.text);
    snprintf(path, sizeof path, "%s/broker.curve", f->pki);
    cr_assert_eq(pki_curve_load(path, curve, pub, &err), REMISS_OK, "%s", err.text);
    cr_assert_not_null(f->env.intake = intake_new_with(f->env.store, f->policy, f->ps));
    cr_assert_not_null(f->env.audit = audit_open_with(f->env.store, f->sign_key, f->ps, &err), "%s",
                       err.text);
    cr_assert_not_null(f->transport = transport_new(&f->env, curve, &err), "%s", err.text);
    cr_assert_not_null(f->cycle = cycle_new(&f->env, f->transport, f->sign_key));
    cr_assert_not_null(f->delivery = delivery_new(&f->env, f->cycle, f->transport));
    cr_assert_not_null(f->admission = admission_new(&f->env, f->cycle, f->delivery));
    cr_assert_not_null(f->zctx = zmq_ctx_new());
    cr_assert_eq(cycle_begin(f->cycle, log_now_ms(), &err), REMISS_OK, "%s", err.text);
}

void
bfix_free(bfix_t *f)
{
    char cmd[128];
    if (cycle_is_open(f->cycle))
        cycle_commit(f->cycle);
    cycle_flush(f->cycle, true);
    admission_destroy(&f->admission);
    delivery_destroy(&f->delivery);
    cycle_destroy(&f->cycle);
    transport_destroy(&f->transport);
    zmq_ctx_term(f->zctx);
    audit_close(&f->env.audit);
    intake_free(&f->env.intake);
    store_close(&f->env.store);
    policy_free(&f->policy);
    parties_free(&f->env.parties);
    pseudonym_free(&f->ps);
    EVP_PKEY_free(f->sign_key);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    cr_assert_eq(system(cmd), 0);
}

void *
bfix_connect(bfix_t *f, const char *party)
{
    char path[256];
    uint8_t sec[32], pub[32], bsec[32], bpub[32];
    remiss_err_t err;
    int zero = 0, wait = 5000;
    snprintf(path, sizeof path, "%s/parties/%s.curve", f->pki, party);
    cr_assert_eq(pki_curve_load(path, sec, pub, &err), REMISS_OK, "%s", err.text);
    snprintf(path, sizeof path, "%s/broker.curve", f->pki);
    cr_assert_eq(pki_curve_load(path, bsec, bpub, &err), REMISS_OK, "%s", err.text);
    void *s = zmq_socket(f->zctx, ZMQ_DEALER);
    cr_assert_not_null(s);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, bpub, 32), 0);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 32), 0);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 32), 0);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    cr_assert_eq(zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait, sizeof wait), 0);
    cr_assert_eq(zmq_connect(s, f->cfg.listen), 0);
    return s;
}

void
bfix_disconnect(void *peer)
{
    zmq_close(peer);
}

static uint8_t *
s_pack_client(const Remiss__ClientFrame *cf, size_t *len)
{
    *len = remiss__client_frame__get_packed_size(cf);
    uint8_t *buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    remiss__client_frame__pack(cf, buf);
    return buf;
}

uint8_t *
bfix_submit(bfix_t *f, const char *party, Remiss__Envelope *env, uint64_t request_id, size_t *len)
{
    char path[256];
    remiss_err_t err;
    uint8_t id[16];
    uint8_t sig[PKI_SIG_MAX];
    size_t siglen = sizeof sig;
    snprintf(path, sizeof path, "%s/parties/%s.key", f->pki, party);
    EVP_PKEY *key = pki_key_load(path, &err);
    cr_assert_not_null(key, "%s", err.text);
    if (!env->sender || !env->sender[0])
        env->sender = strdup(party);
    if (env->message_id.len == 0) {
        cr_assert_eq(RAND_bytes(id, sizeof id), 1);
        env->message_id.data = malloc(16);
        memcpy(env->message_id.data, id, 16);
        env->message_id.len = 16;
    }
    if (env->created_at == 0)
        env->created_at = log_now_ms();
    size_t elen = remiss__envelope__get_packed_size(env);
    uint8_t *ebuf = malloc(elen ? elen : 1);
    remiss__envelope__pack(env, ebuf);
    cr_assert(pki_sign(key, PKI_CTX_ENVELOPE, ebuf, elen, sig, &siglen));
    EVP_PKEY_free(key);
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    se.envelope = (ProtobufCBinaryData){elen, ebuf};
    se.signature = (ProtobufCBinaryData){siglen, sig};
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    cf.request_id = request_id;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBMIT;
    cf.submit = &se;
    uint8_t *out = s_pack_client(&cf, len);
    free(ebuf);
    return out;
}

uint8_t *
bfix_subscribe(uint32_t window, size_t *len)
{
    Remiss__Subscribe sub = REMISS__SUBSCRIBE__INIT;
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    sub.window = window;
    cf.request_id = 1;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBSCRIBE;
    cf.subscribe = &sub;
    return s_pack_client(&cf, len);
}

uint8_t *
bfix_ack(const uint8_t id[16], bool refuse, size_t *len)
{
    Remiss__Ack ack = REMISS__ACK__INIT;
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    ack.message_id = (ProtobufCBinaryData){16, (uint8_t *)id};
    ack.kind = refuse ? REMISS__ACK_KIND__REFUSE : REMISS__ACK_KIND__RECEIVED;
    cf.request_id = 2;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_ACK;
    cf.ack = &ack;
    return s_pack_client(&cf, len);
}

/* The fixture's dispatch (server.c's table without status and proof),
 * one frame at a time (transport_batch_fn). */
static void
s_on_batch(void *ctx, const transport_frame_t *fr, size_t n)
{
    bfix_t *f = ctx;
    const uint8_t *rid = fr->rid, *data = fr->data;
    size_t rid_len = fr->rid_len, len = fr->len;
    broker_req_t q = {.rid = rid, .rid_len = rid_len, .raw = data, .raw_len = len};
    cr_assert_eq(n, 1);
    cr_assert_not(fr->multipart);
    cr_assert_not_null(q.party = parties_by_id(f->env.parties, fr->user), "no party %s", fr->user);
    Remiss__ClientFrame *cf = remiss__client_frame__unpack(NULL, len, data);
    cr_assert_not_null(cf);
    q.request_id = cf->request_id;
    memcpy(f->rid, rid, rid_len);
    f->rid_len = rid_len;
    if (cf->kind_case == REMISS__CLIENT_FRAME__KIND_SUBMIT) {
        cycle_need_durable(f->cycle);
        admission_on_submit(f->admission, &q, cf);
    } else if (cf->kind_case == REMISS__CLIENT_FRAME__KIND_SUBSCRIBE)
        delivery_on_subscribe(f->delivery, &q, cf);
    else if (cf->kind_case == REMISS__CLIENT_FRAME__KIND_ACK)
        delivery_on_ack(f->delivery, &q, cf);
    delivery_settle(f->delivery, NULL, 0);
    remiss__client_frame__free_unpacked(cf, NULL);
}

void
bfix_request(bfix_t *f, void *peer, const uint8_t *frame, size_t len)
{
    cr_assert_eq(zmq_send(peer, frame, len, 0), (int)len);
    for (int i = 0; i < 500; i++) {
        transport_wait(f->transport, 10);
        transport_serve_zap(f->transport);
        if (transport_read_batch(f->transport, 1, s_on_batch, f) == 1)
            return;
    }
    cr_assert_fail("the request did not arrive");
}

remiss_code_t
bfix_cycle(bfix_t *f)
{
    remiss_err_t err;
    remiss_code_t c = REMISS_OK;
    if (cycle_must_commit(f->cycle, log_now_ms(), false)) {
        /* As server.c: what just became durable goes out first, in the
         * next transaction; the receipts follow. */
        c = cycle_commit(f->cycle);
        if (c == REMISS_OK && delivery_has_dirty(f->delivery) &&
            cycle_begin(f->cycle, log_now_ms(), &err) == REMISS_OK)
            delivery_pump_dirty(f->delivery, cycle_since(f->cycle));
    }
    cycle_flush(f->cycle, c == REMISS_OK);
    if (!cycle_is_open(f->cycle))
        cr_assert_eq(cycle_begin(f->cycle, log_now_ms(), &err), REMISS_OK, "%s", err.text);
    return c;
}

void
bfix_sql(bfix_t *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    remiss_err_t err;
    if (cycle_is_open(f->cycle))
        cr_assert_eq(cycle_commit(f->cycle), REMISS_OK);
    cr_assert_eq(sqlite3_open(f->cfg.db, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s", msg ? msg : "");
    sqlite3_close(db);
    cr_assert_eq(cycle_begin(f->cycle, log_now_ms(), &err), REMISS_OK, "%s", err.text);
}

void
bfix_pump(bfix_t *f)
{
    delivery_pump_dirty(f->delivery, log_now_ms());
}

Remiss__BrokerFrame *
bfix_recv_within(void *peer, int timeout_ms)
{
    zmq_pollitem_t item = {peer, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    cr_assert(zmq_msg_recv(&m, peer, 0) >= 0);
    Remiss__BrokerFrame *bf =
        remiss__broker_frame__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    cr_assert_not_null(bf);
    return bf;
}

Remiss__BrokerFrame *
bfix_recv(void *peer)
{
    Remiss__BrokerFrame *bf = bfix_recv_within(peer, 5000);
    cr_assert_not_null(bf, "no reply within 5 s");
    return bf;
}

remiss_code_t
bfix_code(const Remiss__BrokerFrame *bf)
{
    if (bf->kind_case == REMISS__BROKER_FRAME__KIND_RESULT)
        return (remiss_code_t)bf->result->code;
    cr_assert_eq(bf->kind_case, REMISS__BROKER_FRAME__KIND_RECEIPT);
    Remiss__Receipt *r =
        remiss__receipt__unpack(NULL, bf->receipt->receipt.len, bf->receipt->receipt.data);
    cr_assert_not_null(r);
    remiss_code_t code = (remiss_code_t)r->code;
    remiss__receipt__free_unpacked(r, NULL);
    return code;
}
