/* store_engine: what a storage engine gives store.c (the dispatcher).
 *
 * store.h is the one interface the broker and the tools see; store_open
 * picks the engine from the store's name (store.c) and every other store_*
 * call goes through the engine's table below. An engine's struct store
 * begins with a store_head_t, which store.c fills in after the engine's
 * open returned. Two engines are built into every binary: SQLite
 * (broker/store_sqlite.c) and PostgreSQL (broker/store_pg.c). */
#ifndef STORE_ENGINE_H
#define STORE_ENGINE_H

/* store_sqlite.c keeps the public names it had before engines were
 * selectable at run time; this renames them to its own (store_sqlite_*)
 * so the file reads as it did. Only store_sqlite.c defines this. */
#ifdef STORE_SQLITE_NAMES
#define store_open               store_sqlite_open
#define store_close              store_sqlite_close
#define store_checkpoint_behind  store_sqlite_checkpoint_behind
#define store_begin              store_sqlite_begin
#define store_begin_read         store_sqlite_begin_read
#define store_commit             store_sqlite_commit
#define store_rollback           store_sqlite_rollback
#define store_savepoint          store_sqlite_savepoint
#define store_release            store_sqlite_release
#define store_rollback_to        store_sqlite_rollback_to
#define store_find               store_sqlite_find
#define store_insert             store_sqlite_insert
#define store_due                store_sqlite_due
#define store_mark_sent          store_sqlite_mark_sent
#define store_resend_now         store_sqlite_resend_now
#define store_finish             store_sqlite_finish
#define store_requeue            store_sqlite_requeue
#define store_link_transfer      store_sqlite_link_transfer
#define store_dead_letters       store_sqlite_dead_letters
#define store_pending_by_consent store_sqlite_pending_by_consent
#define store_purge              store_sqlite_purge
#define store_depth              store_sqlite_depth
#define store_oldest             store_sqlite_oldest
#define store_dead_count         store_sqlite_dead_count
#define store_queues             store_sqlite_queues
#define store_admin_request      store_sqlite_admin_request
#define store_admin_pending      store_sqlite_admin_pending
#define store_admin_done         store_sqlite_admin_done
#define store_admin_get          store_sqlite_admin_get
#define store_consent_put        store_sqlite_consent_put
#define store_consent_get        store_sqlite_consent_get
#define store_consent_revoke     store_sqlite_consent_revoke
#define store_consents_for       store_sqlite_consents_for
#define store_consent_count      store_sqlite_consent_count
#define store_rewrap_batch       store_sqlite_rewrap_batch
#define store_audit_size         store_sqlite_audit_size
#define store_audit_put          store_sqlite_audit_put
#define store_audit_get          store_sqlite_audit_get
#define store_audit_each         store_sqlite_audit_each
#define store_audit_node_put     store_sqlite_audit_node_put
#define store_audit_node_get     store_sqlite_audit_node_get
#define store_audit_find         store_sqlite_audit_find
#define store_audit_sth_put      store_sqlite_audit_sth_put
#define store_audit_sth_latest   store_sqlite_audit_sth_latest
#define store_audit_sth_each     store_sqlite_audit_sth_each
#define STORE_ENGINE_OPS(name_)                                                                    \
    {                                                                                              \
        .name = name_, .open = store_open, .close = store_close,                                   \
        .checkpoint_behind = store_checkpoint_behind, .begin = store_begin,                        \
        .begin_read = store_begin_read, .commit = store_commit, .rollback = store_rollback,        \
        .savepoint = store_savepoint, .release = store_release, .rollback_to = store_rollback_to,  \
        .find = store_find, .insert = store_insert, .due = store_due,                              \
        .mark_sent = store_mark_sent, .resend_now = store_resend_now, .finish = store_finish,      \
        .requeue = store_requeue, .link_transfer = store_link_transfer,                            \
        .dead_letters = store_dead_letters, .pending_by_consent = store_pending_by_consent,        \
        .purge = store_purge, .depth = store_depth, .admin_request = store_admin_request,          \
        .oldest = store_oldest, .dead_count = store_dead_count, .queues = store_queues,            \
        .admin_pending = store_admin_pending, .admin_done = store_admin_done,                      \
        .admin_get = store_admin_get, .consent_put = store_consent_put,                            \
        .consent_get = store_consent_get, .consent_revoke = store_consent_revoke,                  \
        .consents_for = store_consents_for, .consent_count = store_consent_count,                  \
        .rewrap_batch = store_rewrap_batch, .audit_size = store_audit_size,                        \
        .audit_put = store_audit_put, .audit_get = store_audit_get,                                \
        .audit_each = store_audit_each, .audit_node_put = store_audit_node_put,                    \
        .audit_node_get = store_audit_node_get, .audit_find = store_audit_find,                    \
        .audit_sth_put = store_audit_sth_put, .audit_sth_latest = store_audit_sth_latest,          \
        .audit_sth_each = store_audit_sth_each,                                                    \
    }
#endif

#include "store.h"

typedef struct store_ops store_ops_t;
typedef struct atrest atrest_t;

/* The first member of every engine's struct store. */
typedef struct store_head {
    const store_ops_t *ops;
    atrest_t *keys; /* store_use_keys: bodies sealed at rest by store.c, NULL: clear */
} store_head_t;

/* Key rotation: rewraps, in place, the data key of one sealed body (aad
 * its record's id). False if it cannot be unwrapped (the row is left). */
typedef bool (*store_rewrap_fn)(void *ctx, const uint8_t *aad, size_t aad_len, uint8_t *blob,
                                size_t len);
#define STORE_REWRAP_BATCH 256 /* rows per store_rewrap_batch */

struct store_ops {
    const char *name; /* "sqlite", "postgresql" */
    store_t *(*open)(const char *spec, remiss_err_t *err);
    void (*close)(store_t **self_p);
    remiss_code_t (*checkpoint_behind)(store_t *self, remiss_err_t *err);
    remiss_code_t (*begin)(store_t *self, remiss_err_t *err);
    remiss_code_t (*begin_read)(store_t *self, bool *started, remiss_err_t *err);
    remiss_code_t (*commit)(store_t *self, remiss_err_t *err);
    /* Optional (NULL: store.c commits, then begins). */
    remiss_code_t (*commit_begin)(store_t *self, store_due_req_t *due, size_t ndue, int64_t now,
                                  bool *begun, remiss_err_t *err);
    void (*rollback)(store_t *self);
    remiss_code_t (*savepoint)(store_t *self, remiss_err_t *err);
    void (*release)(store_t *self);
    void (*rollback_to)(store_t *self);
    remiss_code_t (*find)(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found,
                          store_msg_t *out, remiss_err_t *err);
    remiss_code_t (*insert)(store_t *self, store_msg_t *msg, remiss_err_t *err);
    remiss_code_t (*due)(store_t *self, const char *recipient, int64_t now, size_t max,
                         store_msg_t *out, size_t *n, remiss_err_t *err);
    remiss_code_t (*mark_sent)(store_t *self, uint64_t seq, int64_t now, int64_t next_at,
                               remiss_err_t *err);
    remiss_code_t (*resend_now)(store_t *self, const char *recipient, remiss_err_t *err);
    remiss_code_t (*finish)(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
                            store_state_t state, int code, const char *reason, int64_t now,
                            bool *changed, remiss_err_t *err);
    /* Optional (NULL: store.c runs finish and find for each). */
    remiss_code_t (*finish_many)(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now,
                                 bool want_rows, remiss_err_t *err);
    /* Optional (NULL: store.c runs due for each). */
    remiss_code_t (*due_many)(store_t *self, store_due_req_t *reqs, size_t n, int64_t now,
                              remiss_err_t *err);
    /* Optional (NULL: one node, nothing to reclaim). */
    remiss_code_t (*reclaim)(store_t *self, uint64_t *n, remiss_err_t *err);
    /* Optional (NULL: nothing to look up ahead; store.c runs finish_many). */
    remiss_code_t (*prefetch)(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids,
                              store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                              remiss_err_t *err);
    remiss_code_t (*requeue)(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed,
                             remiss_err_t *err);
    remiss_code_t (*link_transfer)(store_t *self, const uint8_t orig[STORE_ID_LEN],
                                   const char *orig_sender, const char *orig_recipient,
                                   int decision, const char *unit,
                                   const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err);
    remiss_code_t (*dead_letters)(store_t *self, size_t max, store_msg_t *out, size_t *n,
                                  remiss_err_t *err);
    remiss_code_t (*pending_by_consent)(store_t *self, const char *consent_id, size_t max,
                                        store_msg_t *out, size_t *n, remiss_err_t *err);
    remiss_code_t (*purge)(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err);
    remiss_code_t (*depth)(store_t *self, const char *recipient, uint64_t *depth,
                           remiss_err_t *err);
    remiss_code_t (*queues)(store_t *self, store_queue_t *out, size_t max, size_t *n,
                            remiss_err_t *err);
    remiss_code_t (*oldest)(store_t *self, const char *recipient, int64_t *accepted_at,
                            remiss_err_t *err);
    remiss_code_t (*dead_count)(store_t *self, uint64_t *n, remiss_err_t *err);
    remiss_code_t (*admin_request)(store_t *self, const store_admin_t *req, int64_t now,
                                   int64_t *id, remiss_err_t *err);
    remiss_code_t (*admin_pending)(store_t *self, store_admin_t *out, size_t max, size_t *n,
                                   remiss_err_t *err);
    remiss_code_t (*admin_done)(store_t *self, int64_t id, const char *result, int64_t now,
                                remiss_err_t *err);
    remiss_code_t (*admin_get)(store_t *self, int64_t id, store_admin_t *out, bool *found,
                               remiss_err_t *err);
    remiss_code_t (*consent_put)(store_t *self, const store_consent_t *c, bool *exists,
                                 remiss_err_t *err);
    remiss_code_t (*consent_get)(store_t *self, const char *id, bool *found, store_consent_t *out,
                                 remiss_err_t *err);
    remiss_code_t (*consent_revoke)(store_t *self, const char *id, int64_t now, remiss_err_t *err);
    remiss_code_t (*consents_for)(store_t *self, const uint8_t subject[STORE_HASH_LEN], size_t max,
                                  store_consent_t *out, size_t *n, remiss_err_t *err);
    remiss_code_t (*consent_count)(store_t *self, const uint8_t subject[STORE_HASH_LEN],
                                   const char *granted_by, uint64_t *n, remiss_err_t *err);
    /* Up to STORE_REWRAP_BATCH message bodies (consents: grants) sealed
     * under another KEK than kid (atrest.h's blob header) go through fn,
     * and the rewrapped blob is written back; *n how many. */
    remiss_code_t (*rewrap_batch)(store_t *self, bool consents, const uint8_t kid[4],
                                  store_rewrap_fn fn, void *ctx, uint64_t *n, remiss_err_t *err);
    remiss_code_t (*audit_size)(store_t *self, uint64_t *size, remiss_err_t *err);
    remiss_code_t (*audit_put)(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                               const uint8_t *subject, const uint8_t *message_id,
                               remiss_err_t *err);
    remiss_code_t (*audit_get)(store_t *self, uint64_t index, uint8_t **entry, size_t *len,
                               remiss_err_t *err);
    remiss_code_t (*audit_each)(store_t *self, uint64_t from, store_audit_fn fn, void *ctx,
                                remiss_err_t *err);
    remiss_code_t (*audit_node_put)(store_t *self, unsigned level, uint64_t index,
                                    const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
    remiss_code_t (*audit_node_get)(store_t *self, unsigned level, uint64_t index,
                                    uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
    /* Optional (NULL: store.c runs audit_node_get for each). */
    remiss_code_t (*audit_nodes_get)(store_t *self, const unsigned *level, const uint64_t *index,
                                     size_t n, uint8_t (*out)[STORE_HASH_LEN], remiss_err_t *err);
    remiss_code_t (*audit_find)(store_t *self, const uint8_t *subject, const uint8_t *message_id,
                                uint64_t *out, size_t max, size_t *n, remiss_err_t *err);
    remiss_code_t (*audit_sth_put)(store_t *self, uint64_t size, const uint8_t *sth, size_t len,
                                   remiss_err_t *err);
    remiss_code_t (*audit_sth_latest)(store_t *self, uint8_t **sth, size_t *len, remiss_err_t *err);
    remiss_code_t (*audit_sth_each)(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err);
    /* Several nodes (store.h); NULL in an engine with one writer. */
    remiss_code_t (*sync)(store_t *self, store_sync_t *out, remiss_err_t *err);
    uint64_t (*consent_gen)(const store_t *self);
    bool (*locked)(const store_t *self);
    void (*stats)(const store_t *self, store_stats_t *out);
};

extern const store_ops_t store_sqlite_ops;
extern const store_ops_t store_pg_ops;

/* The position of Merkle node (level, index) in the order the frontier
 * creates nodes; both engines key audit_nodes by it. -1 if no audit log
 * could hold it. */
int64_t store_node_pos(unsigned level, uint64_t index);

/* The SQLite engine's statement i as it prepares it, NULL past the last
 * (tests/test_query_plans.c checks their plans). */
const char *store_sqlite_statement(size_t i);

#endif
