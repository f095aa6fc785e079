/* Tests for cycle: the transaction of a poll cycle, the reply queue, when a
 * reply waits for the commit, and the receipts sealed after it. The
 * broker's modules run in the test process (broker_fixture.h). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"
#include "log.h"
#include "pki.h"
#include "receipt.h"
#include "receipts.h"

static const char *const s_parties[] = {"jobbtorg:jobbtorg", NULL};

/* A connected peer whose routing id the fixture knows (it subscribed). */
static void *
s_peer(bfix_t *f)
{
    size_t len;
    void *peer = bfix_connect(f, "jobbtorg");
    uint8_t *frame = bfix_subscribe(4, &len);
    bfix_request(f, peer, frame, len);
    free(frame);
    bfix_cycle(f);
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    cr_assert_eq(bfix_code(bf), REMISS_OK);
    remiss__broker_frame__free_unpacked(bf, NULL);
    return peer;
}

static EVP_PKEY *
s_broker_pub(bfix_t *f)
{
    char path[256];
    snprintf(path, sizeof path, "%s/broker.crt", f->pki);
    X509 *crt = pki_cert_load(path, NULL);
    cr_assert_not_null(crt);
    EVP_PKEY *pub = X509_get_pubkey(crt);
    X509_free(crt);
    return pub;
}

/* A result needs no commit: it leaves with the next flush. */
Test(cycle, a_result_leaves_without_a_commit, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *peer = s_peer(&f);
    cycle_reply_result(f.cycle, f.rid, f.rid_len, 7, NULL, 0, REMISS_OK, "fine");
    cr_assert_eq(cycle_replies(f.cycle), 1);
    cr_assert_not(cycle_needs_durable(f.cycle));
    cr_assert_not(cycle_must_commit(f.cycle, cycle_since(f.cycle), false));
    cr_assert(cycle_must_commit(f.cycle, cycle_since(f.cycle), true), "stopping commits");
    cycle_flush(f.cycle, true);
    cr_assert(cycle_is_open(f.cycle), "the transaction spans the flush");
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    cr_assert_eq(bf->request_id, 7);
    cr_assert_eq(bfix_code(bf), REMISS_OK);
    remiss__broker_frame__free_unpacked(bf, NULL);
    cr_assert_eq(cycle_replies(f.cycle), 0);
    bfix_disconnect(peer);
    bfix_free(&f);
}

/* A receipt, or a request the dispatch table declares durable, makes the
 * cycle commit before its replies leave. */
Test(cycle, receipts_and_durable_requests_wait_for_the_commit, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *peer = s_peer(&f);
    int64_t t = cycle_since(f.cycle);
    cycle_need_durable(f.cycle);
    cr_assert(cycle_must_commit(f.cycle, t, false));
    cycle_flush(f.cycle, true);
    cr_assert_not(cycle_needs_durable(f.cycle), "a flush ends the cycle's durability");

    cycle_reply_receipt(f.cycle, f.rid, f.rid_len, 8, NULL, REMISS_OK, NULL, NULL, "jobbtorg",
                        NULL);
    cr_assert(cycle_needs_durable(f.cycle));
    cr_assert(cycle_must_commit(f.cycle, t, false));
    cr_assert_eq(bfix_cycle(&f), REMISS_OK);
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    cr_assert_eq(bf->kind_case, REMISS__BROKER_FRAME__KIND_RECEIPT);
    cr_assert_eq(bf->request_id, 8);
    remiss__broker_frame__free_unpacked(bf, NULL);
    bfix_disconnect(peer);
    bfix_free(&f);
}

/* An open transaction bounds the loop's wait, and commits once it is
 * CYCLE_TX_MAX_MS old even without a durable reply. */
Test(cycle, the_transaction_lasts_at_most_tx_max, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    int64_t t = cycle_since(f.cycle);
    cr_assert(cycle_is_open(f.cycle));
    cr_assert_eq(cycle_wait_ms(f.cycle, t, 100), CYCLE_TX_MAX_MS);
    cr_assert_eq(cycle_wait_ms(f.cycle, t + 30, 100), CYCLE_TX_MAX_MS - 30);
    cr_assert_eq(cycle_wait_ms(f.cycle, t + 500, 100), 0);
    cr_assert_eq(cycle_wait_ms(f.cycle, t, 0), 0);
    cr_assert_not(cycle_must_commit(f.cycle, t + CYCLE_TX_MAX_MS - 1, false));
    cr_assert(cycle_must_commit(f.cycle, t + CYCLE_TX_MAX_MS, false));
    cr_assert_eq(cycle_commit(f.cycle), REMISS_OK);
    cr_assert_not(cycle_is_open(f.cycle));
    cr_assert_eq(cycle_wait_ms(f.cycle, t + 500, 100), 100, "no transaction, no bound");
    bfix_free(&f);
}

/* The receipts of one commit share one signed batch head, and each one
 * verifies with the broker's certificate alone. */
Test(cycle, one_signature_per_commit, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *peer = s_peer(&f);
    EVP_PKEY *pub = s_broker_pub(&f);
    for (uint64_t i = 0; i < 3; i++)
        cycle_reply_receipt(f.cycle, f.rid, f.rid_len, 10 + i, NULL, REMISS_OK, NULL, NULL,
                            "jobbtorg", NULL);
    cr_assert_eq(bfix_cycle(&f), REMISS_OK);
    uint8_t head[RECEIPT_HEAD_MAX];
    size_t head_len = 0;
    for (uint64_t i = 0; i < 3; i++) {
        Remiss__BrokerFrame *bf = bfix_recv(peer);
        cr_assert_eq(bf->request_id, 10 + i, "replies keep their order");
        cr_assert(receipt_verify(pub, bf->receipt, NULL));
        cr_assert_eq(bf->receipt->batch_index, i);
        if (i == 0) {
            head_len = bf->receipt->batch.len;
            memcpy(head, bf->receipt->batch.data, head_len);
        }
        cr_assert_eq(bf->receipt->batch.len, head_len);
        cr_assert_arr_eq(bf->receipt->batch.data, head, head_len);
        remiss__broker_frame__free_unpacked(bf, NULL);
    }
    EVP_PKEY_free(pub);
    bfix_disconnect(peer);
    bfix_free(&f);
}

/* After a failed commit nothing of the cycle was kept: every receipt is
 * remade as E_STORAGE (and still signed). */
Test(cycle, receipts_after_a_failed_commit_say_storage, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *peer = s_peer(&f);
    EVP_PKEY *pub = s_broker_pub(&f);
    uint8_t id[16] = {1, 2, 3};
    cycle_reply_receipt(f.cycle, f.rid, f.rid_len, 21, id, REMISS_OK, NULL, NULL, "jobbtorg", NULL);
    cycle_flush(f.cycle, false);
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    cr_assert(receipt_verify(pub, bf->receipt, NULL));
    Remiss__Receipt *r =
        remiss__receipt__unpack(NULL, bf->receipt->receipt.len, bf->receipt->receipt.data);
    cr_assert_eq(r->code, REMISS_E_STORAGE);
    cr_assert_eq(r->message_id.len, 16);
    cr_assert_arr_eq(r->message_id.data, id, 16, "the id survives the remake");
    cr_assert_str_eq(r->sender, "jobbtorg");
    remiss__receipt__free_unpacked(r, NULL);
    remiss__broker_frame__free_unpacked(bf, NULL);
    EVP_PKEY_free(pub);
    bfix_disconnect(peer);
    bfix_free(&f);
}

/* The stored form of a receipt is resent as the same Receipt, signed with
 * the batch it goes out in; a stored signed one goes out as it is. */
Test(cycle, a_stored_receipt_is_resent_unchanged, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *peer = s_peer(&f);
    uint8_t *body, *stored;
    size_t blen, slen;
    uint8_t id[16] = {9};
    cr_assert(receipts_body(42, id, REMISS_OK, NULL, NULL, "sdf", &body, &blen));
    cr_assert(receipts_stored_form(body, blen, &stored, &slen));
    store_msg_t m;
    memset(&m, 0, sizeof m);
    memcpy(m.message_id, id, 16);
    snprintf(m.sender, sizeof m.sender, "sdf");
    m.receipt = stored;
    m.receipt_len = slen;
    cycle_reply_stored(f.cycle, f.rid, f.rid_len, 5, &m);
    cr_assert(cycle_needs_durable(f.cycle), "signed with this commit's batch");
    cr_assert_eq(bfix_cycle(&f), REMISS_OK);
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    cr_assert_eq(bf->receipt->receipt.len, blen);
    cr_assert_arr_eq(bf->receipt->receipt.data, body, blen, "the same Receipt bytes");
    remiss__broker_frame__free_unpacked(bf, NULL);
    free(body);
    free(stored);
    bfix_disconnect(peer);
    bfix_free(&f);
}
