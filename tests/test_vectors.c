/* The signing test vectors of docs/test-vectors (issue 17) hold: checked
 * with the openssl command-line tool (scripts/check-vectors.sh, an
 * independent implementation) and with remiss's own verifier, and both
 * checks fail on a tampered copy. Run from the top of the tree. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pki.h"
#include "receipt.h"

#define S_DIR     "docs/test-vectors"
#define S_CHECKER "scripts/check-vectors.sh"
#define S_NKEYS   3
#define S_BATCH   5

static const char *const s_types[S_NKEYS] = {"ecdsa-p256", "rsa", "ed25519"};

typedef struct s_buf {
    uint8_t *data;
    size_t len;
} s_buf_t;

static s_buf_t
s_read(const char *dir, const char *name)
{
    char path[512];
    s_buf_t b = {NULL, 0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s (run from the top of the tree)", path);
    b.data = malloc(1 << 16);
    cr_assert_not_null(b.data);
    b.len = fread(b.data, 1, 1 << 16, f);
    fclose(f);
    cr_assert_gt(b.len, 0, "%s is empty", path);
    return b;
}

static int
s_run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A copy of dir/name that only its owner may read, as pki_key_load and
 * pki_curve_load demand (git checks files out 0644). */
static void
s_private_copy(const char *dir, const char *name, char tmp[64])
{
    s_buf_t b = s_read(dir, name);
    snprintf(tmp, 64, "/tmp/remiss-vector-XXXXXX");
    int fd = mkstemp(tmp);
    cr_assert(fd >= 0);
    cr_assert_eq(fchmod(fd, 0600), 0);
    cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
    close(fd);
    free(b.data);
}

/* A time inside the certificate's validity (a day after notBefore), so the
 * chain check does not depend on today's date. */
static int64_t
s_inside_validity(X509 *cert)
{
    struct tm tm;
    cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
    return (int64_t)timegm(&tm) + 86400;
}

Test(vectors, openssl_verifies_every_vector, .timeout = 120)
{
    static char out[16384];
    cr_assert_eq(access(S_CHECKER, X_OK), 0, "%s not found", S_CHECKER);
    int rc = s_run(S_CHECKER " " S_DIR " 2>&1", out, sizeof out);
    cr_assert_eq(rc, 0, "check-vectors.sh exited %d:\n%s", rc, out);
    cr_assert_not_null(strstr(out, "checks passed"), "%s", out);
}

Test(vectors, openssl_check_fails_on_a_tampered_copy, .timeout = 120)
{
    static char out[16384];
    char dir[] = "/tmp/remiss-vectors-XXXXXX", cmd[512];
    cr_assert_not_null(mkdtemp(dir));
    /* One hash of one path, and one byte of one envelope. */
    snprintf(cmd, sizeof cmd,
             "cp -r " S_DIR "/. '%s' && sed -i '1s/.*/%064d/' '%s/receipts/path-1.hex' && "
             "printf X | dd of='%s/rsa/envelope.bin' bs=1 seek=5 conv=notrunc 2>/dev/null",
             dir, 0, dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, S_CHECKER " '%s' 2>&1", dir);
    int rc = s_run(cmd, out, sizeof out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_not_null(strstr(out, "receipt 1: the inclusion path does not lead"), "%s", out);
    cr_assert_not_null(strstr(out, "rsa/signed-data.bin is not"), "%s", out);
}

/* Certificate, key and CURVE key of one party agree, as libremiss checks
 * them when it connects. */
static void
s_check_party(const char *dir, const pki_trust_t *trust, X509 *cert, pki_identity_t *id)
{
    remiss_err_t err;
    char tmp[64];
    uint8_t secret[32], pub[32];
    cr_assert_eq(pki_verify_cert(trust, cert, s_inside_validity(cert), id, &err), REMISS_OK,
                 "%s: %s", dir, err.text);
    s_private_copy(dir, "party.curve", tmp);
    cr_assert_eq(pki_curve_load(tmp, secret, pub, &err), REMISS_OK, "%s", err.text);
    unlink(tmp);
    cr_assert_arr_eq(pub, id->curve_pub, 32, "%s: the CURVE key is not the one bound", dir);
    s_private_copy(dir, "party.key", tmp);
    EVP_PKEY *key = pki_key_load(tmp, &err);
    unlink(tmp);
    cr_assert_not_null(key, "%s", err.text);
    cr_assert_eq(X509_check_private_key(cert, key), 1, "%s", dir);
    EVP_PKEY_free(key);
}

/* The envelope, the bytes signed and the signature of one key type; keeps
 * the envelope's SHA-256 and id for the receipts. */
static void
s_check_signature(const char *type, const pki_trust_t *trust, uint8_t sha[32], uint8_t id[16])
{
    char dir[256], path[512];
    remiss_err_t err;
    pki_identity_t who;
    snprintf(dir, sizeof dir, S_DIR "/%s", type);
    snprintf(path, sizeof path, "%s/party.crt", dir);
    X509 *cert = pki_cert_load(path, &err);
    cr_assert_not_null(cert, "%s", err.text);
    s_check_party(dir, trust, cert, &who);
    s_buf_t env = s_read(dir, "envelope.bin"), sig = s_read(dir, "signature.bin");
    s_buf_t signed_data = s_read(dir, "signed-data.bin"), se = s_read(dir, "signed-envelope.bin");
    size_t clen = strlen(PKI_CTX_ENVELOPE) + 1;
    cr_assert_eq(signed_data.len, clen + env.len);
    cr_assert_arr_eq(signed_data.data, PKI_CTX_ENVELOPE, clen);
    cr_assert_arr_eq(signed_data.data + clen, env.data, env.len);
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    cr_assert(pki_verify(pub, PKI_CTX_ENVELOPE, env.data, env.len, sig.data, sig.len), "%s", type);
    cr_assert_not(pki_verify(pub, PKI_CTX_RECEIPT, env.data, env.len, sig.data, sig.len),
                  "%s: another context label must not verify", type);
    env.data[env.len / 2] ^= 1;
    cr_assert_not(pki_verify(pub, PKI_CTX_ENVELOPE, env.data, env.len, sig.data, sig.len));
    env.data[env.len / 2] ^= 1;

    Remiss__SignedEnvelope *s = remiss__signed_envelope__unpack(NULL, se.len, se.data);
    cr_assert_not_null(s);
    cr_assert_eq(s->envelope.len, env.len);
    cr_assert_arr_eq(s->envelope.data, env.data, env.len);
    cr_assert_eq(s->signature.len, sig.len);
    cr_assert_arr_eq(s->signature.data, sig.data, sig.len);
    Remiss__Envelope *e = remiss__envelope__unpack(NULL, env.len, env.data);
    cr_assert_not_null(e);
    cr_assert_str_eq(e->sender, who.party, "%s: the envelope's sender is the certificate's CN",
                     type);
    cr_assert_eq(e->message_id.len, 16);
    memcpy(id, e->message_id.data, 16);
    EVP_Digest(env.data, env.len, sha, NULL, EVP_sha256(), NULL);
    remiss__envelope__free_unpacked(e, NULL);
    remiss__signed_envelope__free_unpacked(s, NULL);
    free(env.data);
    free(sig.data);
    free(signed_data.data);
    free(se.data);
    X509_free(cert);
}

/* Receipt i of the batch verifies, names envelope i (for the first three),
 * and a changed byte makes it fail. */
static void
s_check_receipt(EVP_PKEY *broker, size_t i, uint8_t sha[][32], uint8_t id[][16])
{
    char name[64];
    snprintf(name, sizeof name, "signed-receipt-%zu.bin", i);
    s_buf_t b = s_read(S_DIR "/receipts", name);
    snprintf(name, sizeof name, "receipt-%zu.bin", i);
    s_buf_t body = s_read(S_DIR "/receipts", name);
    Remiss__SignedReceipt *sr = remiss__signed_receipt__unpack(NULL, b.len, b.data);
    cr_assert_not_null(sr);
    cr_assert_eq(sr->batch_index, i);
    cr_assert_gt(sr->batch.len, 0, "receipts always come batch-signed");
    cr_assert_eq(sr->receipt.len, body.len);
    cr_assert_arr_eq(sr->receipt.data, body.data, body.len);
    cr_assert(receipt_verify(broker, sr, NULL), "receipt %zu", i);
    Remiss__Receipt *r = remiss__receipt__unpack(NULL, body.len, body.data);
    cr_assert_not_null(r);
    if (i < S_NKEYS) {
        cr_assert_eq(r->code, REMISS__REASON_CODE__OK);
        cr_assert_eq(r->envelope_sha256.len, 32);
        cr_assert_arr_eq(r->envelope_sha256.data, sha[i], 32);
        cr_assert_arr_eq(r->message_id.data, id[i], 16);
    }
    remiss__receipt__free_unpacked(r, NULL);
    sr->receipt.data[sr->receipt.len - 1] ^= 1;
    cr_assert_not(receipt_verify(broker, sr, NULL), "a changed receipt %zu must fail", i);
    remiss__signed_receipt__free_unpacked(sr, NULL);
    free(b.data);
    free(body.data);
}

Test(vectors, remiss_verifies_every_vector)
{
    remiss_err_t err;
    uint8_t sha[S_NKEYS][32], id[S_NKEYS][16];
    pki_trust_t *trust = pki_trust_load(S_DIR "/ca.crt", NULL, &err);
    cr_assert_not_null(trust, "%s", err.text);
    for (size_t k = 0; k < S_NKEYS; k++)
        s_check_signature(s_types[k], trust, sha[k], id[k]);

    X509 *broker = pki_cert_load(S_DIR "/broker.crt", &err);
    cr_assert_not_null(broker, "%s", err.text);
    pki_identity_t who;
    cr_assert_eq(pki_verify_cert(trust, broker, s_inside_validity(broker), &who, &err), REMISS_OK,
                 "%s", err.text);
    cr_assert_str_eq(who.party, "broker");
    for (size_t i = 0; i < S_BATCH; i++)
        s_check_receipt(X509_get0_pubkey(broker), i, sha, id);
    X509_free(broker);
    pki_trust_free(&trust);
}
