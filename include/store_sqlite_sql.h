/* store_sqlite_sql: the SQLite engine's schema and statements
 * (broker/store_sqlite.c prepares them by number), as store_pg_sql is the
 * PostgreSQL engine's: the same tables and columns, so remissctl store
 * migrate copies rows as they are. */
#ifndef STORE_SQLITE_SQL_H
#define STORE_SQLITE_SQL_H

/* Creates what is missing and brings older stores up to date (idempotent). */
extern const char store_sqlite_schema[];

/* Statements, by number. */
enum store_sqlite_q {
    Q_BEGIN,
    Q_BEGIN_READ,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SAVEPOINT,
    Q_RELEASE,
    Q_ROLLBACK_TO,
    Q_FIND,
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
    Q_C_PUT,
    Q_C_GET,
    Q_C_REVOKE,
    Q_C_FOR,
    Q_A_SIZE,
    Q_A_PUT,
    Q_A_GET,
    Q_A_EACH,
    Q_N_PUT,
    Q_N_GET,
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
    Q_COUNT
};

extern const char *const store_sqlite_sql[Q_COUNT];

#endif
