/* gen_vectors: writes the signing test vectors of docs/test-vectors (issue
 * 17) with remiss's own code: a federation CA and broker from pki_init, one
 * party per key type from pki_issue, envelopes from the example JSON through
 * msgjson, signatures from pki_sign (as remiss_seal makes them) and a
 * receipt batch from receipt_batch_sign (as the broker seals receipts).
 *
 *     gen_vectors OUTDIR    (OUTDIR must not exist yet)
 *
 * Run once (make vectors) and commit the result: keys are new on every run
 * and ECDSA and RSA-PSS signatures are randomized, so a second run gives
 * other bytes. tests/test_vectors.c and scripts/check-vectors.sh check the
 * committed files. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msgjson.h"
#include "pki.h"
#include "pki_admin.h"
#include "receipt.h"

/* 2026-11-23T10:15:00.123Z: every vector's envelope was "created" then. */
#define S_CREATED_AT INT64_C(1795428900123)
/* The broker decided and signed 80 ms later. */
#define S_BROKER_TIME (S_CREATED_AT + 80)
#define S_NKEYS       3
#define S_NRECEIPTS   5 /* the three envelopes' receipts and two refusals */

typedef struct s_vector {
    const char *dir;     /* subdirectory of OUTDIR */
    const char *party;   /* the signer (CN) */
    const char *role;    /* its role (OU) */
    pki_keytype_t type;  /* key type */
    const char *example; /* docs/examples/NAME.json it signs */
    uint8_t env_sha256[32];
    uint8_t id[16];
} s_vector_t;

static s_vector_t s_vectors[S_NKEYS] = {
    {"ecdsa-p256", "sdf-rinkeby-kista", "sdf", PKI_KEY_P256, "referral", {0}, {0}},
    {"rsa", "jobbtorg", "jobbtorg", PKI_KEY_RSA, "case_submission", {0}, {0}},
    {"ed25519", "af-kommunhubb", "kommunhubb", PKI_KEY_ED25519, "transfer_ack", {0}, {0}},
};

static int
s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "gen_vectors: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static int
s_write_path(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        return s_fail("cannot write", path);
    return 0;
}

static int
s_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    /* A path that does not fit is refused, never cut short. */
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return s_fail("path too long", name);
    return s_write_path(path, data, len);
}

/* Writes name.bin and name.hex (lowercase, one line). */
static int
s_write_bin_hex(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    char file[256];
    char *hex = malloc(2 * len + 2);
    if (!hex)
        return s_fail("out of memory", NULL);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    hex[2 * len] = '\n';
    snprintf(file, sizeof file, "%s.bin", name);
    int r = s_write(dir, file, data, len);
    snprintf(file, sizeof file, "%s.hex", name);
    r = r || s_write(dir, file, hex, 2 * len + 1);
    free(hex);
    return r;
}

static char *
s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(MSGJSON_MAX_INPUT);
    *len = 0;
    if (f && buf)
        *len = fread(buf, 1, MSGJSON_MAX_INPUT, f);
    if (f)
        fclose(f);
    if (!f || *len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Copies src to dst (keys too: they are published test vectors, not
 * secrets). */
static int
s_copy(const char *src, const char *dst)
{
    size_t len;
    char *data = s_read(src, &len);
    int r = data ? s_write_path(dst, data, len) : s_fail("cannot read", src);
    free(data);
    return r;
}

/* The example message as the party sends it: its id, time and sender. */
static Remiss__Envelope *
s_envelope(s_vector_t *v, int k)
{
    char path[256];
    size_t len;
    Remiss__Envelope *env = NULL;
    remiss_err_t err;
    snprintf(path, sizeof path, "docs/examples/%s.json", v->example);
    char *json = s_read(path, &len);
    if (!json || msgjson_parse(json, len, &env, &err) != REMISS_OK) {
        free(json);
        s_fail("cannot read the example", path);
        return NULL;
    }
    free(json);
    for (int i = 0; i < 16; i++)
        v->id[i] = (uint8_t)(0x10 * (k + 1) + i);
    env->message_id.data = malloc(16);
    env->sender = strdup(v->party);
    if (!env->message_id.data || !env->sender) {
        msgjson_free(&env);
        return NULL;
    }
    memcpy(env->message_id.data, v->id, 16);
    env->message_id.len = 16;
    env->created_at = S_CREATED_AT;
    return env;
}

/* Writes the vector files of one key type from an issued party in pki. */
static int
s_sign_vector(const char *pki, const char *out, s_vector_t *v, int k)
{
    char path[1024], dir[1024], dst[1200];
    uint8_t sig[PKI_SIG_MAX], *env_bytes = NULL, *signed_data = NULL, *se_bytes = NULL;
    size_t siglen = 0, len, clen = strlen(PKI_CTX_ENVELOPE) + 1;
    remiss_err_t err;
    int r = 1;
    Remiss__Envelope *env = s_envelope(v, k);
    snprintf(path, sizeof path, "%s/parties/%s.key", pki, v->party);
    EVP_PKEY *key = pki_key_load(path, &err);
    if (!env || !key)
        goto out;
    len = remiss__envelope__get_packed_size(env);
    if (!(env_bytes = malloc(len)) || !(signed_data = malloc(clen + len)))
        goto out;
    remiss__envelope__pack(env, env_bytes);
    memcpy(signed_data, PKI_CTX_ENVELOPE, clen);
    memcpy(signed_data + clen, env_bytes, len);
    if (!pki_sign(key, PKI_CTX_ENVELOPE, env_bytes, len, sig, &siglen) ||
        !pki_verify(key, PKI_CTX_ENVELOPE, env_bytes, len, sig, siglen))
        goto out;
    EVP_Digest(env_bytes, len, v->env_sha256, NULL, EVP_sha256(), NULL);
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    se.envelope = (ProtobufCBinaryData){len, env_bytes};
    se.signature = (ProtobufCBinaryData){siglen, sig};
    size_t selen = remiss__signed_envelope__get_packed_size(&se);
    if (!(se_bytes = malloc(selen)))
        goto out;
    remiss__signed_envelope__pack(&se, se_bytes);
    char *json = msgjson_format_pretty(env, NULL);
    snprintf(dir, sizeof dir, "%s/%s", out, v->dir);
    if (!json || mkdir(dir, 0755) != 0) {
        free(json);
        goto out;
    }
    r = s_write(dir, "envelope.json", json, strlen(json)) ||
        s_write_bin_hex(dir, "envelope", env_bytes, len) ||
        s_write_bin_hex(dir, "signed-data", signed_data, clen + len) ||
        s_write_bin_hex(dir, "signature", sig, siglen) ||
        s_write_bin_hex(dir, "signed-envelope", se_bytes, selen);
    free(json);
    const char *files[][2] = {{"crt", "party.crt"}, {"key", "party.key"}, {"curve", "party.curve"}};
    for (size_t i = 0; r == 0 && i < 3; i++) {
        snprintf(path, sizeof path, "%s/parties/%s.%s", pki, v->party, files[i][0]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i][1]);
        r = s_copy(path, dst);
    }
out:
    if (r)
        s_fail("cannot make the vector", v->dir);
    EVP_PKEY_free(key);
    msgjson_free(&env);
    free(env_bytes);
    free(signed_data);
    free(se_bytes);
    return r;
}

/* The serialized Receipt the broker gives for leaf i of the batch: the
 * three envelopes accepted, then two refusals (E_POLICY_DENIED with the id,
 * E_MALFORMED for a frame that could not be decoded: no id). */
static uint8_t *
s_receipt_body(size_t i, size_t *len)
{
    Remiss__Receipt rc = REMISS__RECEIPT__INIT;
    static uint8_t refused_id[16] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
                                     0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};
    rc.audit_index = 40 + i;
    rc.broker_time = S_BROKER_TIME;
    if (i < S_NKEYS) {
        rc.message_id = (ProtobufCBinaryData){16, s_vectors[i].id};
        rc.code = REMISS__REASON_CODE__OK;
        rc.sentence = (char *)remiss_code_sentence(REMISS_OK);
        rc.envelope_sha256 = (ProtobufCBinaryData){32, s_vectors[i].env_sha256};
        rc.sender = (char *)s_vectors[i].party;
    } else if (i == S_NKEYS) {
        rc.message_id = (ProtobufCBinaryData){16, refused_id};
        rc.code = REMISS__REASON_CODE__E_POLICY_DENIED;
        rc.sentence = (char *)remiss_code_sentence(REMISS_E_POLICY_DENIED);
        rc.sender = "sdf-bromma";
    } else {
        rc.code = REMISS__REASON_CODE__E_MALFORMED;
        rc.sentence = "The frame could not be decoded.";
        rc.sender = "sdf-bromma";
    }
    *len = remiss__receipt__get_packed_size(&rc);
    uint8_t *out = malloc(*len);
    if (out)
        remiss__receipt__pack(&rc, out);
    return out;
}

/* Writes one leaf: receipt-I.{bin,hex}, path-I.hex (one hash a line) and
 * signed-receipt-I.{bin,hex}. */
static int
s_write_leaf(const char *dir, const receipt_batch_t *b, size_t i, const uint8_t *body, size_t blen)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    ProtobufCBinaryData hashes[MERKLE_MAX_PROOF];
    char name[64], lines[MERKLE_MAX_PROOF * 65 + 1] = "";
    size_t plen = 0, used = 0;
    if (receipt_batch_path(b, i, path, MERKLE_MAX_PROOF, &plen) != REMISS_OK)
        return s_fail("no inclusion path", NULL);
    for (size_t h = 0; h < plen; h++) {
        hashes[h] = (ProtobufCBinaryData){MERKLE_HASH_LEN, path[h]};
        for (size_t k = 0; k < MERKLE_HASH_LEN; k++)
            used += (size_t)snprintf(lines + used, sizeof lines - used, "%02x", path[h][k]);
        used += (size_t)snprintf(lines + used, sizeof lines - used, "\n");
    }
    Remiss__SignedReceipt sr = REMISS__SIGNED_RECEIPT__INIT;
    sr.receipt = (ProtobufCBinaryData){blen, (uint8_t *)body};
    sr.signature = (ProtobufCBinaryData){b->sig_len, (uint8_t *)b->sig};
    sr.batch = (ProtobufCBinaryData){b->head_len, (uint8_t *)b->head};
    sr.batch_index = i;
    sr.n_batch_path = plen;
    sr.batch_path = hashes;
    size_t srlen = remiss__signed_receipt__get_packed_size(&sr);
    uint8_t *sr_bytes = malloc(srlen);
    if (!sr_bytes)
        return s_fail("out of memory", NULL);
    remiss__signed_receipt__pack(&sr, sr_bytes);
    snprintf(name, sizeof name, "receipt-%zu", i);
    int r = s_write_bin_hex(dir, name, body, blen);
    snprintf(name, sizeof name, "path-%zu.hex", i);
    r = r || s_write(dir, name, lines, used);
    snprintf(name, sizeof name, "signed-receipt-%zu", i);
    r = r || s_write_bin_hex(dir, name, sr_bytes, srlen);
    free(sr_bytes);
    return r;
}

static int
s_receipts(const char *pki, const char *out)
{
    char path[1024], dir[1024];
    uint8_t *bodies[S_NRECEIPTS] = {0}, *signed_data = NULL;
    size_t lens[S_NRECEIPTS], clen = strlen(PKI_CTX_RECEIPTS) + 1;
    receipt_batch_t b = {0};
    remiss_err_t err;
    int r = 1;
    snprintf(path, sizeof path, "%s/broker.key", pki);
    EVP_PKEY *key = pki_key_load(path, &err);
    snprintf(dir, sizeof dir, "%s/receipts", out);
    for (size_t i = 0; i < S_NRECEIPTS; i++)
        if (!(bodies[i] = s_receipt_body(i, &lens[i])))
            goto out;
    if (!key || mkdir(dir, 0755) != 0 ||
        receipt_batch_sign(&b, key, (const uint8_t *const *)bodies, lens, S_NRECEIPTS,
                           S_BROKER_TIME) != REMISS_OK ||
        !(signed_data = malloc(clen + b.head_len)))
        goto out;
    memcpy(signed_data, PKI_CTX_RECEIPTS, clen);
    memcpy(signed_data + clen, b.head, b.head_len);
    r = s_write_bin_hex(dir, "batch", b.head, b.head_len) ||
        s_write_bin_hex(dir, "batch-signed-data", signed_data, clen + b.head_len) ||
        s_write_bin_hex(dir, "batch-signature", b.sig, b.sig_len);
    for (size_t i = 0; r == 0 && i < S_NRECEIPTS; i++)
        r = s_write_leaf(dir, &b, i, bodies[i], lens[i]);
out:
    if (r)
        s_fail("cannot make the receipt batch", NULL);
    receipt_batch_clear(&b);
    EVP_PKEY_free(key);
    free(signed_data);
    for (size_t i = 0; i < S_NRECEIPTS; i++)
        free(bodies[i]);
    return r;
}

int
main(int argc, char **argv)
{
    char pki[] = "/tmp/remiss-vectors-XXXXXX", dst[1200], cmd[1200];
    remiss_err_t err;
    int r = 0;
    if (argc != 2)
        return s_fail("usage: gen_vectors OUTDIR (run from the top of the tree)", NULL);
    if (mkdir(argv[1], 0755) != 0)
        return s_fail("cannot create OUTDIR (it must not exist)", strerror(errno));
    if (!mkdtemp(pki) || rmdir(pki) != 0 || pki_init(pki, &err) != REMISS_OK)
        return s_fail("cannot make the PKI", err.text);
    for (int k = 0; r == 0 && k < S_NKEYS; k++) {
        const s_vector_t *v = &s_vectors[k];
        if (pki_issue(pki, v->party, v->role, v->type, 3650, &err) != REMISS_OK)
            return s_fail("cannot issue", err.text);
        r = s_sign_vector(pki, argv[1], &s_vectors[k], k);
    }
    r = r || s_receipts(pki, argv[1]);
    const char *top[] = {"ca.crt", "broker.crt", "broker.key"};
    for (size_t i = 0; r == 0 && i < 3; i++) {
        char src[1200];
        snprintf(src, sizeof src, "%s/%s", pki, top[i]);
        snprintf(dst, sizeof dst, "%s/%s", argv[1], top[i]);
        r = s_copy(src, dst);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", pki);
    if (system(cmd) != 0)
        s_fail("cannot remove", pki);
    return r;
}
