/* wit_core: the state and decisions of remiss-witness (include/wit_core.h). */
#include "wit_core.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merkle.h"

struct wit {
    sqlite3 *db;                        /* state: one row per log origin */
    note_signer_t key;                  /* the witness's cosigning key */
    note_verifier_t logs[WIT_LOGS_MAX]; /* trusted log keys */
    size_t n_logs;
};

/* A parsed add-checkpoint request. */
typedef struct s_req {
    uint64_t old;
    uint8_t proof[WIT_PROOF_MAX][MERKLE_HASH_LEN];
    size_t n_proof;
    note_t note;
    checkpoint_t cp;
} s_req_t;

static const char s_schema[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS checkpoints(origin TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    " root BLOB NOT NULL, note TEXT NOT NULL, updated INTEGER NOT NULL);";

/* ---------------------------------------------------------------- lifecycle */

/* Creates the database file 0600 whatever the umask before SQLite opens it
 * (SQLite gives its -wal and -shm files the database file's mode). */
static remiss_code_t
s_create_private(const char *path, remiss_err_t *err)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return remiss_err_set(err, REMISS_E_IO, "cannot open %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0) {
        close(fd);
        return remiss_err_set(err, REMISS_E_IO, "cannot chmod %s: %s", path, strerror(errno));
    }
    close(fd);
    return REMISS_OK;
}

wit_t *
wit_open(const char *db_path, const note_signer_t *key, const note_verifier_t *logs, size_t n,
         remiss_err_t *err)
{
    wit_t *self;
    if (n > WIT_LOGS_MAX || key == NULL || key->key == NULL || key->pub.type != NOTE_TYPE_COSIG) {
        remiss_err_set(err, REMISS_E_USAGE, "a witness needs a cosigning key and at most %d logs",
                       WIT_LOGS_MAX);
        return NULL;
    }
    if (s_create_private(db_path, err) != REMISS_OK || (self = calloc(1, sizeof *self)) == NULL)
        return NULL;
    if (sqlite3_open_v2(db_path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK) {
        remiss_err_set(err, REMISS_E_STORAGE, "cannot open the witness state %s: %s", db_path,
                       sqlite3_errmsg(self->db));
        wit_close(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    self->key = *key;
    EVP_PKEY_up_ref(key->key);
    memcpy(self->logs, logs, n * sizeof *logs);
    self->n_logs = n;
    return self;
}

void
wit_close(wit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    sqlite3_close((*self_p)->db);
    note_signer_clear(&(*self_p)->key);
    free(*self_p);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- replies */

static void s_reply(wit_reply_t *out, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
s_reply(wit_reply_t *out, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out->body, sizeof out->body, fmt, ap);
    va_end(ap);
    out->status = status;
    out->content_type = "text/plain; charset=utf-8";
    out->body_len = n < 0 ? 0 : (size_t)n < sizeof out->body ? (size_t)n : sizeof out->body - 1;
}

/* ---------------------------------------------------------------- parsing */

static bool
s_decimal(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* The old line and the proof lines, up to the empty line; *pos is then the
 * checkpoint's first byte. */
static bool
s_parse_head(const char *b, size_t len, s_req_t *q, size_t *pos)
{
    const char *nl = memchr(b, '\n', len);
    size_t n, p, got;
    if (nl == NULL || (n = (size_t)(nl - b)) < 5 || memcmp(b, "old ", 4) != 0 ||
        !s_decimal(b + 4, n - 4, &q->old))
        return false;
    for (p = n + 1; p < len; p += n + 1) {
        if ((nl = memchr(b + p, '\n', len - p)) == NULL)
            return false;
        if ((n = (size_t)(nl - (b + p))) == 0) {
            *pos = p + 1;
            return true;
        }
        if (q->n_proof == WIT_PROOF_MAX ||
            note_b64_decode(b + p, n, q->proof[q->n_proof], MERKLE_HASH_LEN, &got) != REMISS_OK ||
            got != MERKLE_HASH_LEN)
            return false;
        q->n_proof++;
    }
    return false;
}

/* Parses and checks everything that needs no state: format (400), origin
 * (404), log signature (403), old <= size (400). */
static bool
s_check_request(wit_t *self, const char *body, size_t len, s_req_t *q, wit_reply_t *out)
{
    note_verifier_t known[WIT_LOGS_MAX];
    size_t pos = 0, n_known = 0, n_ok = 0;

    if (len > WIT_BODY_MAX)
        return s_reply(out, 413, "request too large\n"), false;
    if (!s_parse_head(body, len, q, &pos) ||
        note_parse(body + pos, len - pos, &q->note) != REMISS_OK ||
        checkpoint_parse(q->note.text, q->note.text_len, &q->cp) != REMISS_OK)
        return s_reply(out, 400, "malformed add-checkpoint request\n"), false;
    for (size_t i = 0; i < self->n_logs; i++)
        if (strcmp(self->logs[i].name, q->cp.origin) == 0)
            known[n_known++] = self->logs[i];
    if (n_known == 0)
        return s_reply(out, 404, "unknown log origin\n"), false;
    if (note_verify(&q->note, known, n_known, NULL, &n_ok) != REMISS_OK || n_ok == 0)
        return s_reply(out, 403, "no valid signature by a trusted log key\n"), false;
    if (q->old > q->cp.size)
        return s_reply(out, 400, "old size is larger than the checkpoint size\n"), false;
    return true;
}

/* ---------------------------------------------------------------- state */

/* Reads the stored size and root of origin (size 0, *found false if none). */
static int
s_load(wit_t *self, const char *origin, uint64_t *size, uint8_t root[32], bool *found)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db, "SELECT size, root FROM checkpoints WHERE origin = ?1",
                                -1, &st, NULL);
    *size = 0;
    *found = false;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == 32) {
            *size = (uint64_t)sqlite3_column_int64(st, 0);
            memcpy(root, sqlite3_column_blob(st, 1), 32);
            *found = true;
            rc = SQLITE_DONE;
        } else if (rc == SQLITE_ROW) {
            rc = SQLITE_CORRUPT;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int
s_store(wit_t *self, const s_req_t *q, const char *note, uint64_t now)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(self->db,
                           "INSERT OR REPLACE INTO checkpoints(origin, size, root, note, updated)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, q->cp.origin, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)q->cp.size);
        sqlite3_bind_blob(st, 3, q->cp.root, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, note, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The consistency checks against the stored state: 409 or 422, or true. */
static bool
s_check_consistent(const s_req_t *q, uint64_t stored, const uint8_t root[32], wit_reply_t *out)
{
    if (q->old != stored) {
        s_reply(out, 409, "%" PRIu64 "\n", stored);
        out->content_type = "text/x.tlog.size";
        return false;
    }
    if (q->old == 0)
        return q->n_proof == 0 ? true : (s_reply(out, 422, "a proof from size 0\n"), false);
    if (q->old == q->cp.size && memcmp(root, q->cp.root, 32) != 0) {
        s_reply(out, 409, "%" PRIu64 "\n", stored);
        out->content_type = "text/x.tlog.size";
        return false;
    }
    if (!merkle_verify_consistency(q->old, q->cp.size, root, q->cp.root,
                                   (const uint8_t(*)[MERKLE_HASH_LEN])q->proof, q->n_proof))
        return s_reply(out, 422, "the consistency proof does not verify\n"), false;
    return true;
}

/* The note to keep and serve: text, the trusted log signatures, ours. */
static bool
s_served_note(wit_t *self, const s_req_t *q, const char *cosig, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "%s\n", q->note.text);
    for (size_t i = 0; i < q->note.n_sigs && n < cap; i++)
        for (size_t k = 0; k < self->n_logs; k++) {
            const note_sig_t *s = &q->note.sigs[i];
            uint8_t raw[4 + NOTE_SIG_MAX];
            char b64[2 * NOTE_SIG_MAX];
            if (!note_sig_verify(&q->note, s, &self->logs[k], NULL))
                continue;
            for (int j = 0; j < 4; j++)
                raw[j] = (uint8_t)(s->id >> (24 - 8 * j));
            memcpy(raw + 4, s->sig, s->sig_len);
            if (note_b64_encode(raw, 4 + s->sig_len, b64, sizeof b64) == 0)
                return false;
            n += (size_t)snprintf(buf + n, cap - n, "\xe2\x80\x94 %s %s\n", s->name, b64);
            break;
        }
    if (n >= cap)
        return false;
    n += (size_t)snprintf(buf + n, cap - n, "%s", cosig);
    return n < cap;
}

/* Under the transaction: check against the state, store, answer. */
static void
s_add(wit_t *self, const s_req_t *q, uint64_t now, wit_reply_t *out)
{
    static char served[NOTE_MAX + NOTE_LINE_MAX];
    char line[NOTE_LINE_MAX];
    uint8_t root[32];
    uint64_t stored;
    bool found;

    if (s_load(self, q->cp.origin, &stored, root, &found) != SQLITE_OK)
        return s_reply(out, 500, "witness state unreadable\n");
    if (!s_check_consistent(q, stored, root, out))
        return;
    if (note_sign(&self->key, q->note.text, q->note.text_len, now, line) != REMISS_OK ||
        !s_served_note(self, q, line, served, sizeof served))
        return s_reply(out, 500, "cannot cosign\n");
    if (s_store(self, q, served, now) != SQLITE_OK)
        return s_reply(out, 500, "witness state unwritable\n");
    s_reply(out, 200, "%s", line);
}

void
wit_add_checkpoint(wit_t *self, const char *body, size_t len, uint64_t now, wit_reply_t *out)
{
    static s_req_t q; /* 12 KiB; the HTTP layer calls from one thread */

    memset(&q, 0, sizeof q);
    if (!s_check_request(self, body, len, &q, out))
        return;
    if (now > INT64_MAX)
        return s_reply(out, 500, "clock out of range\n");
    /* IMMEDIATE: the old-size check and the update are one atomic step even
     * against another process on the same database. */
    if (sqlite3_exec(self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return s_reply(out, 503, "witness state busy\n");
    s_add(self, &q, now, out);
    if (out->status != 200) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    if (sqlite3_exec(self->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(self->db, "ROLLBACK", NULL, NULL, NULL);
        s_reply(out, 500, "witness state unwritable\n");
    }
}

void
wit_latest(wit_t *self, const char *origin, wit_reply_t *out)
{
    sqlite3_stmt *st = NULL;
    s_reply(out, 404, "no checkpoint for this origin\n");
    if (sqlite3_prepare_v2(self->db, "SELECT note FROM checkpoints WHERE origin = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return s_reply(out, 500, "witness state unreadable\n");
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *note = (const char *)sqlite3_column_text(st, 0);
        s_reply(out, 200, "%s", note ? note : "");
    }
    sqlite3_finalize(st);
}

uint64_t
wit_size(wit_t *self, const char *origin)
{
    uint64_t size;
    uint8_t root[32];
    bool found;
    return s_load(self, origin, &size, root, &found) == SQLITE_OK ? size : 0;
}
