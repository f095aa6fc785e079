/* Unit tests of store_walbuf, the VFS that gathers WAL writes: what one
 * connection commits through it, another connection (the plain VFS, as
 * remissctl uses) reads at once and whole, also for transactions larger
 * than the page cache (SQLite then writes and reads back frames before the
 * commit), across WAL restarts, and the database stays intact. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_walbuf.h"

static char s_dir[64], s_path[96];

static void
s_setup(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/remiss-walbuf-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    snprintf(s_path, sizeof s_path, "%s/t.db", s_dir);
}

static void
s_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

static void
s_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg ? msg : "");
}

static sqlite3_int64
s_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Inserts n rows of size bytes, each a repeated byte derived from its id. */
static void
s_insert(sqlite3 *db, int first, int n, int size)
{
    sqlite3_stmt *st;
    unsigned char *blob = malloc((size_t)size);
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO t(id, b) VALUES(?1, ?2)", -1, &st, NULL),
                 SQLITE_OK);
    for (int i = first; i < first + n; i++) {
        memset(blob, i & 0xff, (size_t)size);
        sqlite3_bind_int(st, 1, i);
        sqlite3_bind_blob(st, 2, blob, size, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    free(blob);
}

TestSuite(walbuf, .init = s_setup, .fini = s_teardown);

Test(walbuf, commits_are_whole_for_a_reader_on_the_plain_vfs)
{
    sqlite3 *w, *r;
    const char *vfs = store_walbuf_vfs();
    cr_assert_str_eq(vfs, STORE_WALBUF_VFS);
    cr_assert_eq(store_walbuf_vfs(), vfs, "registered once");
    cr_assert_eq(sqlite3_open_v2(s_path, &w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                 SQLITE_OK);
    s_exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
              " CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB NOT NULL);");
    cr_assert_eq(sqlite3_open_v2(s_path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);

    int total = 0;
    for (int round = 0; round < 40; round++) {
        /* Small commits, and every tenth a large one. */
        int n = round % 10 == 9 ? 400 : 3 + round;
        s_exec(w, "BEGIN IMMEDIATE");
        s_insert(w, total, n, 1500);
        s_exec(w, "COMMIT");
        total += n;
        cr_assert_eq(s_int(r, "SELECT count(*) FROM t"), total, "round %d", round);
        cr_assert_eq(s_int(r, "SELECT count(*) FROM t WHERE length(b) = 1500 AND"
                              " hex(substr(b, 1500, 1)) = printf('%02X', id % 256)"),
                     total);
    }
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t WHERE hex(substr(b, 1, 1)) ="
                          " printf('%02X', id % 256)"),
                 total);

    /* A transaction larger than the page cache writes frames before its
     * commit and reads them back: the buffer must give them up in time. */
    s_exec(w, "PRAGMA cache_size = 20");
    s_exec(w, "BEGIN IMMEDIATE");
    s_insert(w, total, 2000, 3000);
    cr_assert_eq(s_int(w, "SELECT count(*) FROM t WHERE length(b) = 3000 AND"
                          " hex(substr(b, 3000, 1)) = printf('%02X', id % 256)"),
                 2000);
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t"), total, "not yet committed");
    s_exec(w, "UPDATE t SET b = zeroblob(10) WHERE id % 7 = 0");
    s_exec(w, "COMMIT");
    total += 2000;
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t"), total);
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t WHERE id % 7 = 0 AND length(b) <> 10"), 0);

    /* A checkpoint and a WAL restart, then more commits at the file's start. */
    cr_assert_eq(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(w));
    s_exec(w, "BEGIN IMMEDIATE");
    s_insert(w, total, 50, 800);
    s_exec(w, "COMMIT");
    total += 50;
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t"), total);

    sqlite3_close(r);
    sqlite3_close(w);
    /* Whole after the writer is gone, opened afresh without the shim. */
    cr_assert_eq(sqlite3_open_v2(s_path, &r, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    cr_assert_eq(s_int(r, "SELECT count(*) FROM t"), total);
    sqlite3_close(r);
}
