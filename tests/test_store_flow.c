/* Integration tests of durable store-and-forward through a real remissd:
 * backlog order, redelivery without duplicates, idempotent resend, replay,
 * dead letters, a full disk, and SIGKILL at random moments. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

static remiss_client_t *
s_sender(harness_t *h)
{
    remiss_client_t *c = harness_client(h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(c, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    return c;
}

static void
s_send_ok(remiss_client_t *c, uint8_t id[REMISS_ID_LEN])
{
    remiss_receipt_t rc;
    remiss_err_t err;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(c, env, &rc, &err), REMISS_OK, "%s", err.text);
    if (id)
        memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
}

Test(store_flow, backlog_is_delivered_in_order_to_a_late_recipient, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    enum { N = 25 };
    uint8_t ids[N][REMISS_ID_LEN];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = s_sender(&h);
    for (int i = 0; i < N; i++)
        s_send_ok(sdf, ids[i]);
    /* The broker restarts in between: the backlog is on disk. */
    cr_assert_eq(harness_stop_broker(&h), 0);
    harness_restart(&h, NULL);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    for (int i = 0; i < N; i++) {
        remiss_message_t *m = NULL;
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "message %d: %s", i, err.text);
        cr_assert_arr_eq(remiss_message_id(m), ids[i], REMISS_ID_LEN, "out of order at %d", i);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(store_flow, a_missed_ack_is_redelivered_but_not_duplicated, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    const char *const fast[] = {"--redeliver-ms", "400", NULL};
    uint8_t id[REMISS_ID_LEN];
    harness_init(&h, s_parties);
    harness_start(&h, fast);
    remiss_client_t *sdf = s_sender(&h);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", true);
    s_send_ok(sdf, id);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    /* No ack yet: the broker delivers again, the library keeps it from the
     * application, which holds the message. */
    remiss_message_t *again = NULL;
    cr_assert_eq(remiss_recv(jt, 2500, &again, &err), REMISS_E_TIMEOUT);
    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, id, &st, &err), REMISS_OK);
    cr_assert_geq(st->attempts, 2, "the broker did redeliver (attempts %u)", st->attempts);
    remiss__status_reply__free_unpacked(st, NULL);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    cr_assert_eq(remiss_status(sdf, id, &st, &err), REMISS_OK);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    remiss__status_reply__free_unpacked(st, NULL);

    /* A later run of the application (same state file) never sees it. */
    remiss_close(&jt);
    jt = harness_client(&h, "jobbtorg", true);
    cr_assert_eq(remiss_recv(jt, 1500, &again, &err), REMISS_E_TIMEOUT);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(store_flow, resend_is_idempotent_and_other_bytes_are_a_replay, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t a, b;
    const char *const window[] = {"--replay-window", "60", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, window);
    remiss_client_t *sdf = s_sender(&h);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    uint8_t *sealed;
    size_t len;
    cr_assert_eq(remiss_seal(sdf, env, &sealed, &len, &err), REMISS_OK);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &a, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &b, &err), REMISS_OK, "%s", err.text);
    /* The same Receipt (same entry, same time), signed again in the batch
     * of the commit it goes out with. */
    Remiss__SignedReceipt *sa =
        remiss__signed_receipt__unpack(NULL, a.signed_len, a.signed_receipt);
    Remiss__SignedReceipt *sb =
        remiss__signed_receipt__unpack(NULL, b.signed_len, b.signed_receipt);
    cr_assert(sa && sb);
    cr_assert_eq(sa->receipt.len, sb->receipt.len);
    cr_assert_arr_eq(sa->receipt.data, sb->receipt.data, sa->receipt.len, "the same receipt");
    cr_assert_eq(a.audit_index, b.audit_index);
    cr_assert_eq(a.broker_time, b.broker_time);
    remiss__signed_receipt__free_unpacked(sa, NULL);
    remiss__signed_receipt__free_unpacked(sb, NULL);
    remiss_receipt_clear(&a);
    remiss_receipt_clear(&b);
    free(sealed);

    /* Same id, other content. */
    free(env->referral->reason);
    env->referral->reason = strdup("Annan text");
    cr_assert_eq(remiss_seal(sdf, env, &sealed, &len, &err), REMISS_OK);
    cr_assert_eq(remiss_send_raw(sdf, sealed, len, &a, &err), REMISS_E_REPLAY);
    remiss_receipt_clear(&a);
    free(sealed);
    harness_envelope_free(env);

    /* An envelope older than the window. */
    env = harness_referral("jobbtorg", "anvisning");
    env->created_at = log_now_ms() - 120000;
    cr_assert_eq(remiss_send(sdf, env, &a, &err), REMISS_E_REPLAY);
    remiss_receipt_clear(&a);
    harness_envelope_free(env);

    /* The recipient gets the one message once. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    cr_assert_eq(remiss_recv(jt, 1500, &m, &err), REMISS_E_TIMEOUT);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* Runs remissctl with args; returns its exit status and first output line. */
static int
s_ctl(const char *args, char *out, size_t size)
{
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", harness_bin("remissctl", bin, sizeof bin), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    out[0] = '\0';
    char line[1024];
    while (fgets(line, sizeof line, p))
        if (!out[0])
            snprintf(out, size, "%s", line);
    return WEXITSTATUS(pclose(p));
}

Test(store_flow, a_refused_message_is_a_dead_letter_and_can_be_requeued, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    char hex[33], args[512], out[1024];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = s_sender(&h);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    s_send_ok(sdf, id);
    remiss_id_to_hex(id, hex);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
    cr_assert_eq(remiss_refuse(jt, remiss_message_id(m), "Fel mottagare, ska till IPS", &err),
                 REMISS_OK, "%s", err.text);
    remiss_message_free(&m);
    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, id, &st, &err), REMISS_OK);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DEAD);
    cr_assert_str_eq(st->refuse_reason, "Fel mottagare, ska till IPS");
    remiss__status_reply__free_unpacked(st, NULL);

    snprintf(args, sizeof args, "deadletter list --db %s --json", h.db);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, hex) != NULL, "listed: %s", out);
    snprintf(args, sizeof args, "deadletter requeue --db %s %s", h.db, hex);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    snprintf(args, sizeof args, "deadletter requeue --db %s %s", h.db, hex);
    cr_assert_neq(s_ctl(args, out, sizeof out), 0, "twice is refused: %s", out);

    /* A fresh connection of the recipient gets it again. */
    remiss_close(&jt);
    jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(remiss_message_id(m), id, REMISS_ID_LEN);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(store_flow, a_full_disk_gives_e_storage_and_stored_messages_still_flow, .timeout = 180)
{
    harness_t h;
    remiss_err_t err;
    char mnt[140];
    if (geteuid() != 0)
        cr_skip_test("needs root to mount a small tmpfs as the full filesystem");
    harness_init(&h, s_parties);
    snprintf(mnt, sizeof mnt, "%s/small", h.dir);
    mkdir(mnt, 0700);
    cr_assert_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=1536k"), 0, "mount tmpfs");
    snprintf(h.db, sizeof h.db, "%s/remiss.db", mnt);
    harness_start(&h, NULL);
    remiss_client_t *sdf = s_sender(&h);
    uint8_t (*ok)[REMISS_ID_LEN] = calloc(5000, REMISS_ID_LEN);
    int nok = 0, nstorage = 0;
    for (int i = 0; i < 5000 && nstorage < 3; i++) {
        remiss_receipt_t rc;
        Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
        char *pad = malloc(4000);
        memset(pad, 'p', 3999);
        pad[3999] = '\0';
        env->free_text = pad;
        remiss_code_t r = remiss_send(sdf, env, &rc, &err);
        /* free_text is not covered by the consent: use a note instead. */
        if (r == REMISS_E_CATEGORY_NOT_COVERED) {
            free(env->free_text);
            env->free_text = NULL;
            free(env->social->notes);
            env->social->notes = pad = malloc(4000);
            memset(pad, 'p', 3999);
            pad[3999] = '\0';
            free(env->message_id.data);
            env->message_id.data = NULL;
            env->message_id.len = 0;
            remiss_receipt_clear(&rc);
            r = remiss_send(sdf, env, &rc, &err);
        }
        if (r == REMISS_OK)
            memcpy(ok[nok++], rc.message_id, REMISS_ID_LEN);
        else if (r == REMISS_E_STORAGE)
            nstorage++;
        else
            cr_assert_fail("unexpected %s: %s", remiss_code_name(r), err.text);
        remiss_receipt_clear(&rc);
        harness_envelope_free(env);
    }
    cr_assert_gt(nstorage, 0, "the disk never filled");
    cr_assert_gt(nok, 0);
    /* Everything that got OK is delivered, despite the full disk. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    int got = 0;
    for (; got < nok; got++) {
        remiss_message_t *m = NULL;
        if (remiss_recv(jt, 20000, &m, &err) != REMISS_OK)
            break;
        cr_assert_arr_eq(remiss_message_id(m), ok[got], REMISS_ID_LEN, "order at %d", got);
        remiss_ack_sync(jt, remiss_message_id(m), &err); /* may fail: the disk is full */
        remiss_message_free(&m);
    }
    cr_assert_eq(got, nok, "delivered %d of %d accepted messages", got, nok);
    printf("full disk: %d accepted and delivered, %d refused with E_STORAGE\n", nok, nstorage);
    free(ok);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop_broker(&h);
    umount2(mnt, MNT_DETACH);
    harness_stop(&h);
}

/* Whether the store still holds the message body. */
static bool
s_body_kept(const char *db, const uint8_t id[REMISS_ID_LEN])
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    bool kept = true;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT envelope IS NOT NULL FROM messages WHERE "
                                       "message_id = ?1",
                                    -1, &st, NULL),
                 SQLITE_OK);
    sqlite3_bind_blob(st, 1, id, REMISS_ID_LEN, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    kept = sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    sqlite3_close(h);
    return kept;
}

Test(store_flow, bodies_are_purged_after_retention_but_metadata_stays, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    uint8_t done[REMISS_ID_LEN], waiting[REMISS_ID_LEN];
    const char *const short_retention[] = {"--retention", "1", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, short_retention);
    remiss_client_t *sdf = s_sender(&h);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    s_send_ok(sdf, done);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    remiss_close(&jt);
    s_send_ok(sdf, waiting); /* not yet delivered: must be kept */
    cr_assert(s_body_kept(h.db, done));
    for (int i = 0; i < 60 && s_body_kept(h.db, done); i++)
        usleep(100000);
    cr_assert_not(s_body_kept(h.db, done), "the acknowledged body outlived its retention");
    cr_assert(s_body_kept(h.db, waiting), "an undelivered body must never be purged");
    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, done, &st, &err), REMISS_OK);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE, "the metadata stays");
    remiss__status_reply__free_unpacked(st, NULL);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ---- crash test: SIGKILL at random moments while senders stream */

typedef struct {
    harness_t *h;
    volatile int stop;
    uint8_t (*seen)[REMISS_ID_LEN];
    int nseen, dups;
} s_recv_ctx_t;

static void *
s_receiver(void *arg)
{
    s_recv_ctx_t *x = arg;
    remiss_client_t *jt = harness_client(x->h, "jobbtorg", true);
    remiss_err_t err;
    int idle = 0;
    while (!x->stop || idle < 10) { /* generous: the machine may be loaded */
        remiss_message_t *m = NULL;
        if (remiss_recv(jt, 1000, &m, &err) != REMISS_OK) {
            idle++;
            continue;
        }
        idle = 0;
        for (int i = 0; i < x->nseen; i++)
            if (memcmp(x->seen[i], remiss_message_id(m), REMISS_ID_LEN) == 0)
                x->dups++;
        if (x->nseen < 100000)
            memcpy(x->seen[x->nseen++], remiss_message_id(m), REMISS_ID_LEN);
        remiss_ack(jt, remiss_message_id(m), &err); /* asynchronous: may be lost in a crash */
        remiss_message_free(&m);
    }
    remiss_close(&jt);
    return NULL;
}

Test(store_flow, sigkill_at_random_moments_loses_nothing_accepted, .timeout = 300)
{
    harness_t h;
    remiss_err_t err;
    enum { KILLS = 10 };
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = s_sender(&h);
    s_recv_ctx_t rx = {.h = &h, .seen = calloc(100000, REMISS_ID_LEN)};
    uint8_t (*ok)[REMISS_ID_LEN] = calloc(100000, REMISS_ID_LEN);
    int nok = 0, nfail = 0;
    pthread_t th;
    pthread_create(&th, NULL, s_receiver, &rx);
    srand(20261123);
    for (int round = 0; round < KILLS; round++) {
        int64_t kill_at = log_now_ms() + 150 + rand() % 600;
        int outstanding = 0;
        /* Stream with up to 16 messages in flight until the kill. */
        while (log_now_ms() < kill_at) {
            while (outstanding < 16) {
                uint8_t id[REMISS_ID_LEN];
                Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
                remiss_code_t r = remiss_submit(sdf, env, id, &err);
                harness_envelope_free(env);
                if (r != REMISS_OK)
                    break;
                outstanding++;
            }
            remiss_receipt_t rc;
            remiss_code_t r = remiss_next_receipt(sdf, 200, &rc, &err);
            if (r == REMISS_OK && nok < 100000)
                memcpy(ok[nok++], rc.message_id, REMISS_ID_LEN);
            else if (r != REMISS_E_TIMEOUT)
                nfail++;
            if (r != REMISS_E_TIMEOUT)
                outstanding--;
            remiss_receipt_clear(&rc);
        }
        harness_kill(&h);
        /* Receipts already on their way before the kill still count. */
        remiss_receipt_t rc;
        while (remiss_next_receipt(sdf, 300, &rc, &err) == REMISS_OK) {
            if (nok < 100000)
                memcpy(ok[nok++], rc.message_id, REMISS_ID_LEN);
            remiss_receipt_clear(&rc);
        }
        remiss_receipt_clear(&rc);
        /* Submits without a receipt were never acknowledged: the sender
         * would send them again; we just forget them. */
        remiss_close(&sdf);
        harness_restart(&h, NULL);
        sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    }
    rx.stop = 1;
    pthread_join(th, NULL);
    int missing = 0;
    for (int i = 0; i < nok; i++) {
        bool found = false;
        for (int k = 0; k < rx.nseen && !found; k++)
            found = memcmp(ok[i], rx.seen[k], REMISS_ID_LEN) == 0;
        if (!found) {
            /* Say where the lost message is, for whoever debugs this. */
            Remiss__StatusReply *st = NULL;
            char hex[33];
            remiss_id_to_hex(ok[i], hex);
            if (remiss_status(sdf, ok[i], &st, &err) == REMISS_OK) {
                printf("missing %s: state %d attempts %u delivered_at %lld\n", hex, st->state,
                       st->attempts, (long long)st->delivered_at);
                remiss__status_reply__free_unpacked(st, NULL);
            }
        }
        missing += !found;
    }
    printf("crash test: %d kills, %d messages with OK receipts, %d received by the application, "
           "%d missing, %d duplicates seen by the application, %d other answers\n",
           KILLS, nok, rx.nseen, missing, rx.dups, nfail);
    cr_assert_gt(nok, 0);
    cr_assert_eq(missing, 0, "%d accepted messages were lost", missing);
    cr_assert_eq(rx.dups, 0, "the application saw %d duplicates", rx.dups);
    free(ok);
    free(rx.seen);
    remiss_close(&sdf);
    harness_stop(&h);
}
