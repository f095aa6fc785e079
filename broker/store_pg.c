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
#define S_MAX_PENDING    64   /* unread results before a sync (bounds both buffers) */

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
static remiss_code_t
s_ready(store_t *self, remiss_err_t *err)
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
static remiss_code_t
s_send(store_t *self, int q, const char *sql, const store_pg_par_t *p, remiss_err_t *err,
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
    if (q >= 0) {
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

/* Ends the batch with a sync and reads every pending result in order; the
 * last nkeep go to keep[0..nkeep) (caller clears them) when all succeeded,
 * else every keep[i] is NULL. The first failure is the error. A failure of
 * a statement nobody waited for (a deferred write, store_pg_defer) poisons
 * the transaction: the broker may have gone on as if it had worked, so
 * nothing of the transaction may commit. */
static remiss_code_t
s_sync_keep(store_t *self, PGresult **keep, int nkeep, remiss_err_t *err, const char *what)
{
    remiss_code_t r = REMISS_OK;
    int n = self->pending, first = n > nkeep ? n - nkeep : 0;
    int64_t t0 = s_mono_us();
    self->pending = 0;
    for (int i = 0; i < nkeep; i++)
        keep[i] = NULL;
    if (PQpipelineSync(self->conn) != 1)
        r = s_fail(self, err, what, NULL);
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
    self->stats.round_trips++;
    self->stats.round_trip_seconds += (double)(s_mono_us() - t0) / 1e6;
    return r;
}

/* s_sync_keep of the last result only, into *last when last is not NULL. */
static remiss_code_t
s_sync(store_t *self, PGresult **last, remiss_err_t *err, const char *what)
{
    PGresult *ignored;
    return s_sync_keep(self, last ? last : &ignored, last ? 1 : 0, err, what);
}

/* Runs prepared statement q and waits for it; the result (caller clears)
 * or NULL. */
PGresult *
store_pg_run(store_t *self, int q, const store_pg_par_t *p, remiss_err_t *err, const char *what)
{
    PGresult *res = NULL;
    if (s_ready(self, err) == REMISS_OK && s_send(self, q, NULL, p, err, what) == REMISS_OK)
        s_sync(self, &res, err, what);
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
    if ((r = s_ready(self, err)) != REMISS_OK ||
        (r = s_send(self, q, sql, p, err, what)) != REMISS_OK)
        return r;
    return self->pending >= S_MAX_PENDING || !self->in_tx ? s_sync(self, NULL, err, what)
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
static void
s_locked_with(store_t *self, const PGresult *shared)
{
    self->locked = true;
    self->lock_depth = self->depth;
    self->sync.shared = true;
    self->sync.serial++;
    self->sync.audit_size = (uint64_t)store_pg_get_int(shared, 0, 0);
    self->consent_gen = (uint64_t)store_pg_get_int(shared, 0, 1);
}

/* store_pg_lock, and prepared statement q (q >= 0) in the same round
 * trip: its result to *res (caller clears). A lock already held costs
 * nothing more than q. */
remiss_code_t
store_pg_lock_then(store_t *self, int q, const store_pg_par_t *p, PGresult **res, remiss_err_t *err)
{
    PGresult *got[2] = {NULL, NULL};
    remiss_code_t r;
    bool lock = self->in_tx && !self->locked;
    int nkeep = (lock ? 1 : 0) + (q >= 0 ? 1 : 0);
    if (res)
        *res = NULL;
    if (nkeep == 0)
        return REMISS_OK;
    if ((r = s_ready(self, err)) != REMISS_OK ||
        (lock && (r = s_send(self, Q_LOCK, NULL, NULL, err, "write lock")) != REMISS_OK) ||
        (lock && (r = s_send(self, Q_SHARED, NULL, NULL, err, "write lock")) != REMISS_OK) ||
        (q >= 0 && (r = s_send(self, q, NULL, p, err, "write lock")) != REMISS_OK) ||
        (r = s_sync_keep(self, got, nkeep, err, "write lock")) != REMISS_OK) {
        if (lock)
            self->poisoned = true;
        return r;
    }
    if (lock)
        s_locked_with(self, got[0]);
    if (lock)
        PQclear(got[0]);
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
static void
s_notify_add(store_t *self, const char *recipient)
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
    return s_send(self, Q_NOTIFY, NULL, &p, err, "notify");
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

static bool
s_row_msg(const PGresult *res, int r, store_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->seq = (uint64_t)store_pg_get_int(res, r, 0);
    if (!store_pg_get_fixed(res, r, 1, m->message_id, STORE_ID_LEN))
        return false;
    store_pg_get_text(res, r, 2, m->sender, sizeof m->sender);
    store_pg_get_text(res, r, 3, m->recipient, sizeof m->recipient);
    m->type = (int)store_pg_get_int(res, r, 4);
    store_pg_get_text(res, r, 5, m->purpose, sizeof m->purpose);
    store_pg_get_text(res, r, 6, m->consent_id, sizeof m->consent_id);
    m->has_subject = store_pg_get_fixed(res, r, 7, m->subject, STORE_HASH_LEN);
    if (!store_pg_get_fixed(res, r, 8, m->envelope_sha256, STORE_HASH_LEN) ||
        !store_pg_get_dup(res, r, 9, &m->envelope, &m->envelope_len) ||
        !store_pg_get_dup(res, r, 10, &m->receipt, &m->receipt_len)) {
        store_msg_clear(m);
        return false;
    }
    m->created_at = store_pg_get_int(res, r, 11);
    m->accepted_at = store_pg_get_int(res, r, 12);
    m->audit_index = (uint64_t)store_pg_get_int(res, r, 13);
    m->state = (store_state_t)store_pg_get_int(res, r, 14);
    m->attempts = (uint32_t)store_pg_get_int(res, r, 15);
    m->delivered_at = store_pg_get_int(res, r, 16);
    m->acked_at = store_pg_get_int(res, r, 17);
    m->code = (int)store_pg_get_int(res, r, 18);
    store_pg_get_text(res, r, 19, m->reason, sizeof m->reason);
    m->has_linked = store_pg_get_fixed(res, r, 20, m->linked_id, STORE_ID_LEN);
    m->transfer_decision = (int)store_pg_get_int(res, r, 21);
    store_pg_get_text(res, r, 22, m->receiving_unit, sizeof m->receiving_unit);
    m->has_transfer_ack = store_pg_get_fixed(res, r, 23, m->transfer_ack_id, STORE_ID_LEN);
    return true;
}

/* Reads the message rows of res into out[0..max). */
static remiss_code_t
s_rows_of(const PGresult *res, store_msg_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    remiss_code_t r = res ? REMISS_OK : REMISS_E_STORAGE;
    *n = 0;
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++) {
        if (!s_row_msg(res, i, &out[*n])) {
            for (size_t j = 0; j < *n; j++)
                store_msg_clear(&out[j]);
            *n = 0;
            r = remiss_err_set(err, REMISS_E_STORAGE, "a stored message row is damaged");
            break;
        }
        (*n)++;
    }
    return r;
}

/* Runs a SELECT of message rows into out[0..max). */
static remiss_code_t
s_msg_rows(store_t *self, int q, const store_pg_par_t *p, store_msg_t *out, size_t max, size_t *n,
           remiss_err_t *err)
{
    PGresult *res = store_pg_run(self, q, p, err, "select messages");
    remiss_code_t r = s_rows_of(res, out, max, n, err);
    PQclear(res);
    return r;
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
    remiss_code_t r = s_ready(self, err);
    self->in_tx = r == REMISS_OK;
    /* Waited for: a server that went away shows here, once per cycle. The
     * consent generation comes in the same round trip. */
    PGresult *res = NULL;
    if (r == REMISS_OK && (r = s_send(self, -1, "BEGIN", NULL, err, "begin")) == REMISS_OK &&
        (r = s_send(self, Q_GEN, NULL, NULL, err, "begin")) == REMISS_OK &&
        (r = s_sync(self, &res, err, "begin")) == REMISS_OK && res && PQntuples(res) == 1)
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
    remiss_code_t r = s_ready(self, err);
    self->in_tx = r == REMISS_OK;
    if (r == REMISS_OK && (r = s_send(self, -1, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                      NULL, err, "begin read")) == REMISS_OK)
        r = s_sync(self, NULL, err, "begin read");
    if (r != REMISS_OK)
        s_rollback(self);
    *started = r == REMISS_OK;
    return r;
}

static void
s_rollback(store_t *self)
{
    if (s_alive(self) && (self->pending > 0 || PQtransactionStatus(self->conn) != PQTRANS_IDLE) &&
        s_send(self, -1, "ROLLBACK", NULL, NULL, "rollback") == REMISS_OK)
        s_sync(self, NULL, NULL, "rollback");
    self->in_tx = false;
    self->poisoned = false;
    self->locked = false;
    self->depth = self->lock_depth = 0;
    self->notify[0] = '\0';
    self->notify_all = false;
    self->nabsent = 0;
    store_pg_abuf_clear(self);
}

/* Sends COMMIT after everything pending and waits for it. */
static remiss_code_t
s_commit_wait(store_t *self, remiss_err_t *err)
{
    PGresult *res = NULL;
    /* No timeout on the COMMIT: cancelling one that waits for a standby
     * would leave it committed locally only. (Same round trip.) */
    remiss_code_t r = s_send(self, -1, "SET LOCAL statement_timeout = 0", NULL, err, "commit");
    if (r == REMISS_OK)
        r = s_send(self, -1, "COMMIT", NULL, err, "commit");
    self->warned = false;
    self->watching = true;
    if (r == REMISS_OK)
        r = s_sync(self, &res, err, "commit");
    self->watching = false;
    if (r == REMISS_OK && (strcmp(PQcmdStatus(res), "COMMIT") != 0 || self->warned))
        r = remiss_err_set(err, REMISS_E_STORAGE,
                           "storage error (commit): the transaction was not committed cleanly "
                           "(%s)",
                           self->warned ? "a warning" : "rolled back");
    PQclear(res);
    return r;
}

/* OK only for a clean COMMIT: tag COMMIT (an aborted transaction answers
 * ROLLBACK), no warning while it ran (a cancelled wait for the standby
 * warns that the commit is only local) and no deferred write failed.
 * Anything else is E_STORAGE; the client resends and finds what did
 * commit. */
static remiss_code_t
s_commit(store_t *self, remiss_err_t *err)
{
    remiss_code_t r = s_ready(self, err);
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
        r = s_commit_wait(self, err);
    s_rollback(self);
    return r;
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

/* ------------------------------------------------------------ messages */

/* The index of id among the ids store_prefetch found not stored, or
 * nabsent. */
static size_t
s_absent_at(const store_t *self, const uint8_t id[STORE_ID_LEN])
{
    size_t i = 0;
    while (i < self->nabsent && memcmp(self->absent[i], id, STORE_ID_LEN) != 0)
        i++;
    return i;
}

/* One round trip for a cycle's submissions (store.h): the ids as a bytea[]
 * literal, {"\\x00..","\\x.."}; what does not come back is not stored. */
static void
s_prefetch(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t n)
{
    const size_t each = 2 * STORE_ID_LEN + 6; /* "\\x...", */
    self->nabsent = 0;
    if (!self->in_tx || self->poisoned || n == 0 || n > SIZE_MAX / each - 2)
        return;
    if (n > self->absent_cap) {
        void *grown = realloc(self->absent, n * sizeof *self->absent);
        if (!grown)
            return;
        self->absent = grown;
        self->absent_cap = n;
    }
    char *lit = malloc(n * each + 3), *o = lit;
    if (!lit)
        return;
    *o++ = '{';
    for (size_t i = 0; i < n; i++) {
        memcpy(o, i ? ",\"\\\\x" : "\"\\\\x", i ? 5 : 4);
        o += i ? 5 : 4;
        hex_encode(o, ids[i], STORE_ID_LEN);
        o += 2 * STORE_ID_LEN;
        *o++ = '"';
    }
    memcpy(o, "}", 2);
    store_pg_par_t p = {0};
    store_pg_text(&p, lit);
    remiss_err_t err;
    /* Submissions are written next: the write lock comes in the same round
     * trip, and the look-up sees every node's commits before it. */
    PGresult *res = NULL;
    store_pg_lock_then(self, Q_FIND_MANY, &p, &res, &err);
    free(lit);
    for (size_t i = 0; res && i < n; i++) {
        uint8_t got[STORE_ID_LEN];
        bool stored = false;
        for (int r = 0; r < PQntuples(res) && !stored; r++)
            stored = store_pg_get_fixed(res, r, 0, got, STORE_ID_LEN) &&
                     memcmp(got, ids[i], STORE_ID_LEN) == 0;
        if (!stored && s_absent_at(self, ids[i]) == self->nabsent)
            memcpy(self->absent[self->nabsent++], ids[i], STORE_ID_LEN);
    }
    PQclear(res);
}

static remiss_code_t
s_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found, store_msg_t *out,
       remiss_err_t *err)
{
    store_pg_par_t p = {0};
    size_t n = 0;
    *found = false;
    if (s_absent_at(self, id) < self->nabsent)
        return REMISS_OK; /* store_prefetch found it not stored */
    store_pg_blob(&p, id, STORE_ID_LEN);
    remiss_code_t r = s_msg_rows(self, Q_FIND, &p, out, 1, &n, err);
    *found = r == REMISS_OK && n == 1;
    return r;
}

static remiss_code_t
s_insert(store_t *self, store_msg_t *m, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    size_t k = s_absent_at(self, m->message_id);
    if (k < self->nabsent) /* stored from now on */
        memmove(self->absent[k], self->absent[--self->nabsent], STORE_ID_LEN);
    s_notify_add(self, m->recipient);
    store_pg_par_t p = {0};
    store_pg_blob(&p, m->message_id, STORE_ID_LEN);
    store_pg_text(&p, m->sender);
    store_pg_text(&p, m->recipient);
    store_pg_int(&p, m->type);
    store_pg_text(&p, m->purpose);
    store_pg_text(&p, m->consent_id);
    store_pg_blob(&p, m->has_subject ? m->subject : NULL, STORE_HASH_LEN);
    store_pg_blob(&p, m->envelope_sha256, STORE_HASH_LEN);
    store_pg_blob(&p, m->envelope, m->envelope_len);
    store_pg_blob(&p, m->receipt ? m->receipt : (const uint8_t *)"", m->receipt_len);
    store_pg_int(&p, m->created_at);
    store_pg_int(&p, m->accepted_at);
    store_pg_int(&p, (int64_t)m->audit_index);
    store_pg_blob(&p, m->has_linked ? m->linked_id : NULL, STORE_ID_LEN);
    /* Inside a transaction it goes out with the next statement that waits
     * (a duplicate id, which the broker's store_find before it rules out on
     * one node, then fails the transaction); the database numbers it. */
    m->seq = 0;
    if (self->in_tx)
        return store_pg_defer(self, Q_INSERT, NULL, &p, err, "insert message");
    uint64_t seq = 0;
    remiss_code_t r = store_pg_count(self, Q_INSERT, &p, &seq, err);
    if (r == REMISS_OK)
        m->seq = seq;
    return r;
}

static remiss_code_t
s_due(store_t *self, const char *recipient, int64_t now, size_t max, store_msg_t *out, size_t *n,
      remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    store_pg_int(&p, now);
    store_pg_int(&p, (int64_t)max);
    /* Read under the write lock (taken in the same round trip), so that
     * of two nodes holding a connection of recipient one hands a message
     * out and the other sees it marked. */
    PGresult *res = NULL;
    *n = 0;
    if (self->in_tx && store_pg_lock_then(self, Q_DUE, &p, &res, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    if (!self->in_tx)
        return s_msg_rows(self, Q_DUE, &p, out, max, n, err);
    remiss_code_t r = s_rows_of(res, out, max, n, err);
    PQclear(res);
    return r;
}

/* Up to S_MAX_PENDING - 2 of store_due_many in one round trip, the write
 * lock first if not held (as s_due). */
static remiss_code_t
s_due_chunk(store_t *self, store_due_req_t *reqs, int n, int64_t now, remiss_err_t *err)
{
    PGresult *res[S_MAX_PENDING];
    bool lock = !self->locked;
    int sent = 0, nkeep = n + (lock ? 1 : 0);
    remiss_code_t r = s_ready(self, err);
    if (r == REMISS_OK && lock && (r = s_send(self, Q_LOCK, NULL, NULL, err, "due")) == REMISS_OK)
        r = s_send(self, Q_SHARED, NULL, NULL, err, "due");
    for (; r == REMISS_OK && sent < n; sent++) {
        store_pg_par_t p = {0};
        store_pg_text(&p, reqs[sent].recipient);
        store_pg_int(&p, now);
        store_pg_int(&p, (int64_t)reqs[sent].max);
        r = s_send(self, Q_DUE, NULL, &p, err, "due");
    }
    if (r == REMISS_OK)
        r = s_sync_keep(self, res, nkeep, err, "due");
    if (r != REMISS_OK) {
        if (lock)
            self->poisoned = true;
        return r;
    }
    if (lock)
        s_locked_with(self, res[0]);
    for (int i = 0; i < nkeep; i++) {
        int k = i - (lock ? 1 : 0);
        if (k >= 0 && r == REMISS_OK)
            r = s_rows_of(res[i], reqs[k].out, reqs[k].max, &reqs[k].n, err);
        PQclear(res[i]);
    }
    return r;
}

static remiss_code_t
s_due_many(store_t *self, store_due_req_t *reqs, size_t n, int64_t now, remiss_err_t *err)
{
    const size_t chunk = S_MAX_PENDING - 2;
    remiss_code_t r = REMISS_OK;
    if (!self->in_tx) {
        for (size_t i = 0; i < n && r == REMISS_OK; i++)
            r = s_due(self, reqs[i].recipient, now, reqs[i].max, reqs[i].out, &reqs[i].n, err);
        return r;
    }
    for (size_t at = 0; at < n && r == REMISS_OK; at += chunk)
        r = s_due_chunk(self, reqs + at, (int)(n - at < chunk ? n - at : chunk), now, err);
    return r;
}

static remiss_code_t
s_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)seq);
    store_pg_int(&p, now);
    store_pg_int(&p, next_at);
    return store_pg_defer(self, Q_MARK_SENT, NULL, &p, err, "mark sent");
}

static remiss_code_t
s_resend_now(store_t *self, const char *recipient, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    return store_pg_defer(self, Q_RESEND_NOW, NULL, &p, err, "resend");
}

static void
s_finish_params(store_pg_par_t *p, const uint8_t *id, const char *recipient, store_state_t state,
                int code, const char *reason, int64_t now)
{
    store_pg_blob(p, id, STORE_ID_LEN);
    store_pg_int(p, (int64_t)state);
    store_pg_int(p, code);
    store_pg_text(p, reason);
    store_pg_int(p, now);
    if (recipient)
        store_pg_text(p, recipient);
}

static remiss_code_t
s_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient, store_state_t state,
         int code, const char *reason, int64_t now, bool *changed, remiss_err_t *err)
{
    *changed = false;
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    uint64_t n = 0;
    s_finish_params(&p, id, recipient, state, code, reason, now);
    remiss_code_t r =
        store_pg_exec(self, recipient ? Q_FINISH : Q_FINISH_ANY, &p, &n, err, "finish");
    *changed = n > 0;
    return r;
}

/* Up to S_MAX_PENDING of store_finish_many in one round trip. */
static remiss_code_t
s_finish_chunk(store_t *self, store_finish_req_t *reqs, int n, int64_t now, bool want_rows,
               remiss_err_t *err)
{
    PGresult *res[S_MAX_PENDING];
    remiss_code_t r = REMISS_OK;
    int sent = 0;
    for (; sent < n && r == REMISS_OK; sent++) {
        store_finish_req_t *q = &reqs[sent];
        store_pg_par_t p = {0};
        s_finish_params(&p, q->id, q->recipient, q->state, q->code, q->reason, now);
        r = s_send(self, q->recipient ? Q_FINISH : Q_FINISH_ANY, NULL, &p, err, "finish");
    }
    if (r != REMISS_OK) /* the connection broke: what went out is read and dropped */
        return s_sync(self, NULL, NULL, "finish"), r;
    r = s_sync_keep(self, res, n, err, "finish");
    for (int i = 0; r == REMISS_OK && i < n; i++) {
        store_finish_req_t *q = &reqs[i];
        q->changed = PQntuples(res[i]) > 0;
        if (q->changed && want_rows && !(q->has_row = s_row_msg(res[i], 0, &q->row)))
            r = remiss_err_set(err, REMISS_E_STORAGE, "a stored message row is damaged");
    }
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    return r;
}

static remiss_code_t
s_finish_many(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
              remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    if (n && (store_pg_lock(self, err) != REMISS_OK || s_ready(self, err) != REMISS_OK))
        return REMISS_E_STORAGE;
    for (size_t at = 0; at < n && r == REMISS_OK; at += S_MAX_PENDING)
        r = s_finish_chunk(self, reqs + at, (int)(n - at < S_MAX_PENDING ? n - at : S_MAX_PENDING),
                           now, want_rows, err);
    return r;
}

/* In the node's own transaction: a separate one would wait for the write
 * lock this node's open transaction may hold (and so for itself). */
static remiss_code_t
s_reclaim(store_t *self, uint64_t *n, remiss_err_t *err)
{
    PGresult *res = NULL;
    if (store_pg_lock_then(self, Q_RECLAIM, NULL, &res, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    *n = res && PQntuples(res) == 1 ? (uint64_t)store_pg_get_int(res, 0, 0) : 0;
    PQclear(res);
    return REMISS_OK;
}

static remiss_code_t
s_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed, remiss_err_t *err)
{
    *changed = false;
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    uint64_t n = 0;
    store_pg_blob(&p, id, STORE_ID_LEN);
    remiss_code_t r = store_pg_exec(self, Q_REQUEUE, &p, &n, err, "requeue");
    *changed = n > 0;
    return r;
}

static remiss_code_t
s_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN], const char *orig_sender,
                const char *orig_recipient, int decision, const char *unit,
                const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_blob(&p, orig, STORE_ID_LEN);
    store_pg_text(&p, orig_sender);
    store_pg_int(&p, decision);
    store_pg_text(&p, unit);
    store_pg_blob(&p, ack_id, STORE_ID_LEN);
    store_pg_text(&p, orig_recipient);
    return store_pg_defer(self, Q_LINK, NULL, &p, err, "link transfer");
}

static remiss_code_t
s_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)max);
    return s_msg_rows(self, Q_DEAD, &p, out, max, n, err);
}

static remiss_code_t
s_pending_by_consent(store_t *self, const char *consent_id, size_t max, store_msg_t *out, size_t *n,
                     remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, consent_id);
    store_pg_int(&p, (int64_t)max);
    return s_msg_rows(self, Q_BY_CONSENT, &p, out, max, n, err);
}

static remiss_code_t
s_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, before_ms);
    remiss_code_t r = store_pg_exec(self, Q_PURGE, &p, purged, err, "purge");
    return r == REMISS_OK ? store_pg_exec(self, Q_C_SHRED, &p, NULL, err, "shred consents") : r;
}

static remiss_code_t
s_depth(store_t *self, const char *recipient, uint64_t *depth, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    return store_pg_count(self, Q_DEPTH, &p, depth, err);
}

static remiss_code_t
s_queues(store_t *self, store_queue_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)max);
    PGresult *res = store_pg_run(self, Q_QUEUES, &p, err, "queues");
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++, (*n)++) {
        store_pg_get_text(res, i, 0, out[*n].recipient, sizeof out[*n].recipient);
        out[*n].depth = (uint64_t)store_pg_get_int(res, i, 1);
        out[*n].oldest = store_pg_get_int(res, i, 2);
    }
    bool ok = res != NULL;
    PQclear(res);
    return ok ? REMISS_OK : REMISS_E_STORAGE;
}

static remiss_code_t
s_oldest(store_t *self, const char *recipient, int64_t *accepted_at, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    uint64_t v = 0;
    store_pg_text(&p, recipient);
    remiss_code_t r = store_pg_count(self, Q_OLDEST, &p, &v, err);
    *accepted_at = (int64_t)v;
    return r;
}

static remiss_code_t
s_dead_count(store_t *self, uint64_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    return store_pg_count(self, Q_DEAD_COUNT, &p, n, err);
}

const store_ops_t store_pg_ops = {
    .name = "postgresql",
    .open = s_open,
    .close = s_close,
    .checkpoint_behind = s_checkpoint_behind,
    .begin = s_begin,
    .begin_read = s_begin_read,
    .commit = s_commit,
    .rollback = s_rollback,
    .savepoint = s_savepoint,
    .release = s_release,
    .rollback_to = s_rollback_to,
    .find = s_find,
    .insert = s_insert,
    .due = s_due,
    .mark_sent = s_mark_sent,
    .resend_now = s_resend_now,
    .finish = s_finish,
    .finish_many = s_finish_many,
    .prefetch = s_prefetch,
    .due_many = s_due_many,
    .reclaim = s_reclaim,
    .requeue = s_requeue,
    .link_transfer = s_link_transfer,
    .dead_letters = s_dead_letters,
    .pending_by_consent = s_pending_by_consent,
    .purge = s_purge,
    .depth = s_depth,
    .oldest = s_oldest,
    .queues = s_queues,
    .dead_count = s_dead_count,
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
    .audit_find = store_pg_audit_find,
    .audit_sth_put = store_pg_audit_sth_put,
    .audit_sth_latest = store_pg_audit_sth_latest,
    .audit_sth_each = store_pg_audit_sth_each,
    .sync = s_sync_lock,
    .consent_gen = s_consent_gen,
    .locked = s_locked,
    .stats = s_stats,
};
