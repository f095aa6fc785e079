/* store_walbuf: an SQLite VFS shim that gathers write-ahead-log writes.
 *
 * SQLite writes every WAL frame as two pwrite calls (its 24-byte header,
 * then the page), so a commit of 600 pages costs 1,200 system calls; on a
 * virtual machine each call is dear. This shim wraps the default VFS and,
 * for WAL files only, gathers consecutive writes in a buffer that reaches
 * the file in one call when it is full, when the file is synced, read,
 * truncated or closed, or when a write lands elsewhere.
 *
 * Durability is unchanged: SQLite syncs the WAL before it counts a commit
 * done (the store runs synchronous=FULL) and the buffer is written before
 * every sync, so nothing is acknowledged that is not on disk. A write error
 * surfaces at that sync, and SQLite rolls the transaction back as it would
 * for the write. Other connections see a frame only after the commit that
 * includes it, that is after the sync. Database and journal files pass
 * straight through. */
#include "store_walbuf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The unix VFS writes at most 128 KiB - 1 per call (its seekAndWrite masks
 * the count), so that bounds the buffer: one system call per 30 frames of
 * 4 KiB pages instead of 60. */
#define S_BUF_CAP (124u * 1024)

typedef struct {
    sqlite3_file base;  /* pMethods: s_methods */
    sqlite3_file *real; /* the wrapped VFS's file, after this struct */
    unsigned char *buf;
    size_t len;       /* bytes gathered */
    sqlite3_int64 at; /* file offset of buf[0] */
} s_file_t;

static sqlite3_vfs *s_orig;
static sqlite3_vfs s_vfs;
static sqlite3_io_methods s_methods;

static int
s_flush(s_file_t *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->at);
    f->len = 0;
    return rc;
}

static int
s_close(sqlite3_file *p)
{
    s_file_t *f = (s_file_t *)p;
    int rc = s_flush(f);
    int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int
s_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off)
{
    s_file_t *f = (s_file_t *)p;
    int rc;

    /* Rare (a spilled page read back): write what overlaps, then read. */
    if (f->len > 0 && off < f->at + (sqlite3_int64)f->len && off + n > f->at &&
        (rc = s_flush(f)) != SQLITE_OK)
        return rc;
    return f->real->pMethods->xRead(f->real, out, n, off);
}

static int
s_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off)
{
    s_file_t *f = (s_file_t *)p;
    int rc;

    if (n < 0)
        return SQLITE_IOERR_WRITE;
    if (f->len > 0 && (off != f->at + (sqlite3_int64)f->len || f->len + (size_t)n > S_BUF_CAP) &&
        (rc = s_flush(f)) != SQLITE_OK)
        return rc;
    if ((size_t)n > S_BUF_CAP)
        return f->real->pMethods->xWrite(f->real, data, n, off);
    if (f->len == 0)
        f->at = off;
    memcpy(f->buf + f->len, data, (size_t)n);
    f->len += (size_t)n;
    return SQLITE_OK;
}

static int
s_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    s_file_t *f = (s_file_t *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int
s_sync(sqlite3_file *p, int flags)
{
    s_file_t *f = (s_file_t *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
s_size(sqlite3_file *p, sqlite3_int64 *size)
{
    s_file_t *f = (s_file_t *)p;
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* The rest pass through to the wrapped file. */
static int
s_lock(sqlite3_file *p, int lvl)
{
    sqlite3_file *r = ((s_file_t *)p)->real;
    return r->pMethods->xLock(r, lvl);
}

static int
s_unlock(sqlite3_file *p, int lvl)
{
    sqlite3_file *r = ((s_file_t *)p)->real;
    return r->pMethods->xUnlock(r, lvl);
}

static int
s_reserved(sqlite3_file *p, int *out)
{
    sqlite3_file *r = ((s_file_t *)p)->real;
    return r->pMethods->xCheckReservedLock(r, out);
}

static int
s_fcntl(sqlite3_file *p, int op, void *arg)
{
    s_file_t *f = (s_file_t *)p;
    /* Whatever SQLite asks of the file (its size hints, say) sees it whole. */
    int rc = s_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
s_sector(sqlite3_file *p)
{
    sqlite3_file *r = ((s_file_t *)p)->real;
    return r->pMethods->xSectorSize(r);
}

static int
s_devchar(sqlite3_file *p)
{
    sqlite3_file *r = ((s_file_t *)p)->real;
    return r->pMethods->xDeviceCharacteristics(r);
}

static int
s_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    /* Everything but the log is the wrapped VFS's file, in place. */
    if (!(flags & SQLITE_OPEN_WAL))
        return s_orig->xOpen(s_orig, name, p, flags, out_flags);

    s_file_t *f = (s_file_t *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    if (!(f->buf = malloc(S_BUF_CAP)))
        return SQLITE_NOMEM;
    int rc = s_orig->xOpen(s_orig, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        free(f->buf);
        f->buf = NULL;
        return rc;
    }
    f->base.pMethods = &s_methods;
    return SQLITE_OK;
}

static void
s_init(void)
{
    s_orig = sqlite3_vfs_find(NULL);
    if (!s_orig)
        return;
    s_vfs = *s_orig;
    s_vfs.iVersion = s_orig->iVersion < 3 ? s_orig->iVersion : 3;
    s_vfs.szOsFile = (int)sizeof(s_file_t) + s_orig->szOsFile;
    s_vfs.zName = STORE_WALBUF_VFS;
    s_vfs.pNext = NULL;
    s_vfs.xOpen = s_open;
    /* Version 1: shared memory and memory mapping belong to the database
     * file, never to its log. */
    s_methods = (sqlite3_io_methods){
        .iVersion = 1,
        .xClose = s_close,
        .xRead = s_read,
        .xWrite = s_write,
        .xTruncate = s_truncate,
        .xSync = s_sync,
        .xFileSize = s_size,
        .xLock = s_lock,
        .xUnlock = s_unlock,
        .xCheckReservedLock = s_reserved,
        .xFileControl = s_fcntl,
        .xSectorSize = s_sector,
        .xDeviceCharacteristics = s_devchar,
    };
    if (sqlite3_vfs_register(&s_vfs, 0) != SQLITE_OK)
        s_orig = NULL;
}

const char *
store_walbuf_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, s_init);
    return s_orig ? STORE_WALBUF_VFS : NULL;
}
