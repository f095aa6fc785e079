/* remissctl store migrate: a SQLite deployment with delivered, queued and
 * dead messages, consents and signed tree heads moves to PostgreSQL; audit
 * verify passes there, a remissd on the new store goes on where the old one
 * stopped, a second run is refused, and a run that fails half-way leaves
 * the target empty so it can be run again. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atrest.h"
#include "harness.h"
#include "pgtest.h"
#include "store.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};
static const char *const s_fast_heads[] = {"--sth-every", "7", NULL};

static harness_t s_h;
static pgtest_t s_pg;
static char s_sqlite[160];

static void
s_up(void)
{
    pgtest_start(&s_pg);
    harness_init(&s_h, s_parties);
    snprintf(s_sqlite, sizeof s_sqlite, "%s", s_h.db);
}

static void
s_down(void)
{
    harness_stop(&s_h);
    pgtest_stop(&s_pg);
}

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

static void
s_send(remiss_client_t *c, uint8_t id[REMISS_ID_LEN])
{
    remiss_receipt_t rc;
    remiss_err_t err;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(c, env, &rc, &err), REMISS_OK, "%s", err.text);
    memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
}

static uint64_t
s_target_audit_size(void)
{
    remiss_err_t err;
    uint64_t size = 0;
    store_t *st = store_open(s_pg.uri, &err);
    cr_assert_not_null(st, "%s", err.text);
    cr_assert_eq(store_audit_size(st, &size, &err), REMISS_OK, "%s", err.text);
    store_close(&st);
    return size;
}

static void
s_sqlite_exec(const char *sql)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(s_sqlite, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* Encryption at rest survives the move: bodies and grants arrive sealed
 * (the target opened without the KEK returns a queued body sealed), read with
 * the same PKI_DIR/broker.kek, and keys rotate works on the PostgreSQL
 * store (the broker then runs on the new key alone). */
static void
s_sealed_as_they_were(const uint8_t queued[REMISS_ID_LEN], char *args, char *out, size_t size)
{
    remiss_err_t err;
    store_msg_t m;
    bool found = false;
    store_t *bare = store_open(s_pg.uri, &err);
    cr_assert_not_null(bare, "%s", err.text);
    cr_assert_eq(store_find(bare, queued, &found, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert(found);
    cr_assert(m.envelope && atrest_is_sealed(m.envelope, m.envelope_len),
              "a body in clear on PostgreSQL");
    store_msg_clear(&m);
    store_close(&bare);
    snprintf(args, 600, "consent list --db '%s' --pki %s --subject %s", s_pg.uri, s_h.pki,
             HARNESS_PNR);
    cr_assert_eq(s_ctl(args, out, size), 0, "%s", out);
    cr_assert(strstr(out, "c-test-1") && !strstr(out, "damaged"), "%s", out);
    snprintf(args, 600, "keys rotate --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, size), 0, "%s", out);
    cr_assert(strstr(out, "key 2 is current") && strstr(out, "older keys destroyed"), "%s", out);
}

Test(pg_migrate, a_sqlite_store_moves_to_postgresql_and_the_broker_goes_on, .init = s_up,
     .fini = s_down, .timeout = 300)
{
    remiss_err_t err;
    enum { N = 24, DONE = 10 }; /* and the consent registration: 25 messages */
    uint8_t ids[N][REMISS_ID_LEN];
    remiss_message_t *m = NULL;
    harness_start(&s_h, s_fast_heads);
    remiss_client_t *sdf = harness_client(&s_h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    for (int i = 0; i < N; i++)
        s_send(sdf, ids[i]);
    remiss_client_t *jt = harness_client(&s_h, "jobbtorg", false);
    for (int i = 0; i <= DONE; i++) {
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
        cr_assert_arr_eq(remiss_message_id(m), ids[i], REMISS_ID_LEN);
        if (i < DONE)
            cr_assert_eq(remiss_ack_sync(jt, ids[i], &err), REMISS_OK, "%s", err.text);
        else /* one dead letter */
            cr_assert_eq(remiss_refuse(jt, ids[i], "Fel mottagare", &err), REMISS_OK);
        remiss_message_free(&m);
    }
    remiss_close(&jt);
    remiss_close(&sdf);
    cr_assert_eq(harness_stop_broker(&s_h), 0);

    char args[600], out[8192];
    snprintf(args, sizeof args, "store migrate --from %s --to '%s'", s_sqlite, s_pg.uri);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_log_info("%s", out);
    cr_assert_not_null(strstr(out, "25 messages"), "%s", out);
    cr_assert_eq(s_ctl(args, out, sizeof out), 1, "a second run is refused: %s", out);
    cr_assert_not_null(strstr(out, "already holds data"), "%s", out);

    snprintf(args, sizeof args, "audit verify --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "deadletter list --db '%s'", s_pg.uri);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert_neq(out[0], '\0');
    s_sealed_as_they_were(ids[N - 1], args, out, sizeof out);

    /* The broker on the new store: the queue goes on in order, old
     * messages have their status and proofs, new ones are accepted. */
    snprintf(s_h.db, sizeof s_h.db, "%s", s_pg.uri);
    harness_restart(&s_h, s_fast_heads);
    sdf = harness_client(&s_h, "sdf-rinkeby-kista", false);
    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, ids[2], &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    remiss__status_reply__free_unpacked(st, NULL);
    Remiss__ProofReply *proof = NULL;
    cr_assert_eq(remiss_proof(sdf, ids[1], 0, &proof, &err), REMISS_OK, "%s", err.text);
    remiss__proof_reply__free_unpacked(proof, NULL);
    uint8_t extra[REMISS_ID_LEN];
    s_send(sdf, extra);
    jt = harness_client(&s_h, "jobbtorg", false);
    for (int i = DONE + 1; i <= N; i++) {
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%d: %s", i, err.text);
        cr_assert_arr_eq(remiss_message_id(m), i < N ? ids[i] : extra, REMISS_ID_LEN, "%d", i);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    cr_assert_eq(remiss_recv(jt, 1500, &m, &err), REMISS_E_TIMEOUT, "nothing twice");
    remiss_close(&jt);
    remiss_close(&sdf);
    cr_assert_eq(harness_stop_broker(&s_h), 0);
    snprintf(args, sizeof args, "audit verify --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
}

Test(pg_migrate, a_run_that_fails_half_way_leaves_the_target_empty, .init = s_up, .fini = s_down,
     .timeout = 300)
{
    harness_start(&s_h, NULL);
    remiss_client_t *sdf = harness_client(&s_h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    uint8_t id[REMISS_ID_LEN];
    for (int i = 0; i < 5; i++)
        s_send(sdf, id);
    remiss_close(&sdf);
    cr_assert_eq(harness_stop_broker(&s_h), 0);
    /* The last table copied holds a row PostgreSQL rejects (text that is
     * not UTF-8): everything before it was sent and must not stay. */
    s_sqlite_exec("INSERT INTO admin_queue(action, message_id, actor, requested_at)"
                  " VALUES('requeue', x'00112233445566778899aabbccddeeff', CAST(x'ff' AS TEXT),"
                  " 1)");
    char args[600], out[8192];
    snprintf(args, sizeof args, "store migrate --from %s --to '%s'", s_sqlite, s_pg.uri);
    cr_assert_eq(s_ctl(args, out, sizeof out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "admin_queue"), "failed at the last table: %s", out);
    cr_assert_eq(s_target_audit_size(), 0, "nothing of a failed run stays");
    s_sqlite_exec("DELETE FROM admin_queue");
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "run again: %s", out);
    cr_assert_gt(s_target_audit_size(), 5);
    snprintf(args, sizeof args, "audit verify --db '%s' --pki %s", s_pg.uri, s_h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
}
