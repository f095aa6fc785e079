/* store_sqlite: the embedded SQLite engine behind store.h.
 *
 * WAL with synchronous=FULL: a commit is on disk when it returns, and
 * readers (remissctl) never block the broker. Statements are prepared once. */
#define STORE_SQLITE_NAMES /* store_* below are store_sqlite_* (store_engine.h) */
#include "store_engine.h"
#include "store_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SCHEMA_VERSION 2 /* 2: audit_nodes keyed by post-order position */

static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS messages("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id BLOB NOT NULL UNIQUE,"
    " sender TEXT NOT NULL, recipient TEXT NOT NULL, type INTEGER NOT NULL,"
    " purpose TEXT NOT NULL, consent_id TEXT NOT NULL, subject BLOB,"
    " envelope_sha256 BLOB NOT NULL, envelope BLOB, receipt BLOB NOT NULL,"
    " created_at INTEGER NOT NULL, accepted_at INTEGER NOT NULL, audit_index INTEGER NOT NULL,"
    " state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " next_at INTEGER NOT NULL DEFAULT 0, delivered_at INTEGER NOT NULL DEFAULT 0,"
    " acked_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT NULL DEFAULT 0,"
    " code INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
    " linked_id BLOB, transfer_decision INTEGER NOT NULL DEFAULT 0,"
    " receiving_unit TEXT NOT NULL DEFAULT '', transfer_ack_id BLOB);"
    /* Only pending messages are in this index, so finding what is due
     * costs the same however long the history grows. */
    "CREATE INDEX IF NOT EXISTS messages_pending ON messages(recipient, seq)"
    " WHERE state IN (1, 2);"
    "CREATE INDEX IF NOT EXISTS messages_consent ON messages(consent_id, state);"
    "CREATE TABLE IF NOT EXISTS consents("
    " consent_id TEXT PRIMARY KEY, subject BLOB NOT NULL, granted_by TEXT NOT NULL,"
    " grant_pb BLOB NOT NULL, granted_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS consents_subject ON consents(subject);"
    "CREATE TABLE IF NOT EXISTS audit("
    " idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, subject BLOB, message_id BLOB);"
    "CREATE INDEX IF NOT EXISTS audit_subject ON audit(subject);"
    /* Entries are found by message id only for refusals: an accepted
     * message's row names its entry (messages.audit_index). Indexing only
     * those keeps random message ids from dirtying index pages on every
     * delivery and acknowledgement (bench/README.md, profile). */
    "DROP INDEX IF EXISTS audit_message;"
    "CREATE INDEX IF NOT EXISTS audit_refused ON audit(message_id)"
    " WHERE message_id IS NOT NULL;"
    /* Keyed by the node's position in creation (post) order, so every new
     * node lands at the end of one B-tree instead of at one place per
     * level (s_node_pos); level and idx are kept for people and tools. */
    "CREATE TABLE IF NOT EXISTS audit_nodes("
    " pos INTEGER PRIMARY KEY, level INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " hash BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tree_heads(tree_size INTEGER PRIMARY KEY, sth BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS admin_queue(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " action TEXT NOT NULL, message_id BLOB NOT NULL, actor TEXT NOT NULL,"
    " requested_at INTEGER NOT NULL, done_at INTEGER NOT NULL DEFAULT 0,"
    " result TEXT NOT NULL DEFAULT '');"
    /* Partial indexes over the few rows a periodic task looks for, so that
     * the dead-letter list and the admin queue cost the same however long
     * the history grows (tests/test_query_plans.c). Retention (Q_PURGE)
     * still reads the table: an index over purgeable bodies cost 15 us of
     * broker CPU per message (bench/README.md). */
    "CREATE INDEX IF NOT EXISTS messages_dead ON messages(seq) WHERE state IN (4, 5);"
    "CREATE INDEX IF NOT EXISTS admin_pending ON admin_queue(id) WHERE done_at = 0;";

#define S_MSG_COLS                                                                              \
    "seq, message_id, sender, recipient, type, purpose, consent_id, subject, envelope_sha256,"  \
    " envelope, receipt, created_at, accepted_at, audit_index, state, attempts, delivered_at,"  \
    " acked_at, code, reason, linked_id, transfer_decision, receiving_unit, transfer_ack_id"

enum {
    Q_BEGIN,
    Q_BEGIN_READ,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_FIND,
    Q_INSERT,
    Q_DUE,
    Q_MARK_SENT,
    Q_RESEND_NOW,
    Q_FINISH,
    Q_FINISH_ANY,
    Q_REQUEUE,
    Q_LINK,
    Q_DEAD,
    Q_BY_CONSENT,
    Q_PURGE,
    Q_DEPTH,
    Q_C_PUT,
    Q_C_GET,
    Q_C_REVOKE,
    Q_C_FOR,
    Q_A_SIZE,
    Q_A_PUT,
    Q_A_GET,
    Q_A_EACH,
    Q_N_PUT,
    Q_N_GET,
    Q_A_BY_SUBJECT,
    Q_A_BY_MESSAGE,
    Q_STH_PUT,
    Q_STH_LATEST,
    Q_STH_EACH,
    Q_ADM_PUT,
    Q_ADM_PENDING,
    Q_ADM_DONE,
    Q_ADM_GET,
    Q_COUNT
};

static const char *const s_sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_BEGIN_READ] = "BEGIN DEFERRED",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT msg",
    [Q_RELEASE] = "RELEASE msg",
    [Q_ROLLBACK_TO] = "ROLLBACK TO msg",
    [Q_FIND] = "SELECT " S_MSG_COLS " FROM messages WHERE message_id = ?1",
    [Q_INSERT] = "INSERT INTO messages(message_id, sender, recipient, type, purpose, consent_id,"
                 " subject, envelope_sha256, envelope, receipt, created_at, accepted_at,"
                 " audit_index, state, linked_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                 "?13,1,?14)",
    [Q_DUE] = "SELECT " S_MSG_COLS " FROM messages WHERE recipient = ?1 AND state IN (1, 2)"
              " AND (state = 1 OR next_at <= ?2) ORDER BY seq LIMIT ?3",
    [Q_MARK_SENT] = "UPDATE messages SET state = 2, attempts = attempts + 1, next_at = ?3,"
                    " delivered_at = CASE WHEN delivered_at = 0 THEN ?2 ELSE delivered_at END"
                    " WHERE seq = ?1 AND state IN (1, 2)",
    [Q_RESEND_NOW] = "UPDATE messages SET next_at = 0 WHERE recipient = ?1 AND state IN (1, 2)"
                     " AND state = 2",
    [Q_FINISH] = "UPDATE messages SET state = ?2, code = ?3, reason = ?4, ended_at = ?5,"
                 " acked_at = CASE WHEN ?2 = 3 THEN ?5 ELSE acked_at END"
                 " WHERE message_id = ?1 AND recipient = ?6 AND state IN (1, 2)",
    [Q_FINISH_ANY] = "UPDATE messages SET state = ?2, code = ?3, reason = ?4, ended_at = ?5,"
                     " acked_at = CASE WHEN ?2 = 3 THEN ?5 ELSE acked_at END"
                     " WHERE message_id = ?1 AND state IN (1, 2)",
    [Q_REQUEUE] = "UPDATE messages SET state = 1, code = 0, reason = '', attempts = 0,"
                  " ended_at = 0, next_at = 0 WHERE message_id = ?1 AND state IN (4, 5)"
                  " AND envelope IS NOT NULL",
    [Q_LINK] = "UPDATE messages SET transfer_decision = ?3, receiving_unit = ?4,"
               " transfer_ack_id = ?5 WHERE message_id = ?1 AND sender = ?2 AND recipient = ?6",
    [Q_DEAD] = "SELECT " S_MSG_COLS " FROM messages WHERE state IN (4, 5) ORDER BY seq DESC"
               " LIMIT ?1",
    [Q_BY_CONSENT] = "SELECT " S_MSG_COLS " FROM messages WHERE consent_id = ?1 AND"
                     " state IN (1, 2) ORDER BY seq LIMIT ?2",
    [Q_PURGE] = "UPDATE messages SET envelope = NULL WHERE envelope IS NOT NULL AND"
                " state IN (3, 4, 5) AND ended_at > 0 AND ended_at < ?1",
    [Q_DEPTH] = "SELECT count(*) FROM messages WHERE recipient = ?1 AND state IN (1, 2)",
    [Q_C_PUT] = "INSERT OR IGNORE INTO consents(consent_id, subject, granted_by, grant_pb,"
                " granted_at) VALUES(?1,?2,?3,?4,?5)",
    [Q_C_GET] = "SELECT consent_id, subject, granted_by, grant_pb, granted_at, revoked_at"
                " FROM consents WHERE consent_id = ?1",
    [Q_C_REVOKE] = "UPDATE consents SET revoked_at = ?2 WHERE consent_id = ?1 AND revoked_at = 0",
    [Q_C_FOR] = "SELECT consent_id, subject, granted_by, grant_pb, granted_at, revoked_at"
                " FROM consents WHERE subject = ?1 ORDER BY granted_at LIMIT ?2",
    [Q_A_SIZE] = "SELECT coalesce(max(idx) + 1, 0) FROM audit",
    [Q_A_PUT] = "INSERT INTO audit(idx, entry, subject, message_id) VALUES(?1,?2,?3,?4)",
    [Q_A_GET] = "SELECT entry FROM audit WHERE idx = ?1",
    [Q_A_EACH] = "SELECT idx, entry FROM audit WHERE idx >= ?1 ORDER BY idx",
    [Q_N_PUT] = "INSERT OR REPLACE INTO audit_nodes(pos, level, idx, hash) VALUES(?1,?2,?3,?4)",
    [Q_N_GET] = "SELECT hash FROM audit_nodes WHERE pos = ?1",
    [Q_A_BY_SUBJECT] = "SELECT idx FROM audit WHERE subject = ?1 ORDER BY idx LIMIT ?2",
    [Q_A_BY_MESSAGE] = "SELECT idx FROM audit WHERE message_id = ?1 ORDER BY idx LIMIT ?2",
    [Q_STH_PUT] = "INSERT OR REPLACE INTO tree_heads(tree_size, sth) VALUES(?1,?2)",
    [Q_STH_LATEST] = "SELECT sth FROM tree_heads"
                     " WHERE tree_size = (SELECT max(tree_size) FROM tree_heads)",
    [Q_STH_EACH] = "SELECT tree_size, sth FROM tree_heads ORDER BY tree_size",
    [Q_ADM_PUT] = "INSERT INTO admin_queue(action, message_id, actor, requested_at)"
                  " VALUES(?1,?2,?3,?4)",
    [Q_ADM_PENDING] = "SELECT id, action, message_id, actor, result, done_at FROM admin_queue"
                      " WHERE done_at = 0 ORDER BY id LIMIT ?1",
    [Q_ADM_DONE] = "UPDATE admin_queue SET done_at = ?2, result = ?3 WHERE id = ?1",
    [Q_ADM_GET] = "SELECT id, action, message_id, actor, result, done_at FROM admin_queue"
                  " WHERE id = ?1",
};

/* Checkpointing (copying the WAL into the database file) in the writer's
 * thread costs a read and a write per page and two fsyncs. The checkpointer
 * thread does that work on its own connection behind the writer; the
 * writer only finishes it (a few frames) when the WAL has grown past
 * S_WAL_RESTART frames, since the WAL starts over only when a write
 * transaction begins with every frame copied. */
#define S_WAL_KICK    512  /* frames in the WAL that wake the checkpointer */
#define S_WAL_RESTART 4096 /* frames at which the writer completes a checkpoint */

typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sqlite3 *db; /* the checkpointer's own connection */
    bool kicked, stop;
} s_ckpt_t;

struct store {
    store_head_t head;          /* first: the engine's table (store.c) */
    sqlite3 *db;                /* the connection */
    sqlite3_stmt *q[Q_COUNT];   /* prepared statements, by Q_ */
    bool in_tx;                 /* inside store_begin .. commit/rollback */
    s_ckpt_t *ckpt;             /* NULL: SQLite checkpoints in this thread */
};

static remiss_code_t
s_fail(store_t *self, remiss_err_t *err, const char *what)
{
    return remiss_err_set(err, REMISS_E_STORAGE, "storage error (%s): %s", what,
                          self && self->db ? sqlite3_errmsg(self->db) : "no database");
}

/* Resets and returns a prepared statement ready for binding. */
static sqlite3_stmt *
s_q(store_t *self, int which)
{
    sqlite3_stmt *st = self->q[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Runs a statement that returns no rows. */
static remiss_code_t
s_exec(store_t *self, sqlite3_stmt *st, remiss_err_t *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, what);
}

/* The position of Merkle node (level, index) in the order the frontier
 * creates nodes (merkle.h): it completes when leaf n - 1 = ((index + 1) <<
 * level) - 1 is appended, after the 2(n - 1) - popcount(n - 1) nodes of the
 * tree of n - 1 leaves and the level nodes below it on its own path. -1 if
 * no audit log could hold it. */
static int64_t
s_node_pos(unsigned level, uint64_t index)
{
    if (level >= 62 || index >= (UINT64_C(1) << (61 - level)))
        return -1;
    uint64_t before = ((index + 1) << level) - 1;
    return (int64_t)(2 * before - (uint64_t)__builtin_popcountll(before) + level);
}

static void
s_node_pos_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_int64(ctx, s_node_pos((unsigned)sqlite3_value_int(argv[0]),
                                         (uint64_t)sqlite3_value_int64(argv[1])));
}

/* A store of schema 1 keyed audit_nodes by (level, idx); rewrites it keyed
 * by position, in one transaction, before the schema below runs. */
static int
s_migrate(sqlite3 *db, char **msg)
{
    sqlite3_stmt *st;
    bool old = false;
    if (sqlite3_prepare_v2(db,
                           "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE"
                           " name = 'audit_nodes') AND NOT EXISTS (SELECT 1 FROM"
                           " pragma_table_info('audit_nodes') WHERE name = 'pos')",
                           -1, &st, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    if (sqlite3_step(st) == SQLITE_ROW)
        old = sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    if (!old)
        return SQLITE_OK;
    if (sqlite3_create_function(db, "remiss_node_pos", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                s_node_pos_sql, NULL, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    int rc = sqlite3_exec(db,
                          "BEGIN IMMEDIATE;"
                          "ALTER TABLE audit_nodes RENAME TO audit_nodes_v1;"
                          "CREATE TABLE audit_nodes(pos INTEGER PRIMARY KEY,"
                          " level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL);"
                          "INSERT INTO audit_nodes(pos, level, idx, hash) SELECT"
                          " remiss_node_pos(level, idx), level, idx, hash FROM audit_nodes_v1;"
                          "DROP TABLE audit_nodes_v1;"
                          "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
                          "COMMIT;",
                          NULL, NULL, msg);
    if (rc != SQLITE_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

store_t *
store_open(const char *path, remiss_err_t *err)
{
    store_t *self = calloc(1, sizeof *self);
    char *msg = NULL;
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    /* synchronous=FULL below is what store_walbuf needs. */
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        store_walbuf_vfs()) != SQLITE_OK) {
        s_fail(self, err, "open");
        goto fail;
    }
    sqlite3_busy_timeout(self->db, 5000);
    sqlite3_extended_result_codes(self->db, 1);
    if (sqlite3_exec(self->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                     "PRAGMA secure_delete=ON;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        s_migrate(self->db, &msg) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, &msg) != SQLITE_OK) {
        remiss_err_set(err, REMISS_E_STORAGE, "cannot initialise the store %s: %s", path,
                       msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        goto fail;
    }
    char ver[128];
    snprintf(ver, sizeof ver,
             "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '%d')",
             S_SCHEMA_VERSION);
    if (sqlite3_exec(self->db, ver, NULL, NULL, NULL) != SQLITE_OK) {
        s_fail(self, err, "schema version");
        goto fail;
    }
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->q[i],
                               NULL) != SQLITE_OK) {
            s_fail(self, err, "prepare");
            goto fail;
        }
    return self;
fail:
    store_close(&self);
    return NULL;
}

/* ------------------------------------------------------------ checkpoints */

static void *
s_ckpt_main(void *arg)
{
    s_ckpt_t *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        while (!c->kicked && !c->stop)
            pthread_cond_wait(&c->wake, &c->lock);
        if (c->stop)
            break;
        c->kicked = false;
        pthread_mutex_unlock(&c->lock);
        /* PASSIVE never waits for the writer; what it cannot copy now the
         * next kick copies. Errors are the writer's to see. */
        sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* sqlite3_wal_hook: runs in the writer after each commit. */
static int
s_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    s_ckpt_t *c = arg;
    if (frames >= S_WAL_RESTART)
        /* Most frames are copied already; copying the rest here lets the
         * next transaction start the WAL over. */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    else if (frames >= S_WAL_KICK) {
        pthread_mutex_lock(&c->lock);
        c->kicked = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void
s_ckpt_stop(store_t *self)
{
    s_ckpt_t *c = self->ckpt;
    if (!c)
        return;
    sqlite3_wal_hook(self->db, NULL, NULL);
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
    self->ckpt = NULL;
    sqlite3_wal_autocheckpoint(self->db, 1000); /* SQLite's default again */
}

remiss_code_t
store_checkpoint_behind(store_t *self, remiss_err_t *err)
{
    s_ckpt_t *c;
    const char *path = sqlite3_db_filename(self->db, "main");

    if (self->ckpt)
        return REMISS_OK;
    if (!(c = calloc(1, sizeof *c)))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, store_walbuf_vfs()) != SQLITE_OK) {
        remiss_err_set(err, REMISS_E_STORAGE, "cannot open %s for checkpoints: %s", path,
                       sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        free(c);
        return REMISS_E_STORAGE;
    }
    sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, s_ckpt_main, c) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        free(c);
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot start the checkpoint thread");
    }
    self->ckpt = c;
    sqlite3_wal_hook(self->db, s_wal_hook, c); /* replaces the autocheckpoint */
    return REMISS_OK;
}

void
store_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    s_ckpt_stop(self);
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(self->q[i]);
    if (self->db)
        sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

/* ------------------------------------------------------------ transactions */

remiss_code_t
store_begin(store_t *self, remiss_err_t *err)
{
    remiss_code_t r = s_exec(self, s_q(self, Q_BEGIN), err, "begin");
    self->in_tx = r == REMISS_OK;
    return r;
}

remiss_code_t
store_begin_read(store_t *self, bool *started, remiss_err_t *err)
{
    *started = false;
    if (!sqlite3_get_autocommit(self->db))
        return REMISS_OK;
    remiss_code_t r = s_exec(self, s_q(self, Q_BEGIN_READ), err, "begin read");
    *started = r == REMISS_OK;
    return r;
}

remiss_code_t
store_commit(store_t *self, remiss_err_t *err)
{
    remiss_code_t r = s_exec(self, s_q(self, Q_COMMIT), err, "commit");
    if (r != REMISS_OK)
        store_rollback(self);
    self->in_tx = false;
    return r;
}

void
store_rollback(store_t *self)
{
    /* After some errors SQLite has already rolled back; that is fine. */
    if (!sqlite3_get_autocommit(self->db))
        s_exec(self, s_q(self, Q_ROLLBACK), NULL, "rollback");
    self->in_tx = false;
}

remiss_code_t
store_savepoint(store_t *self, remiss_err_t *err)
{
    return s_exec(self, s_q(self, Q_SAVEPOINT), err, "savepoint");
}

void
store_release(store_t *self)
{
    s_exec(self, s_q(self, Q_RELEASE), NULL, "release");
}

void
store_rollback_to(store_t *self)
{
    if (s_exec(self, s_q(self, Q_ROLLBACK_TO), NULL, "rollback to") == REMISS_OK)
        store_release(self);
}

/* ------------------------------------------------------------ helpers */

static void
s_bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (p)
        sqlite3_bind_blob(st, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void
s_bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

/* Copies a fixed-size blob column; false if its size differs. */
static bool
s_col_fixed(sqlite3_stmt *st, int col, uint8_t *out, size_t n)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(st, col) != n)
        return false;
    memcpy(out, sqlite3_column_blob(st, col), n);
    return true;
}

static void
s_col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* Copies a variable blob column into a malloc'd buffer (NULL if NULL). */
static bool
s_col_dup(sqlite3_stmt *st, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return true;
    int n = sqlite3_column_bytes(st, col);
    const void *p = sqlite3_column_blob(st, col);
    if (!(*out = malloc(n > 0 ? (size_t)n : 1)))
        return false;
    if (n > 0)
        memcpy(*out, p, (size_t)n);
    *len = (size_t)n;
    return true;
}

static bool
s_row_msg(sqlite3_stmt *st, store_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (!s_col_fixed(st, 1, m->message_id, STORE_ID_LEN))
        return false;
    s_col_text(st, 2, m->sender, sizeof m->sender);
    s_col_text(st, 3, m->recipient, sizeof m->recipient);
    m->type = sqlite3_column_int(st, 4);
    s_col_text(st, 5, m->purpose, sizeof m->purpose);
    s_col_text(st, 6, m->consent_id, sizeof m->consent_id);
    m->has_subject = s_col_fixed(st, 7, m->subject, STORE_HASH_LEN);
    if (!s_col_fixed(st, 8, m->envelope_sha256, STORE_HASH_LEN) ||
        !s_col_dup(st, 9, &m->envelope, &m->envelope_len) ||
        !s_col_dup(st, 10, &m->receipt, &m->receipt_len)) {
        store_msg_clear(m);
        return false;
    }
    m->created_at = sqlite3_column_int64(st, 11);
    m->accepted_at = sqlite3_column_int64(st, 12);
    m->audit_index = (uint64_t)sqlite3_column_int64(st, 13);
    m->state = (store_state_t)sqlite3_column_int(st, 14);
    m->attempts = (uint32_t)sqlite3_column_int(st, 15);
    m->delivered_at = sqlite3_column_int64(st, 16);
    m->acked_at = sqlite3_column_int64(st, 17);
    m->code = sqlite3_column_int(st, 18);
    s_col_text(st, 19, m->reason, sizeof m->reason);
    m->has_linked = s_col_fixed(st, 20, m->linked_id, STORE_ID_LEN);
    m->transfer_decision = sqlite3_column_int(st, 21);
    s_col_text(st, 22, m->receiving_unit, sizeof m->receiving_unit);
    m->has_transfer_ack = s_col_fixed(st, 23, m->transfer_ack_id, STORE_ID_LEN);
    return true;
}

/* Steps a SELECT of message rows into out[0..max). */
static remiss_code_t
s_msg_rows(store_t *self, sqlite3_stmt *st, store_msg_t *out, size_t max, size_t *n,
           remiss_err_t *err)
{
    int rc;
    *n = 0;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!s_row_msg(st, &out[*n])) {
            sqlite3_reset(st);
            for (size_t i = 0; i < *n; i++)
                store_msg_clear(&out[i]);
            *n = 0;
            return remiss_err_set(err, REMISS_E_STORAGE, "a stored message row is damaged");
        }
        (*n)++;
    }
    if (*n < max && rc != SQLITE_DONE) {
        remiss_code_t r = s_fail(self, err, "select");
        for (size_t i = 0; i < *n; i++)
            store_msg_clear(&out[i]);
        *n = 0;
        return r;
    }
    sqlite3_reset(st);
    return REMISS_OK;
}

/* ------------------------------------------------------------ messages */

remiss_code_t
store_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found, store_msg_t *out,
           remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_FIND);
    size_t n = 0;
    s_bind_blob(st, 1, id, STORE_ID_LEN);
    remiss_code_t r = s_msg_rows(self, st, out, 1, &n, err);
    *found = r == REMISS_OK && n == 1;
    return r;
}

remiss_code_t
store_insert(store_t *self, store_msg_t *m, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_INSERT);
    s_bind_blob(st, 1, m->message_id, STORE_ID_LEN);
    s_bind_text(st, 2, m->sender);
    s_bind_text(st, 3, m->recipient);
    sqlite3_bind_int(st, 4, m->type);
    s_bind_text(st, 5, m->purpose);
    s_bind_text(st, 6, m->consent_id);
    s_bind_blob(st, 7, m->has_subject ? m->subject : NULL, STORE_HASH_LEN);
    s_bind_blob(st, 8, m->envelope_sha256, STORE_HASH_LEN);
    s_bind_blob(st, 9, m->envelope, m->envelope_len);
    s_bind_blob(st, 10, m->receipt ? m->receipt : (const uint8_t *)"", m->receipt_len);
    sqlite3_bind_int64(st, 11, m->created_at);
    sqlite3_bind_int64(st, 12, m->accepted_at);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)m->audit_index);
    s_bind_blob(st, 14, m->has_linked ? m->linked_id : NULL, STORE_ID_LEN);
    remiss_code_t r = s_exec(self, st, err, "insert message");
    if (r == REMISS_OK)
        m->seq = (uint64_t)sqlite3_last_insert_rowid(self->db);
    return r;
}

remiss_code_t
store_due(store_t *self, const char *recipient, int64_t now, size_t max, store_msg_t *out,
          size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_DUE);
    s_bind_text(st, 1, recipient);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    return s_msg_rows(self, st, out, max, n, err);
}

remiss_code_t
store_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_MARK_SENT);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, next_at);
    return s_exec(self, st, err, "mark sent");
}

remiss_code_t
store_resend_now(store_t *self, const char *recipient, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_RESEND_NOW);
    s_bind_text(st, 1, recipient);
    return s_exec(self, st, err, "resend");
}

remiss_code_t
store_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
             store_state_t state, int code, const char *reason, int64_t now, bool *changed,
             remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, recipient ? Q_FINISH : Q_FINISH_ANY);
    s_bind_blob(st, 1, id, STORE_ID_LEN);
    sqlite3_bind_int(st, 2, (int)state);
    sqlite3_bind_int(st, 3, code);
    s_bind_text(st, 4, reason);
    sqlite3_bind_int64(st, 5, now);
    if (recipient)
        s_bind_text(st, 6, recipient);
    remiss_code_t r = s_exec(self, st, err, "finish");
    *changed = r == REMISS_OK && sqlite3_changes(self->db) > 0;
    return r;
}

remiss_code_t
store_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_REQUEUE);
    s_bind_blob(st, 1, id, STORE_ID_LEN);
    remiss_code_t r = s_exec(self, st, err, "requeue");
    *changed = r == REMISS_OK && sqlite3_changes(self->db) > 0;
    return r;
}

remiss_code_t
store_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN], const char *orig_sender,
                    const char *orig_recipient, int decision, const char *unit,
                    const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_LINK);
    s_bind_blob(st, 1, orig, STORE_ID_LEN);
    s_bind_text(st, 2, orig_sender);
    sqlite3_bind_int(st, 3, decision);
    s_bind_text(st, 4, unit);
    s_bind_blob(st, 5, ack_id, STORE_ID_LEN);
    s_bind_text(st, 6, orig_recipient);
    return s_exec(self, st, err, "link transfer");
}

remiss_code_t
store_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_DEAD);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    return s_msg_rows(self, st, out, max, n, err);
}

remiss_code_t
store_pending_by_consent(store_t *self, const char *consent_id, size_t max, store_msg_t *out,
                         size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_BY_CONSENT);
    s_bind_text(st, 1, consent_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    return s_msg_rows(self, st, out, max, n, err);
}

remiss_code_t
store_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_PURGE);
    sqlite3_bind_int64(st, 1, before_ms);
    remiss_code_t r = s_exec(self, st, err, "purge");
    *purged = r == REMISS_OK ? (uint64_t)sqlite3_changes(self->db) : 0;
    return r;
}

/* Runs a single-integer SELECT. */
static remiss_code_t
s_count(store_t *self, sqlite3_stmt *st, uint64_t *out, remiss_err_t *err)
{
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? REMISS_OK : s_fail(self, err, "count");
}

remiss_code_t
store_depth(store_t *self, const char *recipient, uint64_t *depth, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_DEPTH);
    s_bind_text(st, 1, recipient);
    return s_count(self, st, depth, err);
}

/* ------------------------------------------------------------ consents */

remiss_code_t
store_consent_put(store_t *self, const store_consent_t *c, bool *exists, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_C_PUT);
    s_bind_text(st, 1, c->consent_id);
    s_bind_blob(st, 2, c->subject, STORE_HASH_LEN);
    s_bind_text(st, 3, c->granted_by);
    s_bind_blob(st, 4, c->grant ? c->grant : (const uint8_t *)"", c->grant_len);
    sqlite3_bind_int64(st, 5, c->granted_at);
    remiss_code_t r = s_exec(self, st, err, "put consent");
    *exists = r == REMISS_OK && sqlite3_changes(self->db) == 0;
    return r;
}

static remiss_code_t
s_consent_rows(store_t *self, sqlite3_stmt *st, store_consent_t *out, size_t max, size_t *n,
               remiss_err_t *err)
{
    int rc = SQLITE_DONE;
    *n = 0;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_consent_t *c = &out[*n];
        memset(c, 0, sizeof *c);
        s_col_text(st, 0, c->consent_id, sizeof c->consent_id);
        s_col_text(st, 2, c->granted_by, sizeof c->granted_by);
        c->granted_at = sqlite3_column_int64(st, 4);
        c->revoked_at = sqlite3_column_int64(st, 5);
        if (!s_col_fixed(st, 1, c->subject, STORE_HASH_LEN) ||
            !s_col_dup(st, 3, &c->grant, &c->grant_len)) {
            rc = SQLITE_CORRUPT;
            break;
        }
        (*n)++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        for (size_t i = 0; i < *n; i++)
            store_consent_clear(&out[i]);
        *n = 0;
        return s_fail(self, err, "consents");
    }
    return REMISS_OK;
}

remiss_code_t
store_consent_get(store_t *self, const char *id, bool *found, store_consent_t *out,
                  remiss_err_t *err)
{
    size_t n = 0;
    sqlite3_stmt *st = s_q(self, Q_C_GET);
    s_bind_text(st, 1, id);
    remiss_code_t r = s_consent_rows(self, st, out, 1, &n, err);
    *found = n == 1;
    return r;
}

remiss_code_t
store_consent_revoke(store_t *self, const char *id, int64_t now, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_C_REVOKE);
    s_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    return s_exec(self, st, err, "revoke consent");
}

remiss_code_t
store_consents_for(store_t *self, const uint8_t subject[STORE_HASH_LEN], size_t max,
                   store_consent_t *out, size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_C_FOR);
    s_bind_blob(st, 1, subject, STORE_HASH_LEN);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    return s_consent_rows(self, st, out, max, n, err);
}

/* ------------------------------------------------------------ audit */

remiss_code_t
store_audit_size(store_t *self, uint64_t *size, remiss_err_t *err)
{
    return s_count(self, s_q(self, Q_A_SIZE), size, err);
}

remiss_code_t
store_audit_put(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                const uint8_t *subject, const uint8_t *message_id, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_A_PUT);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
    s_bind_blob(st, 2, entry ? entry : (const uint8_t *)"", len);
    s_bind_blob(st, 3, subject, STORE_HASH_LEN);
    s_bind_blob(st, 4, message_id, STORE_ID_LEN);
    return s_exec(self, st, err, "audit append");
}

remiss_code_t
store_audit_get(store_t *self, uint64_t index, uint8_t **entry, size_t *len, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_A_GET);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)index);
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && s_col_dup(st, 0, entry, len) && *entry;
    sqlite3_reset(st);
    if (!ok)
        return rc == SQLITE_ROW || rc == SQLITE_DONE
                   ? remiss_err_set(err, REMISS_E_STORAGE, "audit entry %llu is missing",
                                    (unsigned long long)index)
                   : s_fail(self, err, "audit read");
    return REMISS_OK;
}

remiss_code_t
store_audit_each(store_t *self, uint64_t from, store_audit_fn fn, void *ctx, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_A_EACH);
    int rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        if (fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), p, (size_t)(n > 0 ? n : 0)) != 0)
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "audit entries");
}

remiss_code_t
store_audit_node_put(store_t *self, unsigned level, uint64_t index,
                     const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err)
{
    int64_t pos = s_node_pos(level, index);
    if (pos < 0)
        return remiss_err_set(err, REMISS_E_STORAGE, "audit tree node %u/%llu is out of range",
                              level, (unsigned long long)index);
    sqlite3_stmt *st = s_q(self, Q_N_PUT);
    sqlite3_bind_int64(st, 1, pos);
    sqlite3_bind_int(st, 2, (int)level);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
    s_bind_blob(st, 4, hash, STORE_HASH_LEN);
    return s_exec(self, st, err, "audit node");
}

remiss_code_t
store_audit_node_get(store_t *self, unsigned level, uint64_t index, uint8_t hash[STORE_HASH_LEN],
                     remiss_err_t *err)
{
    int64_t pos = s_node_pos(level, index);
    sqlite3_stmt *st = s_q(self, Q_N_GET);
    sqlite3_bind_int64(st, 1, pos);
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && s_col_fixed(st, 0, hash, STORE_HASH_LEN);
    sqlite3_reset(st);
    return ok ? REMISS_OK
              : remiss_err_set(err, REMISS_E_STORAGE, "audit tree node %u/%llu is missing", level,
                               (unsigned long long)index);
}

remiss_code_t
store_audit_find(store_t *self, const uint8_t *subject, const uint8_t *message_id, uint64_t *out,
                 size_t max, size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, subject ? Q_A_BY_SUBJECT : Q_A_BY_MESSAGE);
    if (subject)
        s_bind_blob(st, 1, subject, STORE_HASH_LEN);
    else
        s_bind_blob(st, 1, message_id, STORE_ID_LEN);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    int rc = SQLITE_DONE;
    *n = 0;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "audit find");
}

remiss_code_t
store_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len,
                    remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_STH_PUT);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)size);
    s_bind_blob(st, 2, sth, len);
    return s_exec(self, st, err, "tree head");
}

remiss_code_t
store_audit_sth_latest(store_t *self, uint8_t **sth, size_t *len, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_STH_LATEST);
    int rc = sqlite3_step(st);
    *sth = NULL;
    *len = 0;
    bool ok = rc == SQLITE_DONE || (rc == SQLITE_ROW && s_col_dup(st, 0, sth, len));
    sqlite3_reset(st);
    return ok ? REMISS_OK : s_fail(self, err, "tree head");
}

remiss_code_t
store_audit_sth_each(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_STH_EACH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        if (fn(ctx, (uint64_t)sqlite3_column_int64(st, 0), p, (size_t)(n > 0 ? n : 0)) != 0)
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "tree heads");
}

/* ------------------------------------------------------------ admin */

remiss_code_t
store_admin_request(store_t *self, const store_admin_t *req, int64_t now, int64_t *id,
                    remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_ADM_PUT);
    s_bind_text(st, 1, req->action);
    s_bind_blob(st, 2, req->message_id, STORE_ID_LEN);
    s_bind_text(st, 3, req->actor);
    sqlite3_bind_int64(st, 4, now);
    remiss_code_t r = s_exec(self, st, err, "admin request");
    *id = r == REMISS_OK ? sqlite3_last_insert_rowid(self->db) : 0;
    return r;
}

static remiss_code_t
s_admin_rows(store_t *self, sqlite3_stmt *st, store_admin_t *out, size_t max, size_t *n,
             remiss_err_t *err)
{
    int rc = SQLITE_DONE;
    *n = 0;
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_admin_t *a = &out[*n];
        memset(a, 0, sizeof *a);
        a->id = sqlite3_column_int64(st, 0);
        s_col_text(st, 1, a->action, sizeof a->action);
        if (!s_col_fixed(st, 2, a->message_id, STORE_ID_LEN))
            continue;
        s_col_text(st, 3, a->actor, sizeof a->actor);
        s_col_text(st, 4, a->result, sizeof a->result);
        a->done_at = sqlite3_column_int64(st, 5);
        (*n)++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "admin");
}

remiss_code_t
store_admin_pending(store_t *self, store_admin_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_ADM_PENDING);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    return s_admin_rows(self, st, out, max, n, err);
}

remiss_code_t
store_admin_done(store_t *self, int64_t id, const char *result, int64_t now, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_ADM_DONE);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    s_bind_text(st, 3, result);
    return s_exec(self, st, err, "admin done");
}

remiss_code_t
store_admin_get(store_t *self, int64_t id, store_admin_t *out, bool *found, remiss_err_t *err)
{
    size_t n = 0;
    sqlite3_stmt *st = s_q(self, Q_ADM_GET);
    sqlite3_bind_int64(st, 1, id);
    remiss_code_t r = s_admin_rows(self, st, out, 1, &n, err);
    *found = n == 1;
    return r;
}

const store_ops_t store_sqlite_ops = STORE_ENGINE_OPS("sqlite");

/* The text of prepared statement i, NULL past the last (for
 * tests/test_query_plans.c, which checks every plan for table scans). */
const char *
store_sqlite_statement(size_t i)
{
    return i < Q_COUNT ? s_sql[i] : NULL;
}
