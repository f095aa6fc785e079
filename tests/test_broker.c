/* Integration tests of the authenticated broker: a real remissd on
 * 127.0.0.1 with a temporary PKI, real CURVE, real signatures. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pki.h"
#include "pki_admin.h"
#include "receipt.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* Decodes the receipt code out of a raw reply frame. */
static remiss_code_t
s_reply_code(const uint8_t *reply, size_t len)
{
    Remiss__BrokerFrame *f = remiss__broker_frame__unpack(NULL, len, reply);
    cr_assert_not_null(f, "the broker's reply must decode");
    cr_assert_eq(f->kind_case, REMISS__BROKER_FRAME__KIND_RECEIPT);
    Remiss__Receipt *r =
        remiss__receipt__unpack(NULL, f->receipt->receipt.len, f->receipt->receipt.data);
    cr_assert_not_null(r);
    remiss_code_t code = (remiss_code_t)r->code;
    remiss__receipt__free_unpacked(r, NULL);
    remiss__broker_frame__free_unpacked(f, NULL);
    return code;
}

/* Wraps SignedEnvelope bytes in a submit frame. */
static uint8_t *
s_submit_frame(const uint8_t *sealed, size_t len, size_t *out_len)
{
    Remiss__SignedEnvelope *se = remiss__signed_envelope__unpack(NULL, len, sealed);
    cr_assert_not_null(se);
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    cf.request_id = 77;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBMIT;
    cf.submit = se;
    *out_len = remiss__client_frame__get_packed_size(&cf);
    uint8_t *buf = malloc(*out_len);
    remiss__client_frame__pack(&cf, buf);
    remiss__signed_envelope__free_unpacked(se, NULL);
    return buf;
}

Test(broker, referral_reaches_jobbtorg_with_a_verifiable_receipt, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *to = harness_client(&h, "jobbtorg", false);
    remiss_client_t *from = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(remiss_subscribe(to, 0, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(harness_grant(from, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);

    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_receipt_t rc;
    cr_assert_eq(remiss_send(from, env, &rc, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(rc.message_id, env->message_id.data, REMISS_ID_LEN);

    /* Anyone holding the broker certificate can check the receipt later. */
    char path[256];
    snprintf(path, sizeof path, "%s/broker.crt", h.pki);
    X509 *bc = pki_cert_load(path, NULL);
    Remiss__SignedReceipt *sr = remiss__signed_receipt__unpack(NULL, rc.signed_len,
                                                               rc.signed_receipt);
    cr_assert_not_null(sr);
    /* Signed in a batch: the head, the signature and the path travel with
     * it, so the receipt alone is the proof. */
    cr_assert_gt(sr->batch.len, 0);
    cr_assert(receipt_verify(X509_get0_pubkey(bc), sr, NULL));
    sr->receipt.data[sr->receipt.len - 1] ^= 1; /* and a changed receipt fails */
    cr_assert_not(receipt_verify(X509_get0_pubkey(bc), sr, NULL));
    remiss__signed_receipt__free_unpacked(sr, NULL);
    X509_free(bc);

    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(to, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_str_eq(remiss_message_sender(m), "sdf-rinkeby-kista");
    const Remiss__Envelope *got = remiss_message_envelope(m);
    cr_assert_arr_eq(remiss_message_id(m), rc.message_id, REMISS_ID_LEN);
    cr_assert_eq(got->type, REMISS__MESSAGE_TYPE__REFERRAL);
    cr_assert_str_eq(got->subject->personnummer, "20080229-4728");
    cr_assert_str_eq(got->referral->reason, "Behöver stöd mot arbete");
    cr_assert_eq(remiss_ack_sync(to, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);

    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(from, rc.message_id, &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    remiss__status_reply__free_unpacked(st, NULL);

    /* Both parties can prove the acceptance entry the receipt names; an id
     * the broker never saw proves nothing. */
    Remiss__ProofReply *pr = NULL;
    cr_assert_eq(remiss_proof(from, rc.message_id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(pr->leaf_index, rc.audit_index);
    remiss__proof_reply__free_unpacked(pr, NULL);
    cr_assert_eq(remiss_proof(to, rc.message_id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(pr->leaf_index, rc.audit_index);
    remiss__proof_reply__free_unpacked(pr, NULL);
    uint8_t unseen[REMISS_ID_LEN];
    memcpy(unseen, rc.message_id, REMISS_ID_LEN);
    unseen[0] ^= 0xff;
    pr = NULL;
    cr_assert_neq(remiss_proof(from, unseen, 0, &pr, &err), REMISS_OK);
    cr_assert_null(pr);
    /* A refusal has no stored message; its entry is found by id. */
    Remiss__Envelope *bad = harness_referral("jobbtorg", "anvisning");
    free(bad->consent_id);
    bad->consent_id = strdup("c-never-given");
    remiss_receipt_t refused;
    cr_assert_eq(remiss_send(from, bad, &refused, &err), REMISS_E_NO_CONSENT, "%s", err.text);
    cr_assert_gt(refused.audit_index, rc.audit_index);
    cr_assert_eq(remiss_proof(from, refused.message_id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(pr->leaf_index, refused.audit_index);
    remiss__proof_reply__free_unpacked(pr, NULL);
    remiss_receipt_clear(&refused);
    harness_envelope_free(bad);

    remiss_message_free(&m);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&from);
    remiss_close(&to);
    harness_stop(&h);
}

Test(broker, a_certificate_from_another_ca_is_never_admitted, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    char other[160], cmd[1024];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    /* An impostor with its own CA and a "jobbtorg" certificate, who trusts
     * the real broker (so the client side does not stop it first). */
    snprintf(other, sizeof other, "%s/other", h.dir);
    cr_assert_eq(pki_init(other, &err), REMISS_OK);
    cr_assert_eq(pki_issue(other, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err), REMISS_OK);
    snprintf(cmd, sizeof cmd, "cp %s/ca.crt %s/broker.crt %s/crl.pem %s/", h.pki, h.pki, h.pki,
             other);
    cr_assert_eq(system(cmd), 0);
    remiss_opts_t o = {.pki_dir = other, .party = "jobbtorg", .endpoint = h.endpoint,
                       .timeout_ms = 3000};
    remiss_client_t *c = remiss_connect(&o, &err);
    cr_assert_not_null(c, "%s", err.text);
    Remiss__Envelope *env = harness_referral("sdf-rinkeby-kista", "socialtjanst");
    remiss_receipt_t rc;
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    cr_assert_neq(r, REMISS_OK);
    cr_assert(r == REMISS_E_CERT_REVOKED || r == REMISS_E_TIMEOUT, "got %s",
              remiss_code_name(r));
    cr_assert(harness_log_has(&h, "event=auth_refused"));
    /* ... and nothing reached the real party. */
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(sdf, 1500, &m, &err), REMISS_E_TIMEOUT);
    remiss_close(&sdf);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&c);
    harness_stop(&h);
}

Test(broker, a_party_revoked_while_connected_gets_cert_revoked, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t rc;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *c = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(c, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(c, env, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);

    cr_assert_eq(pki_revoke(h.pki, "sdf-rinkeby-kista", &err), REMISS_OK);
    harness_signal(&h, SIGHUP);
    for (int i = 0; i < 100 && !harness_log_has(&h, "revoked=1"); i++)
        usleep(100000);
    cr_assert(harness_log_has(&h, "revoked=1"));
    harness_envelope_free(env);
    env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(c, env, &rc, &err), REMISS_E_CERT_REVOKED, "got %s: %s",
                 remiss_code_name(err.code), err.text);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&c);
    harness_stop(&h);
}

Test(broker, forged_sender_and_flipped_byte_are_refused, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t rc;
    char path[256];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *c = harness_client(&h, "sdf-rinkeby-kista", false);

    /* Signed correctly by sdf-rinkeby-kista, but claiming to be jobbtorg. */
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    uint8_t *sealed;
    size_t len;
    cr_assert_eq(remiss_seal(c, env, &sealed, &len, &err), REMISS_OK);
    free(sealed);
    free(env->sender);
    env->sender = strdup("jobbtorg");
    size_t blen = remiss__envelope__get_packed_size(env);
    uint8_t *body = malloc(blen), sig[PKI_SIG_MAX];
    size_t siglen;
    remiss__envelope__pack(env, body);
    snprintf(path, sizeof path, "%s/parties/sdf-rinkeby-kista.key", h.pki);
    EVP_PKEY *key = pki_key_load(path, &err);
    cr_assert_not_null(key);
    cr_assert(pki_sign(key, PKI_CTX_ENVELOPE, body, blen, sig, &siglen));
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    se.envelope.data = body;
    se.envelope.len = blen;
    se.signature.data = sig;
    se.signature.len = siglen;
    len = remiss__signed_envelope__get_packed_size(&se);
    sealed = malloc(len);
    remiss__signed_envelope__pack(&se, sealed);
    cr_assert_eq(remiss_send_raw(c, sealed, len, &rc, &err), REMISS_E_SENDER_MISMATCH);
    remiss_receipt_clear(&rc);

    /* One flipped byte inside the signed envelope. */
    free(sealed);
    harness_envelope_free(env);
    env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_seal(c, env, &sealed, &len, &err), REMISS_OK);
    uint8_t *hit = memmem(sealed, len, "Testperson", 10);
    cr_assert_not_null(hit);
    hit[0] ^= 0x01;
    cr_assert_eq(remiss_send_raw(c, sealed, len, &rc, &err), REMISS_E_BAD_SIGNATURE, "got %s",
                 remiss_code_name(err.code));
    remiss_receipt_clear(&rc);

    /* Neither reached jobbtorg. */
    remiss_client_t *to = harness_client(&h, "jobbtorg", false);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(to, 1500, &m, &err), REMISS_E_TIMEOUT);
    remiss_close(&to);

    free(sealed);
    free(body);
    EVP_PKEY_free(key);
    harness_envelope_free(env);
    remiss_close(&c);
    harness_stop(&h);
}

Test(broker, random_bytes_are_malformed_and_the_broker_keeps_serving, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *bad = harness_client(&h, "jobbtorg", false);
    remiss_client_t *good = harness_client(&h, "sdf-rinkeby-kista", false);
    srand(4711);
    for (int round = 0; round < 50; round++) {
        uint8_t junk[512];
        size_t n = 1 + (size_t)(rand() % (int)sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand();
        uint8_t *reply;
        size_t rlen;
        cr_assert_eq(remiss_raw_request(bad, junk, n, &reply, &rlen, &err), REMISS_OK, "%s",
                     err.text);
        cr_assert_eq(s_reply_code(reply, rlen), REMISS_E_MALFORMED, "round %d", round);
        free(reply);
    }
    cr_assert_eq(harness_grant(good, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_receipt_t rc;
    cr_assert_eq(remiss_send(good, env, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&good);
    remiss_close(&bad);
    harness_stop(&h);
}

Test(broker, an_oversized_frame_is_too_large, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    const char *const extra[] = {"--max-frame", "65536", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *c = harness_client(&h, "sdf-rinkeby-kista", false);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    char *big = malloc(70000);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    env->free_text = big;
    uint8_t *sealed, *frame, *reply;
    size_t len, flen, rlen;
    cr_assert_eq(remiss_seal(c, env, &sealed, &len, &err), REMISS_OK);
    frame = s_submit_frame(sealed, len, &flen);
    cr_assert_gt(flen, 65536);
    cr_assert_eq(remiss_raw_request(c, frame, flen, &reply, &rlen, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(s_reply_code(reply, rlen), REMISS_E_TOO_LARGE);
    free(reply);
    free(frame);
    free(sealed);
    harness_envelope_free(env);
    remiss_close(&c);
    harness_stop(&h);
}

/* Found by fuzz_envelope: protobuf-c 1.4.1 keeps an unknown field whose tag
 * is an over-long encoding of field number 0 ("80 00") and writes it back
 * as "00", which it then refuses to decode. The broker stores the
 * SignedEnvelope re-encoded, so such a message was accepted with an OK
 * receipt and then dead-lettered as damaged. Fields the broker does not
 * know in a SignedEnvelope are refused at intake. */
Test(broker, a_signed_envelope_with_unknown_fields_is_malformed, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *from = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(from, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    uint8_t *sealed = NULL;
    size_t len;
    cr_assert_eq(remiss_seal(from, env, &sealed, &len, &err), REMISS_OK, "%s", err.text);

    static const struct {
        const char *bytes;
        size_t len;
    } extra[] = {{"\x80\x00\x00", 3}, {"\x48\x01", 2}};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        /* request_id 77, then field 2 (submit) holding the sealed bytes plus
         * the extra field, written by hand so nothing re-encodes them. */
        size_t se_len = len + extra[i].len, n = 0;
        uint8_t *frame = malloc(se_len + 16);
        cr_assert_not_null(frame);
        frame[n++] = 0x08;
        frame[n++] = 77;
        frame[n++] = 0x12;
        size_t v = se_len;
        for (; v >= 0x80; v >>= 7)
            frame[n++] = (uint8_t)((v & 0x7f) | 0x80);
        frame[n++] = (uint8_t)v;
        memcpy(frame + n, sealed, len);
        memcpy(frame + n + len, extra[i].bytes, extra[i].len);
        n += se_len;
        uint8_t *reply = NULL;
        size_t rlen = 0;
        cr_assert_eq(remiss_raw_request(from, frame, n, &reply, &rlen, &err), REMISS_OK, "%s",
                     err.text);
        cr_assert_eq(s_reply_code(reply, rlen), REMISS_E_MALFORMED, "extra field %zu", i);
        free(reply);
        free(frame);
    }
    /* The same envelope without the extra field is accepted. */
    remiss_receipt_t rc;
    cr_assert_eq(remiss_send_raw(from, sealed, len, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);
    free(sealed);
    harness_envelope_free(env);
    remiss_close(&from);
    harness_stop(&h);
}
