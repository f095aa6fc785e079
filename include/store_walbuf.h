/* store_walbuf: an SQLite VFS that gathers write-ahead-log writes into few
 * system calls (see broker/store_walbuf.c). */
#ifndef REMISS_STORE_WALBUF_H
#define REMISS_STORE_WALBUF_H

#include <sqlite3.h>

#define STORE_WALBUF_VFS "remiss-walbuf"

/* Registers the VFS once (not as the default) and returns its name for
 * sqlite3_open_v2, or NULL if it could not be registered. Requires
 * synchronous=FULL on connections that write: the buffer reaches the file
 * at the sync before each commit. */
const char *store_walbuf_vfs(void);

#endif
