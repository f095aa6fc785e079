/* audit_verify: offline verification of signed tree heads and audit proofs.
 *
 * Everything checked here arrived over the network or out of a file, so
 * every length is checked before it is used, signatures are checked before
 * the signed bytes are decoded, and nothing is trusted because the broker's
 * reply says so (its code and sentence are not evidence). */
#include "audit_verify.h"

#include <string.h>

#include "pki.h"

/* Copies a repeated-bytes proof path into fixed hash slots; false if it is
 * too long or a hash is not MERKLE_HASH_LEN bytes. */
static bool
s_path(const ProtobufCBinaryData *in, size_t n, uint8_t out[][MERKLE_HASH_LEN])
{
    if (n > MERKLE_MAX_PROOF || (n > 0 && in == NULL))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (in[i].len != MERKLE_HASH_LEN || in[i].data == NULL)
            return false;
        memcpy(out[i], in[i].data, MERKLE_HASH_LEN);
    }
    return true;
}

remiss_code_t
audit_verify_tree_head(const Remiss__SignedTreeHead *sth, EVP_PKEY *broker_pub,
                       audit_tree_head_t *out, remiss_err_t *err)
{
    Remiss__TreeHead *th = NULL;
    remiss_code_t r;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (sth == NULL || broker_pub == NULL || out == NULL)
        return remiss_err_set(err, REMISS_E_USAGE, "no tree head or no broker key to check it");
    if (sth->tree_head.len == 0 || sth->tree_head.len > AUDIT_STH_MAX || sth->signature.len == 0 ||
        sth->signature.len > PKI_SIG_MAX)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the signed tree head is incomplete");
    if (!pki_verify(broker_pub, PKI_CTX_TREEHEAD, sth->tree_head.data, sth->tree_head.len,
                    sth->signature.data, sth->signature.len))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the tree head signature does not verify with the broker key");
    th = remiss__tree_head__unpack(NULL, sth->tree_head.len, sth->tree_head.data);
    if (th == NULL || th->root_hash.len != MERKLE_HASH_LEN) {
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the signed tree head cannot be decoded");
        goto out;
    }
    out->size = th->tree_size;
    memcpy(out->root, th->root_hash.data, MERKLE_HASH_LEN);
    out->timestamp = th->timestamp;
    r = REMISS_OK;
out:
    if (th != NULL)
        remiss__tree_head__free_unpacked(th, NULL);
    return r;
}

remiss_code_t
audit_verify_tree_head_bytes(const uint8_t *sth, size_t len, EVP_PKEY *broker_pub,
                             audit_tree_head_t *out, remiss_err_t *err)
{
    Remiss__SignedTreeHead *s;
    remiss_code_t r;

    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (sth == NULL && len > 0)
        return remiss_err_set(err, REMISS_E_USAGE, "no tree head bytes");
    if (len > AUDIT_STH_MAX)
        return remiss_err_set(err, REMISS_E_TOO_LARGE, "the signed tree head is too large");
    if ((s = remiss__signed_tree_head__unpack(NULL, len, sth)) == NULL)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the signed tree head cannot be decoded");
    r = audit_verify_tree_head(s, broker_pub, out, err);
    remiss__signed_tree_head__free_unpacked(s, NULL);
    return r;
}

Remiss__AuditEntry *
audit_entry_decode(const uint8_t *bytes, size_t len)
{
    if (bytes == NULL || len == 0 || len > AUDIT_ENTRY_MAX)
        return NULL;
    return remiss__audit_entry__unpack(NULL, len, bytes);
}

/* Checks that entry (already proven to be leaf index) names index and, if
 * message_id is given, records that message's intake. */
static remiss_code_t
s_check_entry(const ProtobufCBinaryData *bytes, uint64_t index, const uint8_t *message_id,
              remiss_err_t *err)
{
    Remiss__AuditEntry *e = audit_entry_decode(bytes->data, bytes->len);
    remiss_code_t r = REMISS_OK;

    if (e == NULL)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the proven audit entry cannot be decoded");
    if (e->index != index)
        r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                           "the proven entry names index %llu, not %llu",
                           (unsigned long long)e->index, (unsigned long long)index);
    else if (message_id != NULL &&
             (e->message_id.len != 16 || memcmp(e->message_id.data, message_id, 16) != 0 ||
              (e->event != REMISS__AUDIT_EVENT__EV_ACCEPTED &&
               e->event != REMISS__AUDIT_EVENT__EV_REFUSED &&
               e->event != REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED &&
               e->event != REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED)))
        r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                           "the proven entry does not record the intake of this message");
    remiss__audit_entry__free_unpacked(e, NULL);
    return r;
}

/* Checks the consistency part of a reply whose head th is verified. */
static remiss_code_t
s_check_consistency(const Remiss__ProofReply *reply, const audit_tree_head_t *th,
                    const uint8_t *old_root, remiss_err_t *err)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    uint64_t m = reply->consistency_from;

    if (m == 0 && old_root == NULL)
        return reply->n_consistency_path == 0
                   ? REMISS_OK
                   : remiss_err_set(err, REMISS_E_MALFORMED,
                                    "a consistency path without a starting size");
    if (m == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the reply has no consistency proof");
    if (m > th->size || !s_path(reply->consistency_path, reply->n_consistency_path, path))
        return remiss_err_set(err, REMISS_E_MALFORMED, "the consistency proof is malformed");
    if (old_root != NULL && !merkle_verify_consistency(m, th->size, old_root, th->root,
                                                       (const uint8_t(*)[MERKLE_HASH_LEN])path,
                                                       reply->n_consistency_path))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the log of %llu entries is not an extension of the one of %llu",
                              (unsigned long long)th->size, (unsigned long long)m);
    return REMISS_OK;
}

remiss_code_t
audit_verify_proof(const Remiss__ProofReply *reply, EVP_PKEY *broker_pub, const uint8_t *message_id,
                   const uint8_t *old_root, remiss_err_t *err)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN], leaf[MERKLE_HASH_LEN];
    audit_tree_head_t th;
    remiss_code_t r;

    if (reply == NULL || broker_pub == NULL)
        return remiss_err_set(err, REMISS_E_USAGE, "no proof or no broker key to check it");
    /* The broker's sentence is not evidence and may hold anything: report
     * the code's own sentence. */
    if (reply->code != REMISS__REASON_CODE__OK)
        return remiss_err_set(err,
                              remiss_code_is_wire((int)reply->code) ? (remiss_code_t)reply->code
                                                                    : REMISS_E_MALFORMED,
                              NULL);
    if (reply->tree_head == NULL)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the proof has no signed tree head");
    if ((r = audit_verify_tree_head(reply->tree_head, broker_pub, &th, err)) != REMISS_OK)
        return r;
    if (reply->leaf_index >= th.size)
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "entry %llu is outside the signed tree of %llu entries",
                              (unsigned long long)reply->leaf_index, (unsigned long long)th.size);
    if (reply->leaf_entry.len == 0 || reply->leaf_entry.len > AUDIT_ENTRY_MAX ||
        !s_path(reply->inclusion_path, reply->n_inclusion_path, path))
        return remiss_err_set(err, REMISS_E_MALFORMED, "the inclusion proof is malformed");
    if ((r = merkle_leaf_hash(reply->leaf_entry.data, reply->leaf_entry.len, leaf)) != REMISS_OK)
        return remiss_err_set(err, r, "cannot hash the audit entry");
    if (!merkle_verify_inclusion(reply->leaf_index, th.size, leaf,
                                 (const uint8_t(*)[MERKLE_HASH_LEN])path, reply->n_inclusion_path,
                                 th.root))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the inclusion proof does not lead to the signed root");
    if ((r = s_check_entry(&reply->leaf_entry, reply->leaf_index, message_id, err)) != REMISS_OK)
        return r;
    return s_check_consistency(reply, &th, old_root, err);
}
