/* seen: see seen.h. */
#include "seen.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct seen {
    sqlite3 *db;       /* the state file */
    sqlite3_stmt *has; /* SELECT 1 WHERE id = ? */
    sqlite3_stmt *add; /* INSERT OR REPLACE (id, at) */
    char path[4096];   /* for error sentences */
};

static const char s_schema[] = "PRAGMA journal_mode=WAL;"
                               "PRAGMA synchronous=FULL;"
                               "CREATE TABLE IF NOT EXISTS seen("
                               "  id BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;"
                               "CREATE INDEX IF NOT EXISTS seen_at ON seen(at);";

static remiss_code_t
s_io(seen_t *self, remiss_err_t *err, const char *what)
{
    return remiss_err_set(err, REMISS_E_IO, "cannot %s the client state file %s: %s", what,
                          self->path, self->db ? sqlite3_errmsg(self->db) : "out of memory");
}

/* Creates the file 0600 before SQLite does, so the umask cannot widen it. */
static bool
s_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = fchmod(fd, 0600) == 0;
    close(fd);
    return ok;
}

static remiss_code_t
s_prune(seen_t *self, int64_t before, remiss_err_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db, "DELETE FROM seen WHERE at < ?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, before);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? REMISS_OK : s_io(self, err, "prune");
}

seen_t *
seen_open(const char *path, int64_t now_ms, int64_t horizon_ms, remiss_err_t *err)
{
    seen_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    if (!s_create(path)) {
        remiss_err_set(err, REMISS_E_IO, "cannot create the client state file %s: %s", path,
                       strerror(errno));
        seen_close(&self);
        return NULL;
    }
    if (sqlite3_open_v2(path, &self->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "SELECT 1 FROM seen WHERE id = ?", -1, &self->has, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "INSERT OR REPLACE INTO seen(id, at) VALUES(?, ?)", -1,
                           &self->add, NULL) != SQLITE_OK) {
        s_io(self, err, "open");
        seen_close(&self);
        return NULL;
    }
    if (s_prune(self, now_ms - horizon_ms, err) != REMISS_OK)
        seen_close(&self);
    return self;
}

void
seen_close(seen_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    seen_t *self = *self_p;
    sqlite3_finalize(self->has);
    sqlite3_finalize(self->add);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

bool
seen_has(seen_t *self, const uint8_t id[SEEN_ID_LEN])
{
    sqlite3_reset(self->has);
    sqlite3_bind_blob(self->has, 1, id, SEEN_ID_LEN, SQLITE_STATIC);
    bool found = sqlite3_step(self->has) == SQLITE_ROW;
    sqlite3_reset(self->has);
    return found;
}

remiss_code_t
seen_add(seen_t *self, const uint8_t id[SEEN_ID_LEN], int64_t now_ms, remiss_err_t *err)
{
    sqlite3_reset(self->add);
    sqlite3_bind_blob(self->add, 1, id, SEEN_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(self->add, 2, now_ms);
    int rc = sqlite3_step(self->add);
    sqlite3_reset(self->add);
    return rc == SQLITE_DONE ? REMISS_OK : s_io(self, err, "write");
}

int64_t
seen_count(seen_t *self)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(self->db, "SELECT count(*) FROM seen", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}
