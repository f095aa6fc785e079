/* Tests for admission: the decisions on a submitted message, and that it
 * decides before it writes. The broker's modules run in the test process
 * (tests/helpers/broker_fixture.h): real PKI, real signatures, real CURVE,
 * a real SQLite store with the audit log; no remissd. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "broker_fixture.h"
#include "harness.h"
#include "log.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};
#define S_SDF "sdf-rinkeby-kista"
#define S_JOB "jobbtorg"

/* Submits env as party from peer and returns the receipt's code; the
 * receipt's audit index into *audit_index if not NULL. Frees env. */
static remiss_code_t
s_submit(bfix_t *f, void *peer, const char *party, Remiss__Envelope *env, uint64_t *audit_index)
{
    size_t len;
    uint8_t *frame = bfix_submit(f, party, env, 9, &len);
    bfix_request(f, peer, frame, len);
    free(frame);
    harness_envelope_free(env);
    bfix_cycle(f);
    Remiss__BrokerFrame *bf = bfix_recv(peer);
    remiss_code_t code = bfix_code(bf);
    if (code != REMISS_OK && bf->kind_case == REMISS__BROKER_FRAME__KIND_RECEIPT) {
        Remiss__Receipt *r =
            remiss__receipt__unpack(NULL, bf->receipt->receipt.len, bf->receipt->receipt.data);
        fprintf(stderr, "refused: %s\n", r->sentence);
        remiss__receipt__free_unpacked(r, NULL);
    }
    if (audit_index) {
        Remiss__Receipt *r =
            remiss__receipt__unpack(NULL, bf->receipt->receipt.len, bf->receipt->receipt.data);
        *audit_index = r->audit_index;
        remiss__receipt__free_unpacked(r, NULL);
    }
    remiss__broker_frame__free_unpacked(bf, NULL);
    return code;
}

static remiss_code_t
s_grant(bfix_t *f, void *peer, const char *id)
{
    remiss_code_t c =
        s_submit(f, peer, S_SDF,
                 harness_grant_envelope(id, S_SDF, S_JOB, "anvisning", "identity,social"), NULL);
    if (c != REMISS_OK)
        fprintf(stderr, "grant %s: %s\n", id, remiss_code_name(c));
    return c;
}

static uint64_t
s_depth(bfix_t *f, const char *party)
{
    uint64_t n = 0;
    remiss_err_t err;
    cr_assert_eq(store_depth(f->env.store, party, &n, &err), REMISS_OK, "%s", err.text);
    return n;
}

Test(admission, accepted_after_consent_and_a_resend_gets_the_same_receipt, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_grant(&f, sdf, "c-test-1"), REMISS_OK);

    Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
    size_t len;
    uint8_t *frame = bfix_submit(&f, S_SDF, env, 5, &len);
    harness_envelope_free(env);
    uint64_t first = 0, again = 0;
    for (int i = 0; i < 2; i++) {
        bfix_request(&f, sdf, frame, len);
        bfix_cycle(&f);
        Remiss__BrokerFrame *bf = bfix_recv(sdf);
        cr_assert_eq(bfix_code(bf), REMISS_OK);
        Remiss__Receipt *r =
            remiss__receipt__unpack(NULL, bf->receipt->receipt.len, bf->receipt->receipt.data);
        *(i ? &again : &first) = r->audit_index;
        remiss__receipt__free_unpacked(r, NULL);
        remiss__broker_frame__free_unpacked(bf, NULL);
    }
    free(frame);
    cr_assert_gt(first, 0);
    cr_assert_eq(again, first, "a resend is answered with the stored receipt");
    cr_assert_eq(s_depth(&f, S_JOB), 1, "the resend was not stored twice");
    bfix_disconnect(sdf);
    bfix_free(&f);
}

Test(admission, refusals_name_an_audit_entry_and_write_no_message, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *sdf = bfix_connect(&f, S_SDF);
    uint64_t idx = 99, size = audit_size(f.env.audit);

    /* No consent registered: the policy refuses. */
    remiss_code_t r = s_submit(&f, sdf, S_SDF, harness_referral(S_JOB, "anvisning"), &idx);
    cr_assert_neq(r, REMISS_OK);
    cr_assert_eq(audit_size(f.env.audit), size + 1);
    cr_assert_eq(idx, size, "a refusal names its audit entry");

    /* Unknown recipient. */
    cr_assert_eq(s_submit(&f, sdf, S_SDF, harness_referral("nobody", "anvisning"), NULL),
                 REMISS_E_UNKNOWN_RECIPIENT);

    /* The envelope claims another sender than the channel's party. */
    Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
    env->sender = strdup(S_JOB);
    cr_assert_eq(s_submit(&f, sdf, S_SDF, env, NULL), REMISS_E_SENDER_MISMATCH);

    /* Signed with another party's key than the channel's. */
    env = harness_referral(S_JOB, "anvisning");
    env->sender = strdup(S_SDF);
    size_t len;
    uint8_t *frame = bfix_submit(&f, S_JOB, env, 3, &len);
    harness_envelope_free(env);
    bfix_request(&f, sdf, frame, len);
    free(frame);
    bfix_cycle(&f);
    Remiss__BrokerFrame *bf = bfix_recv(sdf);
    cr_assert_eq(bfix_code(bf), REMISS_E_BAD_SIGNATURE);
    remiss__broker_frame__free_unpacked(bf, NULL);

    /* Older than the replay window. */
    env = harness_referral(S_JOB, "anvisning");
    env->created_at = log_now_ms() - (f.cfg.replay_window_s + 60) * 1000;
    cr_assert_eq(s_submit(&f, sdf, S_SDF, env, NULL), REMISS_E_REPLAY);

    cr_assert_eq(s_depth(&f, S_JOB), 0, "no refused message was stored");
    bfix_disconnect(sdf);
    bfix_free(&f);
}

/* A grant whose id is taken is refused before anything is written: the
 * registry keeps the first grant only and the refusal has its entry. */
Test(admission, a_consent_id_is_used_once, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_grant(&f, sdf, "c-once"), REMISS_OK);
    uint64_t size = audit_size(f.env.audit);
    cr_assert_eq(s_grant(&f, sdf, "c-once"), REMISS_E_REPLAY);
    cr_assert_eq(audit_size(f.env.audit), size + 1, "one REFUSED entry, nothing else");
    bfix_disconnect(sdf);
    bfix_free(&f);
}

/* A revocation withholds the queued message that rested on the consent. */
Test(admission, revocation_withholds_queued_messages, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_grant(&f, sdf, "c-test-1"), REMISS_OK);
    Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
    uint8_t id[16];
    size_t len;
    uint8_t *frame = bfix_submit(&f, S_SDF, env, 4, &len);
    memcpy(id, env->message_id.data, 16);
    harness_envelope_free(env);
    bfix_request(&f, sdf, frame, len);
    free(frame);
    bfix_cycle(&f);
    Remiss__BrokerFrame *bf = bfix_recv(sdf);
    cr_assert_eq(bfix_code(bf), REMISS_OK);
    remiss__broker_frame__free_unpacked(bf, NULL);

    Remiss__Envelope *rv = calloc(1, sizeof *rv);
    Remiss__ConsentRevoke *body = calloc(1, sizeof *body);
    remiss__envelope__init(rv);
    remiss__consent_revoke__init(body);
    rv->recipient = strdup("broker");
    rv->consent_id = strdup("c-test-1");
    rv->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rv->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rv->consent_revoke = body;
    cr_assert_eq(s_submit(&f, sdf, S_SDF, rv, NULL), REMISS_OK);

    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    cr_assert_eq(store_find(f.env.store, id, &found, &m, &err), REMISS_OK);
    cr_assert(found);
    cr_assert_eq(m.state, STORE_HELD);
    cr_assert_eq(m.code, REMISS_E_CONSENT_REVOKED);
    store_msg_clear(&m);
    bfix_disconnect(sdf);
    bfix_free(&f);
}

static void
s_slow(broker_config_t *cfg)
{
    cfg->rate_per_s = 1;
    cfg->rate_burst = 3;
    cfg->max_queue = 1;
}

Test(admission, rate_and_queue_limits, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, s_slow);
    int64_t now = log_now_ms();
    /* The token bucket: a burst of three, then one a second. */
    cr_assert(admission_rate_ok(f.admission, "p", now));
    cr_assert(admission_rate_ok(f.admission, "p", now));
    cr_assert(admission_rate_ok(f.admission, "p", now));
    cr_assert_not(admission_rate_ok(f.admission, "p", now));
    cr_assert_not(admission_rate_ok(f.admission, "p", now + 500));
    cr_assert(admission_rate_ok(f.admission, "p", now + 1600));
    cr_assert(admission_rate_ok(f.admission, "q", now), "each party has its own bucket");

    /* A queue of one: the second message to jobbtorg is refused; then the
     * sender's burst (grant, two referrals) is used up. */
    void *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_grant(&f, sdf, "c-test-1"), REMISS_OK);
    cr_assert(admission_queue_ok(f.admission, S_JOB, log_now_ms()));
    cr_assert_eq(s_submit(&f, sdf, S_SDF, harness_referral(S_JOB, "anvisning"), NULL), REMISS_OK);
    cr_assert_not(admission_queue_ok(f.admission, S_JOB, log_now_ms()));
    cr_assert_eq(s_submit(&f, sdf, S_SDF, harness_referral(S_JOB, "anvisning"), NULL),
                 REMISS_E_RATE_LIMITED, "the queue is full");
    cr_assert_eq(s_depth(&f, S_JOB), 1);
    bfix_disconnect(sdf);
    bfix_free(&f);
}

Test(admission, an_envelope_from_the_future_is_malformed, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    const party_t *sdf = parties_by_id(f.env.parties, S_SDF);
    Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
    env->created_at = log_now_ms() + ADMISSION_FUTURE_SKEW + 60000;
    size_t len;
    uint8_t *frame = bfix_submit(&f, S_SDF, env, 1, &len);
    harness_envelope_free(env);
    Remiss__ClientFrame *cf = remiss__client_frame__unpack(NULL, len, frame);
    Remiss__Envelope *dec =
        remiss__envelope__unpack(NULL, cf->submit->envelope.len, cf->submit->envelope.data);
    const char *why = NULL;
    cr_assert_eq(admission_check_envelope(f.admission, sdf, cf->submit, dec, log_now_ms(), &why),
                 REMISS_E_MALFORMED);
    cr_assert_not_null(why);
    /* The same envelope, judged a little later than its date, passes. */
    cr_assert_eq(admission_check_envelope(f.admission, sdf, cf->submit, dec, dec->created_at, &why),
                 REMISS_OK);
    remiss__envelope__free_unpacked(dec, NULL);
    remiss__client_frame__free_unpacked(cf, NULL);
    free(frame);
    bfix_free(&f);
}

/* A revocation whose withholding cannot be written is refused as a
 * whole: the consent stays registered, the message stays queued and no
 * CONSENT_REVOKED entry is made (it used to report OK and leave the
 * message deliverable). */
Test(admission, a_revocation_that_cannot_withhold_is_refused, .timeout = 60)
{
    bfix_t f;
    bfix_init(&f, s_parties, NULL);
    void *sdf = bfix_connect(&f, S_SDF);
    cr_assert_eq(s_grant(&f, sdf, "c-test-1"), REMISS_OK);
    Remiss__Envelope *env = harness_referral(S_JOB, "anvisning");
    uint8_t id[16];
    size_t len;
    uint8_t *frame = bfix_submit(&f, S_SDF, env, 4, &len);
    memcpy(id, env->message_id.data, 16);
    harness_envelope_free(env);
    bfix_request(&f, sdf, frame, len);
    free(frame);
    bfix_cycle(&f);
    Remiss__BrokerFrame *bf = bfix_recv(sdf);
    cr_assert_eq(bfix_code(bf), REMISS_OK);
    remiss__broker_frame__free_unpacked(bf, NULL);
    bfix_sql(&f, "CREATE TRIGGER no_hold BEFORE UPDATE OF state ON messages WHEN NEW.state = 5"
                 " BEGIN SELECT RAISE(ABORT, 'the test refuses to hold'); END;");
    uint64_t size = audit_size(f.env.audit);

    Remiss__Envelope *rv = calloc(1, sizeof *rv);
    Remiss__ConsentRevoke *body = calloc(1, sizeof *body);
    remiss__envelope__init(rv);
    remiss__consent_revoke__init(body);
    rv->recipient = strdup("broker");
    rv->consent_id = strdup("c-test-1");
    rv->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rv->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rv->consent_revoke = body;
    cr_assert_eq(s_submit(&f, sdf, S_SDF, rv, NULL), REMISS_E_STORAGE);

    store_msg_t m;
    store_consent_t c;
    bool found = false;
    remiss_err_t err;
    cr_assert_eq(store_find(f.env.store, id, &found, &m, &err), REMISS_OK);
    cr_assert_eq(m.state, STORE_QUEUED);
    store_msg_clear(&m);
    /* Consent ids are scoped by the registering party (issue 14). */
    cr_assert_eq(store_consent_get(f.env.store, S_SDF "/c-test-1", &found, &c, &err), REMISS_OK);
    cr_assert(found);
    cr_assert_eq(c.revoked_at, 0, "the revocation was undone with its savepoint");
    store_consent_clear(&c);
    cr_assert_eq(audit_size(f.env.audit), size, "no entry for what did not happen");
    bfix_disconnect(sdf);
    bfix_free(&f);
}
