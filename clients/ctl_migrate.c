/* ctl_migrate: remissctl store migrate (see ctl_migrate.h).
 *
 * Reads the SQLite file in one read transaction (one snapshot) and writes
 * every table into PostgreSQL with binary COPY in ONE transaction: an
 * interrupted run (Ctrl-C, a lost connection) leaves the target as empty as
 * it was, so the command can simply be run again. It refuses a target that
 * already holds rows. Rows keep their keys (message seq, audit index,
 * tree node position, tree size), so the audit log and its signed tree
 * heads are the same bytes on both sides. Bodies and consent grants are
 * copied sealed as they are (each carries its wrapped data key, atrest.h):
 * the target reads them with the same PKI_DIR/broker.kek, and nothing is
 * decrypted on the way. */
#include "ctl_migrate.h"

#include "cli.h"

#include <endian.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remiss_code.h"
#include "store.h"

#define S_PROGRESS_EVERY 1024 /* rows between progress lines */

/* A table and its columns as "name:kind", kind i (bigint), t (text) or
 * b (bytea), in the order both engines' schemas have them. */
typedef struct {
    const char *name, *key, *what;
    const char *const *cols;
} s_table_t;

static const char *const s_messages[] = {"seq:i",
                                         "message_id:b",
                                         "sender:t",
                                         "recipient:t",
                                         "type:i",
                                         "purpose:t",
                                         "consent_id:t",
                                         "subject:b",
                                         "envelope_sha256:b",
                                         "envelope:b",
                                         "receipt:b",
                                         "created_at:i",
                                         "accepted_at:i",
                                         "audit_index:i",
                                         "state:i",
                                         "attempts:i",
                                         "next_at:i",
                                         "delivered_at:i",
                                         "acked_at:i",
                                         "ended_at:i",
                                         "code:i",
                                         "reason:t",
                                         "linked_id:b",
                                         "transfer_decision:i",
                                         "receiving_unit:t",
                                         "transfer_ack_id:b",
                                         NULL};
static const char *const s_consents[] = {
    "consent_id:t", "subject:b",    "granted_by:t",  "grant_pb:b",
    "granted_at:i", "revoked_at:i", "valid_until:i", NULL};
static const char *const s_audit[] = {"idx:i", "entry:b", "subject:b", "message_id:b", NULL};
static const char *const s_nodes[] = {"pos:i", "level:i", "idx:i", "hash:b", NULL};
static const char *const s_heads[] = {"tree_size:i", "sth:b", NULL};
static const char *const s_admin[] = {"id:i",           "action:t",  "message_id:b", "actor:t",
                                      "requested_at:i", "done_at:i", "result:t",     NULL};

static const s_table_t s_tables[] = {
    {"messages", "seq", "messages", s_messages},
    {"consents", "consent_id", "consents", s_consents},
    {"audit", "idx", "audit entries", s_audit},
    {"audit_nodes", "pos", "audit tree nodes", s_nodes},
    {"tree_heads", "tree_size", "signed tree heads", s_heads},
    {"admin_queue", "id", "admin requests", s_admin},
};
#define S_NTABLES (sizeof s_tables / sizeof s_tables[0])

typedef struct {
    sqlite3 *src;
    PGconn *dst;
    bool tty;     /* progress on stderr */
    uint8_t *buf; /* one COPY row */
    size_t len, size;
    uint64_t rows[S_NTABLES];
} s_mig_t;

static int
s_err(remiss_code_t code, const char *text)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(code), text);
    return code == REMISS_E_USAGE ? 2 : 1;
}

/* The first line of a libpq message (never the connection string). */
static int
s_pg_err(PGconn *c, const char *what)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s: %s", what, PQerrorMessage(c));
    msg[strcspn(msg, "\r\n")] = '\0';
    return s_err(REMISS_E_STORAGE, msg);
}

static bool
s_put(s_mig_t *m, const void *p, size_t n)
{
    if (n > m->size - m->len) {
        size_t size = m->size ? m->size : 4096;
        while (size - m->len < n)
            size *= 2;
        uint8_t *b = realloc(m->buf, size);
        if (!b)
            return false;
        m->buf = b;
        m->size = size;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
    return true;
}

static bool
s_put32(s_mig_t *m, int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    return s_put(m, &be, 4);
}

/* One field of a binary COPY row from column c of the SQLite row. */
static bool
s_field(s_mig_t *m, sqlite3_stmt *st, int c, char kind)
{
    if (sqlite3_column_type(st, c) == SQLITE_NULL)
        return s_put32(m, -1);
    if (kind == 'i') {
        uint64_t be = htobe64((uint64_t)sqlite3_column_int64(st, c));
        return s_put32(m, 8) && s_put(m, &be, 8);
    }
    const void *p =
        kind == 't' ? (const void *)sqlite3_column_text(st, c) : sqlite3_column_blob(st, c);
    int n = sqlite3_column_bytes(st, c);
    if (n < 0 || (n > 0 && !p))
        return false;
    return s_put32(m, n) && (n == 0 || s_put(m, p, (size_t)n));
}

static int
s_ncols(const s_table_t *t)
{
    int n = 0;
    while (t->cols[n])
        n++;
    return n;
}

/* "a, b, c" from the "name:kind" list. */
static void
s_col_list(const s_table_t *t, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; t->cols[i] && used < size; i++) {
        int n = (int)strcspn(t->cols[i], ":");
        used += (size_t)snprintf(out + used, size - used, "%s%.*s", i ? ", " : "", n, t->cols[i]);
    }
}

static void
s_progress(const s_mig_t *m, const s_table_t *t, uint64_t done, uint64_t total, bool last)
{
    if (m->tty && (last || done % S_PROGRESS_EVERY == 0))
        fprintf(stderr, "\r%s: %llu of %llu%s", t->what, (unsigned long long)done,
                (unsigned long long)total, last ? "\n" : "");
}

static uint64_t
s_src_count(s_mig_t *m, const s_table_t *t)
{
    char sql[128];
    sqlite3_stmt *st;
    uint64_t n = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t->name);
    if (sqlite3_prepare_v2(m->src, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Sends the rows of st (positioned before the first) as COPY data. */
static int
s_copy_rows(s_mig_t *m, const s_table_t *t, sqlite3_stmt *st, uint64_t total)
{
    static const uint8_t header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    int ncols = s_ncols(t), rc;
    uint64_t done = 0;
    if (PQputCopyData(m->dst, (const char *)header, sizeof header) != 1)
        return s_pg_err(m->dst, "copy");
    m->len = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint16_t be = htobe16((uint16_t)ncols);
        bool ok = s_put(m, &be, 2);
        for (int c = 0; ok && c < ncols; c++)
            ok = s_field(m, st, c, t->cols[c][strlen(t->cols[c]) - 1]);
        if (!ok)
            return s_err(REMISS_E_STORAGE, "a source row cannot be read");
        if (PQputCopyData(m->dst, (const char *)m->buf, (int)m->len) != 1)
            return s_pg_err(m->dst, "copy");
        m->len = 0;
        s_progress(m, t, ++done, total, false);
    }
    if (rc != SQLITE_DONE)
        return s_err(REMISS_E_STORAGE, sqlite3_errmsg(m->src));
    s_progress(m, t, done, total, true);
    m->rows[t - s_tables] = done;
    uint16_t trailer = 0xffff;
    return PQputCopyData(m->dst, (const char *)&trailer, 2) == 1 ? 0 : s_pg_err(m->dst, "copy");
}

/* Copies one table, in key order. */
static int
s_copy_table(s_mig_t *m, const s_table_t *t)
{
    char cols[1024], sql[1400];
    sqlite3_stmt *st = NULL;
    int rc;
    s_col_list(t, cols, sizeof cols);
    snprintf(sql, sizeof sql, "COPY %s(%s) FROM STDIN (FORMAT binary)", t->name, cols);
    PGresult *res = PQexec(m->dst, sql);
    bool in_copy = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    if (!in_copy)
        return s_pg_err(m->dst, "copy");
    snprintf(sql, sizeof sql, "SELECT %s FROM %s ORDER BY %s", cols, t->name, t->key);
    if (sqlite3_prepare_v2(m->src, sql, -1, &st, NULL) != SQLITE_OK)
        rc = s_err(REMISS_E_STORAGE, sqlite3_errmsg(m->src));
    else
        rc = s_copy_rows(m, t, st, s_src_count(m, t));
    sqlite3_finalize(st);
    if (PQputCopyEnd(m->dst, rc == 0 ? NULL : "remissctl store migrate stopped") != 1)
        return rc ? rc : s_pg_err(m->dst, "copy");
    res = PQgetResult(m->dst);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    while ((res = PQgetResult(m->dst)) != NULL)
        PQclear(res);
    return rc ? rc : ok ? 0 : s_pg_err(m->dst, t->name);
}

/* 0 if every table of the target is empty. */
static int
s_target_empty(s_mig_t *m)
{
    static const char sql[] =
        "SELECT EXISTS(SELECT 1 FROM messages) OR EXISTS(SELECT 1 FROM consents) OR"
        " EXISTS(SELECT 1 FROM audit) OR EXISTS(SELECT 1 FROM audit_nodes) OR"
        " EXISTS(SELECT 1 FROM tree_heads) OR EXISTS(SELECT 1 FROM admin_queue)";
    PGresult *res = PQexec(m->dst, sql);
    int rc = PQresultStatus(res) != PGRES_TUPLES_OK ? s_pg_err(m->dst, "check the target")
             : strcmp(PQgetvalue(res, 0, 0), "f") != 0
                 ? s_err(REMISS_E_CONFIG, "the target store already holds data; migrate only "
                                          "into an empty database")
                 : 0;
    PQclear(res);
    return rc;
}

static int
s_exec(PGconn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) &&
              (strcmp(sql, "COMMIT") != 0 || strcmp(PQcmdStatus(res), "COMMIT") == 0);
    PQclear(res);
    return ok ? 0 : s_pg_err(c, what);
}

/* Identity columns go on after the highest key copied. */
static const char s_sequences[] = "SELECT setval(pg_get_serial_sequence('messages', 'seq'),"
                                  " (SELECT coalesce(max(seq), 0) + 1 FROM messages), false);"
                                  "SELECT setval(pg_get_serial_sequence('admin_queue', 'id'),"
                                  " (SELECT coalesce(max(id), 0) + 1 FROM admin_queue), false);";

static int
s_run(s_mig_t *m)
{
    int rc;
    if ((rc = s_exec(m->dst, "SET statement_timeout = 0", "session")) != 0 ||
        (rc = s_exec(m->dst, "BEGIN ISOLATION LEVEL SERIALIZABLE", "begin")) != 0 ||
        (rc = s_exec(m->dst,
                     "LOCK TABLE messages, consents, audit, audit_nodes, tree_heads,"
                     " admin_queue IN EXCLUSIVE MODE",
                     "lock the target")) != 0 ||
        (rc = s_target_empty(m)) != 0)
        return rc;
    if (sqlite3_exec(m->src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return s_err(REMISS_E_STORAGE, sqlite3_errmsg(m->src));
    for (size_t i = 0; i < S_NTABLES && rc == 0; i++)
        rc = s_copy_table(m, &s_tables[i]);
    sqlite3_exec(m->src, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0 && (rc = s_exec(m->dst, s_sequences, "sequences")) == 0)
        rc = s_exec(m->dst, "COMMIT", "commit");
    return rc;
}

/* Opens both stores through store.h first: that creates the target's
 * tables and brings a source made by an older remiss to the current
 * schema. */
static int
s_prepare(const char *from, const char *to)
{
    remiss_err_t err;
    struct stat st;
    const char *file = store_file(from);
    if (!file || store_file(to))
        return s_err(REMISS_E_USAGE, "--from takes a SQLite file, --to a postgresql:// URI");
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
        return s_err(REMISS_E_IO, "no SQLite store at the --from path");
    store_t *s = store_open(from, &err);
    if (!s)
        return s_err(err.code, err.text);
    store_close(&s);
    if (!(s = store_open(to, &err)))
        return s_err(err.code, err.text);
    store_close(&s);
    return 0;
}

static int
s_migrate(const char *from, const char *to)
{
    s_mig_t m = {.tty = isatty(2) == 1};
    int rc = s_prepare(from, to);
    if (rc != 0)
        return rc;
    if (sqlite3_open_v2(store_file(from), &m.src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        rc = s_err(REMISS_E_STORAGE, sqlite3_errmsg(m.src));
    else if (PQstatus(m.dst = PQconnectdb(to)) != CONNECTION_OK)
        rc = s_pg_err(m.dst, "connect");
    else if ((rc = s_run(&m)) == 0) {
        printf("migrated");
        for (size_t i = 0; i < S_NTABLES; i++)
            printf("%s %llu %s", i ? "," : "", (unsigned long long)m.rows[i], s_tables[i].what);
        printf("\n");
    }
    sqlite3_close(m.src);
    PQfinish(m.dst);
    free(m.buf);
    return rc;
}

int
ctl_migrate(const ctl_args_t *a)
{
    if (a->npos != 0 || !a->from || !a->to || (a->given & ~(CTL_O_FROM | CTL_O_TO)))
        return cli_usage_error(&a->cli, "%s", "store migrate --from PATH --to URI");
    return s_migrate(a->from, a->to);
}
