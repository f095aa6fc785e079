/* audit: the tamper-evident audit log.
 *
 * One AuditEntry (proto/remiss.proto) per event, appended to the store in
 * the caller's transaction, as a leaf of an RFC 9162 Merkle tree (leaf hash
 * SHA-256(0x00 || serialized AuditEntry)). Completed perfect-subtree hashes
 * are stored so proofs cost O(log n) reads. The broker signs tree heads
 * (TreeHead, context "remiss-treehead-v1") at an interval, every N entries,
 * on demand for a proof, and at shutdown. Entries hold metadata and hashes
 * only; the subject is HMAC-SHA256(broker secret, 12-digit personnummer).
 *
 * Transactions: audit_append writes inside the caller's store transaction
 * and advances an in-memory frontier. If the caller undoes a savepoint it
 * calls audit_rollback_to(mark) with the mark taken before; if a whole
 * transaction fails it calls audit_reload. */
#ifndef AUDIT_H
#define AUDIT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit_verify.h"
#include "category.h"
#include "pseudonym.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"
#include "store.h"

typedef struct audit audit_t;

/* What happened; pointers are borrowed for the call. */
typedef struct audit_event {
    Remiss__AuditEvent event;
    int64_t time;       /* ms; 0 = now */
    const char *sender; /* or the actor (admin, broker) */
    const char *recipient;
    Remiss__MessageType type;
    const uint8_t *message_id; /* 16 bytes or NULL */
    const char *purpose;
    catset_t categories;
    remiss_code_t code;
    const uint8_t *envelope_sha256;   /* 32 bytes or NULL */
    const uint8_t *subject_pseudonym; /* the subject's pseudonym (32 bytes), or NULL */
    const char *subject;              /* or a canonical 12-digit personnummer that the
                                         log turns into one (tests and tools only: the
                                         broker passes pseudonyms, pseudonym.h) */
    const char *detail;               /* non-personal detail, or NULL */
    bool in_row;                      /* the message's stored row names this entry
                                         (store_msg_t.audit_index), so proofs find
                                         it there and it is not indexed by id */
} audit_event_t;

/* Opens the log on store; signs with key (the broker's, borrowed) and makes
 * pseudonyms with the 32-byte hmac_key (copied, wiped on close). Reads the
 * current size and frontier from the store. */
audit_t *audit_open(store_t *store, EVP_PKEY *key, const uint8_t hmac_key[32], remiss_err_t *err);
/* The same with the broker's pseudonym key (borrowed; outlives the log). */
audit_t *audit_open_with(store_t *store, EVP_PKEY *key, const pseudonym_t *ps, remiss_err_t *err);
void audit_close(audit_t **self_p);

/* The policy whose party ids and purposes are the only text a party or
 * purpose field of an entry may hold (borrowed; call again after a
 * reload). Anything else is recorded as "unlisted:" and a keyed hash.
 * Without a policy (tools, tests) the fields are kept as given. */
struct policy;
void audit_set_policy(audit_t *self, const struct policy *policy);

/* Appends one entry; *index (may be NULL) gets its position. */
remiss_code_t audit_append(audit_t *self, const audit_event_t *ev, uint64_t *index,
                           remiss_err_t *err);

/* The state to return to if a savepoint is undone. */
typedef struct audit_mark {
    uint64_t size;
} audit_mark_t;
audit_mark_t audit_mark(const audit_t *self);
void audit_rollback_to(audit_t *self, audit_mark_t mark);

/* Re-reads size and frontier from the store (after a failed commit). */
remiss_code_t audit_reload(audit_t *self, remiss_err_t *err);

/* Number of entries. */
uint64_t audit_size(const audit_t *self);

/* Signs and stores a tree head if force, or if sth_every entries or
 * interval_ms passed since the last one. Runs in the caller's transaction. */
remiss_code_t audit_sign_head(audit_t *self, bool force, int64_t interval_ms, uint64_t every,
                              remiss_err_t *err);

/* pseudonym_of with the log's key (pseudonym.h). */
bool audit_pseudonym(const audit_t *self, const char *canonical, uint8_t out[32]);

/* The same pseudonym without an open log, from the key itself. */
bool audit_pseudonym_key(const uint8_t hmac_key[32], const char *canonical, uint8_t out[32]);

/* pseudonym_secret_load under its older name (pseudonym.h). */
remiss_code_t audit_secret_load(const char *path, uint8_t key[32], remiss_err_t *err);

/* Fills a ProofReply for the entry recording message_id's intake (the
 * ACCEPTED or REFUSED entry), or for index when message_id is NULL, against
 * the latest signed tree head (signing a new one if the latest does not
 * cover the entry), with a consistency proof from consistency_from if > 0.
 * Only the message's sender, or its recipient once it was delivered to it
 * and never for a REFUSED or WITHHELD entry, may ask (party). The reply's
 * fields are malloc'd: free with audit_proof_clear. */
remiss_code_t audit_proof(audit_t *self, const char *party, const uint8_t *message_id,
                          uint64_t index, uint64_t consistency_from, Remiss__ProofReply *out,
                          remiss_err_t *err);
void audit_proof_clear(Remiss__ProofReply *reply);

/* As audit_proof for entry index, against the latest tree head already in
 * store, for an administrator on the broker host (remissctl): signs nothing,
 * writes nothing and checks no party. REMISS_E_USAGE if no stored head
 * covers index yet. */
remiss_code_t audit_proof_stored(store_t *store, uint64_t index, uint64_t consistency_from,
                                 Remiss__ProofReply *out, remiss_err_t *err);

/* audit_verify_proof, the offline verifier, is declared in audit_verify.h
 * (common/, so that libremiss can link it without broker code). */

/* Recomputes the whole log in store: every entry's index, every tree head's
 * root and signature, the stored tree nodes. Returns REMISS_OK with the
 * counts, REMISS_E_STORAGE if the store cannot be read, or
 * REMISS_E_BAD_SIGNATURE when the log was tampered with: then *first_bad is
 * the first index that cannot be trusted and err says why, by the first
 * (lowest) of these findings:
 *   - a missing entry (deleted): its index;
 *   - an entry that cannot be decoded, or names another index (changed,
 *     reordered): its position;
 *   - a recomputed leaf hash that differs from the stored leaf node (a
 *     changed entry or node): that index; a higher stored node that differs
 *     from the recomputation: the first leaf under it;
 *   - fewer entries than a signed head covers, or leaf nodes left beyond the
 *     last entry (truncated): the number of entries left;
 *   - a tree head whose signature fails, or whose signed root differs from
 *     the recomputed root (entries and nodes rewritten together): the first
 *     entry that head was the first to cover (the size of the last good
 *     head before it). */
remiss_code_t audit_verify_store(store_t *store, EVP_PKEY *broker_pub, uint64_t *entries,
                                 uint64_t *heads, uint64_t *first_bad, remiss_err_t *err);

/* As audit_verify_store, calling progress(ctx, checked) after every
 * AUDIT_PROGRESS_EVERY entries of the entry scan (for remissctl's progress
 * line on a large log). progress may be NULL. */
#define AUDIT_PROGRESS_EVERY 4096
typedef void (*audit_progress_fn)(void *ctx, uint64_t checked);
remiss_code_t audit_verify_store_progress(store_t *store, EVP_PKEY *broker_pub,
                                          audit_progress_fn progress, void *progress_ctx,
                                          uint64_t *entries, uint64_t *heads, uint64_t *first_bad,
                                          remiss_err_t *err);

#endif
