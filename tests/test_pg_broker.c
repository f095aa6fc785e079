/* A real remissd on the PostgreSQL engine (a server of the test's own,
 * tests/helpers/pgtest): referrals flow, resends are idempotent, status and
 * proofs work, remissctl reads the same store by its URI, and when the
 * database goes away senders get E_STORAGE in time and the broker resumes
 * by itself when it is back. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pgtest.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

static harness_t s_h;
static pgtest_t s_pg;

static void
s_up(void)
{
    pgtest_start(&s_pg);
    harness_init(&s_h, s_parties);
    snprintf(s_h.db, sizeof s_h.db, "%s", s_pg.uri);
    harness_start(&s_h, NULL);
}

static void
s_down(void)
{
    harness_stop(&s_h);
    pgtest_stop(&s_pg);
}

static remiss_client_t *
s_sender(void)
{
    remiss_client_t *c = harness_client(&s_h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(c, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    return c;
}

static remiss_code_t
s_send(remiss_client_t *c, uint8_t id[REMISS_ID_LEN], remiss_err_t *err)
{
    remiss_receipt_t rc;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_code_t r = remiss_send(c, env, &rc, err);
    if (r == REMISS_OK && id)
        memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    return r;
}

/* Runs remissctl with args; returns its exit status, output in out. */
static int
s_ctl(const char *args, char *out, size_t size)
{
    char bin[256], cmd[1024], line[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", harness_bin("remissctl", bin, sizeof bin), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t used = 0;
    out[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        size_t n = strlen(line);
        if (n < size - used) {
            memcpy(out + used, line, n + 1);
            used += n;
        }
    }
    return WEXITSTATUS(pclose(p));
}

/* Receives and acknowledges until none comes for a while; counts them and
 * checks that no id comes twice. */
static int
s_drain(remiss_client_t *jt, uint8_t seen[][REMISS_ID_LEN], int max)
{
    remiss_err_t err;
    remiss_message_t *m = NULL;
    int n = 0;
    while (remiss_recv(jt, 3000, &m, &err) == REMISS_OK) {
        for (int i = 0; i < n; i++)
            cr_assert(memcmp(seen[i], remiss_message_id(m), REMISS_ID_LEN) != 0,
                      "a message came twice");
        cr_assert_lt(n, max);
        memcpy(seen[n++], remiss_message_id(m), REMISS_ID_LEN);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
        remiss_message_free(&m);
    }
    return n;
}

Test(pg_broker, referrals_flow_and_remissctl_reads_the_same_store, .init = s_up, .fini = s_down,
     .timeout = 240)
{
    remiss_err_t err;
    enum { N = 30 };
    uint8_t ids[N][REMISS_ID_LEN], seen[N + 5][REMISS_ID_LEN];
    remiss_client_t *sdf = s_sender();
    for (int i = 0; i < N; i++)
        cr_assert_eq(s_send(sdf, ids[i], &err), REMISS_OK, "%d: %s", i, err.text);

    /* A resend of the same bytes gets the same receipt; other bytes under
     * the same id are a replay. The database holds the id unique. */
    remiss_receipt_t a, b;
    uint8_t *sealed;
    size_t len;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_seal(sdf, env, &sealed, &len, &err), REMISS_OK);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &a, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &b, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(a.audit_index, b.audit_index);
    remiss_receipt_clear(&a);
    remiss_receipt_clear(&b);
    free(sealed);
    free(env->referral->reason);
    env->referral->reason = strdup("Annan text");
    cr_assert_eq(remiss_seal(sdf, env, &sealed, &len, &err), REMISS_OK);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &a, &err), REMISS_E_REPLAY);
    remiss_receipt_clear(&a);
    free(sealed);
    harness_envelope_free(env);

    remiss_client_t *jt = harness_client(&s_h, "jobbtorg", false);
    cr_assert_eq(s_drain(jt, seen, N + 5), N + 1, "every accepted message once");
    for (int i = 0; i < N; i++)
        cr_assert_arr_eq(seen[i], ids[i], REMISS_ID_LEN, "acceptance order at %d", i);

    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, ids[3], &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    remiss__status_reply__free_unpacked(st, NULL);
    Remiss__ProofReply *proof = NULL;
    cr_assert_eq(remiss_proof(sdf, ids[5], 0, &proof, &err), REMISS_OK, "%s", err.text);
    remiss__proof_reply__free_unpacked(proof, NULL);
    remiss_close(&jt);
    remiss_close(&sdf);

    char args[512], out[8192];
    snprintf(args, sizeof args, "audit verify --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "consent list --db '%s' --pki %s --subject %s", s_pg.uri, s_h.pki,
             HARNESS_PNR);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "c-test-1"), "%s", out);
    snprintf(args, sizeof args, "deadletter list --db '%s'", s_pg.uri);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "audit subject %s --db '%s' --pki %s", HARNESS_PNR, s_pg.uri,
             s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "audit export --db '%s'", s_pg.uri);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"index\":0"), "%s", out);
    snprintf(args, sizeof args, "audit proof --db '%s' 3 --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
}

/* Issue 15, test 3: the database is unreachable. */
Test(pg_broker, an_unreachable_database_is_e_storage_and_the_broker_resumes, .init = s_up,
     .fini = s_down, .timeout = 300)
{
    remiss_err_t err;
    enum { MAX = 64 };
    uint8_t ok_ids[MAX][REMISS_ID_LEN], seen[MAX][REMISS_ID_LEN];
    int nok = 0, nfail = 0;
    remiss_client_t *sdf = s_sender();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(s_send(sdf, ok_ids[nok++], &err), REMISS_OK, "%s", err.text);

    pgtest_pause(&s_pg);
    for (int i = 0; i < 5; i++) {
        remiss_code_t r = s_send(sdf, NULL, &err);
        /* An answer within the client's timeout, not a hang. */
        cr_assert_eq(r, REMISS_E_STORAGE, "while the database is down: %s", err.text);
        nfail++;
    }
    cr_assert(harness_log_has(&s_h, "store_failed") || harness_log_has(&s_h, "commit_failed"));
    pgtest_resume(&s_pg);

    /* The broker connects again by itself (once a second). */
    remiss_code_t r = REMISS_E_STORAGE;
    for (int i = 0; i < 60 && r != REMISS_OK; i++) {
        r = s_send(sdf, ok_ids[nok], &err);
        if (r == REMISS_OK)
            nok++;
        else
            usleep(250000);
    }
    cr_assert_eq(r, REMISS_OK, "the broker did not resume: %s", err.text);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(s_send(sdf, ok_ids[nok++], &err), REMISS_OK, "%s", err.text);

    /* Exactly the messages with an OK receipt arrive, each once. */
    remiss_client_t *jt = harness_client(&s_h, "jobbtorg", false);
    int got = s_drain(jt, seen, MAX);
    cr_assert_eq(got, nok, "received %d, accepted %d", got, nok);
    for (int i = 0; i < nok; i++)
        cr_assert_arr_eq(seen[i], ok_ids[i], REMISS_ID_LEN, "message %d", i);
    remiss_close(&jt);
    remiss_close(&sdf);
    cr_log_info("database down: %d refused with E_STORAGE, %d accepted and delivered once", nfail,
                nok);

    char args[512], out[8192];
    snprintf(args, sizeof args, "audit verify --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
}
