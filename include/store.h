/* store: the broker's durable state behind one interface.
 *
 * Routing, policy and audit call only these functions; an engine provides
 * them. The store's name picks the engine at run time (broker/store.c): a
 * file path or sqlite:PATH is the embedded SQLite engine
 * (broker/store_sqlite.c: WAL, synchronous=FULL); a libpq URI
 * (postgresql://... or postgres://..., multi-host with
 * target_session_attrs=read-write too) is PostgreSQL (broker/store_pg.c).
 *
 * Transactions: the broker groups every message read in one poll cycle into
 * one transaction (store_begin .. store_commit) so throughput is not bound by
 * the disk's fsync rate; each message runs inside a savepoint so a failed
 * one is undone alone. Nothing is acknowledged to a sender before
 * store_commit returned REMISS_OK. Every function returns REMISS_OK or
 * REMISS_E_STORAGE (with the reason in err) unless it says otherwise. */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

typedef struct store store_t;

/* Message states (the numbers are stored; they match MessageState in the
 * proto). */
typedef enum store_state {
    STORE_QUEUED = 1, /* accepted, not yet handed out */
    STORE_SENT = 2,   /* handed to the recipient, waiting for its ack */
    STORE_DONE = 3,   /* acknowledged */
    STORE_DEAD = 4,   /* refused by the recipient or too many attempts */
    STORE_HELD = 5,   /* withheld at delivery time (code says why) */
} store_state_t;

#define STORE_ID_LEN   16
#define STORE_HASH_LEN 32
#define STORE_NAME_MAX 128

/* One stored message. On insert the pointers are borrowed; on fetch they
 * point into memory owned by the store_msg_t and freed by store_msg_clear. */
typedef struct store_msg {
    uint64_t seq; /* acceptance order, set on insert */
    uint8_t message_id[STORE_ID_LEN];
    char sender[STORE_NAME_MAX];
    char recipient[STORE_NAME_MAX];
    int type; /* Remiss__MessageType */
    char purpose[STORE_NAME_MAX];
    char consent_id[STORE_NAME_MAX];
    bool has_subject;
    uint8_t subject[STORE_HASH_LEN]; /* keyed pseudonym of the subject */
    uint8_t envelope_sha256[STORE_HASH_LEN];
    uint8_t *envelope; /* SignedEnvelope bytes; NULL once purged */
    size_t envelope_len;
    uint8_t *receipt; /* SignedReceipt bytes given to the sender */
    size_t receipt_len;
    int64_t created_at, accepted_at; /* ms */
    uint64_t audit_index;            /* acceptance entry */
    store_state_t state;
    uint32_t attempts;
    int64_t delivered_at, acked_at; /* ms, 0 if not yet */
    int code;                       /* reason for HELD / DEAD */
    char reason[256];               /* sentence for HELD / DEAD */
    bool has_linked;
    uint8_t linked_id[STORE_ID_LEN]; /* TRANSFER_ACK: the message it answers */
    int transfer_decision;           /* decision linked to this message */
    char receiving_unit[STORE_NAME_MAX];
    bool has_transfer_ack;
    uint8_t transfer_ack_id[STORE_ID_LEN];
} store_msg_t;

/* Opens (creating if needed) the store named spec: a SQLite file (PATH or
 * sqlite:PATH) or a postgresql:// URI (the database must exist; its
 * tables are created). NULL with err on failure. */
store_t *store_open(const char *spec, remiss_err_t *err);
/* The file of a SQLite store named spec; NULL if spec names PostgreSQL. */
const char *store_file(const char *spec);
/* spec for logs: a URI's password (user:PASSWORD@, password=) as ***.
 * Returns out. */
const char *store_redact(const char *spec, char *out, size_t size);
/* The engine of an open store: "sqlite" or "postgresql". */
const char *store_engine(const store_t *self);
void store_close(store_t **self_p);
/* Seals every stored body (message envelope, consent grant) under its own
 * data key from now on, with the key-encryption keys in kek_path (created
 * 0600 if absent; include/atrest.h), and opens sealed ones on reading.
 * A sealed body that does not open (its data key shredded, damaged) reads
 * as deleted (NULL). Without keys bodies are stored as given and sealed
 * ones come back sealed (atrest_is_sealed): what a tool that only lists
 * (remissctl deadletter list) needs to tell a body from a purged one. */
remiss_code_t store_use_keys(store_t *self, const char *kek_path, remiss_err_t *err);
/* Rewraps every data key not under the current KEK (key rotation), in
 * transactions of 256 rows; *n how many. */
remiss_code_t store_rewrap(store_t *self, uint64_t *n, remiss_err_t *err);
/* Copies the write-ahead log into the database on a thread of its own
 * instead of in the writer's commits (the broker; tools leave it). */
remiss_code_t store_checkpoint_behind(store_t *self, remiss_err_t *err);

/* ---- transactions */
typedef struct store_due_req store_due_req_t; /* below, with store_due_many */
remiss_code_t store_begin(store_t *self, remiss_err_t *err);
/* Starts a read transaction: until store_rollback every read sees one
 * snapshot while another connection (the broker) keeps writing. Inside a
 * transaction already it does nothing and sets *started to false. */
remiss_code_t store_begin_read(store_t *self, bool *started, remiss_err_t *err);
remiss_code_t store_commit(store_t *self, remiss_err_t *err);
/* store_commit, and after REMISS_OK the next transaction begun and
 * store_due_many of due[0..ndue) at now run in it, in the same round trip
 * where the engine can (PostgreSQL: what a commit made due goes out without
 * another wait). *begun says whether the new transaction is open (as after
 * store_begin); it is not when the reads failed, and then no row is filled.
 * The return value is the commit's alone. */
remiss_code_t store_commit_begin(store_t *self, store_due_req_t *due, size_t ndue, int64_t now,
                                 bool *begun, remiss_err_t *err);
void store_rollback(store_t *self);
remiss_code_t store_savepoint(store_t *self, remiss_err_t *err);
void store_release(store_t *self);     /* keep the savepoint's work */
void store_rollback_to(store_t *self); /* undo the savepoint's work */

/* ---- messages */

/* Looks a message id up. Returns REMISS_OK and fills *out (caller clears
 * it) if found; REMISS_E_UNKNOWN_RECIPIENT is never returned: not found is
 * *found = false with REMISS_OK. */
remiss_code_t store_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found,
                         store_msg_t *out, remiss_err_t *err);

/* Inserts an accepted message in state QUEUED; sets msg->seq, or 0 when
 * the database numbers it at commit (PostgreSQL inside a transaction:
 * the insert goes out with the next statement that waits, and a failure
 * then fails the transaction's commit). */
remiss_code_t store_insert(store_t *self, store_msg_t *msg, remiss_err_t *err);

/* Fetches up to max messages for recipient that are due at now: QUEUED, or
 * SENT with their redelivery time passed, in acceptance order. Fills
 * out[0..*n) (caller clears each). */
remiss_code_t store_due(store_t *self, const char *recipient, int64_t now, size_t max,
                        store_msg_t *out, size_t *n, remiss_err_t *err);

/* One recipient's part of store_due_many. */
typedef struct store_due_req {
    const char *recipient;
    size_t max;       /* rows wanted at most */
    store_msg_t *out; /* room for max rows (caller's) */
    size_t n;         /* out: rows filled (caller clears each) */
} store_due_req_t;

/* store_due for several recipients, in one round trip where the engine can
 * (PostgreSQL: a delivery pump's recipients, with the write lock). The
 * first failure is returned; rows filled before it are the caller's. */
remiss_code_t store_due_many(store_t *self, store_due_req_t *reqs, size_t n, int64_t now,
                             remiss_err_t *err);

/* Records a delivery attempt: SENT, attempts+1, redelivery at next_at. */
remiss_code_t store_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at,
                              remiss_err_t *err);

/* Makes every SENT message of recipient due now (its connection is gone). */
remiss_code_t store_resend_now(store_t *self, const char *recipient, remiss_err_t *err);

/* Ends a message: DONE (ack), DEAD (refused / too many attempts) or HELD,
 * with code and reason for the latter two. Only a message addressed to
 * recipient (NULL = any) and not already ended changes; *changed says
 * whether it did. */
remiss_code_t store_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
                           store_state_t state, int code, const char *reason, int64_t now,
                           bool *changed, remiss_err_t *err);

/* One store_finish of a batch (store_finish_many). */
typedef struct store_finish_req {
    const uint8_t *id;     /* STORE_ID_LEN bytes (borrowed) */
    const char *recipient; /* only a message addressed to it; NULL = any */
    store_state_t state;
    int code;
    const char *reason;
    bool changed;    /* out: as store_finish */
    bool has_row;    /* out: row holds the message as ended */
    store_msg_t row; /* out: without its body; caller clears it when has_row */
} store_finish_req_t;

/* store_finish of reqs[0..n) at now, in this order, in one round trip to
 * the database where the engine can (PostgreSQL: a cycle's
 * acknowledgements); with want_rows, each request that changed its message
 * gets the row too (has_row). The first failure is returned; rows filled
 * before it are still the caller's to clear. */
remiss_code_t store_finish_many(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now,
                                bool want_rows, remiss_err_t *err);

/* Looks ids[0..n) up ahead of the store_find calls of the open
 * transaction: one round trip for a cycle's submissions instead of one
 * each. store_find then answers "not stored" for the ids that were not,
 * without asking again, until the transaction ends (store_insert of one
 * of them forgets it). An engine that looks up locally ignores it; a
 * failure costs only the round trips it meant to save. */
void store_prefetch(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t n);
/* store_prefetch of ids[0..nids) and store_finish_many of reqs[0..n), in
 * one round trip where the engine can (PostgreSQL: a cycle's submissions
 * and acknowledgements). Returns what store_finish_many would. */
remiss_code_t store_prefetch_finish(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids,
                                    store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                                    remiss_err_t *err);
/* True if store_prefetch saves anything on this store's engine. */
bool store_prefetches(const store_t *self);

/* Makes due at once what nodes that died had in flight (their database
 * session ended), in the open transaction under the write lock, and tells
 * every node to look at its queues when it commits; *n gets how many. Run
 * by the node holding the redelivery lease (cluster.h). SQLite: 0. */
remiss_code_t store_reclaim(store_t *self, uint64_t *n, remiss_err_t *err);

/* One recipient's queue (store_queues). */
typedef struct store_queue {
    char recipient[STORE_NAME_MAX];
    uint64_t depth; /* QUEUED and SENT */
    int64_t oldest; /* ms, when the oldest of them was accepted */
} store_queue_t;

/* Every recipient with queued or unacknowledged messages, in one statement
 * (the gauges and the status snapshot, once a second: one round trip, not
 * three per party). Fills out[0..*n), at most max. */
remiss_code_t store_queues(store_t *self, store_queue_t *out, size_t max, size_t *n,
                           remiss_err_t *err);
/* recipient's entry among q[0..n), or NULL (nothing queued). */
const store_queue_t *store_queue_of(const store_queue_t *q, size_t n, const char *recipient);

/* Puts a DEAD or HELD message back in the queue; *changed as above. */
remiss_code_t store_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed,
                            remiss_err_t *err);

/* Links a transfer decision to the original message, only if that went
 * from orig_sender to orig_recipient (the decision's recipient and sender):
 * nobody else can attach a decision to someone's case. */
remiss_code_t store_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN],
                                  const char *orig_sender, const char *orig_recipient, int decision,
                                  const char *unit, const uint8_t ack_id[STORE_ID_LEN],
                                  remiss_err_t *err);

/* Lists messages in state DEAD or HELD (newest first, up to max). */
remiss_code_t store_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n,
                                 remiss_err_t *err);

/* Queued or in-flight messages resting on consent_id (to withhold them). */
remiss_code_t store_pending_by_consent(store_t *self, const char *consent_id, size_t max,
                                       store_msg_t *out, size_t *n, remiss_err_t *err);

/* Deletes the envelope bytes of messages that ended before before_ms (with
 * their data key: they are sealed together), and shreds the grants of
 * consents whose validity ended, or that were withdrawn, before before_ms.
 * Sets *purged to how many messages. The metadata stays for status and
 * audit. */
remiss_code_t store_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err);

/* Number of QUEUED + SENT messages for recipient. */
remiss_code_t store_depth(store_t *self, const char *recipient, uint64_t *depth, remiss_err_t *err);

/* The accepted_at (ms) of recipient's oldest queued or in-flight message
 * in *accepted_at, 0 when its queue is empty (remissctl status, metrics). */
remiss_code_t store_oldest(store_t *self, const char *recipient, int64_t *accepted_at,
                           remiss_err_t *err);
/* Messages in state DEAD, waiting for an operator (remissctl requeue). */
remiss_code_t store_dead_count(store_t *self, uint64_t *n, remiss_err_t *err);

void store_msg_clear(store_msg_t *m);

/* ---- admin requests (remissctl asks, the broker acts and audits) */

typedef struct store_admin {
    int64_t id;      /* request id */
    char action[32]; /* "requeue" */
    uint8_t message_id[STORE_ID_LEN];
    char actor[STORE_NAME_MAX]; /* who asked (login name) */
    char result[256];           /* filled when done */
    int64_t done_at;            /* 0 while pending */
} store_admin_t;

/* Files a request made at now; *id gets its id. */
remiss_code_t store_admin_request(store_t *self, const store_admin_t *req, int64_t now, int64_t *id,
                                  remiss_err_t *err);
/* Up to max pending requests, oldest first. */
remiss_code_t store_admin_pending(store_t *self, store_admin_t *out, size_t max, size_t *n,
                                  remiss_err_t *err);
/* Marks a request done with a result sentence. */
remiss_code_t store_admin_done(store_t *self, int64_t id, const char *result, int64_t now,
                               remiss_err_t *err);
/* Reads one request (to wait for its result). */
remiss_code_t store_admin_get(store_t *self, int64_t id, store_admin_t *out, bool *found,
                              remiss_err_t *err);

/* ---- consents */

typedef struct store_consent {
    char consent_id[STORE_NAME_MAX]; /* PARTY/ID: ids are scoped by the registering party */
    char granted_by[STORE_NAME_MAX];
    uint8_t subject[STORE_HASH_LEN];
    uint8_t *grant; /* serialized ConsentGrant */
    size_t grant_len;
    int64_t granted_at;  /* ms */
    int64_t revoked_at;  /* ms, 0 if in force */
    int64_t valid_until; /* ms, end of its last valid day (0 unknown): shredded after
                            that plus retention */
} store_consent_t;

/* Registers a consent. *exists is set (and nothing stored) if the id is
 * taken. */
remiss_code_t store_consent_put(store_t *self, const store_consent_t *c, bool *exists,
                                remiss_err_t *err);
/* Fetches one consent by id; *found false if absent. Caller clears. */
remiss_code_t store_consent_get(store_t *self, const char *id, bool *found, store_consent_t *out,
                                remiss_err_t *err);
/* Marks a consent revoked at now. */
remiss_code_t store_consent_revoke(store_t *self, const char *id, int64_t now, remiss_err_t *err);
/* All consents about a subject (up to max). Caller clears each. */
remiss_code_t store_consents_for(store_t *self, const uint8_t subject[STORE_HASH_LEN], size_t max,
                                 store_consent_t *out, size_t *n, remiss_err_t *err);
/* Number of consents about a subject (granted_by NULL), or of those in
 * force (not withdrawn) that granted_by registered for it. */
remiss_code_t store_consent_count(store_t *self, const uint8_t subject[STORE_HASH_LEN],
                                  const char *granted_by, uint64_t *n, remiss_err_t *err);
void store_consent_clear(store_consent_t *c);

/* ---- audit log storage (the audit module owns the format) */

remiss_code_t store_audit_size(store_t *self, uint64_t *size, remiss_err_t *err);
/* subject and message_id (either may be NULL) are the keys
 * store_audit_find looks entries up by. */
remiss_code_t store_audit_put(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                              const uint8_t *subject, const uint8_t *message_id, remiss_err_t *err);
/* Fetches entry index into a malloc'd buffer (caller frees). */
remiss_code_t store_audit_get(store_t *self, uint64_t index, uint8_t **entry, size_t *len,
                              remiss_err_t *err);
/* Runs fn for each entry with index >= from, in index order, with the bytes
 * as stored (valid during the call only); fn returns non-zero to stop. Reads
 * rows as they are, so a verifier sees gaps and damage instead of an error. */
typedef int (*store_audit_fn)(void *ctx, uint64_t index, const uint8_t *entry, size_t len);
remiss_code_t store_audit_each(store_t *self, uint64_t from, store_audit_fn fn, void *ctx,
                               remiss_err_t *err);
remiss_code_t store_audit_node_put(store_t *self, unsigned level, uint64_t index,
                                   const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
remiss_code_t store_audit_node_get(store_t *self, unsigned level, uint64_t index,
                                   uint8_t hash[STORE_HASH_LEN], remiss_err_t *err);
/* store_audit_node_get of the n nodes (level[i], index[i]) into out[i], in
 * one round trip where the engine can (PostgreSQL: a frontier read again
 * after another node appended). A missing node fails the call. */
remiss_code_t store_audit_nodes_get(store_t *self, const unsigned *level, const uint64_t *index,
                                    size_t n, uint8_t (*out)[STORE_HASH_LEN], remiss_err_t *err);
/* Indexes of entries about a subject, or for a message id, ascending. */
remiss_code_t store_audit_find(store_t *self, const uint8_t *subject, const uint8_t *message_id,
                               uint64_t *out, size_t max, size_t *n, remiss_err_t *err);
remiss_code_t store_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len,
                                  remiss_err_t *err);
/* Latest signed tree head (largest size; *len 0 if none). Caller frees. */
remiss_code_t store_audit_sth_latest(store_t *self, uint8_t **sth, size_t *len, remiss_err_t *err);

/* Runs fn for each stored tree head in size order. */
typedef int (*store_sth_fn)(void *ctx, uint64_t size, const uint8_t *sth, size_t len);
remiss_code_t store_audit_sth_each(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err);

/* ---- several nodes on one store (PostgreSQL; broker/cluster.c)
 *
 * On PostgreSQL any number of brokers may share the store. Every
 * transaction that writes (or marks a due message) first takes the store's
 * write lock, held until its commit or rollback, so the writing
 * transactions of all nodes run one after another: the audit log never
 * forks, a due message is handed out by one node only and a decision made
 * under the lock sees every consent an earlier commit withdrew. The lock is
 * taken by the engine on the first write of a transaction; reads do not
 * wait for it. On SQLite (one broker per file) there is no lock and
 * nothing is shared. */

/* What a transaction saw when it took the write lock. */
typedef struct store_sync {
    bool shared;         /* other nodes may write the store (PostgreSQL) */
    uint64_t serial;     /* new each time a transaction takes the lock */
    uint64_t audit_size; /* audit entries committed when it was taken */
} store_sync_t;

/* Takes the write lock for the open transaction if it does not hold it
 * yet and says what it saw; outside a transaction, or on SQLite, fills
 * *out with shared false and takes nothing. */
remiss_code_t store_sync(store_t *self, store_sync_t *out, remiss_err_t *err);

/* True if the open transaction holds the write lock: other nodes wait for
 * it, so the broker commits at the end of the cycle instead of keeping
 * the transaction open for more work. Always false on SQLite. */
bool store_locked(const store_t *self);

/* A number that changes whenever any node registers or withdraws a
 * consent, as of the latest transaction begun (or write lock taken) on
 * this connection; always 0 on SQLite. No round trip. */
uint64_t store_consent_gen(const store_t *self);

/* Round trips and their time since the store was opened (0 on SQLite). */
typedef struct store_stats {
    uint64_t round_trips;
    double round_trip_seconds; /* total */
    int session;               /* the server process of the connection, 0 if none */
} store_stats_t;
void store_stats(const store_t *self, store_stats_t *out);

#endif
