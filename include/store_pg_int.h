/* store_pg_int: what the PostgreSQL engine's files share (internal, not
 * installed): the connection's state, statement parameters and the helpers
 * that run statements and read columns. broker/store_pg.c holds the
 * connection, transactions and the cluster's write lock;
 * broker/store_pg_msg.c the message queue; broker/store_pg_audit.c the
 * consent registry, key rotation, admin requests and the audit log. */
#ifndef STORE_PG_INT_H
#define STORE_PG_INT_H

#include "store_engine.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_PG_MAX_PARAMS  16
#define STORE_PG_MAX_PENDING 64   /* unread results before a sync (bounds both buffers) */
#define STORE_PG_NOTIFY_MAX  4000 /* recipients named in one notification (payload < 8000) */

#define STORE_PG_ABUF_ROWS  256 /* audit rows or nodes per INSERT at most */
#define STORE_PG_ABUF_MARKS 8   /* savepoints deep the buffers follow */

/* A PostgreSQL array literal being built (a statement parameter that
 * carries many values): "{1,2" until store_pg_lit_end closes it. */
typedef struct store_pg_lit {
    char *s;
    size_t len, cap;
    size_t n; /* elements */
} store_pg_lit_t;

/* Rows of one table waiting to go out as one INSERT (store_pg_audit.c):
 * its columns as array literals. */
typedef struct store_pg_abuf {
    store_pg_lit_t col[4];
    size_t rows;
} store_pg_abuf_t;

/* Where the buffers stood when a savepoint was set. */
typedef struct store_pg_amark {
    size_t len[2][4], rows[2];
} store_pg_amark_t;

struct store {
    store_head_t head;    /* first: the engine's table (store.c) */
    PGconn *conn;         /* NULL or broken until the next connect */
    char *uri;            /* to connect again (may hold a password: wiped) */
    bool in_tx;           /* inside store_begin(_read) .. commit/rollback */
    bool watching;        /* a COMMIT is running: warnings make it unclean */
    bool warned;          /* a warning arrived while watching */
    int64_t retry_at;     /* monotonic ms before which no connect is tried */
    int pending;          /* statements sent whose results are not read yet */
    bool poisoned;        /* a statement whose result nobody waited for failed */
    char poison[320];     /* why (for the commit's error) */
    bool locked;          /* the transaction holds the cluster's write lock (store_pg_lock) */
    int depth;            /* savepoints open */
    int lock_depth;       /* the savepoint depth the lock was taken at */
    store_sync_t sync;    /* what the latest lock saw */
    uint64_t consent_gen; /* the registry's generation, as of begin or lock */
    char notify[STORE_PG_NOTIFY_MAX + 1]; /* recipients of this transaction's inserts, ","-joined */
    bool notify_all;                      /* too many to name: every node looks at every queue */
    store_stats_t stats;                  /* round trips (s_sync) */
    uint8_t (*absent)[16]; /* ids store_prefetch found not stored, this transaction */
    size_t nabsent, absent_cap;
    store_pg_abuf_t abuf[2]; /* audit entries and tree nodes not yet sent (store_pg_audit.c) */
    store_pg_amark_t amark[STORE_PG_ABUF_MARKS]; /* the buffers at each savepoint depth */
};

/* Parameters of one statement: numbers and names as text, bytes binary. */
typedef struct {
    int n;
    const char *v[STORE_PG_MAX_PARAMS];
    int len[STORE_PG_MAX_PARAMS];
    int fmt[STORE_PG_MAX_PARAMS];
    char num[STORE_PG_MAX_PARAMS][24];
    bool bad_text; /* a text is not UTF-8: refused before it is sent */
} store_pg_par_t;

/* Parameters (store_pg.c): numbers and names as text, NULL bytes are SQL NULL. */
void store_pg_int(store_pg_par_t *p, int64_t v);
void store_pg_text(store_pg_par_t *p, const char *s);
void store_pg_blob(store_pg_par_t *p, const void *b, size_t len);

/* Array literals (store_pg.c): a number, a bytea element ("\\x…", or
 * NULL for data NULL), false when out of memory; the literal closed (NULL
 * when out of memory; valid until the next change); freed. */
bool store_pg_lit_int(store_pg_lit_t *l, int64_t v);
bool store_pg_lit_blob(store_pg_lit_t *l, const uint8_t *data, size_t len);
const char *store_pg_lit_end(store_pg_lit_t *l);
void store_pg_lit_free(store_pg_lit_t *l);

/* Statements (store_pg.c): run and wait (caller clears the result, or
 * NULL), run ignoring rows, deferred write, cluster write lock, single
 * integer. */
PGresult *store_pg_run(store_t *self, int q, const store_pg_par_t *p, remiss_err_t *err,
                       const char *what);
remiss_code_t store_pg_exec(store_t *self, int q, const store_pg_par_t *p, uint64_t *changed,
                            remiss_err_t *err, const char *what);
remiss_code_t store_pg_defer(store_t *self, int q, const char *sql, const store_pg_par_t *p,
                             remiss_err_t *err, const char *what);
remiss_code_t store_pg_lock(store_t *self, remiss_err_t *err);
remiss_code_t store_pg_lock_then(store_t *self, int q, const store_pg_par_t *p, PGresult **res,
                                 remiss_err_t *err);
/* For a round trip that takes the write lock on the way: queue queues the
 * lock and its reading when the open transaction does not hold it
 * (*queued), so that its reading is the first result kept. sync ends the
 * round trip: with r REMISS_OK so far it keeps the last nkeep results in
 * res (caller clears), else it reads and drops what went out; then the
 * lock's reading becomes the transaction's (and res[0] NULL) or, on a
 * failure, the transaction is poisoned. Returns the round trip's result. */
remiss_code_t store_pg_lock_queue(store_t *self, bool *queued, remiss_err_t *err);
remiss_code_t store_pg_lock_sync(store_t *self, bool queued, remiss_code_t r, PGresult **res,
                                 int nkeep, remiss_err_t *err, const char *what);
remiss_code_t store_pg_count(store_t *self, int q, const store_pg_par_t *p, uint64_t *out,
                             remiss_err_t *err);

/* The transaction's audit entries and tree nodes go out together, one
 * INSERT per table (store_pg_audit.c): flush sends them (deferred); it
 * runs before any statement that reads those tables (reads_audit), before
 * COMMIT and when STORE_PG_ABUF_ROWS are waiting. A savepoint marks them,
 * a rollback to it drops what came after, the end of the transaction
 * drops the rest. */
remiss_code_t store_pg_abuf_flush(store_t *self, remiss_err_t *err);
bool store_pg_reads_audit(int q);
void store_pg_abuf_mark(store_t *self);
void store_pg_abuf_undo(store_t *self);
void store_pg_abuf_clear(store_t *self);
void store_pg_abuf_free(store_t *self);

/* The pipeline (store_pg.c): a working connection or E_STORAGE; queue a
 * statement (q < 0: sql without parameters); sync and keep the last nkeep
 * results (caller clears; all NULL on failure) or the last one; the write
 * lock's reading (Q_SHARED's row) taken as the transaction's; a recipient
 * for the commit's notification. */
remiss_code_t store_pg_ready(store_t *self, remiss_err_t *err);
remiss_code_t store_pg_send(store_t *self, int q, const char *sql, const store_pg_par_t *p,
                            remiss_err_t *err, const char *what);
remiss_code_t store_pg_sync_keep(store_t *self, PGresult **keep, int nkeep, remiss_err_t *err,
                                 const char *what);
remiss_code_t store_pg_sync(store_t *self, PGresult **last, remiss_err_t *err, const char *what);
void store_pg_locked_with(store_t *self, const PGresult *shared);
void store_pg_notify_add(store_t *self, const char *recipient);

/* Columns (store_pg.c). */
int64_t store_pg_get_int(const PGresult *res, int row, int col);
bool store_pg_get_fixed(const PGresult *res, int row, int col, uint8_t *out, size_t n);
void store_pg_get_text(const PGresult *res, int row, int col, char *out, size_t size);
bool store_pg_get_dup(const PGresult *res, int row, int col, uint8_t **out, size_t *len);

/* The message queue (store_pg_msg.c): the engine's table entries
 * (store_engine.h). */
remiss_code_t store_pg_prefetch(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids,
                                store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                                remiss_err_t *err);
remiss_code_t store_pg_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found,
                            store_msg_t *out, remiss_err_t *err);
remiss_code_t store_pg_insert(store_t *self, store_msg_t *m, remiss_err_t *err);
remiss_code_t store_pg_due(store_t *self, const char *recipient, int64_t now, size_t max,
                           store_msg_t *out, size_t *n, remiss_err_t *err);
remiss_code_t store_pg_due_many(store_t *self, store_due_req_t *reqs, size_t n, int64_t now,
                                remiss_err_t *err);
/* store_due_many's statements for reqs[0..n), n <= STORE_PG_MAX_PENDING - 2,
 * queued; store_pg_due_take reads their n results (and clears them). */
remiss_code_t store_pg_due_send(store_t *self, const store_due_req_t *reqs, int n, int64_t now,
                                remiss_err_t *err);
remiss_code_t store_pg_due_take(PGresult **res, store_due_req_t *reqs, int n, remiss_err_t *err);
remiss_code_t store_pg_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at,
                                 remiss_err_t *err);
remiss_code_t store_pg_resend_now(store_t *self, const char *recipient, remiss_err_t *err);
remiss_code_t store_pg_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
                              store_state_t state, int code, const char *reason, int64_t now,
                              bool *changed, remiss_err_t *err);
remiss_code_t store_pg_finish_many(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now,
                                   bool want_rows, remiss_err_t *err);
remiss_code_t store_pg_reclaim(store_t *self, uint64_t *n, remiss_err_t *err);
remiss_code_t store_pg_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed,
                               remiss_err_t *err);
remiss_code_t store_pg_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN],
                                     const char *orig_sender, const char *orig_recipient,
                                     int decision, const char *unit,
                                     const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err);
remiss_code_t store_pg_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n,
                                    remiss_err_t *err);
remiss_code_t store_pg_pending_by_consent(store_t *self, const char *consent_id, size_t max,
                                          store_msg_t *out, size_t *n, remiss_err_t *err);
remiss_code_t store_pg_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err);
remiss_code_t store_pg_depth(store_t *self, const char *recipient, uint64_t *depth,
                             remiss_err_t *err);
remiss_code_t store_pg_queues(store_t *self, store_queue_t *out, size_t max, size_t *n,
                              remiss_err_t *err);
remiss_code_t store_pg_oldest(store_t *self, const char *recipient, int64_t *accepted_at,
                              remiss_err_t *err);
remiss_code_t store_pg_dead_count(store_t *self, uint64_t *n, remiss_err_t *err);

/* Consents, key rotation, admin requests, audit log (store_pg_audit.c):
 * the engine's table entries (store_engine.h). */
remiss_code_t store_pg_consent_put(store_t *self, const store_consent_t *c, bool *exists,
                                   remiss_err_t *err);
remiss_code_t store_pg_consent_get(store_t *self, const char *id, bool *found, store_consent_t *out,
                                   remiss_err_t *err);
remiss_code_t store_pg_consent_revoke(store_t *self, const char *id, int64_t now,
                                      remiss_err_t *err);
remiss_code_t store_pg_consents_for(store_t *self, const uint8_t subject[STORE_HASH_LEN],
                                    size_t max, store_consent_t *out, size_t *n, remiss_err_t *err);
remiss_code_t store_pg_consent_count(store_t *self, const uint8_t subject[STORE_HASH_LEN],
                                     const char *granted_by, uint64_t *n, remiss_err_t *err);
remiss_code_t store_pg_rewrap_batch(store_t *self, bool consents, const uint8_t kid[4],
                                    store_rewrap_fn fn, void *ctx, uint64_t *n, remiss_err_t *err);
remiss_code_t store_pg_admin_request(store_t *self, const store_admin_t *req, int64_t now,
                                     int64_t *id, remiss_err_t *err);
remiss_code_t store_pg_admin_pending(store_t *self, store_admin_t *out, size_t max, size_t *n,
                                     remiss_err_t *err);
remiss_code_t store_pg_admin_done(store_t *self, int64_t id, const char *result, int64_t now,
                                  remiss_err_t *err);
remiss_code_t store_pg_admin_get(store_t *self, int64_t id, store_admin_t *out, bool *found,
                                 remiss_err_t *err);
remiss_code_t store_pg_audit_size(store_t *self, uint64_t *size, remiss_err_t *err);
remiss_code_t store_pg_audit_put(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                                 const uint8_t *subject, const uint8_t *message_id,
                                 remiss_err_t *err);
remiss_code_t store_pg_audit_get(store_t *self, uint64_t index, uint8_t **entry, size_t *len,
                                 remiss_err_t *err);
remiss_code_t store_pg_audit_each(store_t *self, uint64_t from, store_audit_fn fn, void *ctx,
                                  remiss_err_t *err);
remiss_code_t store_pg_audit_node_put(store_t *self, unsigned level, uint64_t index,
                                      const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
remiss_code_t store_pg_audit_nodes_get(store_t *self, const unsigned *level, const uint64_t *index,
                                       size_t n, uint8_t (*out)[STORE_HASH_LEN], remiss_err_t *err);
remiss_code_t store_pg_audit_node_get(store_t *self, unsigned level, uint64_t index,
                                      uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
remiss_code_t store_pg_audit_find(store_t *self, const uint8_t *subject, const uint8_t *message_id,
                                  uint64_t *out, size_t max, size_t *n, remiss_err_t *err);
remiss_code_t store_pg_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len,
                                     remiss_err_t *err);
remiss_code_t store_pg_audit_sth_latest(store_t *self, uint8_t **sth, size_t *len,
                                        remiss_err_t *err);
remiss_code_t store_pg_audit_sth_each(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err);

#endif
