/* evidence: offline-checkable evidence bundles (include/evidence.h). */
#include "evidence.h"

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "merkle.h"
#include "note.h"
#include "pki.h"
#include "receipt.h"
#include "witnesspolicy.h"

#define S_FORMAT "remiss-evidence/v1"

/* ---------------------------------------------------------------- encoding */

static void
s_hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static bool
s_add_hex(cJSON *o, const char *key, const uint8_t *p, size_t n)
{
    char buf[2 * 64 + 1];
    if (n > 64)
        return false;
    s_hex(buf, p, n);
    buf[2 * n] = '\0';
    return cJSON_AddStringToObject(o, key, buf) != NULL;
}

static bool
s_add_b64(cJSON *o, const char *key, const uint8_t *p, size_t n)
{
    size_t cap = (n + 2) / 3 * 4 + 1;
    char *buf = malloc(cap);
    bool ok = buf && (n == 0 ? (buf[0] = '\0', true) : note_b64_encode(p, n, buf, cap) > 0) &&
              cJSON_AddStringToObject(o, key, buf) != NULL;
    free(buf);
    return ok;
}

static char *
s_read_text(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    char *buf = f ? calloc(1, max + 2) : NULL;
    /* A file longer than max, or one that cannot be read to its end, is
     * refused rather than cut short. */
    if (buf && (fread(buf, 1, max + 1, f) > max || ferror(f))) {
        free(buf);
        buf = NULL;
    }
    if (f)
        fclose(f);
    return buf;
}

/* The by-hand fields: entry, head, signature, hashes, path. */
static bool
s_add_manual(cJSON *o, const Remiss__ProofReply *pr)
{
    uint8_t leaf[MERKLE_HASH_LEN];
    Remiss__TreeHead *th = remiss__tree_head__unpack(NULL, pr->tree_head->tree_head.len,
                                                     pr->tree_head->tree_head.data);
    cJSON *path = cJSON_AddArrayToObject(o, "inclusion_path");
    bool ok =
        th && path && th->root_hash.len == 32 &&
        merkle_leaf_hash(pr->leaf_entry.data, pr->leaf_entry.len, leaf) == REMISS_OK &&
        s_add_b64(o, "leaf_entry", pr->leaf_entry.data, pr->leaf_entry.len) &&
        s_add_hex(o, "leaf_hash", leaf, sizeof leaf) &&
        cJSON_AddNumberToObject(o, "leaf_index", (double)pr->leaf_index) &&
        cJSON_AddNumberToObject(o, "tree_size", (double)th->tree_size) &&
        s_add_hex(o, "root_hash", th->root_hash.data, 32) &&
        s_add_b64(o, "tree_head", pr->tree_head->tree_head.data, pr->tree_head->tree_head.len) &&
        s_add_b64(o, "tree_head_signature", pr->tree_head->signature.data,
                  pr->tree_head->signature.len) &&
        cJSON_AddStringToObject(o, "checkpoint", pr->checkpoint ? pr->checkpoint : "");
    for (size_t i = 0; ok && i < pr->n_inclusion_path; i++) {
        char h[65];
        if (pr->inclusion_path[i].len != 32)
            return remiss__tree_head__free_unpacked(th, NULL), false;
        s_hex(h, pr->inclusion_path[i].data, 32);
        ok = cJSON_AddItemToArray(path, cJSON_CreateString(h));
    }
    if (th)
        remiss__tree_head__free_unpacked(th, NULL);
    return ok;
}

/* ---------------------------------------------------------------- receipt */

/* The SignedReceipt and its Receipt from len bytes; false if either does
 * not decode. Free both with s_receipt_free. */
static bool
s_receipt_decode(const uint8_t *raw, size_t len, Remiss__SignedReceipt **sr, Remiss__Receipt **rc)
{
    *rc = NULL;
    if (len == 0 || len > EVIDENCE_RECEIPT_MAX ||
        (*sr = remiss__signed_receipt__unpack(NULL, len, raw)) == NULL)
        return *sr = NULL, false;
    *rc = remiss__receipt__unpack(NULL, (*sr)->receipt.len, (*sr)->receipt.data);
    return *rc != NULL;
}

static void
s_receipt_free(Remiss__SignedReceipt *sr, Remiss__Receipt *rc)
{
    if (rc)
        remiss__receipt__free_unpacked(rc, NULL);
    if (sr)
        remiss__signed_receipt__free_unpacked(sr, NULL);
}

/* The receipt names the audit entry's message, envelope hash and index. */
static remiss_code_t
s_receipt_matches(const Remiss__Receipt *rc, const Remiss__AuditEntry *e, uint64_t index,
                  remiss_err_t *err)
{
    if (rc->message_id.len != e->message_id.len || e->message_id.len != 16 ||
        memcmp(rc->message_id.data, e->message_id.data, 16) != 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the receipt is for another message");
    if (rc->envelope_sha256.len != 32 || e->envelope_sha256.len != 32 ||
        memcmp(rc->envelope_sha256.data, e->envelope_sha256.data, 32) != 0)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the receipt names another envelope hash than the audit entry");
    if (rc->audit_index != index)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the receipt names audit entry %llu, the proof entry %llu",
                              (unsigned long long)rc->audit_index, (unsigned long long)index);
    return REMISS_OK;
}

/* The receipt's by-hand fields: its bytes, the batch, the path. */
static bool
s_add_receipt_manual(cJSON *o, const Remiss__SignedReceipt *sr)
{
    uint8_t leaf[MERKLE_HASH_LEN];
    Remiss__ReceiptBatch *b =
        sr->batch.len ? remiss__receipt_batch__unpack(NULL, sr->batch.len, sr->batch.data) : NULL;
    cJSON *path = cJSON_AddArrayToObject(o, "receipt_batch_path");
    bool ok = path && (sr->batch.len == 0 || (b && b->root_hash.len == 32)) &&
              merkle_leaf_hash(sr->receipt.data, sr->receipt.len, leaf) == REMISS_OK &&
              s_add_b64(o, "receipt", sr->receipt.data, sr->receipt.len) &&
              s_add_hex(o, "receipt_leaf_hash", leaf, sizeof leaf) &&
              s_add_b64(o, "receipt_signature", sr->signature.data, sr->signature.len) &&
              s_add_b64(o, "receipt_batch", sr->batch.data, sr->batch.len) &&
              cJSON_AddNumberToObject(o, "receipt_batch_index", (double)sr->batch_index) &&
              cJSON_AddNumberToObject(o, "receipt_batch_size", b ? (double)b->size : 0) &&
              (b ? s_add_hex(o, "receipt_batch_root", b->root_hash.data, 32)
                 : cJSON_AddStringToObject(o, "receipt_batch_root", "") != NULL);
    for (size_t i = 0; ok && i < sr->n_batch_path; i++) {
        char h[65];
        ok = sr->batch_path[i].len == 32;
        if (ok) {
            s_hex(h, sr->batch_path[i].data, 32);
            ok = cJSON_AddItemToArray(path, cJSON_CreateString(h));
        }
    }
    if (b)
        remiss__receipt_batch__free_unpacked(b, NULL);
    return ok;
}

/* Adds the signed receipt (raw, len bytes) after checking that it is the
 * receipt of the proof's entry. */
static remiss_code_t
s_add_receipt(cJSON *o, const uint8_t *raw, size_t len, const Remiss__AuditEntry *e, uint64_t index,
              remiss_err_t *err)
{
    Remiss__SignedReceipt *sr;
    Remiss__Receipt *rc;
    remiss_code_t r;
    if (!s_receipt_decode(raw, len, &sr, &rc))
        r = remiss_err_set(err, REMISS_E_MALFORMED,
                           "the receipt file is not a signed receipt (remiss send "
                           "--save-receipt)");
    else if ((r = s_receipt_matches(rc, e, index, err)) == REMISS_OK &&
             (!s_add_b64(o, "signed_receipt", raw, len) || !s_add_receipt_manual(o, sr)))
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the signed receipt is damaged");
    s_receipt_free(sr, rc);
    return r;
}

/* Checks the bundle's signed receipt, if it has one (*present says). */
static remiss_code_t
s_check_receipt(const cJSON *o, EVP_PKEY *key, const Remiss__ProofReply *pr, bool *present,
                remiss_err_t *err)
{
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "signed_receipt"));
    size_t len = b64 ? strlen(b64) : 0, n = 0;
    Remiss__SignedReceipt *sr = NULL;
    Remiss__Receipt *rc = NULL;
    Remiss__AuditEntry *e = NULL;
    uint8_t *raw = NULL;
    remiss_code_t r = REMISS_OK;
    if (!(*present = b64 != NULL))
        return REMISS_OK;
    if (len > EVIDENCE_RECEIPT_MAX * 2 || !(raw = malloc(len / 4 * 3 + 3)) ||
        note_b64_decode(b64, len, raw, len / 4 * 3 + 3, &n) != REMISS_OK ||
        !s_receipt_decode(raw, n, &sr, &rc) ||
        !(e = audit_entry_decode(pr->leaf_entry.data, pr->leaf_entry.len)))
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the evidence's signed receipt is damaged");
    else if (!receipt_verify(key, sr, NULL))
        r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                           "the receipt's signature or batch path does not verify with the "
                           "broker certificate");
    else
        r = s_receipt_matches(rc, e, pr->leaf_index, err);
    if (e)
        remiss__audit_entry__free_unpacked(e, NULL);
    s_receipt_free(sr, rc);
    free(raw);
    return r;
}

/* ---------------------------------------------------------------- building */

char *
evidence_build(const uint8_t id[16], const Remiss__ProofReply *pr, const char *broker_cert_path,
               const uint8_t *receipt, size_t receipt_len, remiss_err_t *err)
{
    cJSON *o = cJSON_CreateObject();
    Remiss__AuditEntry *e = NULL;
    char *cert = s_read_text(broker_cert_path, 64 * 1024), *out = NULL;
    size_t len = remiss__proof_reply__get_packed_size(pr);
    uint8_t *packed = malloc(len ? len : 1);

    if (o == NULL || cert == NULL || packed == NULL || pr->tree_head == NULL ||
        (e = audit_entry_decode(pr->leaf_entry.data, pr->leaf_entry.len)) == NULL) {
        remiss_err_set(err, REMISS_E_IO, "cannot build the evidence (broker certificate %s)",
                       broker_cert_path);
        goto out;
    }
    remiss__proof_reply__pack(pr, packed);
    if (!cJSON_AddStringToObject(o, "format", S_FORMAT) || !s_add_hex(o, "message_id", id, 16) ||
        !s_add_b64(o, "proof_reply", packed, len) ||
        !cJSON_AddStringToObject(o, "broker_certificate", cert) ||
        !s_add_hex(o, "envelope_sha256", e->envelope_sha256.data, e->envelope_sha256.len) ||
        !s_add_manual(o, pr)) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot build the evidence");
        goto out;
    }
    if (receipt && s_add_receipt(o, receipt, receipt_len, e, pr->leaf_index, err) != REMISS_OK)
        goto out;
    if ((out = cJSON_Print(o)) == NULL)
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot build the evidence");
out:
    if (e)
        remiss__audit_entry__free_unpacked(e, NULL);
    free(packed);
    free(cert);
    cJSON_Delete(o);
    return out;
}

/* ---------------------------------------------------------------- checking */

static bool
s_unhex(const char *s, uint8_t *out, size_t n)
{
    if (s == NULL || strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || strchr("0123456789abcdef", s[2 * i]) == NULL ||
            strchr("0123456789abcdef", s[2 * i + 1]) == NULL)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* The broker certificate of the bundle, verified against the CA. */
static EVP_PKEY *
s_broker_key(const cJSON *o, const char *ca_path, int64_t at, remiss_err_t *err)
{
    const char *pem =
        cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "broker_certificate"));
    pki_trust_t *trust = pki_trust_load(ca_path, NULL, err);
    BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = NULL;
    pki_identity_t id;

    if (trust == NULL)
        goto out;
    if (cert == NULL) {
        remiss_err_set(err, REMISS_E_MALFORMED, "the evidence holds no broker certificate");
        goto out;
    }
    /* At the time the tree head was signed: a court may check evidence
     * long after the certificate expired. */
    if (pki_verify_cert(trust, cert, at, &id, err) != REMISS_OK)
        goto out;
    if (strcmp(id.role, "broker") != 0) {
        remiss_err_set(err, REMISS_E_BAD_SIGNATURE, "the certificate is not the broker's");
        goto out;
    }
    key = X509_get_pubkey(cert);
out:
    X509_free(cert);
    BIO_free(b);
    pki_trust_free(&trust);
    return key;
}

static Remiss__ProofReply *
s_reply(const cJSON *o, uint8_t id[16], remiss_err_t *err)
{
    const char *b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "proof_reply"));
    const char *f = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "format"));
    const char *hex = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "message_id"));
    size_t len = b64 ? strlen(b64) : 0, n = 0;
    uint8_t *raw = malloc(len / 4 * 3 + 3);
    Remiss__ProofReply *pr = NULL;

    if (f == NULL || strcmp(f, S_FORMAT) != 0 || !s_unhex(hex, id, 16) || raw == NULL ||
        note_b64_decode(b64, len, raw, len / 4 * 3 + 3, &n) != REMISS_OK ||
        (pr = remiss__proof_reply__unpack(NULL, n, raw)) == NULL)
        remiss_err_set(err, REMISS_E_MALFORMED, "not a remiss evidence file (" S_FORMAT ")");
    free(raw);
    return pr;
}

static char *
s_summary(const uint8_t id[16], const Remiss__ProofReply *pr, bool receipt,
          const witness_list_t *wl, const witness_result_t *wr)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL, *wj = wl ? witness_result_json(wl, wr) : NULL;
    if (o && s_add_hex(o, "message_id", id, 16) &&
        cJSON_AddNumberToObject(o, "audit_index", (double)pr->leaf_index) &&
        cJSON_AddBoolToObject(o, "signed_receipt", receipt) &&
        cJSON_AddNumberToObject(o, "tree_size", (double)wr->cp.size) &&
        (wj == NULL || cJSON_AddItemToObject(o, "witnesses", cJSON_Parse(wj))))
        s = cJSON_PrintUnformatted(o);
    free(wj);
    cJSON_Delete(o);
    return s;
}

remiss_code_t
evidence_verify(const char *bundle, size_t len, const char *ca_path, const char *witnesses_path,
                char **summary, remiss_err_t *err)
{
    static witness_list_t wl;
    const witness_list_t *use = &wl;
    witness_result_t wr;
    Remiss__TreeHead *th = NULL;
    uint8_t id[16];
    cJSON *o = NULL;
    Remiss__ProofReply *pr = NULL;
    EVP_PKEY *key = NULL;
    remiss_code_t r = REMISS_E_MALFORMED;
    bool receipt = false;

    if (summary)
        *summary = NULL;
    memset(&wr, 0, sizeof wr);
    if (len > EVIDENCE_MAX || (o = cJSON_ParseWithLength(bundle, len)) == NULL) {
        remiss_err_set(err, r, "the evidence is not JSON (or larger than 1 MiB)");
        goto out;
    }
    if ((pr = s_reply(o, id, err)) == NULL) {
        r = err->code;
        goto out;
    }
    if (pr->tree_head == NULL ||
        (th = remiss__tree_head__unpack(NULL, pr->tree_head->tree_head.len,
                                        pr->tree_head->tree_head.data)) == NULL) {
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the evidence holds no tree head");
        goto out;
    }
    if ((key = s_broker_key(o, ca_path, th->timestamp / 1000 + 1, err)) == NULL) {
        r = err->code;
        goto out;
    }
    if ((r = audit_verify_proof(pr, key, id, NULL, err)) != REMISS_OK ||
        (r = s_check_receipt(o, key, pr, &receipt, err)) != REMISS_OK)
        goto out;
    memset(&wl, 0, sizeof wl);
    if (witnesses_path && (r = witness_list_load(witnesses_path, &wl, err)) != REMISS_OK)
        goto out;
    r = witness_check_proof(pr, use, &wr, err);
    if (summary)
        *summary = s_summary(id, pr, receipt, witnesses_path ? use : NULL, &wr);
out:
    if (th)
        remiss__tree_head__free_unpacked(th, NULL);
    EVP_PKEY_free(key);
    if (pr)
        remiss__proof_reply__free_unpacked(pr, NULL);
    cJSON_Delete(o);
    return r;
}

/* ---------------------------------------------------------------- proof output */

remiss_code_t
evidence_proof_witnesses(const Remiss__ProofReply *pr, const char *path, char **json,
                         remiss_err_t *err)
{
    static witness_list_t wl;
    witness_result_t wr;
    remiss_code_t r;
    *json = NULL;
    if ((r = witness_list_load(path, &wl, err)) != REMISS_OK)
        return r;
    r = witness_check_proof(pr, &wl, &wr, err);
    if (r == REMISS_OK || r == REMISS_E_POLICY_DENIED)
        *json = witness_result_json(&wl, &wr);
    return r;
}

void
evidence_print_witnesses(const char *json, FILE *out)
{
    cJSON *o = cJSON_Parse(json), *w;
    if (o == NULL)
        return;
    fprintf(out, "checkpoint of size %.0f cosigned by %.0f of %.0f witnesses (quorum %.0f)",
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "checkpoint_size")),
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "cosigned")),
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "witnesses")),
            cJSON_GetNumberValue(cJSON_GetObjectItem(o, "quorum")));
    const char *sep = ": ";
    cJSON_ArrayForEach(w, cJSON_GetObjectItem(o, "cosigners"))
    {
        fprintf(out, "%s%s", sep, cJSON_GetStringValue(cJSON_GetObjectItem(w, "name")));
        sep = ", ";
    }
    fprintf(out, "\n");
    cJSON_Delete(o);
}
