/* Tests for store (broker/store_sqlite.c behind include/store.h): a real
 * SQLite file in a temporary directory; each test is a usage example of
 * the contract the broker relies on. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

static char s_dir[64];
static store_t *s_st;

static void
s_setup(void)
{
    char db[128];
    remiss_err_t err;
    strcpy(s_dir, "/tmp/remiss-store-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    snprintf(db, sizeof db, "%s/remiss.db", s_dir);
    cr_assert_not_null(s_st = store_open(db, &err), "%s", err.text);
}

static void
s_teardown(void)
{
    char cmd[128];
    store_close(&s_st);
    cr_assert_null(s_st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(store, .init = s_setup, .fini = s_teardown);

/* Message n from sdf to to, resting on consent. */
static void
s_msg(store_msg_t *m, uint8_t n, const char *to, const char *consent)
{
    static uint8_t env[] = "signed envelope bytes", rc[] = "receipt bytes";
    memset(m, 0, sizeof *m);
    memset(m->message_id, n, STORE_ID_LEN);
    snprintf(m->sender, sizeof m->sender, "sdf");
    snprintf(m->recipient, sizeof m->recipient, "%s", to);
    snprintf(m->purpose, sizeof m->purpose, "anvisning");
    snprintf(m->consent_id, sizeof m->consent_id, "%s", consent);
    memset(m->envelope_sha256, n, STORE_HASH_LEN);
    m->envelope = env;
    m->envelope_len = sizeof env;
    m->receipt = rc;
    m->receipt_len = sizeof rc;
    m->created_at = m->accepted_at = 1000 + n;
    m->audit_index = n;
}

static void
s_insert(uint8_t n, const char *to, const char *consent)
{
    store_msg_t m;
    remiss_err_t err;
    s_msg(&m, n, to, consent);
    cr_assert_eq(store_insert(s_st, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_gt(m.seq, 0);
}

static store_msg_t
s_find(uint8_t n)
{
    uint8_t id[STORE_ID_LEN];
    store_msg_t m;
    bool found = false;
    remiss_err_t err;
    memset(id, n, sizeof id);
    cr_assert_eq(store_find(s_st, id, &found, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert(found);
    return m;
}

static uint64_t
s_depth(const char *to)
{
    uint64_t d = 0;
    remiss_err_t err;
    cr_assert_eq(store_depth(s_st, to, &d, &err), REMISS_OK);
    return d;
}

Test(store, insert_find_and_a_second_insert_of_the_same_id_fails)
{
    store_msg_t m;
    remiss_err_t err;
    uint8_t absent[STORE_ID_LEN] = {0};
    bool found = true;
    s_insert(1, "jobbtorg", "");
    store_msg_t got = s_find(1);
    cr_assert_str_eq(got.sender, "sdf");
    cr_assert_str_eq(got.recipient, "jobbtorg");
    cr_assert_eq(got.state, STORE_QUEUED);
    cr_assert_eq(got.audit_index, 1);
    cr_assert_eq(got.receipt_len, sizeof "receipt bytes");
    cr_assert_arr_eq(got.receipt, "receipt bytes", got.receipt_len, "the stored receipt");
    store_msg_clear(&got);
    cr_assert_eq(store_find(s_st, absent, &found, &m, &err), REMISS_OK);
    cr_assert_not(found, "not found is OK with found false");
    /* An id is used once: the broker looks it up first (idempotent resend);
     * the store refuses a second row. */
    s_msg(&m, 1, "jobbtorg", "");
    cr_assert_eq(store_insert(s_st, &m, &err), REMISS_E_STORAGE);
    cr_assert_eq(s_depth("jobbtorg"), 1);
}

Test(store, due_mark_sent_redelivery_and_finish)
{
    store_msg_t out[4];
    size_t n = 0;
    remiss_err_t err;
    bool changed = false;
    s_insert(1, "jobbtorg", "");
    s_insert(2, "jobbtorg", "");
    s_insert(3, "other", "");
    cr_assert_eq(store_due(s_st, "jobbtorg", 5000, 4, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 2, "only the recipient's");
    cr_assert_eq(out[0].message_id[0], 1, "in acceptance order");
    uint64_t seq = out[0].seq;
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    cr_assert_eq(store_mark_sent(s_st, seq, 5000, 6000, &err), REMISS_OK);
    cr_assert_eq(store_due(s_st, "jobbtorg", 5500, 4, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1, "in flight until its redelivery time");
    store_msg_clear(&out[0]);
    cr_assert_eq(store_due(s_st, "jobbtorg", 6000, 4, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 2, "due again at next_at");
    cr_assert_eq(out[0].attempts, 1);
    cr_assert_eq(out[0].state, STORE_SENT);
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    cr_assert_eq(s_depth("jobbtorg"), 2, "queued plus in flight");

    uint8_t id[STORE_ID_LEN];
    memset(id, 1, sizeof id);
    cr_assert_eq(store_finish(s_st, id, "other", STORE_DONE, 0, "", 7000, &changed, &err),
                 REMISS_OK);
    cr_assert_not(changed, "only the recipient ends its message");
    cr_assert_eq(store_finish(s_st, id, "jobbtorg", STORE_DONE, 0, "", 7000, &changed, &err),
                 REMISS_OK);
    cr_assert(changed);
    cr_assert_eq(store_finish(s_st, id, "jobbtorg", STORE_DONE, 0, "", 7100, &changed, &err),
                 REMISS_OK);
    cr_assert_not(changed, "an ended message stays as it ended");
    store_msg_t m = s_find(1);
    cr_assert_eq(m.state, STORE_DONE);
    cr_assert_eq(m.acked_at, 7000);
    store_msg_clear(&m);
    cr_assert_eq(s_depth("jobbtorg"), 1);
}

Test(store, resend_now_makes_in_flight_messages_due)
{
    store_msg_t out[2];
    size_t n = 0;
    remiss_err_t err;
    s_insert(1, "jobbtorg", "");
    cr_assert_eq(store_due(s_st, "jobbtorg", 5000, 2, out, &n, &err), REMISS_OK);
    cr_assert_eq(store_mark_sent(s_st, out[0].seq, 5000, 900000, &err), REMISS_OK);
    store_msg_clear(&out[0]);
    cr_assert_eq(store_due(s_st, "jobbtorg", 5001, 2, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_resend_now(s_st, "jobbtorg", &err), REMISS_OK);
    cr_assert_eq(store_resend_now(s_st, "jobbtorg", &err), REMISS_OK, "idempotent");
    cr_assert_eq(store_due(s_st, "jobbtorg", 5001, 2, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1);
    store_msg_clear(&out[0]);
}

Test(store, dead_letters_are_listed_and_requeued)
{
    store_msg_t out[4];
    size_t n = 0;
    remiss_err_t err;
    bool changed = false;
    uint8_t id[STORE_ID_LEN];
    memset(id, 2, sizeof id);
    s_insert(1, "jobbtorg", "");
    s_insert(2, "jobbtorg", "");
    cr_assert_eq(store_finish(s_st, id, NULL, STORE_DEAD, 0, "refused", 7000, &changed, &err),
                 REMISS_OK);
    cr_assert(changed);
    cr_assert_eq(store_dead_letters(s_st, 4, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].reason, "refused");
    store_msg_clear(&out[0]);
    cr_assert_eq(store_requeue(s_st, id, &changed, &err), REMISS_OK);
    cr_assert(changed);
    cr_assert_eq(store_requeue(s_st, id, &changed, &err), REMISS_OK);
    cr_assert_not(changed, "only a dead or held message is requeued");
    store_msg_t m = s_find(2);
    cr_assert_eq(m.state, STORE_QUEUED);
    store_msg_clear(&m);
}

Test(store, consents_put_get_revoke_and_the_messages_resting_on_them)
{
    store_consent_t c, got, all[4];
    remiss_err_t err;
    bool exists = true, found = false;
    size_t n = 0;
    static uint8_t grant[] = "grant envelope";
    memset(&c, 0, sizeof c);
    snprintf(c.consent_id, sizeof c.consent_id, "c-1");
    snprintf(c.granted_by, sizeof c.granted_by, "sdf");
    memset(c.subject, 7, sizeof c.subject);
    c.grant = grant;
    c.grant_len = sizeof grant;
    c.granted_at = 1000;
    cr_assert_eq(store_consent_put(s_st, &c, &exists, &err), REMISS_OK, "%s", err.text);
    cr_assert_not(exists);
    cr_assert_eq(store_consent_put(s_st, &c, &exists, &err), REMISS_OK);
    cr_assert(exists, "an id is registered once");
    cr_assert_eq(store_consent_get(s_st, "c-1", &found, &got, &err), REMISS_OK);
    cr_assert(found);
    cr_assert_eq(got.revoked_at, 0);
    store_consent_clear(&got);
    cr_assert_eq(store_consents_for(s_st, c.subject, 4, all, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1, "found by the subject's pseudonym");
    store_consent_clear(&all[0]);

    s_insert(1, "jobbtorg", "c-1");
    s_insert(2, "jobbtorg", "c-2");
    store_msg_t out[4];
    cr_assert_eq(store_pending_by_consent(s_st, "c-1", 4, out, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].message_id[0], 1);
    store_msg_clear(&out[0]);

    cr_assert_eq(store_consent_revoke(s_st, "c-1", 2000, &err), REMISS_OK);
    cr_assert_eq(store_consent_get(s_st, "c-1", &found, &got, &err), REMISS_OK);
    cr_assert_eq(got.revoked_at, 2000);
    store_consent_clear(&got);
    cr_assert_eq(store_consent_get(s_st, "c-9", &found, &got, &err), REMISS_OK);
    cr_assert_not(found);
}

/* A savepoint undoes its own work only; the transaction keeps the rest. */
Test(store, savepoints_undo_one_message)
{
    remiss_err_t err;
    cr_assert_eq(store_begin(s_st, &err), REMISS_OK);
    s_insert(1, "jobbtorg", "");
    cr_assert_eq(store_savepoint(s_st, &err), REMISS_OK);
    s_insert(2, "jobbtorg", "");
    store_rollback_to(s_st);
    cr_assert_eq(store_savepoint(s_st, &err), REMISS_OK);
    s_insert(3, "jobbtorg", "");
    store_release(s_st);
    cr_assert_eq(store_commit(s_st, &err), REMISS_OK);
    cr_assert_eq(s_depth("jobbtorg"), 2, "messages 1 and 3");
    cr_assert_eq(store_begin(s_st, &err), REMISS_OK);
    s_insert(4, "jobbtorg", "");
    store_rollback(s_st);
    cr_assert_eq(s_depth("jobbtorg"), 2, "a rolled back transaction leaves nothing");
}

Test(store, purge_drops_the_bodies_of_ended_messages_only)
{
    remiss_err_t err;
    bool changed;
    uint64_t purged = 0;
    uint8_t id[STORE_ID_LEN];
    memset(id, 1, sizeof id);
    s_insert(1, "jobbtorg", "");
    s_insert(2, "jobbtorg", "");
    cr_assert_eq(store_finish(s_st, id, NULL, STORE_DONE, 0, "", 3000, &changed, &err), REMISS_OK);
    cr_assert_eq(store_purge(s_st, 4000, &purged, &err), REMISS_OK);
    cr_assert_eq(purged, 1);
    store_msg_t m = s_find(1);
    cr_assert_null(m.envelope, "the body is gone");
    cr_assert_eq(m.state, STORE_DONE, "the metadata stays");
    store_msg_clear(&m);
    m = s_find(2);
    cr_assert_not_null(m.envelope, "a queued message keeps its body");
    store_msg_clear(&m);
}

Test(store, admin_requests_are_pending_until_done)
{
    store_admin_t req, out[2];
    remiss_err_t err;
    int64_t id = 0;
    size_t n = 0;
    bool found = false;
    memset(&req, 0, sizeof req);
    snprintf(req.action, sizeof req.action, "requeue");
    snprintf(req.actor, sizeof req.actor, "root");
    cr_assert_eq(store_admin_request(s_st, &req, 1000, &id, &err), REMISS_OK);
    cr_assert_eq(store_admin_pending(s_st, out, 2, &n, &err), REMISS_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].id, id);
    cr_assert_eq(store_admin_done(s_st, id, "OK: done", 2000, &err), REMISS_OK);
    cr_assert_eq(store_admin_pending(s_st, out, 2, &n, &err), REMISS_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(store_admin_get(s_st, id, &out[0], &found, &err), REMISS_OK);
    cr_assert(found);
    cr_assert_str_eq(out[0].result, "OK: done");
    cr_assert_eq(out[0].done_at, 2000);
}
