/* store_pg: the PostgreSQL engine behind store.h (libpq).
 *
 * The same guarantees as the SQLite engine: store_commit returns REMISS_OK
 * only when COMMIT came back clean (tag COMMIT, no warning on the way: a
 * commit whose wait for a synchronous standby was cancelled reports success
 * with only a WARNING and may be gone after a failover), so nothing is
 * acknowledged that the database may not keep. This engine never cancels a
 * statement. Unique keys (message id, consent id, audit index) are the
 * database's, so idempotent resends and E_REPLAY hold for every node that
 * shares it.
 *
 * This file holds the connection and its pipeline, transactions and the
 * cluster's write lock; the message queue is store_pg_msg.c's, consents,
 * admin requests and the audit log store_pg_audit.c's.
 *
 * Statements are prepared once per connection; parameters are sent as text
 * (numbers, names) or binary (bytea), results come back binary. A lost
 * connection fails every call with E_STORAGE at once; the next call outside
 * a transaction connects again (at most once per S_RETRY_MS), so the
 * broker resumes by itself when the database is back. */
#include "hex.h"
#include "store_pg_int.h"
#include "store_pg_sql.h"
#include "utf8.h"

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SCHEMA_VERSION 2    /* as the SQLite engine's: the same tables */
#define S_RETRY_MS       1000 /* between attempts to connect again */

/* Defaults that the URI may override (it is expanded after them). They
 * bound how long a dead server or network can hold the broker: a client
 * waits 10 s for its receipt by default. */
static const char *const s_conn_keys[] = {"connect_timeout",  "keepalives",
                                          "keepalives_idle",  "keepalives_interval",
                                          "keepalives_count", "tcp_user_timeout",
                                          "application_name", "client_encoding",
                                          "dbname",           NULL};
static const char *const s_conn_vals[] = {
    "3", "1", "5", "1", "3", "5000", "remiss", "UTF8", NULL /* the URI */, NULL};

/* Run once per session: statements other than COMMIT give up after 5 s
 * (s_commit_wait lifts the timeout for the COMMIT). */
static const char s_session[] = "SET statement_timeout = 5000; SET client_min_messages = warning;";

void
store_pg_int(store_pg_par_t *p, int64_t v)
{
    snprintf(p->num[p->n], sizeof p->num[p->n], "%lld", (long long)v);
    p->v[p->n] = p->num[p->n];
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

void
store_pg_text(store_pg_par_t *p, const char *s)
{
    p->v[p->n] = s ? s : "";
    p->bad_text |= !utf8_valid(p->v[p->n], strlen(p->v[p->n]));
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

/* NULL bytes are SQL NULL. */
void
store_pg_blob(store_pg_par_t *p, const void *b, size_t len)
{
    p->v[p->n] = b;
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

/* Room for n more bytes, the closing brace and its NUL. */
static bool
s_lit_room(store_pg_lit_t *l, size_t n)
{
    if (n > SIZE_MAX / 4 - l->len)
        return false;
    size_t need = l->len + n + 3, cap = l->cap ? l->cap : 4096;
    if (need <= l->cap)
        return true;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(l->s, cap);
    if (!grown)
        return false;
    l->s = grown;
    l->cap = cap;
    return true;
}

/* Starts the next element ("{" first, "," between) with room for n bytes. */
static bool
s_lit_next(store_pg_lit_t *l, size_t n)
{
    if (!s_lit_room(l, n + 1))
        return false;
    l->s[l->len++] = l->n++ ? ',' : '{';
    return true;
}

bool
store_pg_lit_int(store_pg_lit_t *l, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    if (!s_lit_next(l, (size_t)n))
        return false;
    memcpy(l->s + l->len, num, (size_t)n);
    l->len += (size_t)n;
    return true;
}

bool
store_pg_lit_blob(store_pg_lit_t *l, const uint8_t *data, size_t len)
{
    if (len > SIZE_MAX / 4 || !s_lit_next(l, data ? 2 * len + 5 : 4))
        return false;
    if (!data) {
        memcpy(l->s + l->len, "NULL", 4);
        l->len += 4;
        return true;
    }
    /* bytea's hex form \x…, its backslash escaped inside the array. */
    memcpy(l->s + l->len, "\"\\\\x", 4);
    hex_encode(l->s + l->len + 4, data, len);
    l->len += 4 + 2 * len;
    l->s[l->len++] = '"';
    return true;
}

const char *
store_pg_lit_end(store_pg_lit_t *l)
{
    if (!s_lit_room(l, 1))
        return NULL;
    if (l->n == 0)
        memcpy(l->s, "{}", 3);
    else
        memcpy(l->s + l->len, "}", 2);
    return l->s;
}

void
store_pg_lit_free(store_pg_lit_t *l)
{
    free(l->s);
    *l = (store_pg_lit_t){0};
}

static int64_t
s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
s_mono_ms(void)
{
    return s_mono_us() / 1000;
}

/* The first line of libpq's message: no connection string, no data. */
static const char *
s_line(char *buf, size_t size, const char *msg)
{
    snprintf(buf, size, "%s", msg && msg[0] ? msg : "connection lost");
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
}

static remiss_code_t
s_fail(store_t *self, remiss_err_t *err, const char *what, const PGresult *res)
{
    char line[256];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!primary)
        primary = self->conn ? PQerrorMessage(self->conn) : "no connection";
    return remiss_err_set(err, REMISS_E_STORAGE, "storage error (%s): %s%s%s%s", what,
                          s_line(line, sizeof line, primary), state ? " (SQLSTATE " : "",
                          state ? state : "", state ? ")" : "");
}

static void
s_notice(void *arg, const PGresult *res)
{
    store_t *self = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (self->watching && sev && strcmp(sev, "NOTICE") != 0 && strcmp(sev, "INFO") != 0 &&
        strcmp(sev, "LOG") != 0 && strncmp(sev, "DEBUG", 5) != 0)
        self->warned = true;
}

/* Runs SQL without parameters (session set-up, transaction control). */
static remiss_code_t
s_plain(store_t *self, const char *sql, remiss_err_t *err, const char *what)
{
    PGresult *res = PQexec(self->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    remiss_code_t r =
        st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? REMISS_OK : s_fail(self, err, what, res);
    PQclear(res);
    return r;
}

static remiss_code_t
s_prepare_all(store_t *self, remiss_err_t *err)
{
    char name[16];
    for (int i = 0; i < Q_COUNT; i++) {
        if (store_pg_planned_each_run(i))
            continue;
        snprintf(name, sizeof name, "q%d", i);
        PGresult *res = PQprepare(self->conn, name, store_pg_sql[i], 0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!ok)
            s_fail(self, err, "prepare", res);
        PQclear(res);
        if (!ok)
            return REMISS_E_STORAGE;
    }
    /* From here on every statement goes through the pipeline (s_send). */
    if (PQenterPipelineMode(self->conn) != 1)
        return s_fail(self, err, "pipeline", NULL);
    return REMISS_OK;
}

/* (Re)connects and sets the session up. */
static remiss_code_t
s_dial(store_t *self, remiss_err_t *err)
{
    const char *vals[sizeof s_conn_vals / sizeof s_conn_vals[0]];
    char line[256];
    memcpy(vals, s_conn_vals, sizeof vals);
    for (size_t i = 0; s_conn_keys[i]; i++)
        if (strcmp(s_conn_keys[i], "dbname") == 0)
            vals[i] = self->uri;
    PQfinish(self->conn);
    self->pending = 0;
    self->conn = PQconnectdbParams(s_conn_keys, vals, 1);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK) {
        self->retry_at = s_mono_ms() + S_RETRY_MS;
        return remiss_err_set(
            err, REMISS_E_STORAGE, "cannot connect to the database: %s",
            s_line(line, sizeof line, self->conn ? PQerrorMessage(self->conn) : "out of memory"));
    }
    PQsetNoticeReceiver(self->conn, s_notice, self);
    remiss_code_t r = s_plain(self, s_session, err, "session");
    if (r != REMISS_OK)
        self->retry_at = s_mono_ms() + S_RETRY_MS;
    return r;
}

static bool
s_alive(const store_t *self)
{
    return self->conn && PQstatus(self->conn) == CONNECTION_OK;
}

/* A working connection, or E_STORAGE at once. Connects again only
 * between transactions and not more often than every S_RETRY_MS. */
remiss_code_t
store_pg_ready(store_t *self, remiss_err_t *err)
{
    if (s_alive(self))
        return REMISS_OK;
    if (self->in_tx)
        return remiss_err_set(err, REMISS_E_STORAGE,
                              "storage error: the database connection was lost");
    if (s_mono_ms() < self->retry_at)
        return remiss_err_set(err, REMISS_E_STORAGE, "storage error: the database is unreachable");
    remiss_code_t r = s_dial(self, err);
    if (r == REMISS_OK && (r = s_prepare_all(self, err)) != REMISS_OK)
        self->retry_at = s_mono_ms() + S_RETRY_MS;
    return r;
}

/* Queues prepared statement q (or, q < 0, the SQL sql without
 * parameters) in the pipeline; s_sync reads its result. */
remiss_code_t
store_pg_send(store_t *self, int q, const char *sql, const store_pg_par_t *p, remiss_err_t *err,
              const char *what)
{
    char name[16];
    int ok;
    /* PostgreSQL would refuse it and abort the whole transaction (a
     * cycle of other parties' messages); SQLite stores any bytes. */
    if (p && p->bad_text)
        return remiss_err_set(err, REMISS_E_STORAGE, "storage error (%s): a text that is not UTF-8",
                              what);
    /* What reads the audit log sees this transaction's appends. */
    remiss_code_t r;
    if (q >= 0 && store_pg_reads_audit(q) && (self->abuf[0].rows || self->abuf[1].rows) &&
        (r = store_pg_abuf_flush(self, err)) != REMISS_OK)
        return r;
    if (q >= 0 && store_pg_planned_each_run(q))
        ok = PQsendQueryParams(self->conn, store_pg_sql[q], p ? p->n : 0, NULL, p ? p->v : NULL,
                               p ? p->len : NULL, p ? p->fmt : NULL, 1);
    else if (q >= 0) {
        snprintf(name, sizeof name, "q%d", q);
        ok = PQsendQueryPrepared(self->conn, name, p ? p->n : 0, p ? p->v : NULL, p ? p->len : NULL,
                                 p ? p->fmt : NULL, 1);
    } else
        ok = PQsendQueryParams(self->conn, sql, 0, NULL, NULL, NULL, NULL, 1);
    if (!ok)
        return s_fail(self, err, what, NULL);
    self->pending++;
    return REMISS_OK;
}

/* Reads the PGRES_PIPELINE_SYNC that ends a batch. */
static void
s_read_sync(store_t *self)
{
    for (int i = 0; i < 4 && s_alive(self); i++) {
        PGresult *res = PQgetResult(self->conn);
        bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (sync)
            return;
    }
}

/* Reads the n results of a batch whose sync went out, in order, and the
 * sync; the last nkeep go to keep[0..nkeep) (caller clears them) when all
 * succeeded, else every keep[i] is NULL. The first failure is the error. A
 * failure of a statement nobody waited for (a deferred write,
 * store_pg_defer) poisons the transaction: the broker may have gone on as
 * if it had worked, so nothing of the transaction may commit. */
static remiss_code_t
s_read_batch(store_t *self, int n, PGresult **keep, int nkeep, remiss_err_t *err, const char *what)
{
    remiss_code_t r = REMISS_OK;
    int first = n > nkeep ? n - nkeep : 0;
    for (int i = 0; i < n && r == REMISS_OK; i++) {
        PGresult *res = PQgetResult(self->conn);
        ExecStatusType st = PQresultStatus(res);
        if (!res || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
            r = s_fail(self, err, what, res);
            if (self->in_tx && i < first && !self->poisoned) {
                self->poisoned = true;
                snprintf(self->poison, sizeof self->poison, "%.300s", err ? err->text : what);
            }
            PQclear(res);
        } else if (i >= first)
            keep[i - first] = res;
        else
            PQclear(res);
        PQclear(PQgetResult(self->conn)); /* the NULL after each statement */
    }
    for (int i = 0; r != REMISS_OK && i < nkeep; i++) {
        PQclear(keep[i]);
        keep[i] = NULL;
    }
    /* After a failure PostgreSQL skips the rest up to the sync. */
    for (int i = 0; r != REMISS_OK && i < 2 * n && s_alive(self); i++) {
        PGresult *res = PQgetResult(self->conn);
        bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
        if (sync)
            return r;
    }
    s_read_sync(self);
    return r;
}

/* Ends the batch of pending statements with a sync (sent at once); *n gets
 * how many results s_read_batch is to read. */
static remiss_code_t
s_send_sync(store_t *self, int *n, remiss_err_t *err, const char *what)
{
    *n = self->pending;
    self->pending = 0;
    return PQpipelineSync(self->conn) == 1 ? REMISS_OK : s_fail(self, err, what, NULL);
}

static void
s_count_trip(store_t *self, int64_t t0)
{
    self->stats.round_trips++;
    self->stats.round_trip_seconds += (double)(s_mono_us() - t0) / 1e6;
}

/* Ends the batch with a sync and reads its results (s_read_batch). */
remiss_code_t
store_pg_sync_keep(store_t *self, PGresult **keep, int nkeep, remiss_err_t *err, const char *what)
{
    int n;
    int64_t t0 = s_mono_us();
    for (int i = 0; i < nkeep; i++)
        keep[i] = NULL;
    remiss_code_t r = s_send_sync(self, &n, err, what);
    if (r == REMISS_OK)
        r = s_read_batch(self, n, keep, nkeep, err, what);
    else /* what went out is read and dropped */
        s_read_batch(self, n, keep, 0, NULL, what);
    s_count_trip(self, t0);
    return r;
}

/* s_sync_keep of the last result only, into *last when last is not NULL. */
remiss_code_t
store_pg_sync(store_t *self, PGresult **last, remiss_err_t *err, const char *what)
{
    PGresult *ignored;
    return store_pg_sync_keep(self, last ? last : &ignored, last ? 1 : 0, err, what);
}

/* Runs prepared statement q and waits for it; the result (caller clears)
 * or NULL. */
PGresult *
store_pg_run(store_t *self, int q, const store_pg_par_t *p, remiss_err_t *err, const char *what)
{
    PGresult *res = NULL;
    if (store_pg_ready(self, err) == REMISS_OK &&
        store_pg_send(self, q, NULL, p, err, what) == REMISS_OK)
        store_pg_sync(self, &res, err, what);
    return res;
}

/* Runs a statement whose rows do not matter; *changed (may be NULL) gets
 * the number of rows it changed. */
remiss_code_t
store_pg_exec(store_t *self, int q, const store_pg_par_t *p, uint64_t *changed, remiss_err_t *err,
              const char *what)
{
    PGresult *res = store_pg_run(self, q, p, err, what);
    if (changed)
        *changed = res ? strtoull(PQcmdTuples(res), NULL, 10) : 0;
    PQclear(res);
    return res ? REMISS_OK : REMISS_E_STORAGE;
}

/* A write whose result the caller does not need: inside a transaction it
 * goes out with the next statement that waits (one round trip for many,
 * the audit appends of a whole cycle, say); its failure poisons the
 * transaction (s_sync). Outside one it runs at once. q < 0: sql. */
remiss_code_t
store_pg_defer(store_t *self, int q, const char *sql, const store_pg_par_t *p, remiss_err_t *err,
               const char *what)
{
    remiss_code_t r;
    if (!self->in_tx && q >= 0)
        return store_pg_exec(self, q, p, NULL, err, what);
    if (self->poisoned)
        return remiss_err_set(err, REMISS_E_STORAGE,
                              "storage error (%s): an earlier statement of the transaction "
                              "failed",
                              what);
    if ((r = store_pg_ready(self, err)) != REMISS_OK ||
        (r = store_pg_send(self, q, sql, p, err, what)) != REMISS_OK)
        return r;
    return self->pending >= STORE_PG_MAX_PENDING || !self->in_tx
               ? store_pg_sync(self, NULL, err, what)
               : REMISS_OK;
}

/* ------------------------------------------------------------ several nodes */

/* Takes the cluster's write lock for the open transaction, once, before
 * its first write (store.h): the writing transactions of all nodes run
 * one after another. Only reads come before it, so no row lock is ever
 * held by a transaction waiting for it (no deadlock between nodes). Under
 * the lock, in the same round trip, it reads the audit log's size and the
 * consent registry's generation (statements after the lock see every
 * commit before it). A failure poisons the transaction. */
remiss_code_t
store_pg_lock(store_t *self, remiss_err_t *err)
{
    return store_pg_lock_then(self, -1, NULL, NULL, err);
}

/* The lock and what it reads (Q_SHARED's row) are the transaction's. */
void
store_pg_locked_with(store_t *self, const PGresult *shared)
{
    self->locked = true;
    self->lock_depth = self->depth;
    self->sync.shared = true;
    self->sync.serial++;
    self->sync.audit_size = (uint64_t)store_pg_get_int(shared, 0, 0);
    self->consent_gen = (uint64_t)store_pg_get_int(shared, 0, 1);
}

remiss_code_t
store_pg_lock_queue(store_t *self, bool *queued, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    *queued = self->in_tx && !self->locked;
    if (*queued && (r = store_pg_send(self, Q_LOCK, NULL, NULL, err, "write lock")) == REMISS_OK)
        r = store_pg_send(self, Q_SHARED, NULL, NULL, err, "write lock");
    return r;
}

remiss_code_t
store_pg_lock_sync(store_t *self, bool queued, remiss_code_t r, PGresult **res, int nkeep,
                   remiss_err_t *err, const char *what)
{
    if (r == REMISS_OK)
        r = store_pg_sync_keep(self, res, nkeep, err, what);
    else /* what went out is read and dropped */
        store_pg_sync(self, NULL, NULL, what);
    if (queued && r != REMISS_OK)
        self->poisoned = true;
    else if (queued) {
        store_pg_locked_with(self, res[0]);
        PQclear(res[0]);
        res[0] = NULL;
    }
    return r;
}

/* store_pg_lock, and prepared statement q (q >= 0) in the same round
 * trip: its result to *res (caller clears). A lock already held costs
 * nothing more than q. */
remiss_code_t
store_pg_lock_then(store_t *self, int q, const store_pg_par_t *p, PGresult **res, remiss_err_t *err)
{
    PGresult *got[2] = {NULL, NULL};
    bool lock = false;
    if (res)
        *res = NULL;
    if (!(self->in_tx && !self->locked) && q < 0)
        return REMISS_OK;
    remiss_code_t r = store_pg_ready(self, err);
    if (r == REMISS_OK)
        r = store_pg_lock_queue(self, &lock, err);
    int nkeep = (lock ? 1 : 0) + (q >= 0 ? 1 : 0);
    if (r == REMISS_OK && q >= 0)
        r = store_pg_send(self, q, NULL, p, err, "write lock");
    if ((r = store_pg_lock_sync(self, lock, r, got, nkeep, err, "write lock")) != REMISS_OK)
        return r;
    if (q >= 0 && res)
        *res = got[nkeep - 1];
    else if (q >= 0)
        PQclear(got[nkeep - 1]);
    return REMISS_OK;
}

static remiss_code_t
s_sync_lock(store_t *self, store_sync_t *out, remiss_err_t *err)
{
    remiss_code_t r = store_pg_lock(self, err);
    if (r == REMISS_OK && self->locked)
        *out = self->sync;
    return r;
}

static bool
s_locked(const store_t *self)
{
    return self->in_tx && self->locked;
}

static uint64_t
s_consent_gen(const store_t *self)
{
    return self->consent_gen;
}

static void
s_stats(const store_t *self, store_stats_t *out)
{
    *out = self->stats;
    out->session = s_alive(self) ? PQbackendPID(self->conn) : 0;
}

/* Remembers that recipient has a new message: the commit tells the nodes
 * listening (one notification per commit, since NOTIFY serialises commits
 * on a global lock; cluster.c). */
void
store_pg_notify_add(store_t *self, const char *recipient)
{
    size_t used = strlen(self->notify), n = strlen(recipient);
    for (const char *p = self->notify; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] != '\0'))
        if (strncmp(p, recipient, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return;
    if (n + 1 > STORE_PG_NOTIFY_MAX - used || strchr(recipient, ','))
        self->notify_all = true;
    else
        snprintf(self->notify + used, STORE_PG_NOTIFY_MAX + 1 - used, "%s%s", used ? "," : "",
                 recipient);
}

/* Queues the transaction's notification (delivered by PostgreSQL at the
 * commit, and only if it commits); an empty payload means "look at every
 * queue". */
static remiss_code_t
s_notify_send(store_t *self, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    if (!self->notify[0] && !self->notify_all)
        return REMISS_OK;
    store_pg_text(&p, self->notify_all ? "" : self->notify);
    return store_pg_send(self, Q_NOTIFY, NULL, &p, err, "notify");
}

/* ------------------------------------------------------------ columns */

int64_t
store_pg_get_int(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    uint64_t u8;
    uint32_t u4;
    switch (PQgetisnull(res, row, col) ? 0 : PQgetlength(res, row, col)) {
    case 8:
        memcpy(&u8, v, 8);
        return (int64_t)be64toh(u8);
    case 4:
        memcpy(&u4, v, 4);
        return (int32_t)be32toh(u4);
    default:
        return 0;
    }
}

/* Copies a fixed-size bytea column; false if NULL or its size differs. */
bool
store_pg_get_fixed(const PGresult *res, int row, int col, uint8_t *out, size_t n)
{
    if (PQgetisnull(res, row, col) || (size_t)PQgetlength(res, row, col) != n)
        return false;
    memcpy(out, PQgetvalue(res, row, col), n);
    return true;
}

void
store_pg_get_text(const PGresult *res, int row, int col, char *out, size_t size)
{
    snprintf(out, size, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* Copies a bytea column into a malloc'd buffer (NULL if SQL NULL). */
bool
store_pg_get_dup(const PGresult *res, int row, int col, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (PQgetisnull(res, row, col))
        return true;
    size_t n = (size_t)PQgetlength(res, row, col);
    if (!(*out = malloc(n > 0 ? n : 1)))
        return false;
    memcpy(*out, PQgetvalue(res, row, col), n);
    *len = n;
    return true;
}

/* Runs a single-integer SELECT. */
remiss_code_t
store_pg_count(store_t *self, int q, const store_pg_par_t *p, uint64_t *out, remiss_err_t *err)
{
    PGresult *res = store_pg_run(self, q, p, err, "count");
    *out = res && PQntuples(res) == 1 ? (uint64_t)store_pg_get_int(res, 0, 0) : 0;
    PQclear(res);
    return res ? REMISS_OK : REMISS_E_STORAGE;
}

/* ------------------------------------------------------------ lifecycle */

static void s_close(store_t **self_p);
static void s_rollback(store_t *self);
static void s_reset(store_t *self);

static remiss_code_t
s_check_version(store_t *self, remiss_err_t *err)
{
    PGresult *res = PQexec(self->conn, "SELECT value FROM meta WHERE key = 'schema_version'");
    long v = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                 ? strtol(PQgetvalue(res, 0, 0), NULL, 10)
                 : -1;
    PQclear(res);
    if (v < 0)
        return remiss_err_set(err, REMISS_E_STORAGE, "the store has no schema version");
    if (v > S_SCHEMA_VERSION)
        return remiss_err_set(err, REMISS_E_STORAGE,
                              "the store has schema %ld, newer than this remiss (%d)", v,
                              S_SCHEMA_VERSION);
    return REMISS_OK;
}

/* True if the tables are there at this schema level. The schema's DDL is
 * run only when they are not: CREATE INDEX IF NOT EXISTS still takes a
 * share lock on its table, and a node starting next to running ones
 * deadlocked with their writing transactions. An older store runs the
 * script (and its upgrade steps) once. */
static bool
s_has_schema(store_t *self)
{
    PGresult *res = PQexec(self->conn, "SELECT 1 FROM meta WHERE key = 'schema_level' AND"
                                       " value = '" STORE_PG_SCHEMA_LEVEL "'");
    bool has = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    return has;
}

static store_t *
s_open(const char *uri, remiss_err_t *err)
{
    store_t *self = calloc(1, sizeof *self);
    if (!self || !(self->uri = strdup(uri))) {
        free(self);
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    if (s_dial(self, err) != REMISS_OK ||
        (!s_has_schema(self) &&
         s_plain(self, store_pg_schema, err, "create the tables") != REMISS_OK) ||
        s_plain(self, store_pg_meta, err, "create the tables") != REMISS_OK ||
        s_check_version(self, err) != REMISS_OK || s_prepare_all(self, err) != REMISS_OK) {
        s_close(&self);
        return NULL;
    }
    return self;
}

static void
s_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->in_tx)
        s_rollback(self);
    PQfinish(self->conn);
    if (self->uri) {
        explicit_bzero(self->uri, strlen(self->uri));
        free(self->uri);
    }
    free(self->absent);
    store_pg_abuf_free(self);
    free(self);
    *self_p = NULL;
}

static remiss_code_t
s_checkpoint_behind(store_t *self, remiss_err_t *err)
{
    (void)self;
    (void)err;
    return REMISS_OK; /* the server checkpoints */
}

/* ------------------------------------------------------------ transactions */

static remiss_code_t
s_begin(store_t *self, remiss_err_t *err)
{
    self->poisoned = false;
    remiss_code_t r = store_pg_ready(self, err);
    self->in_tx = r == REMISS_OK;
    /* Waited for: a server that went away shows here, once per cycle. The
     * consent generation comes in the same round trip. */
    PGresult *res = NULL;
    if (r == REMISS_OK && (r = store_pg_send(self, -1, "BEGIN", NULL, err, "begin")) == REMISS_OK &&
        (r = store_pg_send(self, Q_GEN, NULL, NULL, err, "begin")) == REMISS_OK &&
        (r = store_pg_sync(self, &res, err, "begin")) == REMISS_OK && res && PQntuples(res) == 1)
        self->consent_gen = (uint64_t)store_pg_get_int(res, 0, 0);
    PQclear(res);
    if (r != REMISS_OK)
        s_rollback(self);
    return r;
}

static remiss_code_t
s_begin_read(store_t *self, bool *started, remiss_err_t *err)
{
    *started = false;
    if (self->in_tx)
        return REMISS_OK;
    self->poisoned = false;
    remiss_code_t r = store_pg_ready(self, err);
    self->in_tx = r == REMISS_OK;
    if (r == REMISS_OK &&
        (r = store_pg_send(self, -1, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL, err,
                           "begin read")) == REMISS_OK)
        r = store_pg_sync(self, NULL, err, "begin read");
    if (r != REMISS_OK)
        s_rollback(self);
    *started = r == REMISS_OK;
    return r;
}

static void
s_rollback(store_t *self)
{
    if (s_alive(self) && (self->pending > 0 || PQtransactionStatus(self->conn) != PQTRANS_IDLE) &&
        store_pg_send(self, -1, "ROLLBACK", NULL, NULL, "rollback") == REMISS_OK)
        store_pg_sync(self, NULL, NULL, "rollback");
    s_reset(self);
}

/* The transaction's state, as between transactions. */
static void
s_reset(store_t *self)
{
    self->in_tx = false;
    self->poisoned = false;
    self->locked = false;
    self->depth = self->lock_depth = 0;
    self->notify[0] = '\0';
    self->notify_all = false;
    self->nabsent = 0;
    store_pg_abuf_clear(self);
}

/* What a commit that begins the next transaction reads in it, in the same
 * round trip (store_commit_begin): the write lock and up to
 * STORE_PG_MAX_PENDING - 2 recipients' due rows. */
typedef struct s_carry {
    store_due_req_t *due;
    int n; /* of due, in this round trip */
    int64_t now;
    PGresult *res[STORE_PG_MAX_PENDING]; /* the lock's, Q_SHARED's, then each read's */
} s_carry_t;

/* Queues the carried reads after the BEGIN and ends them with a second
 * sync: a failure there leaves the commit's own results alone. */
static remiss_code_t
s_carry_send(store_t *self, s_carry_t *c, int *n, remiss_err_t *err)
{
    remiss_code_t r = store_pg_send(self, Q_LOCK, NULL, NULL, err, "due");
    if (r == REMISS_OK)
        r = store_pg_send(self, Q_SHARED, NULL, NULL, err, "due");
    if (r == REMISS_OK)
        r = store_pg_due_send(self, c->due, c->n, c->now, err);
    remiss_code_t s = s_send_sync(self, n, err, "due");
    return r != REMISS_OK ? r : s;
}

/* Sends COMMIT after everything pending and waits for it; with reopen,
 * BEGIN and the consent generation go in the same round trip (*begun:
 * the new transaction is open), and what carry asks for (may be NULL). */
static remiss_code_t
s_commit_wait(store_t *self, bool reopen, s_carry_t *carry, bool *begun, remiss_err_t *err)
{
    PGresult *res[3] = {NULL, NULL, NULL};
    int nkeep = reopen ? 3 : 1, n1 = 0, n2 = 0;
    int64_t t0 = s_mono_us();
    *begun = false;
    /* No timeout on the COMMIT: cancelling one that waits for a standby
     * would leave it committed locally only. (Same round trip.) */
    remiss_code_t r =
        store_pg_send(self, -1, "SET LOCAL statement_timeout = 0", NULL, err, "commit");
    if (r == REMISS_OK)
        r = store_pg_send(self, -1, "COMMIT", NULL, err, "commit");
    if (r == REMISS_OK && reopen &&
        (r = store_pg_send(self, -1, "BEGIN", NULL, err, "commit")) == REMISS_OK)
        r = store_pg_send(self, Q_GEN, NULL, NULL, err, "commit");
    remiss_code_t s = s_send_sync(self, &n1, err, "commit");
    r = r != REMISS_OK ? r : s;
    remiss_code_t r2 =
        r == REMISS_OK && reopen && carry ? s_carry_send(self, carry, &n2, NULL) : REMISS_E_STORAGE;
    self->warned = false;
    self->watching = true;
    /* A failure anywhere in the commit's batch is a failed commit: whether
     * the COMMIT itself came back is not known then, and only a clean one
     * may give an OK receipt (the client's resend finds what did commit). */
    if (r == REMISS_OK)
        r = s_read_batch(self, n1, res, nkeep, err, "commit");
    else
        s_read_batch(self, n1, res, 0, NULL, "commit");
    self->watching = false;
    if (n2 > 0 && s_read_batch(self, n2, carry->res, 2 + carry->n, NULL, "due") != REMISS_OK)
        r2 = REMISS_E_STORAGE;
    if (carry && r2 != REMISS_OK)
        carry->n = -1; /* not read */
    s_count_trip(self, t0);
    if (r == REMISS_OK && (strcmp(PQcmdStatus(res[0]), "COMMIT") != 0 || self->warned))
        r = remiss_err_set(err, REMISS_E_STORAGE,
                           "storage error (commit): the transaction was not committed cleanly "
                           "(%s)",
                           self->warned ? "a warning" : "rolled back");
    if (r == REMISS_OK && reopen && PQntuples(res[2]) == 1) {
        *begun = true;
        self->consent_gen = (uint64_t)store_pg_get_int(res[2], 0, 0);
    }
    for (int i = 0; i < nkeep; i++)
        PQclear(res[i]);
    return r;
}

/* The carried reads into the new transaction: the lock is its, the rows
 * the caller's; the rest of due (beyond one round trip) read now. On a
 * failure no row is kept and the transaction is not begun. */
static remiss_code_t
s_carry_take(store_t *self, s_carry_t *c, size_t ndue, remiss_err_t *err)
{
    remiss_code_t r = REMISS_E_STORAGE;
    if (c->n >= 0) {
        store_pg_locked_with(self, c->res[1]);
        r = store_pg_due_take(c->res + 2, c->due, c->n, err);
        PQclear(c->res[0]);
        PQclear(c->res[1]);
    }
    if (r == REMISS_OK && ndue > (size_t)c->n)
        r = store_pg_due_many(self, c->due + c->n, ndue - (size_t)c->n, c->now, err);
    for (size_t i = 0; r != REMISS_OK && i < ndue; i++) {
        for (size_t k = 0; k < c->due[i].n; k++)
            store_msg_clear(&c->due[i].out[k]);
        c->due[i].n = 0;
    }
    return r;
}

/* OK only for a clean COMMIT: tag COMMIT (an aborted transaction answers
 * ROLLBACK), no warning while it ran (a cancelled wait for the standby
 * warns that the commit is only local) and no deferred write failed.
 * Anything else is E_STORAGE; the client resends and finds what did
 * commit. With reopen the next transaction begins in the same round trip,
 * and the due reads of due[0..ndue) run in it (store_commit_begin). */
static remiss_code_t
s_commit_reopen(store_t *self, bool reopen, store_due_req_t *due, size_t ndue, int64_t now,
                bool *begun, remiss_err_t *err)
{
    const size_t chunk = STORE_PG_MAX_PENDING - 2;
    s_carry_t carry = {.due = due, .n = (int)(ndue < chunk ? ndue : chunk), .now = now};
    remiss_code_t r = store_pg_ready(self, err);
    *begun = false;
    if (r == REMISS_OK && self->poisoned)
        r = remiss_err_set(err, REMISS_E_STORAGE,
                           "storage error (commit): a statement of the transaction failed: %s",
                           self->poison);
    if (r == REMISS_OK)
        r = store_pg_abuf_flush(self, err);
    if (r == REMISS_OK)
        r = s_notify_send(self, err);
    if (r == REMISS_OK && self->poisoned) /* the flush may have found a failure */
        r = remiss_err_set(err, REMISS_E_STORAGE,
                           "storage error (commit): a statement of the transaction failed: %s",
                           self->poison);
    if (r == REMISS_OK)
        r = s_commit_wait(self, reopen, ndue > 0 ? &carry : NULL, begun, err);
    if (r == REMISS_OK && *begun) {
        s_reset(self);
        self->in_tx = true;
        remiss_err_t ignored;
        if (ndue == 0 || s_carry_take(self, &carry, ndue, &ignored) == REMISS_OK)
            return r;
    } else if (ndue > 0 && carry.n >= 0)
        for (int i = 0; i < 2 + carry.n; i++)
            PQclear(carry.res[i]);
    *begun = false;
    s_rollback(self);
    return r;
}

static remiss_code_t
s_commit(store_t *self, remiss_err_t *err)
{
    bool begun;
    return s_commit_reopen(self, false, NULL, 0, 0, &begun, err);
}

static remiss_code_t
s_commit_begin(store_t *self, store_due_req_t *due, size_t ndue, int64_t now, bool *begun,
               remiss_err_t *err)
{
    return s_commit_reopen(self, true, due, ndue, now, begun, err);
}

static remiss_code_t
s_savepoint(store_t *self, remiss_err_t *err)
{
    remiss_code_t r = store_pg_defer(self, -1, "SAVEPOINT msg", NULL, err, "savepoint");
    if (r == REMISS_OK)
        store_pg_abuf_mark(self);
    self->depth += r == REMISS_OK;
    return r;
}

static void
s_release(store_t *self)
{
    store_pg_defer(self, -1, "RELEASE msg", NULL, NULL, "release");
    if (self->depth > 0)
        self->depth--;
    /* A lock taken inside now belongs to the enclosing transaction. */
    if (self->lock_depth > self->depth)
        self->lock_depth = self->depth;
}

/* The write lock, if this savepoint took it, is gone with it (PostgreSQL
 * releases a subtransaction's locks, advisory ones too): the next write
 * takes it again. Nothing written before the savepoint was without it. */
static void
s_rollback_to(store_t *self)
{
    if (store_pg_defer(self, -1, "ROLLBACK TO msg", NULL, NULL, "rollback to") != REMISS_OK)
        return;
    if (self->locked && self->lock_depth >= self->depth)
        self->locked = false;
    store_pg_abuf_undo(self);
    s_release(self);
}

const store_ops_t store_pg_ops = {
    .name = "postgresql",
    .open = s_open,
    .close = s_close,
    .checkpoint_behind = s_checkpoint_behind,
    .begin = s_begin,
    .begin_read = s_begin_read,
    .commit = s_commit,
    .commit_begin = s_commit_begin,
    .rollback = s_rollback,
    .savepoint = s_savepoint,
    .release = s_release,
    .rollback_to = s_rollback_to,
    .find = store_pg_find,
    .insert = store_pg_insert,
    .due = store_pg_due,
    .mark_sent = store_pg_mark_sent,
    .resend_now = store_pg_resend_now,
    .finish = store_pg_finish,
    .finish_many = store_pg_finish_many,
    .prefetch = store_pg_prefetch,
    .due_many = store_pg_due_many,
    .reclaim = store_pg_reclaim,
    .requeue = store_pg_requeue,
    .link_transfer = store_pg_link_transfer,
    .dead_letters = store_pg_dead_letters,
    .pending_by_consent = store_pg_pending_by_consent,
    .purge = store_pg_purge,
    .depth = store_pg_depth,
    .oldest = store_pg_oldest,
    .queues = store_pg_queues,
    .dead_count = store_pg_dead_count,
    .admin_request = store_pg_admin_request,
    .admin_pending = store_pg_admin_pending,
    .admin_done = store_pg_admin_done,
    .admin_get = store_pg_admin_get,
    .consent_put = store_pg_consent_put,
    .consent_get = store_pg_consent_get,
    .consent_revoke = store_pg_consent_revoke,
    .consents_for = store_pg_consents_for,
    .consent_count = store_pg_consent_count,
    .rewrap_batch = store_pg_rewrap_batch,
    .audit_size = store_pg_audit_size,
    .audit_put = store_pg_audit_put,
    .audit_get = store_pg_audit_get,
    .audit_each = store_pg_audit_each,
    .audit_node_put = store_pg_audit_node_put,
    .audit_node_get = store_pg_audit_node_get,
    .audit_nodes_get = store_pg_audit_nodes_get,
    .audit_find = store_pg_audit_find,
    .audit_sth_put = store_pg_audit_sth_put,
    .audit_sth_latest = store_pg_audit_sth_latest,
    .audit_sth_each = store_pg_audit_sth_each,
    .sync = s_sync_lock,
    .consent_gen = s_consent_gen,
    .locked = s_locked,
    .stats = s_stats,
};
