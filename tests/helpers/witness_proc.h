/* witness_proc: a real remiss-witness process for integration tests, on
 * 127.0.0.1 with its own key and state under a test directory. */
#ifndef WITNESS_PROC_H
#define WITNESS_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "note.h"

typedef struct witness_proc {
    char name[64];            /* key name, e.g. w1.test */
    char key[192], db[192];   /* key file and state database */
    char log[192];            /* its stderr */
    char vkey[NOTE_VKEY_MAX]; /* cosignature vkey */
    char url[64];             /* http://127.0.0.1:PORT */
    int port;
    pid_t pid; /* 0 when not running */
} witness_proc_t;

/* Makes the key (dir/NAME.key) and paths; picks a port. */
void witness_proc_init(witness_proc_t *w, const char *dir, const char *name);

/* Starts (or restarts, same port and state) the witness following the log
 * with the given vkey; waits until it answers HTTP. Asserts on failure. */
void witness_proc_start(witness_proc_t *w, const char *log_vkey);

/* SIGKILL (crash) or SIGTERM (clean stop; asserts exit status 0). */
void witness_proc_kill(witness_proc_t *w);
void witness_proc_stop(witness_proc_t *w);

/* GET url (a full http:// URL) into buf; returns the HTTP status, 0 if no
 * answer. */
long witness_proc_http_get(const char *url, char *buf, size_t cap);

/* True if the witness's log contains needle. */
bool witness_proc_log_has(const witness_proc_t *w, const char *needle);

#endif
