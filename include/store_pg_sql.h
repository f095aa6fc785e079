/* store_pg_sql: the PostgreSQL engine's schema and statements
 * (broker/store_pg.c prepares them by number). The tables and columns are
 * the SQLite engine's, with bytea for blobs and bigint for integers, so
 * remissctl store migrate copies rows as they are. */
#ifndef STORE_PG_SQL_H
#define STORE_PG_SQL_H

#include <stdbool.h>

/* Bumped whenever the schema script gains an upgrade step (issue 14: consent
 * ids scoped PARTY/ID, valid_until; issue 15: messages.sent_by). */
#define STORE_PG_SCHEMA_LEVEL "4"

/* Creates what is missing, in one transaction under an advisory lock. */
extern const char store_pg_schema[];
/* Rows of meta added to schema 2 later; run at every open. */
extern const char store_pg_meta[];

/* Statements, by number. */
enum store_pg_q {
    Q_FIND,
    Q_FIND_MANY,
    Q_INSERT,
    Q_DUE,
    Q_MARK_SENT,
    Q_RESEND_NOW,
    Q_FINISH,
    Q_FINISH_ANY,
    Q_REQUEUE,
    Q_LINK,
    Q_DEAD,
    Q_BY_CONSENT,
    Q_PURGE,
    Q_DEPTH,
    Q_OLDEST,
    Q_DEAD_COUNT,
    Q_QUEUES,
    Q_RECLAIM,
    Q_C_PUT,
    Q_C_GET,
    Q_C_REVOKE,
    Q_C_FOR,
    Q_A_SIZE,
    Q_A_PUT,
    Q_A_PUT_MANY,
    Q_N_PUT_MANY,
    Q_A_GET,
    Q_A_EACH,
    Q_N_PUT,
    Q_N_GET,
    Q_N_GET_MANY,
    Q_A_BY_SUBJECT,
    Q_A_BY_MESSAGE,
    Q_STH_PUT,
    Q_STH_LATEST,
    Q_STH_EACH,
    Q_ADM_PUT,
    Q_ADM_PENDING,
    Q_ADM_DONE,
    Q_ADM_GET,
    Q_C_COUNT,
    Q_C_SHRED,
    Q_KEYS_MSG,
    Q_KEYS_MSG_PUT,
    Q_KEYS_CON,
    Q_KEYS_CON_PUT,
    Q_LOCK,
    Q_SHARED,
    Q_GEN,
    Q_GEN_BUMP,
    Q_NOTIFY,
    Q_COUNT
};

extern const char *const store_pg_sql[Q_COUNT];

/* Whether statement q is planned at each run rather than prepared once. A
 * prepared statement's generic plan is made from the table as it is then
 * and kept; for a look-up by an array of keys (its size unknown to a
 * generic plan) that plan, made on a new store's empty table, reads the
 * whole table, and goes on doing so as it grows, until an ANALYZE
 * replaces it. */
bool store_pg_planned_each_run(int q);

/* The advisory lock keys of a cluster (broker/cluster.c takes the duty
 * leases at STORE_PG_LEASE_KEY + duty) and the channel nodes listen on. */
#define STORE_PG_WRITE_KEY "7400150002"
#define STORE_PG_LEASE_KEY 7400150100LL
#define STORE_PG_CHANNEL   "remiss_queue"

#endif
