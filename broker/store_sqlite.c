/* store_sqlite: the embedded SQLite engine behind store.h.
 *
 * WAL with synchronous=FULL: a commit is on disk when it returns, and
 * readers (remissctl) never block the broker. Statements are prepared once. */
#define STORE_SQLITE_NAMES /* store_* below are store_sqlite_* (store_engine.h) */
#include "store_engine.h"
#include "store_sqlite_sql.h"
#include "store_walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_SCHEMA_VERSION 2 /* 2: audit_nodes keyed by post-order position */

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
    store_head_t head;        /* first: the engine's table (store.c) */
    sqlite3 *db;              /* the connection */
    sqlite3_stmt *q[Q_COUNT]; /* prepared statements, by Q_ */
    bool in_tx;               /* inside store_begin .. commit/rollback */
    s_ckpt_t *ckpt;           /* NULL: SQLite checkpoints in this thread */
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

/* Takes group and other access away from the store's files that exist
 * (a store made by an older version, or under a loose umask). */
static void
s_private(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[4096];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        struct stat st;
        if (snprintf(p, sizeof p, "%s%s", path, suffix[i]) >= (int)sizeof p)
            return;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
            chmod(p, st.st_mode & 0700);
    }
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
    /* The store holds personal data: 0600 whatever the umask. SQLite gives
     * the -wal and -shm files the database file's mode. */
    mode_t mask = umask(077);
    s_private(path);
    /* synchronous=FULL below is what store_walbuf needs. */
    int orc = sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                              store_walbuf_vfs());
    umask(mask);
    if (orc != SQLITE_OK) {
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
        sqlite3_exec(self->db, store_sqlite_schema, NULL, NULL, &msg) != SQLITE_OK) {
        remiss_err_set(err, REMISS_E_STORAGE, "cannot initialise the store %s: %s", path,
                       msg ? msg : sqlite3_errmsg(self->db));
        sqlite3_free(msg);
        goto fail;
    }
    /* Stores before issue 14 lack consents.valid_until (shredding). */
    sqlite3_exec(self->db, "ALTER TABLE consents ADD COLUMN valid_until INTEGER NOT NULL DEFAULT 0",
                 NULL, NULL, NULL);
    char ver[128];
    snprintf(ver, sizeof ver,
             "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '%d')",
             S_SCHEMA_VERSION);
    if (sqlite3_exec(self->db, ver, NULL, NULL, NULL) != SQLITE_OK) {
        s_fail(self, err, "schema version");
        goto fail;
    }
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, store_sqlite_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &self->q[i], NULL) != SQLITE_OK) {
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
    if (r == REMISS_OK) {
        st = s_q(self, Q_C_SHRED);
        sqlite3_bind_int64(st, 1, before_ms);
        r = s_exec(self, st, err, "shred consents");
    }
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

remiss_code_t
store_queues(store_t *self, store_queue_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_QUEUES);
    int rc = SQLITE_DONE;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        s_col_text(st, 0, out[*n].recipient, sizeof out[*n].recipient);
        out[*n].depth = (uint64_t)sqlite3_column_int64(st, 1);
        out[*n].oldest = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    sqlite3_reset(st);
    return *n == max || rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "queues");
}

remiss_code_t
store_oldest(store_t *self, const char *recipient, int64_t *accepted_at, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_OLDEST);
    uint64_t v = 0;
    s_bind_text(st, 1, recipient);
    remiss_code_t r = s_count(self, st, &v, err);
    *accepted_at = (int64_t)v;
    return r;
}

remiss_code_t
store_dead_count(store_t *self, uint64_t *n, remiss_err_t *err)
{
    return s_count(self, s_q(self, Q_DEAD_COUNT), n, err);
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
    sqlite3_bind_int64(st, 6, c->valid_until);
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

remiss_code_t
store_consent_count(store_t *self, const uint8_t subject[STORE_HASH_LEN], const char *granted_by,
                    uint64_t *n, remiss_err_t *err)
{
    sqlite3_stmt *st = s_q(self, Q_C_COUNT);
    s_bind_blob(st, 1, subject, STORE_HASH_LEN);
    if (granted_by)
        s_bind_text(st, 2, granted_by);
    else
        sqlite3_bind_null(st, 2);
    return s_count(self, st, n, err);
}

/* One batch of key rotation (store_engine.h): up to 256 rows whose body is
 * sealed under another KEK than kid get their data key rewrapped by fn. */
static remiss_code_t
store_rewrap_batch(store_t *self, bool consents, const uint8_t kid[4], store_rewrap_fn fn,
                   void *ctx, uint64_t *n, remiss_err_t *err)
{
    sqlite3_stmt *sel = s_q(self, consents ? Q_KEYS_CON : Q_KEYS_MSG);
    sqlite3_stmt *put = s_q(self, consents ? Q_KEYS_CON_PUT : Q_KEYS_MSG_PUT);
    s_bind_blob(sel, 1, kid, 4);
    int rc;
    *n = 0;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const void *aad = sqlite3_column_blob(sel, 1);
        size_t aad_len = (size_t)sqlite3_column_bytes(sel, 1), len;
        uint8_t *blob = NULL;
        if (!s_col_dup(sel, 2, &blob, &len) || !fn(ctx, aad, aad_len, blob, len)) {
            free(blob);
            continue; /* unreadable: left as it is (a verifier reports it) */
        }
        sqlite3_bind_int64(put, 1, sqlite3_column_int64(sel, 0));
        s_bind_blob(put, 2, blob, len);
        rc = sqlite3_step(put);
        sqlite3_reset(put);
        free(blob);
        if (rc != SQLITE_DONE)
            break;
        (*n)++;
    }
    sqlite3_reset(sel);
    return rc == SQLITE_DONE ? REMISS_OK : s_fail(self, err, "rewrap");
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
store_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len, remiss_err_t *err)
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
    return i < Q_COUNT ? store_sqlite_sql[i] : NULL;
}
