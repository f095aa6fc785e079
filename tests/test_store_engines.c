/* The store.h contract, the same cases on both engines: SQLite (a file)
 * and PostgreSQL (a server of the test's own, tests/helpers/pgtest). Then
 * what only the PostgreSQL engine has to get right: a lost server, a
 * commit that only committed locally, and the store name syntax. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atrest.h"
#include "config.h"
#include "pgtest.h"
#include "store.h"

/* One test's store: each test runs in a process of its own. */
static struct {
    bool pg;
    pgtest_t server;
    char dir[128];
    char spec[300];
    store_t *st;
} s_env;

static void
s_open(void)
{
    remiss_err_t err;
    s_env.st = store_open(s_env.spec, &err);
    cr_assert_not_null(s_env.st, "%s", err.text);
}

static void
s_up_sqlite(void)
{
    memset(&s_env, 0, sizeof s_env);
    snprintf(s_env.dir, sizeof s_env.dir, "/tmp/remiss-store-XXXXXX");
    cr_assert_not_null(mkdtemp(s_env.dir));
    snprintf(s_env.spec, sizeof s_env.spec, "sqlite:%s/remiss.db", s_env.dir);
    s_open();
}

static void
s_up_pg(void)
{
    memset(&s_env, 0, sizeof s_env);
    s_env.pg = true;
    pgtest_start(&s_env.server);
    snprintf(s_env.spec, sizeof s_env.spec, "%s", s_env.server.uri);
    s_open();
}

static void
s_down(void)
{
    char cmd[200];
    store_close(&s_env.st);
    if (s_env.pg)
        pgtest_stop(&s_env.server);
    if (s_env.dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", s_env.dir);
        (void)system(cmd);
    }
}

/* Defines case name for both engines. */
#define ENGINE_TEST(name)                                                                          \
    static void s_case_##name(store_t *st);                                                        \
    Test(sqlite, name, .init = s_up_sqlite, .fini = s_down, .timeout = 60)                         \
    {                                                                                              \
        s_case_##name(s_env.st);                                                                   \
    }                                                                                              \
    Test(postgresql, name, .init = s_up_pg, .fini = s_down, .timeout = 120)                        \
    {                                                                                              \
        s_case_##name(s_env.st);                                                                   \
    }                                                                                              \
    static void s_case_##name(store_t *st)

/* ---------------------------------------------------------------- helpers */

static uint8_t s_envelope[3000];

/* A message numbered i (its id, subject and contents derive from i). */
static void
s_msg(store_msg_t *m, int i, const char *recipient)
{
    memset(m, 0, sizeof *m);
    memset(m->message_id, 0, STORE_ID_LEN);
    m->message_id[0] = 0xa5;
    m->message_id[1] = 0x00; /* a zero byte inside: bytes, not text */
    m->message_id[15] = (uint8_t)i;
    m->message_id[14] = (uint8_t)(i >> 8);
    snprintf(m->sender, sizeof m->sender, "sdf-rinkeby-kista");
    snprintf(m->recipient, sizeof m->recipient, "%s", recipient);
    m->type = 1;
    snprintf(m->purpose, sizeof m->purpose, "anvisning");
    snprintf(m->consent_id, sizeof m->consent_id, "c-%d", i % 3);
    m->has_subject = true;
    memset(m->subject, i % 5, STORE_HASH_LEN);
    memset(m->envelope_sha256, 0xee, STORE_HASH_LEN);
    for (size_t k = 0; k < sizeof s_envelope; k++)
        s_envelope[k] = (uint8_t)(k * 7 + 1);
    s_envelope[10] = 0;
    m->envelope = s_envelope;
    m->envelope_len = sizeof s_envelope - (size_t)i;
    m->receipt = (uint8_t *)"receipt\0bytes";
    m->receipt_len = 13;
    m->created_at = 1700000000000 + i;
    m->accepted_at = 1700000000500 + i;
    m->audit_index = (uint64_t)i * 2;
    m->has_linked = i % 2 == 1;
    memset(m->linked_id, 0x11, STORE_ID_LEN);
}

static void
s_ok(remiss_code_t r, const remiss_err_t *err)
{
    cr_assert_eq(r, REMISS_OK, "%s", err->text);
}

static void
s_put(store_t *st, int i, const char *recipient, store_msg_t *m)
{
    remiss_err_t err;
    s_msg(m, i, recipient);
    s_ok(store_insert(st, m, &err), &err);
}

static void
s_insert_n(store_t *st, int from, int n, const char *recipient)
{
    remiss_err_t err;
    store_msg_t m;
    s_ok(store_begin(st, &err), &err);
    for (int i = from; i < from + n; i++)
        s_put(st, i, recipient, &m);
    s_ok(store_commit(st, &err), &err);
}

/* Acknowledgements by recipient of messages from .. from+n-1, into f (their
 * ids kept in fid). */
static void
s_acks(store_finish_req_t *f, uint8_t (*fid)[STORE_ID_LEN], int from, int n, const char *recipient)
{
    store_msg_t m;
    for (int i = 0; i < n; i++) {
        s_msg(&m, from + i, recipient);
        memcpy(fid[i], m.message_id, STORE_ID_LEN);
        f[i] = (store_finish_req_t){
            .id = fid[i], .recipient = recipient, .state = STORE_DONE, .reason = ""};
    }
}

/* ---------------------------------------------------------------- messages */

ENGINE_TEST(insert_and_find_keep_every_field)
{
    remiss_err_t err;
    store_msg_t in, out;
    bool found;
    s_ok(store_begin(st, &err), &err);
    s_put(st, 1, "jobbtorg", &in);
    s_ok(store_commit(st, &err), &err);
    s_ok(store_find(st, in.message_id, &found, &out, &err), &err);
    cr_assert(found);
    cr_assert_gt(out.seq, 0);
    cr_assert(in.seq == 0 || out.seq == in.seq);
    cr_assert_arr_eq(out.message_id, in.message_id, STORE_ID_LEN);
    cr_assert_str_eq(out.sender, "sdf-rinkeby-kista");
    cr_assert_str_eq(out.recipient, "jobbtorg");
    cr_assert_str_eq(out.consent_id, "c-1");
    cr_assert(out.has_subject);
    cr_assert_arr_eq(out.subject, in.subject, STORE_HASH_LEN);
    cr_assert_eq(out.envelope_len, in.envelope_len);
    cr_assert_arr_eq(out.envelope, in.envelope, in.envelope_len);
    cr_assert_eq(out.receipt_len, 13);
    cr_assert_arr_eq(out.receipt, in.receipt, 13);
    cr_assert_eq(out.created_at, in.created_at);
    cr_assert_eq(out.accepted_at, in.accepted_at);
    cr_assert_eq(out.audit_index, 2);
    cr_assert_eq(out.state, STORE_QUEUED);
    cr_assert(out.has_linked);
    cr_assert_not(out.has_transfer_ack);
    store_msg_clear(&out);
    uint8_t other[STORE_ID_LEN] = {9};
    s_ok(store_find(st, other, &found, &out, &err), &err);
    cr_assert_not(found);
}

/* The database, not the broker, keeps a message id unique: a second insert
 * fails (the broker answers it from store_find: idempotent or E_REPLAY).
 * SQLite says so at once and the savepoint undoes it; PostgreSQL sends the
 * insert with the next statement that waits and fails the commit. Either
 * way the id is stored once and nothing is acknowledged that is not. */
ENGINE_TEST(a_message_id_is_stored_once)
{
    remiss_err_t err;
    store_msg_t m;
    uint64_t depth;
    s_insert_n(st, 1, 1, "dup-test");
    s_ok(store_begin(st, &err), &err);
    s_ok(store_savepoint(st, &err), &err);
    s_msg(&m, 1, "dup-test");
    remiss_code_t dup = store_insert(st, &m, &err);
    store_rollback_to(st);
    remiss_code_t commit = store_commit(st, &err);
    cr_assert((dup == REMISS_E_STORAGE && commit == REMISS_OK) ||
                  (dup == REMISS_OK && commit == REMISS_E_STORAGE),
              "insert %d, commit %d", dup, commit);
    s_ok(store_depth(st, "dup-test", &depth, &err), &err);
    cr_assert_eq(depth, 1);
}

ENGINE_TEST(a_savepoint_undoes_only_its_work)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    s_insert_n(st, 1, 1, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    s_ok(store_savepoint(st, &err), &err);
    s_put(st, 2, "jobbtorg", &m);
    store_release(st);
    s_ok(store_savepoint(st, &err), &err);
    s_put(st, 3, "jobbtorg", &m);
    store_rollback_to(st);
    s_ok(store_savepoint(st, &err), &err);
    s_put(st, 4, "jobbtorg", &m);
    store_release(st);
    s_ok(store_commit(st, &err), &err);
    for (int i = 1; i <= 4; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
        cr_assert_eq(found, i != 3, "message %d", i);
        if (found)
            store_msg_clear(&out);
    }
}

/* A write the store reported OK is in the commit, or the commit fails.
 * (The PostgreSQL engine sends writes whose result nobody needs with the
 * next statement that waits: a failure shows late, under a later
 * savepoint, and must then fail the whole transaction.) */
ENGINE_TEST(a_write_reported_ok_is_committed_or_the_commit_fails)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    uint8_t entry[8] = {1, 2, 3};
    s_ok(store_begin(st, &err), &err);
    s_ok(store_savepoint(st, &err), &err);
    s_ok(store_audit_put(st, 0, entry, sizeof entry, NULL, NULL, &err), &err);
    store_release(st);
    s_ok(store_savepoint(st, &err), &err);
    remiss_code_t second = store_audit_put(st, 0, entry, sizeof entry, NULL, NULL, &err);
    if (second == REMISS_OK)
        store_release(st);
    else
        store_rollback_to(st);
    remiss_code_t later = store_savepoint(st, &err);
    if (later == REMISS_OK) {
        s_msg(&m, 5, "jobbtorg");
        later = store_find(st, m.message_id, &found, &out, &err);
        if (later == REMISS_OK && found)
            store_msg_clear(&out);
        store_rollback_to(st);
    }
    remiss_code_t commit = store_commit(st, &err);
    cr_assert(second != REMISS_OK || commit != REMISS_OK,
              "a duplicate audit index was reported stored and the transaction committed");
}

/* Text that is not UTF-8 (a recipient's refusal reason, say) fails at most
 * its own statement, never the transaction with everyone else's work. */
ENGINE_TEST(text_that_is_not_utf8_fails_only_its_own_statement)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool changed, found;
    s_insert_n(st, 100, 1, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    s_put(st, 101, "jobbtorg", &m);
    s_msg(&m, 100, "jobbtorg");
    (void)store_finish(st, m.message_id, "jobbtorg", STORE_DEAD, 0, "bad \xff\xfe text", 5,
                       &changed, &err);
    s_put(st, 102, "jobbtorg", &m);
    s_ok(store_commit(st, &err), &err);
    for (int i = 101; i <= 102; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
        cr_assert(found, "message %d", i);
        store_msg_clear(&out);
    }
}

/* Commit and the next begin in one go: what came before is kept, the new
 * transaction is a transaction of its own (one round trip on PostgreSQL). */
ENGINE_TEST(commit_begin_keeps_the_first_and_opens_the_next)
{
    remiss_err_t err;
    store_msg_t m, out;
    store_stats_t s0, s1;
    bool begun = false, found;
    s_ok(store_begin(st, &err), &err);
    s_put(st, 130, "jobbtorg", &m);
    store_stats(st, &s0);
    s_ok(store_commit_begin(st, NULL, 0, 0, &begun, &err), &err);
    store_stats(st, &s1);
    cr_assert(begun);
    if (strcmp(store_engine(st), "postgresql") == 0)
        cr_assert_eq(s1.round_trips - s0.round_trips, 1, "commit and begin in one round trip");
    s_put(st, 131, "jobbtorg", &m);
    store_rollback(st);
    s_msg(&m, 130, "jobbtorg");
    s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
    cr_assert(found, "committed before the new transaction");
    store_msg_clear(&out);
    s_msg(&m, 131, "jobbtorg");
    s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
    cr_assert_not(found, "the new transaction was rolled back on its own");
}

ENGINE_TEST(a_rolled_back_transaction_leaves_nothing)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found, started;
    s_ok(store_begin(st, &err), &err);
    s_put(st, 4, "jobbtorg", &m);
    store_rollback(st);
    s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
    cr_assert_not(found);
    s_ok(store_begin_read(st, &started, &err), &err);
    cr_assert(started);
    s_ok(store_begin_read(st, &started, &err), &err);
    cr_assert_not(started, "inside a transaction begin_read does nothing");
    store_rollback(st);
}

ENGINE_TEST(due_mark_sent_finish_requeue_and_depth)
{
    remiss_err_t err;
    store_msg_t out[8];
    size_t n;
    uint64_t depth;
    bool changed;
    s_insert_n(st, 10, 3, "jobbtorg");
    s_insert_n(st, 20, 1, "other");
    s_ok(store_due(st, "jobbtorg", 1000, 8, out, &n, &err), &err);
    cr_assert_eq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(out[i].message_id[15], 10 + i, "acceptance order");
    uint64_t first = out[0].seq;
    uint8_t id0[STORE_ID_LEN];
    memcpy(id0, out[0].message_id, STORE_ID_LEN);
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    s_ok(store_due(st, "jobbtorg", 1000, 2, out, &n, &err), &err);
    cr_assert_eq(n, 2, "max bounds the rows");
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);

    s_ok(store_mark_sent(st, first, 1000, 5000, &err), &err);
    s_ok(store_due(st, "jobbtorg", 2000, 8, out, &n, &err), &err);
    cr_assert_eq(n, 2, "sent and not yet due again");
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    s_ok(store_due(st, "jobbtorg", 6000, 8, out, &n, &err), &err);
    cr_assert_eq(n, 3, "due again after next_at");
    cr_assert_eq(out[0].state, STORE_SENT);
    cr_assert_eq(out[0].attempts, 1);
    cr_assert_eq(out[0].delivered_at, 1000);
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    s_ok(store_mark_sent(st, first, 7000, 90000, &err), &err);
    s_ok(store_resend_now(st, "jobbtorg", &err), &err);
    s_ok(store_due(st, "jobbtorg", 7001, 8, out, &n, &err), &err);
    cr_assert_eq(n, 3, "resend_now makes it due");
    cr_assert_eq(out[0].delivered_at, 1000, "first delivery time kept");
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);

    s_ok(store_depth(st, "jobbtorg", &depth, &err), &err);
    cr_assert_eq(depth, 3);
    s_ok(store_finish(st, id0, "other", STORE_DONE, 0, "", 8000, &changed, &err), &err);
    cr_assert_not(changed, "only the recipient ends its message");
    s_ok(store_finish(st, id0, "jobbtorg", STORE_DONE, 0, "", 8000, &changed, &err), &err);
    cr_assert(changed);
    s_ok(store_finish(st, id0, NULL, STORE_DEAD, 1, "x", 8001, &changed, &err), &err);
    cr_assert_not(changed, "an ended message stays ended");
    s_ok(store_depth(st, "jobbtorg", &depth, &err), &err);
    cr_assert_eq(depth, 2);
    bool found;
    s_ok(store_find(st, id0, &found, &out[0], &err), &err);
    cr_assert_eq(out[0].state, STORE_DONE);
    cr_assert_eq(out[0].acked_at, 8000);
    store_msg_clear(&out[0]);
    s_ok(store_requeue(st, id0, &changed, &err), &err);
    cr_assert_not(changed, "a done message is not requeued");
}

/* A cycle's acknowledgements in one go: each changes only the recipient's
 * own message, once, and comes back with the row for its audit entry. */
ENGINE_TEST(finish_many_ends_each_as_finish_would_with_its_row)
{
    remiss_err_t err;
    store_msg_t m[4];
    s_insert_n(st, 40, 4, "jobbtorg");
    for (int i = 0; i < 4; i++)
        s_msg(&m[i], 40 + i, "jobbtorg");
    store_finish_req_t f[5] = {
        {.id = m[0].message_id, .recipient = "jobbtorg", .state = STORE_DONE, .reason = ""},
        {.id = m[1].message_id, .recipient = "other", .state = STORE_DONE, .reason = ""},
        {.id = m[2].message_id,
         .recipient = "jobbtorg",
         .state = STORE_DEAD,
         .code = 0,
         .reason = "refused by the recipient"},
        {.id = m[0].message_id, .recipient = "jobbtorg", .state = STORE_DONE, .reason = ""},
        {.id = m[3].message_id, .recipient = NULL, .state = STORE_DONE, .reason = ""},
    };
    s_ok(store_begin(st, &err), &err);
    s_ok(store_finish_many(st, f, 5, 9000, true, &err), &err);
    s_ok(store_commit(st, &err), &err);
    bool changed[5] = {true, false, true, false, true};
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(f[i].changed, changed[i], "request %d", i);
        cr_expect_eq(f[i].has_row, changed[i], "request %d: a row only when changed", i);
    }
    cr_assert_eq(f[0].row.state, STORE_DONE);
    cr_assert_eq(f[0].row.acked_at, 9000);
    cr_assert_str_eq(f[0].row.sender, "sdf-rinkeby-kista");
    cr_assert_eq(memcmp(f[0].row.subject, m[0].subject, STORE_HASH_LEN), 0);
    cr_assert_eq(memcmp(f[0].row.envelope_sha256, m[0].envelope_sha256, STORE_HASH_LEN), 0);
    cr_assert_null(f[0].row.envelope, "the body stays in the store");
    cr_assert_eq(f[2].row.state, STORE_DEAD);
    cr_assert_str_eq(f[2].row.reason, "refused by the recipient");
    for (int i = 0; i < 5; i++)
        if (f[i].has_row)
            store_msg_clear(&f[i].row);
    bool found;
    store_msg_t out;
    s_ok(store_find(st, m[1].message_id, &found, &out, &err), &err);
    cr_assert_eq(out.state, STORE_QUEUED, "another party's acknowledgement changes nothing");
    store_msg_clear(&out);
}

/* store_prefetch answers "not stored" only until the id is stored: a second
 * submission of the same id in one cycle must find the first. */
ENGINE_TEST(prefetch_never_hides_what_is_stored)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    uint8_t ids[3][STORE_ID_LEN];
    s_insert_n(st, 50, 1, "jobbtorg");
    for (int i = 0; i < 3; i++) {
        s_msg(&m, 50 + i, "jobbtorg");
        memcpy(ids[i], m.message_id, STORE_ID_LEN);
    }
    s_ok(store_begin(st, &err), &err);
    store_prefetch(st, (const uint8_t(*)[STORE_ID_LEN])ids, 3);
    s_ok(store_find(st, ids[0], &found, &out, &err), &err);
    cr_assert(found, "a stored id is found after a prefetch");
    store_msg_clear(&out);
    s_ok(store_find(st, ids[1], &found, &out, &err), &err);
    cr_assert_not(found);
    s_put(st, 51, "jobbtorg", &m);
    s_ok(store_find(st, ids[1], &found, &out, &err), &err);
    cr_assert(found, "stored in this transaction, after the prefetch");
    store_msg_clear(&out);
    s_ok(store_commit(st, &err), &err);
    s_ok(store_begin(st, &err), &err);
    store_prefetch(st, (const uint8_t(*)[STORE_ID_LEN])ids, 3);
    store_rollback(st);
    s_insert_n(st, 52, 1, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    s_ok(store_find(st, ids[2], &found, &out, &err), &err);
    cr_assert(found, "a prefetch ends with its transaction");
    store_msg_clear(&out);
    store_rollback(st);
}

/* The gauges' one look at every queue: depth and oldest per recipient,
 * ended messages not counted. */
ENGINE_TEST(queues_counts_every_recipients_pending_messages)
{
    remiss_err_t err;
    store_queue_t q[4];
    size_t n;
    bool changed;
    store_msg_t m;
    s_insert_n(st, 60, 3, "jobbtorg");
    s_insert_n(st, 70, 2, "other");
    s_msg(&m, 60, "jobbtorg");
    s_ok(store_finish(st, m.message_id, "jobbtorg", STORE_DONE, 0, "", 9000, &changed, &err), &err);
    s_ok(store_queues(st, q, 4, &n, &err), &err);
    cr_assert_eq(n, 2);
    const store_queue_t *jt = store_queue_of(q, n, "jobbtorg"), *o = store_queue_of(q, n, "other");
    cr_assert(jt && o);
    cr_assert_eq(jt->depth, 2, "the acknowledged one is not queued");
    cr_assert_eq(jt->oldest, 1700000000500 + 61);
    cr_assert_eq(o->depth, 2);
    cr_assert_null(store_queue_of(q, n, "nobody"));
    s_ok(store_queues(st, q, 1, &n, &err), &err);
    cr_assert_eq(n, 1, "max bounds the rows");
}

/* A delivery pump's recipients read together: each gets its own due rows,
 * bounded by its max, in acceptance order. */
ENGINE_TEST(due_many_reads_each_recipients_rows)
{
    remiss_err_t err;
    store_msg_t a[2], b[4];
    store_stats_t s0, s1;
    s_insert_n(st, 110, 3, "jobbtorg");
    s_insert_n(st, 120, 2, "other");
    store_due_req_t r[3] = {{.recipient = "jobbtorg", .max = 2, .out = a},
                            {.recipient = "other", .max = 4, .out = b},
                            {.recipient = "nobody", .max = 1, .out = NULL}};
    s_ok(store_begin(st, &err), &err);
    store_stats(st, &s0);
    s_ok(store_due_many(st, r, 3, 1000, &err), &err);
    store_stats(st, &s1);
    cr_assert_eq(r[0].n, 2, "max bounds the rows");
    cr_assert_eq(r[0].out[0].message_id[15], 110);
    cr_assert_eq(r[0].out[1].message_id[15], 111);
    cr_assert_eq(r[1].n, 2);
    cr_assert_str_eq(r[1].out[0].recipient, "other");
    cr_assert_eq(r[2].n, 0);
    if (strcmp(store_engine(st), "postgresql") == 0)
        cr_assert_eq(s1.round_trips - s0.round_trips, 1, "one round trip with the lock");
    for (int i = 0; i < 2; i++)
        store_msg_clear(&r[0].out[i]);
    for (size_t i = 0; i < r[1].n; i++)
        store_msg_clear(&r[1].out[i]);
    store_rollback(st);
}

/* A commit that begins the next transaction reads what it made due in it:
 * the rows of the messages it committed, with the write lock taken for
 * their delivery marks (one round trip on PostgreSQL, where it was three:
 * commit, lock, read). */
ENGINE_TEST(commit_begin_reads_what_the_commit_made_due)
{
    remiss_err_t err;
    store_msg_t m, a[4], b[2];
    store_stats_t s0, s1;
    bool begun = false;
    store_due_req_t r[2] = {{.recipient = "jobbtorg", .max = 4, .out = a},
                            {.recipient = "other", .max = 2, .out = b}};
    s_ok(store_begin(st, &err), &err);
    s_put(st, 140, "jobbtorg", &m);
    s_put(st, 141, "jobbtorg", &m);
    r[1].n = 7; /* what the call is to set */
    store_stats(st, &s0);
    s_ok(store_commit_begin(st, r, 2, 1000, &begun, &err), &err);
    store_stats(st, &s1);
    cr_assert(begun);
    cr_assert_eq(r[0].n, 2, "both committed messages are due");
    cr_assert_eq(r[0].out[0].message_id[15], 140);
    cr_assert_eq(r[0].out[1].message_id[15], 141);
    cr_assert_eq(r[0].out[0].envelope_len, m.envelope_len + 1, "with the body");
    cr_assert_eq(r[1].n, 0);
    if (strcmp(store_engine(st), "postgresql") == 0) {
        cr_assert_eq(s1.round_trips - s0.round_trips, 1, "%llu round trips",
                     (unsigned long long)(s1.round_trips - s0.round_trips));
        cr_assert(store_locked(st), "the lock for the delivery marks came with the reads");
    }
    uint64_t seq = r[0].out[0].seq;
    for (size_t i = 0; i < r[0].n; i++)
        store_msg_clear(&r[0].out[i]);
    /* The new transaction writes as any other and ends on its own. */
    s_ok(store_mark_sent(st, seq, 1000, 5000, &err), &err);
    s_ok(store_commit(st, &err), &err);
    s_ok(store_begin(st, &err), &err);
    s_ok(store_due(st, "jobbtorg", 1000, 4, a, &r[0].n, &err), &err);
    cr_assert_eq(r[0].n, 1, "the mark of the new transaction was kept");
    cr_assert_eq(a[0].message_id[15], 141);
    store_msg_clear(&a[0]);
    store_rollback(st);
}

/* A commit that fails reads nothing and begins nothing: no row of a
 * transaction that did not commit reaches a recipient. (PostgreSQL: the
 * duplicate insert is found at the commit, and the reads queued behind it
 * run outside any transaction.) */
Test(postgresql, a_failed_commit_begin_reads_nothing, .init = s_up_pg, .fini = s_down,
     .timeout = 120)
{
    remiss_err_t err;
    store_msg_t m, a[4];
    bool begun = true;
    store_due_req_t r = {.recipient = "jobbtorg", .max = 4, .out = a};
    store_t *st = s_env.st;
    s_insert_n(st, 150, 1, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    s_put(st, 151, "jobbtorg", &m);
    s_msg(&m, 150, "jobbtorg"); /* stored already: the insert fails at the commit */
    store_insert(st, &m, &err);
    cr_assert_eq(store_commit_begin(st, &r, 1, 1000, &begun, &err), REMISS_E_STORAGE);
    cr_assert_not(begun);
    cr_assert_eq(r.n, 0, "no row of a failed commit");
    cr_assert_not(store_locked(st));
    /* Nothing of it was kept, and the store goes on. */
    bool found;
    s_msg(&m, 151, "jobbtorg");
    s_ok(store_find(st, m.message_id, &found, a, &err), &err);
    cr_assert_not(found);
    s_ok(store_begin(st, &err), &err);
    s_ok(store_due(st, "jobbtorg", 1000, 4, a, &r.n, &err), &err);
    cr_assert_eq(r.n, 1);
    store_msg_clear(&a[0]);
    s_ok(store_commit(st, &err), &err);
}

/* A cycle's acknowledgements and its submissions' look-up together: each
 * acknowledgement ends its message as store_finish_many would, the
 * look-up answers as store_prefetch would. */
ENGINE_TEST(prefetch_finish_ends_and_looks_up_together)
{
    remiss_err_t err;
    store_msg_t m;
    bool found;
    uint8_t ids[2][STORE_ID_LEN];
    store_finish_req_t f[3];
    s_insert_n(st, 160, 3, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    s_msg(&m, 160, "jobbtorg");
    memcpy(ids[0], m.message_id, STORE_ID_LEN); /* stored */
    s_msg(&m, 170, "jobbtorg");
    memcpy(ids[1], m.message_id, STORE_ID_LEN); /* not */
    uint8_t fid[3][STORE_ID_LEN];
    s_acks(f, fid, 161, 3, "jobbtorg");
    f[2].recipient = "other";
    s_ok(store_prefetch_finish(st, (const uint8_t(*)[STORE_ID_LEN])ids, 2, f, 3, 9000, true, &err),
         &err);
    cr_assert(f[0].changed && f[0].has_row);
    cr_assert_eq(f[0].row.state, STORE_DONE);
    cr_assert_eq(f[0].row.message_id[15], 161);
    cr_assert(f[1].changed && f[1].has_row);
    cr_assert_not(f[2].changed, "not the recipient's: unchanged");
    cr_assert_not(f[2].has_row);
    store_msg_clear(&f[0].row);
    store_msg_clear(&f[1].row);
    s_ok(store_find(st, ids[0], &found, &m, &err), &err);
    cr_assert(found, "the look-up hides nothing stored");
    store_msg_clear(&m);
    s_ok(store_find(st, ids[1], &found, &m, &err), &err);
    cr_assert_not(found);
    s_ok(store_commit(st, &err), &err);
    s_ok(store_find(st, fid[1], &found, &m, &err), &err);
    cr_assert(found && m.state == STORE_DONE, "the acknowledgement committed");
    store_msg_clear(&m);
}

ENGINE_TEST(dead_letters_and_requeue)
{
    remiss_err_t err;
    store_msg_t m, out[8];
    size_t n;
    bool changed;
    s_insert_n(st, 30, 3, "jobbtorg");
    s_msg(&m, 30, "jobbtorg");
    s_ok(store_finish(st, m.message_id, "jobbtorg", STORE_DEAD, 7, "refused", 100, &changed, &err),
         &err);
    cr_assert(changed);
    s_msg(&m, 31, "jobbtorg");
    s_ok(store_finish(st, m.message_id, NULL, STORE_HELD, 8, "held", 101, &changed, &err), &err);
    s_ok(store_dead_letters(st, 8, out, &n, &err), &err);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].message_id[15], 31, "newest first");
    cr_assert_eq(out[0].state, STORE_HELD);
    cr_assert_eq(out[1].code, 7);
    cr_assert_str_eq(out[1].reason, "refused");
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
    /* What remissctl status and the metrics show: dead (not held) messages,
     * and the oldest message still queued per recipient. */
    uint64_t dead = 99;
    int64_t oldest = -1;
    s_ok(store_dead_count(st, &dead, &err), &err);
    cr_assert_eq(dead, 1);
    s_ok(store_oldest(st, "jobbtorg", &oldest, &err), &err);
    cr_assert_eq(oldest, 1700000000500 + 32, "the only queued one");
    s_ok(store_oldest(st, "nobody", &oldest, &err), &err);
    cr_assert_eq(oldest, 0, "an empty queue");
    s_msg(&m, 30, "jobbtorg");
    s_ok(store_requeue(st, m.message_id, &changed, &err), &err);
    cr_assert(changed);
    s_ok(store_dead_count(st, &dead, &err), &err);
    cr_assert_eq(dead, 0);
    s_ok(store_oldest(st, "jobbtorg", &oldest, &err), &err);
    cr_assert_eq(oldest, 1700000000500 + 30, "requeued: queued again");
    s_ok(store_dead_letters(st, 8, out, &n, &err), &err);
    cr_assert_eq(n, 1);
    store_msg_clear(&out[0]);
    s_ok(store_due(st, "jobbtorg", 0, 8, out, &n, &err), &err);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].attempts, 0);
    cr_assert_str_eq(out[0].reason, "");
    for (size_t i = 0; i < n; i++)
        store_msg_clear(&out[i]);
}

ENGINE_TEST(transfer_links_only_between_the_original_parties)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    uint8_t ack[STORE_ID_LEN];
    memset(ack, 0x42, sizeof ack);
    s_insert_n(st, 40, 1, "jobbtorg");
    s_msg(&m, 40, "jobbtorg");
    s_ok(store_link_transfer(st, m.message_id, "intruder", "jobbtorg", 2, "unit", ack, &err), &err);
    s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
    cr_assert_eq(out.transfer_decision, 0);
    store_msg_clear(&out);
    s_ok(store_link_transfer(st, m.message_id, "sdf-rinkeby-kista", "jobbtorg", 2, "Enhet Kista",
                             ack, &err),
         &err);
    s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
    cr_assert_eq(out.transfer_decision, 2);
    cr_assert_str_eq(out.receiving_unit, "Enhet Kista");
    cr_assert(out.has_transfer_ack);
    cr_assert_arr_eq(out.transfer_ack_id, ack, STORE_ID_LEN);
    store_msg_clear(&out);
}

/* Retention drops the body of what ended before the cut, and with it the
 * sentence a recipient gave for refusing it (free text, which may say
 * more about the person than the metadata); what ended later keeps both. */
ENGINE_TEST(purge_drops_bodies_of_ended_messages_only)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool changed, found;
    uint64_t purged;
    static const char why[] = "Personen har flyttat till Malmö";
    s_insert_n(st, 50, 4, "jobbtorg");
    s_msg(&m, 50, "jobbtorg");
    s_ok(store_finish(st, m.message_id, NULL, STORE_DONE, 0, "", 1000, &changed, &err), &err);
    s_msg(&m, 51, "jobbtorg");
    s_ok(store_finish(st, m.message_id, NULL, STORE_DEAD, 3, why, 9000, &changed, &err), &err);
    s_msg(&m, 53, "jobbtorg");
    s_ok(store_finish(st, m.message_id, NULL, STORE_DEAD, 3, why, 2000, &changed, &err), &err);
    s_ok(store_purge(st, 5000, &purged, &err), &err);
    cr_assert_eq(purged, 2);
    for (int i = 50; i < 54; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
        cr_assert(found);
        cr_assert_eq(out.envelope == NULL, i == 50 || i == 53, "message %d", i);
        cr_assert_eq(out.receipt_len, 13, "metadata stays");
        cr_assert_eq(out.state, i == 50 ? STORE_DONE : i == 52 ? STORE_QUEUED : STORE_DEAD);
        if (i == 51)
            cr_assert_str_eq(out.reason, why, "ended after the cut: kept");
        else
            cr_assert_str_eq(out.reason, "", "message %d: %s", i, out.reason);
        store_msg_clear(&out);
    }
    s_ok(store_purge(st, 5000, &purged, &err), &err);
    cr_assert_eq(purged, 0);
}

/* ---------------------------------------------------------------- consents */

ENGINE_TEST(consents_put_get_revoke_and_by_subject)
{
    remiss_err_t err;
    store_consent_t c = {0}, out[4];
    bool exists, found;
    size_t n;
    snprintf(c.consent_id, sizeof c.consent_id, "c-1");
    snprintf(c.granted_by, sizeof c.granted_by, "sdf-rinkeby-kista");
    memset(c.subject, 1, STORE_HASH_LEN);
    c.grant = (uint8_t *)"\x0a\x00grant";
    c.grant_len = 7;
    c.granted_at = 1000;
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    cr_assert_not(exists);
    c.granted_at = 2000;
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    cr_assert(exists, "the id is taken");
    snprintf(c.consent_id, sizeof c.consent_id, "c-2");
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    s_ok(store_consent_get(st, "c-1", &found, &out[0], &err), &err);
    cr_assert(found);
    cr_assert_eq(out[0].granted_at, 1000, "the first registration stays");
    cr_assert_eq(out[0].grant_len, 7);
    cr_assert_arr_eq(out[0].grant, c.grant, 7);
    cr_assert_eq(out[0].revoked_at, 0);
    store_consent_clear(&out[0]);
    s_ok(store_consent_revoke(st, "c-1", 3000, &err), &err);
    s_ok(store_consent_revoke(st, "c-1", 4000, &err), &err);
    s_ok(store_consents_for(st, c.subject, 4, out, &n, &err), &err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].consent_id, "c-1");
    cr_assert_eq(out[0].revoked_at, 3000, "revoked once");
    for (size_t i = 0; i < n; i++)
        store_consent_clear(&out[i]);
    s_ok(store_consent_get(st, "c-9", &found, &out[0], &err), &err);
    cr_assert_not(found);
}

ENGINE_TEST(pending_by_consent_lists_only_queued_and_sent)
{
    remiss_err_t err;
    store_msg_t m, out[8];
    size_t n;
    bool changed;
    s_insert_n(st, 60, 6, "jobbtorg"); /* consents c-0, c-1, c-2, c-0, c-1, c-2 */
    s_msg(&m, 60, "jobbtorg");
    s_ok(store_finish(st, m.message_id, NULL, STORE_DONE, 0, "", 1, &changed, &err), &err);
    s_ok(store_pending_by_consent(st, "c-0", 8, out, &n, &err), &err);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0].message_id[15], 63);
    store_msg_clear(&out[0]);
}

/* ---------------------------------------------------------------- admin */

ENGINE_TEST(admin_queue_request_pending_done_get)
{
    remiss_err_t err;
    store_admin_t req = {0}, out[4];
    int64_t id1, id2;
    size_t n;
    bool found;
    snprintf(req.action, sizeof req.action, "requeue");
    memset(req.message_id, 7, STORE_ID_LEN);
    snprintf(req.actor, sizeof req.actor, "operator");
    s_ok(store_admin_request(st, &req, 100, &id1, &err), &err);
    s_ok(store_admin_request(st, &req, 101, &id2, &err), &err);
    cr_assert_gt(id2, id1);
    s_ok(store_admin_pending(st, out, 4, &n, &err), &err);
    cr_assert_eq(n, 2);
    cr_assert_eq(out[0].id, id1);
    cr_assert_str_eq(out[0].actor, "operator");
    s_ok(store_admin_done(st, id1, "requeued", 200, &err), &err);
    s_ok(store_admin_pending(st, out, 4, &n, &err), &err);
    cr_assert_eq(n, 1);
    s_ok(store_admin_get(st, id1, &out[0], &found, &err), &err);
    cr_assert(found);
    cr_assert_str_eq(out[0].result, "requeued");
    cr_assert_eq(out[0].done_at, 200);
    s_ok(store_admin_get(st, id2 + 100, &out[0], &found, &err), &err);
    cr_assert_not(found);
}

/* ---------------------------------------------------------------- audit */

typedef struct {
    uint64_t count, last;
    uint64_t stop_at;
} s_walk_t;

static int
s_walk(void *ctx, uint64_t index, const uint8_t *entry, size_t len)
{
    s_walk_t *w = ctx;
    cr_assert(w->count == 0 || index == w->last + 1, "index order");
    cr_assert_eq(len, 40 + index % 7);
    cr_assert_eq(entry[0], (uint8_t)index);
    w->count++;
    w->last = index;
    return w->stop_at && index >= w->stop_at;
}

/* More entries than one page of the PostgreSQL engine's reads. */
/* PostgreSQL sends a transaction's audit appends together (one INSERT per
 * table): what a rollback to a savepoint undoes is gone, what came before
 * stays, a read in the transaction sees every append, and a node written
 * twice keeps the last hash. */
ENGINE_TEST(audit_appends_follow_savepoints_and_are_read_back_at_once)
{
    remiss_err_t err;
    uint8_t e[3][8] = {"first", "undone", "second"}, hash[STORE_HASH_LEN], *got;
    size_t len;
    uint64_t size;
    s_ok(store_begin(st, &err), &err);
    s_ok(store_audit_put(st, 0, e[0], 5, NULL, NULL, &err), &err);
    memset(hash, 1, sizeof hash);
    s_ok(store_audit_node_put(st, 0, 0, hash, &err), &err);
    s_ok(store_savepoint(st, &err), &err);
    s_ok(store_audit_put(st, 1, e[1], 6, NULL, NULL, &err), &err);
    memset(hash, 2, sizeof hash);
    s_ok(store_audit_node_put(st, 0, 1, hash, &err), &err);
    store_rollback_to(st);
    s_ok(store_savepoint(st, &err), &err);
    s_ok(store_audit_put(st, 1, e[2], 6, NULL, NULL, &err), &err);
    memset(hash, 3, sizeof hash);
    s_ok(store_audit_node_put(st, 0, 1, hash, &err), &err);
    memset(hash, 4, sizeof hash);
    s_ok(store_audit_node_put(st, 0, 1, hash, &err), &err);
    store_release(st);
    s_ok(store_audit_get(st, 1, &got, &len, &err), &err);
    cr_assert(len == 6 && memcmp(got, "second", 6) == 0, "read in the transaction");
    free(got);
    s_ok(store_commit(st, &err), &err);
    s_ok(store_audit_size(st, &size, &err), &err);
    cr_assert_eq(size, 2);
    s_ok(store_audit_get(st, 0, &got, &len, &err), &err);
    cr_assert(len == 5 && memcmp(got, "first", 5) == 0);
    free(got);
    s_ok(store_audit_node_get(st, 0, 1, hash, &err), &err);
    cr_assert_eq(hash[0], 4, "the last write of a node counts");
    s_ok(store_audit_node_get(st, 0, 0, hash, &err), &err);
    cr_assert_eq(hash[0], 1);
}

/* A frontier's nodes read together: each asked-for node whatever the
 * order, the transaction's own appends included; one missing fails the
 * read (one round trip on PostgreSQL). */
ENGINE_TEST(audit_nodes_get_reads_each_node_asked_for)
{
    remiss_err_t err;
    uint8_t hash[STORE_HASH_LEN], got[3][STORE_HASH_LEN];
    const unsigned level[3] = {3, 0, 1};
    const uint64_t index[3] = {0, 12, 5};
    store_stats_t a, b;
    s_ok(store_begin(st, &err), &err);
    for (int i = 0; i < 3; i++) {
        memset(hash, 0x40 + i, sizeof hash);
        s_ok(store_audit_node_put(st, level[i], index[i], hash, &err), &err);
    }
    s_ok(store_commit(st, &err), &err);
    s_ok(store_begin(st, &err), &err);
    memset(hash, 0x50, sizeof hash);
    s_ok(store_audit_node_put(st, 1, 5, hash, &err), &err); /* this transaction's */
    store_stats(st, &a);
    s_ok(store_audit_nodes_get(st, level, index, 3, got, &err), &err);
    store_stats(st, &b);
    cr_assert_eq(got[0][0], 0x40);
    cr_assert_eq(got[1][0], 0x41);
    cr_assert_eq(got[2][0], 0x50, "the transaction's own write is read");
    if (strcmp(store_engine(st), "postgresql") == 0)
        cr_assert_eq(b.round_trips - a.round_trips, 1, "%llu round trips",
                     (unsigned long long)(b.round_trips - a.round_trips));
    const unsigned missing_level[2] = {0, 2};
    const uint64_t missing_index[2] = {12, 9};
    cr_assert_eq(store_audit_nodes_get(st, missing_level, missing_index, 2, got, &err),
                 REMISS_E_STORAGE);
    cr_assert(strstr(err.text, "2/9") != NULL, "%s", err.text);
    store_rollback(st);
}

ENGINE_TEST(audit_entries_nodes_find_and_tree_heads)
{
    remiss_err_t err;
    enum { N = 2300 };
    uint8_t entry[64], subj[STORE_HASH_LEN], mid[STORE_ID_LEN], hash[STORE_HASH_LEN];
    uint64_t size, found[8];
    size_t n;
    memset(subj, 3, sizeof subj);
    memset(mid, 4, sizeof mid);
    s_ok(store_audit_size(st, &size, &err), &err);
    cr_assert_eq(size, 0);
    s_ok(store_begin(st, &err), &err);
    for (uint64_t i = 0; i < N; i++) {
        memset(entry, 0, sizeof entry);
        entry[0] = (uint8_t)i;
        s_ok(store_audit_put(st, i, entry, 40 + i % 7, i % 500 == 0 ? subj : NULL,
                             i == 77 ? mid : NULL, &err),
             &err);
    }
    s_ok(store_commit(st, &err), &err);
    s_ok(store_audit_size(st, &size, &err), &err);
    cr_assert_eq(size, N);
    uint8_t *got;
    size_t len;
    s_ok(store_audit_get(st, 1234, &got, &len, &err), &err);
    cr_assert_eq(len, 40 + 1234 % 7);
    cr_assert_eq(got[0], (uint8_t)1234);
    free(got);
    cr_assert_eq(store_audit_get(st, N, &got, &len, &err), REMISS_E_STORAGE, "missing entry");

    s_walk_t w = {0};
    s_ok(store_audit_each(st, 0, s_walk, &w, &err), &err);
    cr_assert_eq(w.count, N);
    w = (s_walk_t){.stop_at = 1500};
    s_ok(store_audit_each(st, 1100, s_walk, &w, &err), &err);
    cr_assert_eq(w.count, 401, "from 1100 up to the stop at 1500");

    s_ok(store_audit_find(st, subj, NULL, found, 8, &n, &err), &err);
    cr_assert_eq(n, 5);
    cr_assert_eq(found[4], 2000);
    s_ok(store_audit_find(st, NULL, mid, found, 8, &n, &err), &err);
    cr_assert_eq(n, 1);
    cr_assert_eq(found[0], 77);

    memset(hash, 0x5a, sizeof hash);
    s_ok(store_audit_node_put(st, 3, 17, hash, &err), &err);
    hash[0] = 1;
    s_ok(store_audit_node_put(st, 3, 17, hash, &err), &err);
    memset(hash, 0, sizeof hash);
    s_ok(store_audit_node_get(st, 3, 17, hash, &err), &err);
    cr_assert_eq(hash[0], 1, "a node is replaced");
    cr_assert_eq(hash[1], 0x5a);
    cr_assert_eq(store_audit_node_get(st, 3, 18, hash, &err), REMISS_E_STORAGE);
}

static int
s_count_sth(void *ctx, uint64_t size, const uint8_t *sth, size_t len)
{
    uint64_t *count = ctx;
    cr_assert_eq(len, 5);
    cr_assert_eq(sth[4], (uint8_t)size);
    (*count)++;
    return 0;
}

ENGINE_TEST(tree_heads_latest_and_each)
{
    remiss_err_t err;
    uint8_t *sth, buf[5] = {'s', 't', 'h', 0, 0};
    size_t len;
    uint64_t count = 0;
    s_ok(store_audit_sth_latest(st, &sth, &len, &err), &err);
    cr_assert_eq(len, 0);
    cr_assert_null(sth);
    s_ok(store_begin(st, &err), &err);
    for (uint64_t size = 1; size <= 1200; size++) {
        buf[4] = (uint8_t)size;
        s_ok(store_audit_sth_put(st, size, buf, sizeof buf, &err), &err);
    }
    s_ok(store_commit(st, &err), &err);
    s_ok(store_audit_sth_latest(st, &sth, &len, &err), &err);
    cr_assert_eq(len, 5);
    cr_assert_eq(sth[4], (uint8_t)1200);
    free(sth);
    s_ok(store_audit_sth_each(st, s_count_sth, &count, &err), &err);
    cr_assert_eq(count, 1200);
}

ENGINE_TEST(a_reopened_store_has_what_was_committed)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    s_insert_n(st, 70, 2, "jobbtorg");
    store_close(&s_env.st);
    s_open();
    s_msg(&m, 71, "jobbtorg");
    s_ok(store_find(s_env.st, m.message_id, &found, &out, &err), &err);
    cr_assert(found);
    store_msg_clear(&out);
    s_insert_n(s_env.st, 72, 1, "jobbtorg");
}

/* ------------------------------------------------- encryption at rest */

/* A fresh KEK file (created with one key by store_use_keys) in a
 * directory of the test's own; removed by s_down with s_env.dir's kin. */
static void
s_kek(char *path, size_t size)
{
    char dir[64] = "/tmp/remiss-kek-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, size, "%s/broker.kek", dir);
}

static void
s_kek_gone(const char *path)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf $(dirname %s)", path);
    (void)system(cmd);
}

static void
s_consent(store_consent_t *c, const char *id, const char *by, int64_t valid_until)
{
    memset(c, 0, sizeof *c);
    snprintf(c->consent_id, sizeof c->consent_id, "%s/%s", by, id);
    snprintf(c->granted_by, sizeof c->granted_by, "%s", by);
    memset(c->subject, 7, STORE_HASH_LEN);
    c->grant = (uint8_t *)"\x0a\x00grant 200802294728";
    c->grant_len = 20;
    c->granted_at = 1000;
    c->valid_until = valid_until;
}

/* The engine stores only ciphertext: the same store opened without the
 * KEK reads every body as deleted, with it as it was written. */
ENGINE_TEST(bodies_and_grants_are_stored_sealed)
{
    remiss_err_t err;
    char kek[128];
    store_consent_t c, out;
    store_msg_t m, got;
    bool found, exists;
    s_kek(kek, sizeof kek);
    s_ok(store_use_keys(st, kek, &err), &err);
    s_insert_n(st, 80, 1, "jobbtorg");
    s_consent(&c, "c-1", "sdf-rinkeby-kista", 0);
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    s_msg(&m, 80, "jobbtorg");
    s_ok(store_find(st, m.message_id, &found, &got, &err), &err);
    cr_assert(found && got.envelope_len == m.envelope_len);
    cr_assert_arr_eq(got.envelope, m.envelope, m.envelope_len);
    store_msg_clear(&got);
    s_ok(store_consent_get(st, c.consent_id, &found, &out, &err), &err);
    cr_assert(found && out.grant_len == c.grant_len);
    cr_assert_arr_eq(out.grant, c.grant, c.grant_len);
    store_consent_clear(&out);
    store_t *bare = store_open(s_env.spec, &err);
    cr_assert_not_null(bare, "%s", err.text);
    s_ok(store_find(bare, m.message_id, &found, &got, &err), &err);
    cr_assert(found);
    cr_assert(got.envelope && atrest_is_sealed(got.envelope, got.envelope_len),
              "a body the engine holds in clear");
    cr_assert_null(memmem(got.envelope, got.envelope_len, m.envelope, 64));
    store_msg_clear(&got);
    s_ok(store_consent_get(bare, c.consent_id, &found, &out, &err), &err);
    cr_assert(found);
    cr_assert(out.grant && atrest_is_sealed(out.grant, out.grant_len),
              "a grant the engine holds in clear");
    cr_assert_null(memmem(out.grant, out.grant_len, "200802294728", 12));
    store_consent_clear(&out);
    store_close(&bare);
    s_kek_gone(kek);
}

/* Key rotation: every data key, more than one batch of them, is rewrapped
 * under the new KEK; after the old one is destroyed all still read. */
ENGINE_TEST(keys_rotate_rewraps_every_data_key)
{
    remiss_err_t err;
    char kek[128];
    store_consent_t c, out;
    store_msg_t m, got;
    bool found, exists;
    uint64_t n = 0;
    uint32_t kid = 0;
    s_kek(kek, sizeof kek);
    s_ok(store_use_keys(st, kek, &err), &err);
    s_insert_n(st, 100, 300, "jobbtorg");
    s_consent(&c, "c-1", "sdf-rinkeby-kista", 0);
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    atrest_t *ring = atrest_open(kek, &err);
    cr_assert_not_null(ring, "%s", err.text);
    s_ok(atrest_add_key(ring, &kid, &err), &err);
    cr_assert_eq(kid, 2);
    s_ok(store_use_keys(st, kek, &err), &err); /* as remissd re-reads it */
    s_ok(store_rewrap(st, &n, &err), &err);
    cr_assert_eq(n, 301);
    s_ok(store_rewrap(st, &n, &err), &err);
    cr_assert_eq(n, 0, "nothing left under the old key");
    s_ok(atrest_drop_old_keys(ring, &err), &err);
    atrest_close(&ring);
    s_ok(store_use_keys(st, kek, &err), &err);
    s_msg(&m, 399, "jobbtorg");
    s_ok(store_find(st, m.message_id, &found, &got, &err), &err);
    cr_assert(found && got.envelope_len == m.envelope_len);
    cr_assert_arr_eq(got.envelope, m.envelope, m.envelope_len);
    store_msg_clear(&got);
    s_ok(store_consent_get(st, c.consent_id, &found, &out, &err), &err);
    cr_assert(found && out.grant_len == c.grant_len);
    store_consent_clear(&out);
    s_kek_gone(kek);
}

/* keys rotate runs beside the brokers (remissctl, a connection of its
 * own). It reads what to rewrap under the cluster's write lock, after
 * every node's commits: read before, a body that retention cleared in the
 * meantime was written back by the rewrap, and a purged body was in the
 * store again. */
typedef struct s_rewrapper {
    const char *spec, *kek;
    uint64_t n;
    remiss_code_t r;
} s_rewrapper_t;

static void *
s_rewrap_thread(void *arg)
{
    s_rewrapper_t *w = arg;
    remiss_err_t err;
    store_t *ctl = store_open(w->spec, &err);
    w->r = ctl ? store_use_keys(ctl, w->kek, &err) : REMISS_E_STORAGE;
    if (w->r == REMISS_OK)
        w->r = store_rewrap(ctl, &w->n, &err);
    store_close(&ctl);
    return NULL;
}

Test(postgresql, a_rewrap_never_writes_back_a_purged_body, .init = s_up_pg, .fini = s_down,
     .timeout = 120)
{
    remiss_err_t err;
    char kek[128];
    store_msg_t m, got;
    bool found, changed;
    uint64_t purged = 0;
    uint32_t kid = 0;
    pthread_t t;
    store_t *st = s_env.st;
    s_kek(kek, sizeof kek);
    s_ok(store_use_keys(st, kek, &err), &err);
    s_insert_n(st, 500, 3, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    for (int i = 500; i < 503; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_finish(st, m.message_id, "jobbtorg", STORE_DONE, 0, "", 2000, &changed, &err),
             &err);
    }
    s_ok(store_commit(st, &err), &err);
    atrest_t *ring = atrest_open(kek, &err);
    cr_assert_not_null(ring, "%s", err.text);
    s_ok(atrest_add_key(ring, &kid, &err), &err);
    atrest_close(&ring);
    s_ok(store_use_keys(st, kek, &err), &err);
    /* The broker purges; the rotation starts before that commits. */
    s_ok(store_begin(st, &err), &err);
    s_ok(store_purge(st, 3000, &purged, &err), &err);
    cr_assert_eq(purged, 3);
    s_rewrapper_t w = {.spec = s_env.spec, .kek = kek};
    cr_assert_eq(pthread_create(&t, NULL, s_rewrap_thread, &w), 0);
    usleep(300 * 1000); /* time for it to read, were it not held up */
    s_ok(store_commit(st, &err), &err);
    cr_assert_eq(pthread_join(t, NULL), 0);
    s_ok(w.r, &err);
    cr_assert_eq(w.n, 0, "%llu purged bodies rewrapped", (unsigned long long)w.n);
    for (int i = 500; i < 503; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_find(st, m.message_id, &found, &got, &err), &err);
        cr_assert(found);
        cr_assert_null(got.envelope, "a purged body is back");
        store_msg_clear(&got);
    }
    s_kek_gone(kek);
}

/* Consent ids are PARTY/ID; the count per registering party counts only
 * its own consents in force; retention shreds withdrawn and expired
 * grants and leaves the rest. */
ENGINE_TEST(consents_scoped_counted_and_shredded)
{
    remiss_err_t err;
    store_consent_t c, out;
    bool exists, found;
    uint64_t n;
    s_consent(&c, "c-1", "jobbtorg", 0);
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    s_consent(&c, "c-1", "sdf-rinkeby-kista", 5000);
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    cr_assert_not(exists, "another party's c-1 is another consent");
    s_consent(&c, "c-2", "sdf-rinkeby-kista", 0);
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    s_ok(store_consent_revoke(st, "sdf-rinkeby-kista/c-2", 3000, &err), &err);
    s_ok(store_consent_count(st, c.subject, NULL, &n, &err), &err);
    cr_assert_eq(n, 3);
    s_ok(store_consent_count(st, c.subject, "sdf-rinkeby-kista", &n, &err), &err);
    cr_assert_eq(n, 1, "in force and its own");
    uint64_t purged;
    s_ok(store_purge(st, 6000, &purged, &err), &err);
    static const struct {
        const char *id;
        bool kept;
    } want[] = {
        {"jobbtorg/c-1", true}, {"sdf-rinkeby-kista/c-1", false}, {"sdf-rinkeby-kista/c-2", false}};
    for (size_t i = 0; i < 3; i++) {
        s_ok(store_consent_get(st, want[i].id, &found, &out, &err), &err);
        cr_assert(found, "%s", want[i].id);
        cr_assert_eq(out.grant_len > 0, want[i].kept, "%s", want[i].id);
        store_consent_clear(&out);
    }
}

/* A store written before consent ids were scoped gets PARTY/ID at open,
 * and the queued messages resting on a consent follow it. */
ENGINE_TEST(unscoped_consent_ids_are_scoped_at_open)
{
    remiss_err_t err;
    store_consent_t c, out;
    store_msg_t pending[4];
    bool exists, found;
    size_t n;
    s_consent(&c, "x", "sdf-rinkeby-kista", 0);
    snprintf(c.consent_id, sizeof c.consent_id, "c-1"); /* as before issue 14 */
    s_ok(store_consent_put(st, &c, &exists, &err), &err);
    s_insert_n(st, 90, 3, "jobbtorg"); /* 91 rests on c-1 */
    store_close(&s_env.st);
    if (s_env.pg) { /* a store from before: without the schema level */
        PGconn *pg = PQconnectdb(s_env.spec);
        PQclear(PQexec(pg, "DELETE FROM meta WHERE key = 'schema_level'"));
        PQfinish(pg);
    }
    s_open();
    s_ok(store_consent_get(s_env.st, "sdf-rinkeby-kista/c-1", &found, &out, &err), &err);
    cr_assert(found);
    store_consent_clear(&out);
    s_ok(store_pending_by_consent(s_env.st, "sdf-rinkeby-kista/c-1", 4, pending, &n, &err), &err);
    cr_assert_eq(n, 1);
    cr_assert_eq(pending[0].message_id[15], 91);
    store_msg_clear(&pending[0]);
}

/* ---------------------------------------------------------------- names */

Test(store_name, a_name_picks_the_engine)
{
    cr_assert_str_eq(store_file("/var/lib/remiss/remiss.db"), "/var/lib/remiss/remiss.db");
    cr_assert_str_eq(store_file("sqlite:relative.db"), "relative.db");
    cr_assert_null(
        store_file("postgresql://remiss@db1,db2/remiss?target_session_attrs=read-write"));
    cr_assert_null(store_file("postgres://localhost/remiss"));
    remiss_err_t err;
    cr_assert_null(store_open("sqlite:", &err));
    cr_assert_eq(err.code, REMISS_E_USAGE);
}

/* A multi-host URI in remissd.conf arrives whole (the '=' and '&' of its
 * query too). */
Test(store_name, a_uri_in_the_config_file_is_read_whole)
{
    static const char uri[] = "postgresql://remiss@db1.example:5432,db2.example:5432/remiss"
                              "?target_session_attrs=read-write&connect_timeout=2";
    char path[] = "/tmp/remiss-conf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "[remissd]\ndb = %s\n", uri);
    fclose(f);
    broker_config_t cfg;
    remiss_err_t err;
    config_defaults(&cfg);
    remiss_code_t r = config_load_file(&cfg, path, &err);
    unlink(path);
    cr_assert_eq(r, REMISS_OK, "%s", err.text);
    cr_assert_str_eq(cfg.db, uri);
    cr_assert_null(store_file(cfg.db));
}

Test(store_name, a_password_never_reaches_the_log)
{
    char buf[256];
    cr_assert_str_eq(store_redact("/var/lib/remiss/remiss.db", buf, sizeof buf),
                     "/var/lib/remiss/remiss.db");
    cr_assert_str_eq(store_redact("postgresql://remiss:s3cr@t@db1,db2/remiss", buf, sizeof buf),
                     "postgresql://remiss:***@db1,db2/remiss");
    cr_assert_str_eq(
        store_redact("postgres://db/remiss?user=r&password=x&sslmode=require", buf, sizeof buf),
        "postgres://db/remiss?user=r&password=***&sslmode=require");
    cr_assert_str_eq(store_redact("postgresql://remiss@db/r?password=x", buf, sizeof buf),
                     "postgresql://remiss@db/r?password=***");
    cr_assert_str_eq(store_redact("postgresql://remiss:pw@db/r", buf, 20), "postgresql://remiss");
}

Test(store_name, an_unreachable_database_is_e_storage_at_open, .timeout = 30)
{
    remiss_err_t err;
    /* Port 1 on 127.0.0.1: nothing listens there. */
    cr_assert_null(store_open("postgresql://remiss:secret@127.0.0.1:1/remiss", &err));
    cr_assert_eq(err.code, REMISS_E_STORAGE);
    cr_assert_null(strstr(err.text, "secret"), "no password in messages: %s", err.text);
}

/* ---------------------------------------------------------------- PostgreSQL */

Test(postgresql, a_lost_server_is_e_storage_and_the_store_reconnects, .init = s_up_pg,
     .fini = s_down, .timeout = 120)
{
    remiss_err_t err;
    store_msg_t m, out;
    bool found;
    store_t *st = s_env.st;
    s_insert_n(st, 80, 1, "jobbtorg");
    s_msg(&m, 80, "jobbtorg");
    pgtest_pause(&s_env.server);
    cr_assert_eq(store_begin(st, &err), REMISS_E_STORAGE);
    cr_assert_eq(store_begin(st, &err), REMISS_E_STORAGE, "still down");
    cr_assert_eq(store_find(st, m.message_id, &found, &out, &err), REMISS_E_STORAGE);
    pgtest_resume(&s_env.server);
    remiss_code_t r = REMISS_E_STORAGE;
    for (int i = 0; i < 100 && r != REMISS_OK; i++) { /* tries again every second */
        r = store_begin(st, &err);
        if (r != REMISS_OK)
            usleep(100000);
    }
    s_ok(r, &err);
    s_put(st, 81, "jobbtorg", &m);
    s_ok(store_commit(st, &err), &err);
    for (int i = 80; i <= 81; i++) {
        s_msg(&m, i, "jobbtorg");
        s_ok(store_find(st, m.message_id, &found, &out, &err), &err);
        cr_assert(found, "message %d", i);
        store_msg_clear(&out);
    }
}

Test(postgresql, a_server_lost_inside_a_transaction_fails_the_commit, .init = s_up_pg,
     .fini = s_down, .timeout = 120)
{
    remiss_err_t err;
    store_msg_t m;
    store_t *st = s_env.st;
    s_ok(store_begin(st, &err), &err);
    s_put(st, 90, "jobbtorg", &m);
    pgtest_pause(&s_env.server);
    cr_assert_eq(store_commit(st, &err), REMISS_E_STORAGE);
    pgtest_resume(&s_env.server);
}

static void
s_admin_sql(const char *sql)
{
    PGconn *c = PQconnectdb(s_env.server.uri);
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Waits until new sessions see synchronous_standby_names = value. */
static void
s_wait_setting(const char *value)
{
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
        PGconn *c = PQconnectdb(s_env.server.uri);
        PGresult *r = PQexec(c, "SHOW synchronous_standby_names");
        seen = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), value) == 0;
        PQclear(r);
        PQfinish(c);
        if (!seen)
            usleep(100000);
    }
    cr_assert(seen, "the server never took synchronous_standby_names = '%s'", value);
}

static void *
s_commit_thread(void *arg)
{
    remiss_err_t *err = arg;
    return (void *)(intptr_t)store_commit(s_env.st, err);
}

/* PostgreSQL's pitfall: a COMMIT waiting for a synchronous standby that is
 * cancelled returns success with a WARNING that it "has already committed
 * locally". That is not durable on a standby, so it must not be an OK. */
Test(postgresql, a_commit_that_only_committed_locally_is_not_ok, .init = s_up_pg, .fini = s_down,
     .timeout = 120)
{
    remiss_err_t err;
    store_msg_t m;
    pthread_t t;
    void *ret;
    store_t *st = s_env.st;
    s_admin_sql("ALTER SYSTEM SET synchronous_standby_names = 'no_such_standby'");
    s_admin_sql("SELECT pg_reload_conf()");
    s_wait_setting("no_such_standby");
    /* A new session surely has the setting. */
    store_close(&s_env.st);
    s_open();
    st = s_env.st;
    s_ok(store_begin(st, &err), &err);
    s_put(st, 95, "jobbtorg", &m);
    cr_assert_eq(pthread_create(&t, NULL, s_commit_thread, &err), 0);
    /* Wait until the commit waits for the standby, then cancel it as an
     * operator (or a failover manager) might. */
    bool cancelled = false;
    PGconn *c = PQconnectdb(s_env.server.uri);
    PGresult *r;
    for (int i = 0; i < 300 && !cancelled; i++) {
        r = PQexec(c, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'remiss' AND wait_event = 'SyncRep'");
        cancelled = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        PQclear(r);
        if (!cancelled)
            usleep(100000);
    }
    PQfinish(c);
    cr_assert(cancelled, "the commit never waited for the standby");
    pthread_join(t, &ret);
    cr_assert_eq((remiss_code_t)(intptr_t)ret, REMISS_E_STORAGE, "a local-only commit gave OK");
    s_admin_sql("ALTER SYSTEM RESET synchronous_standby_names");
    s_admin_sql("SELECT pg_reload_conf()");
    s_wait_setting("");
    store_close(&s_env.st);
    s_open();
    st = s_env.st;
    /* The store goes on afterwards. */
    s_insert_n(st, 96, 1, "jobbtorg");
}

/* What the prefetch and finish_many are for: on PostgreSQL, 64
 * submissions' look-ups cost one round trip (the write lock rides along),
 * and 64 acknowledgements one more, not one each (a cycle waited 3 round
 * trips per message before, issue 15); written together
 * (store_prefetch_finish), a cycle's acknowledgements and look-ups take
 * one round trip for both. */
Test(postgresql, a_cycles_lookups_and_acknowledgements_take_a_round_trip_each, .init = s_up_pg,
     .fini = s_down, .timeout = 120)
{
    remiss_err_t err;
    store_msg_t m;
    bool found;
    store_stats_t a, b;
    uint8_t ids[64][STORE_ID_LEN], fid[64][STORE_ID_LEN];
    store_finish_req_t f[64];
    store_t *st = s_env.st;
    s_insert_n(st, 100, 64, "jobbtorg");
    s_insert_n(st, 400, 40, "jobbtorg");
    s_ok(store_begin(st, &err), &err);
    for (int i = 0; i < 64; i++) {
        s_msg(&m, 200 + i, "jobbtorg");
        memcpy(ids[i], m.message_id, STORE_ID_LEN);
    }
    store_stats(st, &a);
    store_prefetch(st, (const uint8_t(*)[STORE_ID_LEN])ids, 64);
    for (int i = 0; i < 64; i++) {
        s_ok(store_find(st, ids[i], &found, &m, &err), &err);
        cr_assert_not(found);
    }
    store_stats(st, &b);
    cr_assert_eq(b.round_trips - a.round_trips, 1, "%llu round trips for 64 look-ups",
                 (unsigned long long)(b.round_trips - a.round_trips));
    s_acks(f, fid, 100, 64, "jobbtorg");
    store_stats(st, &a);
    s_ok(store_finish_many(st, f, 64, 5000, true, &err), &err);
    store_stats(st, &b);
    cr_assert(store_locked(st), "the prefetch took the write lock");
    cr_assert_eq(b.round_trips - a.round_trips, 1, "%llu round trips for 64 acknowledgements",
                 (unsigned long long)(b.round_trips - a.round_trips));
    for (int i = 0; i < 64; i++) {
        cr_assert(f[i].changed && f[i].has_row);
        store_msg_clear(&f[i].row);
    }
    s_ok(store_commit(st, &err), &err);
    /* Together, in a transaction that has no lock yet: one round trip. */
    s_ok(store_begin(st, &err), &err);
    s_acks(f, fid, 400, 40, "jobbtorg");
    store_stats(st, &a);
    s_ok(
        store_prefetch_finish(st, (const uint8_t(*)[STORE_ID_LEN])ids, 64, f, 40, 6000, true, &err),
        &err);
    for (int i = 0; i < 64; i++) {
        s_ok(store_find(st, ids[i], &found, &m, &err), &err);
        cr_assert_not(found);
    }
    store_stats(st, &b);
    cr_assert(store_locked(st));
    cr_assert_eq(b.round_trips - a.round_trips, 1,
                 "%llu round trips for 64 look-ups and 40 acknowledgements",
                 (unsigned long long)(b.round_trips - a.round_trips));
    for (int i = 0; i < 40; i++) {
        cr_assert(f[i].changed && f[i].has_row);
        store_msg_clear(&f[i].row);
    }
    s_ok(store_commit(st, &err), &err);
}
