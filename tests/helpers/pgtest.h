/* pgtest: a PostgreSQL 15 server of the test's own for tests of the
 * PostgreSQL engine. initdb in a temporary directory (as the postgres user
 * when the test runs as root, as CI does), the server a child of the test
 * process listening on 127.0.0.1 and a socket directory of its own, and
 * killed with the test if the test dies. */
#ifndef PGTEST_H
#define PGTEST_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct pgtest {
    char dir[128];  /* temporary directory, removed by pgtest_stop */
    char data[160]; /* dir/data: the cluster */
    char log[160];  /* dir/postgres.log */
    char uri[128];  /* postgresql://postgres@127.0.0.1:PORT/remiss */
    int port;
    pid_t pid; /* the postmaster, 0 if stopped */
} pgtest_t;

/* Directory of PostgreSQL's programs (initdb, postgres). */
#define PGTEST_BINDIR "/usr/lib/postgresql/15/bin"

/* Creates the cluster, starts the server and creates database "remiss".
 * Asserts on failure. */
void pgtest_start(pgtest_t *pg);

/* Stops the server (fast shutdown: clients are disconnected) and keeps
 * the cluster; pgtest_resume starts it again on the same port. */
void pgtest_pause(pgtest_t *pg);
void pgtest_resume(pgtest_t *pg);

/* Creates another database and writes its URI into uri. */
void pgtest_createdb(pgtest_t *pg, const char *name, char *uri, size_t size);

/* Makes standby a streaming replica of primary (pg_basebackup -R into a
 * directory of its own), starts it, sets synchronous_standby_names on the
 * primary only and waits until the standby is synchronous. standby->uri
 * names its database remiss. Asserts on failure. */
void pgtest_standby(pgtest_t *primary, pgtest_t *standby);

/* SIGKILLs the server (the primary is lost; it is never started again). */
void pgtest_kill(pgtest_t *pg);

/* Promotes a standby (pg_ctl promote) and waits until it takes writes. */
void pgtest_promote(pgtest_t *pg);

/* Stops the server and removes the directory. Safe to call twice. */
void pgtest_stop(pgtest_t *pg);

#endif
