/* audit_verify: offline checks of what the audit log hands out, signed tree
 * heads and proofs, with nothing but the broker's public key.
 *
 * Needs only OpenSSL, the merkle module and the generated proto, so the
 * client library links it (libremiss links common/ only) and a party can
 * check the broker's answers without any broker code. The writer side is
 * broker/audit.c (include/audit.h).
 *
 * Failures: REMISS_E_USAGE for arguments outside the contract,
 * REMISS_E_MALFORMED for bytes that cannot be decoded, REMISS_E_TOO_LARGE
 * for bytes over the limits below, REMISS_E_BAD_SIGNATURE when a signature
 * or proof does not verify, each with the reason in err. */
#ifndef AUDIT_VERIFY_H
#define AUDIT_VERIFY_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

/* Largest serialized AuditEntry the log writes or any reader accepts. The
 * writer bounds every string it puts in an entry, so a real entry stays far
 * below this; anything larger is damage. */
#define AUDIT_ENTRY_MAX 16384
/* Largest serialized SignedTreeHead: a TreeHead (under 64 bytes), a
 * signature of at most PKI_SIG_MAX (512) bytes and the framing. */
#define AUDIT_STH_MAX 1024

/* A verified tree head. */
typedef struct audit_tree_head {
    uint64_t size;                 /* leaves the head covers */
    uint8_t root[MERKLE_HASH_LEN]; /* their Merkle root */
    int64_t timestamp;             /* when the broker signed it (ms) */
} audit_tree_head_t;

/* Verifies the broker's signature (context PKI_CTX_TREEHEAD) over the
 * serialized TreeHead in sth and only then decodes it into *out (zeroed
 * first). */
remiss_code_t audit_verify_tree_head(const Remiss__SignedTreeHead *sth, EVP_PKEY *broker_pub,
                                     audit_tree_head_t *out, remiss_err_t *err);

/* As audit_verify_tree_head, for a serialized SignedTreeHead (as stored). */
remiss_code_t audit_verify_tree_head_bytes(const uint8_t *sth, size_t len, EVP_PKEY *broker_pub,
                                           audit_tree_head_t *out, remiss_err_t *err);

/* Decodes a serialized AuditEntry after checking its size. Returns NULL for
 * damaged or oversized bytes. Caller frees with
 * remiss__audit_entry__free_unpacked(e, NULL). */
Remiss__AuditEntry *audit_entry_decode(const uint8_t *bytes, size_t len);

/* Verifies a ProofReply offline with the broker's public key: the tree head
 * signature, the inclusion of leaf_entry at leaf_index (and that the entry
 * itself names leaf_index), that the entry records the intake (ACCEPTED or
 * REFUSED) of message_id (16 bytes) if message_id is not NULL, and the
 * consistency proof if present: against old_root (32 bytes, the root the
 * caller trusts for tree size consistency_from) if old_root is not NULL; if
 * old_root is NULL only its shape is checked. A reply whose code is not OK
 * returns that code. */
remiss_code_t audit_verify_proof(const Remiss__ProofReply *reply, EVP_PKEY *broker_pub,
                                 const uint8_t *message_id, const uint8_t *old_root,
                                 remiss_err_t *err);

#endif
