/* pgtest: a PostgreSQL server per test (see pgtest.h). */
#include "pgtest.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In a forked child: become the postgres user if root (PostgreSQL refuses
 * to run as root) and send output to the log. */
static void
s_child_setup(const pgtest_t *pg, int deathsig)
{
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
            _exit(126);
    }
    /* Set after setuid, which clears it: the server dies with the test. */
    if (deathsig)
        prctl(PR_SET_PDEATHSIG, deathsig);
    int fd = open(pg->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDONLY);
    if (fd >= 0 && null >= 0) {
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
    }
}

static void
s_show_log(const pgtest_t *pg)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", pg->log);
    (void)system(cmd);
}

static void
s_initdb(pgtest_t *pg)
{
    const char *argv[] = {PGTEST_BINDIR "/initdb",
                          "-D",
                          pg->data,
                          "-A",
                          "trust",
                          "-U",
                          "postgres",
                          "--no-sync",
                          "-E",
                          "UTF8",
                          "--locale=C",
                          NULL};
    int status = -1;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        s_child_setup(pg, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    if (status != 0)
        s_show_log(pg);
    cr_assert_eq(status, 0, "initdb failed (status %d)", status);
}

/* Starts the postmaster on pg->port; true when it answers. */
static bool
s_launch(pgtest_t *pg)
{
    char port[16], conninfo[128];
    snprintf(port, sizeof port, "%d", pg->port);
    const char *argv[] = {PGTEST_BINDIR "/postgres",
                          "-D",
                          pg->data,
                          "-p",
                          port,
                          "-k",
                          pg->dir,
                          "-c",
                          "listen_addresses=127.0.0.1",
                          "-c",
                          "fsync=off",
                          "-c",
                          "max_connections=40",
                          NULL};
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        s_child_setup(pg, SIGQUIT);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    pg->pid = pid;
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2", pg->port);
    for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
        if (PQping(conninfo) == PQPING_OK)
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pg->pid = 0;
            return false; /* the port was taken, say */
        }
        usleep(100000);
    }
    pgtest_pause(pg);
    return false;
}

static void
s_exec(pgtest_t *pg, const char *sql)
{
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d user=postgres dbname=postgres",
             pg->port);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "pgtest: %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    cr_assert(ok, "pgtest: %s failed", sql);
}

void
pgtest_createdb(pgtest_t *pg, const char *name, char *uri, size_t size)
{
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    s_exec(pg, sql);
    snprintf(uri, size, "postgresql://postgres@127.0.0.1:%d/%s", pg->port, name);
}

void
pgtest_start(pgtest_t *pg)
{
    memset(pg, 0, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/remiss-pg-XXXXXX");
    cr_assert_not_null(mkdtemp(pg->dir));
    snprintf(pg->data, sizeof pg->data, "%s/data", pg->dir);
    snprintf(pg->log, sizeof pg->log, "%s/postgres.log", pg->dir);
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        cr_assert_not_null(pw, "no postgres user (apt-get install postgresql)");
        cr_assert_eq(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0);
    }
    s_initdb(pg);
    bool up = false;
    for (int attempt = 0; attempt < 10 && !up; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        pg->port = 20000 + (int)((ts.tv_nsec / 1000 + getpid() * 7919 + attempt * 104729) % 40000);
        up = s_launch(pg);
    }
    if (!up)
        s_show_log(pg);
    cr_assert(up, "PostgreSQL did not start");
    pgtest_createdb(pg, "remiss", pg->uri, sizeof pg->uri);
}

void
pgtest_pause(pgtest_t *pg)
{
    int status;
    if (!pg->pid)
        return;
    kill(pg->pid, SIGINT); /* fast shutdown */
    for (int i = 0; i < 300; i++) {
        if (waitpid(pg->pid, &status, WNOHANG) == pg->pid) {
            pg->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(pg->pid, SIGKILL);
    waitpid(pg->pid, &status, 0);
    pg->pid = 0;
}

void
pgtest_resume(pgtest_t *pg)
{
    cr_assert(s_launch(pg), "PostgreSQL did not start again on port %d", pg->port);
}

void
pgtest_stop(pgtest_t *pg)
{
    char cmd[256];
    pgtest_pause(pg);
    if (!pg->dir[0])
        return;
    snprintf(cmd, sizeof cmd, "rm -rf %s", pg->dir);
    (void)system(cmd);
    pg->dir[0] = '\0';
}

/* ------------------------------------------------------------ a standby */

/* Runs a PostgreSQL program as the postgres user; its exit status. */
static int
s_run(const pgtest_t *pg, const char *const *argv)
{
    int status = -1;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        s_child_setup(pg, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    return status;
}

/* One value of a query on pg's database postgres ("" on failure). */
static void
s_value(const pgtest_t *pg, const char *sql, char *out, size_t size)
{
    char conninfo[128];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=2", pg->port);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *r = PQexec(c, sql);
    snprintf(out, size, "%s",
             PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
}

void
pgtest_standby(pgtest_t *primary, pgtest_t *standby)
{
    char port[16], state[32] = "";
    memset(standby, 0, sizeof *standby);
    snprintf(standby->dir, sizeof standby->dir, "/tmp/remiss-pg-XXXXXX");
    cr_assert_not_null(mkdtemp(standby->dir));
    snprintf(standby->data, sizeof standby->data, "%s/data", standby->dir);
    snprintf(standby->log, sizeof standby->log, "%s/postgres.log", standby->dir);
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        cr_assert_not_null(pw);
        cr_assert_eq(chown(standby->dir, pw->pw_uid, pw->pw_gid), 0);
    }
    snprintf(port, sizeof port, "%d", primary->port);
    const char *argv[] = {PGTEST_BINDIR "/pg_basebackup",
                          "-D",
                          standby->data,
                          "-h",
                          "127.0.0.1",
                          "-p",
                          port,
                          "-U",
                          "postgres",
                          "-R",
                          "-X",
                          "stream",
                          "--no-sync",
                          "-c",
                          "fast",
                          NULL};
    int status = s_run(standby, argv);
    if (status != 0)
        s_show_log(standby);
    cr_assert_eq(status, 0, "pg_basebackup failed (status %d)", status);
    bool up = false;
    for (int attempt = 0; attempt < 10 && !up; attempt++)
        standby->port = primary->port + 1 + attempt, up = s_launch(standby);
    cr_assert(up, "the standby did not start");
    /* On the primary only, after the copy: a standby that inherited it
     * would wait for a standby of its own once promoted. */
    s_exec(primary, "ALTER SYSTEM SET synchronous_standby_names = '*'");
    s_value(primary, "SELECT pg_reload_conf()::text", state, sizeof state);
    for (int i = 0; i < 300 && strcmp(state, "sync") != 0; i++) {
        usleep(100000);
        s_value(primary, "SELECT coalesce(max(sync_state), '') FROM pg_stat_replication", state,
                sizeof state);
    }
    cr_assert_str_eq(state, "sync", "the standby did not become synchronous");
    snprintf(standby->uri, sizeof standby->uri, "postgresql://postgres@127.0.0.1:%d/remiss",
             standby->port);
}

void
pgtest_kill(pgtest_t *pg)
{
    if (!pg->pid)
        return;
    kill(pg->pid, SIGKILL);
    waitpid(pg->pid, NULL, 0);
    pg->pid = 0;
}

void
pgtest_promote(pgtest_t *pg)
{
    char state[16] = "";
    const char *argv[] = {PGTEST_BINDIR "/pg_ctl", "promote", "-w", "-D", pg->data, NULL};
    int status = s_run(pg, argv);
    cr_assert_eq(status, 0, "pg_ctl promote failed (status %d)", status);
    for (int i = 0; i < 300 && strcmp(state, "false") != 0; i++) {
        s_value(pg, "SELECT pg_is_in_recovery()::text", state, sizeof state);
        if (strcmp(state, "false") != 0)
            usleep(100000);
    }
    cr_assert_str_eq(state, "false", "the promoted standby still recovers");
}
