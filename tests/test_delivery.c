/* Tests for delivery: subscriptions, the in-flight window, acknowledgements,
 * redelivery and dead letters. The broker's modules run in the test
 * process (broker_fixture.h) with real CURVE peers. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker_fixture.h"
#include "harness.h"
#include "log.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};
#define S_SDF "sdf-rinkeby-kista"
#define S_JOB "jobbtorg"

/* Sends frame from peer, ends the cycle and returns the reply. */
static Remiss__BrokerFrame *
s_ask(bfix_t *f, void *peer, uint8_t *frame, const size_t *len)
{
    bfix_request(f, peer, frame, *len);
    free(frame);
    bfix_cycle(f);
    return bfix_recv(peer);
}

static remiss_code_t
s_ask_code(bfix_t *f, void *peer, uint8_t *frame, const size_t *len)
{
    Remiss__BrokerFrame *bf = s_ask(f, peer, frame, len);
    remiss_code_t c = bfix_code(bf);
    remiss__broker_frame__free_unpacked(bf, NULL);
    return c;
}

/* Grants the consent and submits n referrals from sdf; their ids into ids. */
static void
s_send(bfix_t *f, void *sdf, size_t n, uint8_t ids[][16])
{
    size_t len;
    Remiss__Envelope *g =
        harness_grant_envelope("c-test-1", S_SDF, S_JOB, "anvisning", "identity,social");
    cr_assert_eq(s_ask_code(f, sdf, bfix_submit(f, S_SDF, g, 1, &len), &len), REMISS_OK);
    harness_envelope_free(g);
    for (size_t i = 0; i < n; i++) {
        Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
        uint8_t *frame = bfix_submit(f, S_SDF, env, 2, &len);
        memcpy(ids[i], env->message_id.data, 16);
        harness_envelope_free(env);
        cr_assert_eq(s_ask_code(f, sdf, frame, &len), REMISS_OK);
    }
}

/* The delivered message id of a Delivery frame. */
static void
s_delivered(Remiss__BrokerFrame *bf, uint8_t id[16])
{
    cr_assert_eq(bf->kind_case, REMISS__BROKER_FRAME__KIND_DELIVERY);
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, bf->delivery->envelope->envelope.len,
                                                     bf->delivery->envelope->envelope.data);
    cr_assert_not_null(env);
    memcpy(id, env->message_id.data, 16);
    remiss__envelope__free_unpacked(env, NULL);
    remiss__broker_frame__free_unpacked(bf, NULL);
}

static store_state_t
s_state(bfix_t *f, const uint8_t id[16])
{
    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    cr_assert_eq(store_find(f->env.store, id, &found, &m, &err), REMISS_OK);
    cr_assert(found);
    store_state_t st = m.state;
    store_msg_clear(&m);
    return st;
}

static void
s_small(broker_config_t *cfg)
{
    cfg->max_connections = 1;
    cfg->window = 2;
}

Test(delivery, subscriptions_are_counted_and_bounded, .timeout = 60)
{
    bfix_t f;
    size_t len;
    bfix_init(&f, s_parties, s_small);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_not(delivery_is_connected(f.delivery, S_JOB));
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(0, &len), &len), REMISS_OK);
    cr_assert(delivery_is_connected(f.delivery, S_JOB));
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(1000, &len), &len), REMISS_OK,
                 "a window over the bound is cut, not refused");
    cr_assert_eq(delivery_connections(f.delivery), 1, "the same connection subscribed again");
    cr_assert_eq(s_ask_code(&f, sdf, bfix_subscribe(0, &len), &len), REMISS_E_RATE_LIMITED,
                 "max_connections is 1");
    cr_assert_not(delivery_is_connected(f.delivery, S_SDF));
    bfix_disconnect(sdf);
    bfix_disconnect(job);
    bfix_free(&f);
}

/* A window of one: the second message waits for the first one's
 * acknowledgement; then it goes out at once. */
Test(delivery, the_window_holds_back_until_an_ack, .timeout = 60)
{
    bfix_t f;
    size_t len;
    uint8_t ids[2][16], got[16];
    bfix_init(&f, s_parties, NULL);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(1, &len), &len), REMISS_OK);
    s_send(&f, sdf, 2, ids);
    s_delivered(bfix_recv(job), got);
    cr_assert_arr_eq(got, ids[0], 16);
    bfix_pump(&f);
    cr_assert_null(bfix_recv_within(job, 200), "the window is full");
    cr_assert_eq(s_state(&f, ids[1]), STORE_QUEUED);

    /* The acknowledgement's result, and the next message: in this order
     * unless the cycle's commit was due, when what became deliverable goes
     * out first. */
    Remiss__BrokerFrame *bf = s_ask(&f, job, bfix_ack(ids[0], false, &len), &len);
    bool acked = false, delivered = false;
    for (int i = 0; i < 2; i++) {
        if (i == 1) {
            bfix_pump(&f);
            bf = bfix_recv(job);
        }
        if (bf->kind_case == REMISS__BROKER_FRAME__KIND_DELIVERY) {
            s_delivered(bf, got);
            cr_assert_arr_eq(got, ids[1], 16);
            delivered = true;
        } else {
            cr_assert_eq(bfix_code(bf), REMISS_OK);
            remiss__broker_frame__free_unpacked(bf, NULL);
            acked = true;
        }
    }
    cr_assert(acked && delivered);
    cr_assert_eq(s_state(&f, ids[0]), STORE_DONE);
    bfix_disconnect(sdf);
    bfix_disconnect(job);
    bfix_free(&f);
}

/* Acknowledging twice is fine; acknowledging what is not yours is not; a
 * refusal puts the message on the dead-letter list. */
Test(delivery, acks_are_checked, .timeout = 60)
{
    bfix_t f;
    size_t len;
    uint8_t ids[2][16], got[16];
    bfix_init(&f, s_parties, NULL);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(4, &len), &len), REMISS_OK);
    s_send(&f, sdf, 2, ids);
    s_delivered(bfix_recv(job), got);
    s_delivered(bfix_recv(job), got);
    cr_assert_eq(s_ask_code(&f, sdf, bfix_ack(ids[0], false, &len), &len), REMISS_E_MALFORMED,
                 "the sender cannot acknowledge");
    cr_assert_eq(s_ask_code(&f, job, bfix_ack(ids[0], false, &len), &len), REMISS_OK);
    cr_assert_eq(s_ask_code(&f, job, bfix_ack(ids[0], false, &len), &len), REMISS_OK, "twice");
    cr_assert_eq(s_ask_code(&f, job, bfix_ack(ids[1], true, &len), &len), REMISS_OK);
    cr_assert_eq(s_state(&f, ids[1]), STORE_DEAD);
    cr_assert_eq(s_ask_code(&f, job, bfix_ack(ids[1], false, &len), &len), REMISS_E_MALFORMED,
                 "a dead letter cannot be acknowledged as received");
    bfix_disconnect(sdf);
    bfix_disconnect(job);
    bfix_free(&f);
}

static void
s_one_attempt(broker_config_t *cfg)
{
    cfg->max_attempts = 1;
    cfg->redeliver_ms = 1;
}

/* Not acknowledged: delivered again after redeliver_ms, and dead-lettered
 * once max_attempts deliveries went unanswered. */
Test(delivery, unanswered_messages_become_dead_letters, .timeout = 60)
{
    bfix_t f;
    size_t len;
    uint8_t ids[1][16], got[16];
    bfix_init(&f, s_parties, s_one_attempt);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(4, &len), &len), REMISS_OK);
    s_send(&f, sdf, 1, ids);
    s_delivered(bfix_recv(job), got);
    cr_assert_eq(s_state(&f, ids[0]), STORE_SENT);
    uint64_t size = audit_size(f.env.audit);
    usleep(5000);
    delivery_scan(f.delivery);
    bfix_pump(&f);
    cr_assert_eq(s_state(&f, ids[0]), STORE_DEAD);
    cr_assert_eq(audit_size(f.env.audit), size + 1, "the dead letter has its audit entry");
    cr_assert_null(bfix_recv_within(job, 100), "not delivered again");
    bfix_disconnect(sdf);
    bfix_disconnect(job);
    bfix_free(&f);
}

/* A connection that vanished is dropped at the next ping, and what was in
 * flight on it is due again at once. */
Test(delivery, a_vanished_connection_is_dropped, .timeout = 60)
{
    bfix_t f;
    size_t len;
    uint8_t ids[1][16], got[16];
    bfix_init(&f, s_parties, NULL);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(4, &len), &len), REMISS_OK);
    s_send(&f, sdf, 1, ids);
    s_delivered(bfix_recv(job), got);
    bfix_disconnect(job);
    for (int i = 0; i < 500 && delivery_connections(f.delivery) > 0; i++) {
        usleep(10000);
        delivery_ping(f.delivery);
    }
    cr_assert_eq(delivery_connections(f.delivery), 0);
    cr_assert(delivery_has_dirty(f.delivery), "the party is looked at again");
    store_msg_t due[1];
    size_t n = 0;
    remiss_err_t err;
    cr_assert_eq(store_due(f.env.store, S_JOB, log_now_ms(), 1, due, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1, "the message in flight is due again");
    store_msg_clear(&due[0]);
    bfix_disconnect(sdf);
    bfix_free(&f);
}

/* A dead letter that cannot be written is logged and tried again on the
 * next pump: no audit entry for what did not happen, and once the store
 * works the message ends as it should. */
Test(delivery, a_dead_letter_the_store_refuses_is_tried_again, .timeout = 60)
{
    bfix_t f;
    size_t len;
    uint8_t ids[1][16], got[16];
    bfix_init(&f, s_parties, s_one_attempt);
    void *job = bfix_connect(&f, S_JOB), *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_ask_code(&f, job, bfix_subscribe(4, &len), &len), REMISS_OK);
    s_send(&f, sdf, 1, ids);
    s_delivered(bfix_recv(job), got);
    bfix_sql(&f, "CREATE TRIGGER no_dead BEFORE UPDATE OF state ON messages WHEN NEW.state = 4"
                 " BEGIN SELECT RAISE(ABORT, 'the test refuses dead letters'); END;");
    uint64_t size = audit_size(f.env.audit);
    usleep(5000);
    delivery_scan(f.delivery);
    bfix_pump(&f);
    cr_assert_eq(s_state(&f, ids[0]), STORE_SENT);
    cr_assert_eq(audit_size(f.env.audit), size, "no DEAD_LETTERED entry");
    bfix_sql(&f, "DROP TRIGGER no_dead;");
    delivery_scan(f.delivery);
    bfix_pump(&f);
    cr_assert_eq(s_state(&f, ids[0]), STORE_DEAD);
    cr_assert_eq(audit_size(f.env.audit), size + 1);
    bfix_disconnect(sdf);
    bfix_disconnect(job);
    bfix_free(&f);
}
