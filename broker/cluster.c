/* cluster: duty leases and cross-node news on a connection of the node's
 * own (include/cluster.h). */
#include "cluster.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "store_pg_sql.h"

/* Bounds on how long a dead database can hold the node's loop, as the
 * store's own connection (store_pg.c). */
static const char *const s_keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                     "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                     "application_name",    "dbname",           NULL};

struct cluster {
    char *uri;                   /* NULL on SQLite (wiped: may hold a password) */
    PGconn *conn;                /* leases and LISTEN; NULL or broken until the next connect */
    bool held[CLUSTER_DUTIES];   /* leases this node holds */
    int64_t next_tick, retry_at; /* ms */
    cluster_stats_t stats;
};

static const char *const s_names[CLUSTER_DUTIES] = {"purge", "heads", "admin", "redeliver"};

static int64_t
s_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

cluster_t *
cluster_new(const char *spec)
{
    cluster_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (spec && !store_file(spec) && !(self->uri = strdup(spec))) {
        free(self);
        return NULL;
    }
    for (int d = 0; d < CLUSTER_DUTIES; d++)
        self->held[d] = !self->uri;
    return self;
}

void
cluster_free(cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cluster_t *self = *self_p;
    PQfinish(self->conn); /* the leases end with the session */
    if (self->uri) {
        explicit_bzero(self->uri, strlen(self->uri));
        free(self->uri);
    }
    free(self);
    *self_p = NULL;
}

bool
cluster_shared(const cluster_t *self)
{
    return self->uri != NULL;
}

bool
cluster_holds(const cluster_t *self, cluster_duty_t duty)
{
    return duty < CLUSTER_DUTIES && self->held[duty];
}

const char *
cluster_duty_name(cluster_duty_t duty)
{
    return duty < CLUSTER_DUTIES ? s_names[duty] : "?";
}

int
cluster_fd(const cluster_t *self)
{
    return self->conn && PQstatus(self->conn) == CONNECTION_OK ? PQsocket(self->conn) : -1;
}

void
cluster_stats(const cluster_t *self, cluster_stats_t *out)
{
    *out = self->stats;
}

/* Runs sql; true if it worked (and *res, if not NULL, gets the rows). */
static bool
s_query(cluster_t *self, const char *sql, PGresult **res)
{
    int64_t t0 = s_mono_us();
    PGresult *r = PQexec(self->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    self->stats.checks++;
    self->stats.check_seconds += (double)(s_mono_us() - t0) / 1e6;
    if (ok && res)
        *res = r;
    else
        PQclear(r);
    return ok;
}

/* The connection is gone: so are the leases (the server ended the
 * session's locks, or will when it notices). */
static void
s_lost(cluster_t *self, int64_t now)
{
    for (int d = 0; d < CLUSTER_DUTIES; d++)
        if (self->held[d])
            log_emit(LOG_WARN, "lease_lost", "duty=%s", s_names[d]);
    memset(self->held, 0, sizeof self->held);
    PQfinish(self->conn);
    self->conn = NULL;
    self->retry_at = now + CLUSTER_RETRY_MS;
}

static bool
s_connect(cluster_t *self, int64_t now)
{
    const char *vals[] = {"3", "1", "5", "1", "3", "5000", "remiss-cluster", self->uri, NULL};
    self->conn = PQconnectdbParams(s_keys, vals, 1);
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK ||
        !s_query(self, "LISTEN " STORE_PG_CHANNEL, NULL)) {
        s_lost(self, now);
        return false;
    }
    return true;
}

/* Tries to take every lease not held. */
static bool
s_take_leases(cluster_t *self)
{
    char sql[96];
    for (int d = 0; d < CLUSTER_DUTIES; d++) {
        PGresult *res = NULL;
        if (self->held[d])
            continue;
        snprintf(sql, sizeof sql, "SELECT pg_try_advisory_lock(%lld)",
                 (long long)(STORE_PG_LEASE_KEY + d));
        if (!s_query(self, sql, &res))
            return false;
        self->held[d] = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (self->held[d])
            log_emit(LOG_INFO, "lease_taken", "duty=%s", s_names[d]);
    }
    return true;
}

void
cluster_tick(cluster_t *self, int64_t now)
{
    if (!self->uri || now < self->next_tick)
        return;
    self->next_tick = now + CLUSTER_TICK_MS;
    if (!self->conn && (now < self->retry_at || !s_connect(self, now)))
        return;
    /* One round trip shows the session (and so the leases) alive. */
    if (PQstatus(self->conn) != CONNECTION_OK || !s_query(self, "SELECT 1", NULL) ||
        !s_take_leases(self))
        s_lost(self, now);
}

/* Calls fn for each name of a payload ("a,b,c"; "" = every queue). */
static void
s_names_each(const char *payload, cluster_news_fn fn, void *ctx)
{
    char name[STORE_NAME_MAX];
    if (!payload[0]) {
        fn(ctx, NULL);
        return;
    }
    for (const char *p = payload; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof name) {
            memcpy(name, p, n);
            name[n] = '\0';
            fn(ctx, name);
        }
        p += n + (p[n] == ',');
    }
}

size_t
cluster_drain(cluster_t *self, int own_session, cluster_news_fn fn, void *ctx)
{
    size_t news = 0;
    PGnotify *n;
    if (!self->conn || PQconsumeInput(self->conn) != 1) {
        if (self->conn)
            s_lost(self, 0);
        return 0;
    }
    while ((n = PQnotifies(self->conn)) != NULL) {
        if (n->be_pid != own_session) {
            news++;
            s_names_each(n->extra ? n->extra : "", fn, ctx);
        }
        PQfreemem(n);
    }
    self->stats.notifications += news;
    return news;
}
