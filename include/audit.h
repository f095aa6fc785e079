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

#include "category.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"
#include "store.h"

typedef struct audit audit_t;

/* What happened; pointers are borrowed for the call. */
typedef struct audit_event {
    Remiss__AuditEvent event;
    int64_t time;                   /* ms; 0 = now */
    const char *sender;             /* or the actor (admin, broker) */
    const char *recipient;
    Remiss__MessageType type;
    const uint8_t *message_id;      /* 16 bytes or NULL */
    const char *purpose;
    catset_t categories;
    remiss_code_t code;
    const uint8_t *envelope_sha256; /* 32 bytes or NULL */
    const char *subject;            /* canonical 12-digit personnummer, or NULL */
    const char *detail;             /* non-personal detail, or NULL */
} audit_event_t;

/* Opens the log on store; signs with key (the broker's, borrowed) and makes
 * pseudonyms with the 32-byte hmac_key (copied, wiped on close). Reads the
 * current size and frontier from the store. */
audit_t *audit_open(store_t *store, EVP_PKEY *key, const uint8_t hmac_key[32], remiss_err_t *err);
void audit_close(audit_t **self_p);

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

/* HMAC-SHA256(secret, canonical personnummer) into out. */
void audit_pseudonym(const audit_t *self, const char *canonical, uint8_t out[32]);

/* Fills a ProofReply for the entry recording message_id's intake (the
 * ACCEPTED or REFUSED entry), or for index when message_id is NULL, against
 * the latest signed tree head (signing a new one if the latest does not
 * cover the entry), with a consistency proof from consistency_from if > 0.
 * Only the message's sender or recipient (party) may ask. The reply's
 * fields are malloc'd: free with audit_proof_clear. */
remiss_code_t audit_proof(audit_t *self, const char *party, const uint8_t *message_id,
                          uint64_t index, uint64_t consistency_from, Remiss__ProofReply *out,
                          remiss_err_t *err);
void audit_proof_clear(Remiss__ProofReply *reply);

/* Verifies a ProofReply offline with the broker's public key: the tree head
 * signature, the inclusion of leaf_entry at leaf_index, that the entry names
 * message_id (if not NULL), and the consistency proof if present (against
 * old_root, 32 bytes, if not NULL). */
remiss_code_t audit_verify_proof(const Remiss__ProofReply *reply, EVP_PKEY *broker_pub,
                                 const uint8_t *message_id, const uint8_t *old_root,
                                 remiss_err_t *err);

/* Recomputes the whole log in store: every entry's index, every tree head's
 * root and signature, the stored tree nodes. On failure *first_bad is the
 * first index that cannot be trusted and err says why. */
remiss_code_t audit_verify_store(store_t *store, EVP_PKEY *broker_pub, uint64_t *entries,
                                 uint64_t *heads, uint64_t *first_bad, remiss_err_t *err);

#endif
