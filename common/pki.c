/* pki: certificates, identities, key files and signatures (OpenSSL 3). */
#include "pki.h"

#include <errno.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#define S_CURVE_URI_PREFIX "urn:remiss:curve25519:"

struct pki_trust {
    X509_STORE *store;  /* CA certificate and, if loaded, its CRL */
    bool has_crl;       /* whether revocation is checked */
    int64_t crl_next_s; /* the CRL's nextUpdate (seconds), 0 without one */
    int64_t ca_not_after; /* the CA certificate's notAfter, Unix seconds */
};

/* An ASN1_TIME as Unix seconds (0 if absent or unreadable). */
static int64_t
s_asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

bool
pki_path(char *buf, size_t size, const char *dir, const char *name)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);
    return n > 0 && (size_t)n < size;
}

bool
pki_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > PKI_ID_MAX || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ trust */

/* The CRL at crl_path, signed by ca, into self. A missing file is
 * *missing (errno ENOENT) and no error; anything else unusable is one. */
static bool
s_trust_crl(pki_trust_t *self, X509 *ca, const char *crl_path, bool *missing, remiss_err_t *err)
{
    X509_CRL *crl = NULL;
    FILE *f = fopen(crl_path, "r");
    struct tm tm;
    *missing = false;
    if (!f) {
        *missing = errno == ENOENT;
        if (!*missing)
            remiss_err_set(err, REMISS_E_CONFIG, "cannot read CRL %s: %s", crl_path,
                           strerror(errno));
        return *missing;
    }
    crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    bool ok = crl && X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
    if (!ok)
        remiss_err_set(err, REMISS_E_CONFIG, "CRL %s is unreadable or not signed by the CA",
                       crl_path);
    else if (!X509_CRL_get0_nextUpdate(crl) || !ASN1_TIME_to_tm(X509_CRL_get0_nextUpdate(crl), &tm))
        ok = !remiss_err_set(err, REMISS_E_CONFIG, "CRL %s has no nextUpdate", crl_path);
    else if (!X509_STORE_add_crl(self->store, crl))
        ok = !remiss_err_set(err, REMISS_E_INTERNAL, "out of memory loading the CRL");
    if (ok) {
        X509_STORE_set_flags(self->store, X509_V_FLAG_CRL_CHECK);
        self->has_crl = true;
        self->crl_next_s = (int64_t)timegm(&tm);
    }
    X509_CRL_free(crl);
    return ok;
}

/* Loads the CA and the CRL; required: a missing CRL or one past its
 * nextUpdate at now_s is an error too. */
static pki_trust_t *
s_trust_load(const char *ca_path, const char *crl_path, bool required, int64_t now_s,
             remiss_err_t *err)
{
    pki_trust_t *self = calloc(1, sizeof *self);
    X509 *ca = NULL;
    bool missing = false;
    if (!self || !(self->store = X509_STORE_new())) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory loading the trust anchors");
        goto fail;
    }
    if (!(ca = pki_cert_load(ca_path, err)))
        goto fail;
    if (!X509_STORE_add_cert(self->store, ca)) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot use CA certificate %s", ca_path);
        goto fail;
    }
    if (crl_path && !s_trust_crl(self, ca, crl_path, &missing, err))
        goto fail;
    if (required && (!crl_path || missing)) {
        remiss_err_set(err, REMISS_E_CONFIG, "CRL %s is missing; revocation cannot be checked",
                       crl_path ? crl_path : "(none)");
        goto fail;
    }
    if (required && self->crl_next_s <= now_s) {
        remiss_err_set(err, REMISS_E_CONFIG, "CRL %s is past its nextUpdate; sign a new one",
                       crl_path);
        goto fail;
    }
    self->ca_not_after = s_asn1_unix(X509_get0_notAfter(ca));
    X509_free(ca);
    return self;
fail:
    X509_free(ca);
    pki_trust_free(&self);
    return NULL;
}

pki_trust_t *
pki_trust_load(const char *ca_path, const char *crl_path, remiss_err_t *err)
{
    return s_trust_load(ca_path, crl_path, false, 0, err);
}

pki_trust_t *
pki_trust_load_strict(const char *ca_path, const char *crl_path, int64_t now_s, remiss_err_t *err)
{
    return s_trust_load(ca_path, crl_path, true, now_s, err);
}

int64_t
pki_trust_crl_next_update(const pki_trust_t *self)
{
    return self ? self->crl_next_s : 0;
}

void
pki_trust_free(pki_trust_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    X509_STORE_free((*self_p)->store);
    free(*self_p);
    *self_p = NULL;
}

/* Copies one subject name entry (CN or OU) if it is a valid id. */
static bool
s_name_entry(X509_NAME *name, int nid, char *out, size_t size)
{
    int pos = X509_NAME_get_index_by_NID(name, nid, -1);
    if (pos < 0 || X509_NAME_get_index_by_NID(name, nid, pos) >= 0)
        return false; /* absent, or ambiguous: two CNs */
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, pos));
    int len = ASN1_STRING_length(s);
    if (len <= 0 || (size_t)len >= size)
        return false;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)len);
    out[len] = '\0';
    return strlen(out) == (size_t)len && pki_id_valid(out);
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Finds exactly one urn:remiss:curve25519: URI among the subjectAltNames. */
static bool
s_curve_from_san(X509 *cert, uint8_t out[PKI_CURVE_KEYLEN])
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    const size_t plen = strlen(S_CURVE_URI_PREFIX);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type != GEN_URI)
            continue;
        const char *uri = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
        int len = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
        if (len != (int)(plen + 2 * PKI_CURVE_KEYLEN) || strncmp(uri, S_CURVE_URI_PREFIX, plen))
            continue;
        bool ok = true;
        for (size_t k = 0; k < PKI_CURVE_KEYLEN; k++) {
            int hi = s_hexval(uri[plen + 2 * k]), lo = s_hexval(uri[plen + 2 * k + 1]);
            if (hi < 0 || lo < 0) {
                ok = false;
                break;
            }
            out[k] = (uint8_t)(hi << 4 | lo);
        }
        found += ok ? 1 : 2; /* a malformed curve URI makes the cert unusable */
    }
    GENERAL_NAMES_free(names);
    return found == 1;
}

remiss_code_t
pki_cert_identity(X509 *cert, pki_identity_t *id, remiss_err_t *err)
{
    memset(id, 0, sizeof *id);
    X509_NAME *subj = X509_get_subject_name(cert);
    if (!subj || !s_name_entry(subj, NID_commonName, id->party, sizeof id->party) ||
        !s_name_entry(subj, NID_organizationalUnitName, id->role, sizeof id->role))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the certificate does not name a valid party id (CN) and role (OU)");
    if (!s_curve_from_san(cert, id->curve_pub))
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the certificate does not bind exactly one CURVE key");
    return REMISS_OK;
}

remiss_code_t
pki_verify_cert(const pki_trust_t *trust, X509 *cert, int64_t now, pki_identity_t *id,
                remiss_err_t *err)
{
    remiss_code_t r = REMISS_E_BAD_SIGNATURE;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    memset(id, 0, sizeof *id);
    if (!ctx || !X509_STORE_CTX_init(ctx, trust->store, cert, NULL)) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot set up certificate verification");
        goto out;
    }
    if (now > 0)
        X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        if (e == X509_V_ERR_CERT_REVOKED)
            r = remiss_err_set(err, REMISS_E_CERT_REVOKED, NULL);
        else
            r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE, "certificate not accepted: %s",
                               X509_verify_cert_error_string(e));
        goto out;
    }
    r = pki_cert_identity(cert, id, err);
out:
    X509_STORE_CTX_free(ctx);
    return r;
}

/* ------------------------------------------------------------ files */

X509 *
pki_cert_load(const char *path, remiss_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot read certificate %s: %s", path,
                       strerror(errno));
        return NULL;
    }
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!cert)
        remiss_err_set(err, REMISS_E_CONFIG, "%s is not a PEM certificate", path);
    return cert;
}

X509 *
pki_cert_from_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (!der || len == 0 || len > 64 * 1024)
        return NULL;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert && p != der + len) { /* trailing bytes: not exactly one certificate */
        X509_free(cert);
        return NULL;
    }
    return cert;
}

uint8_t *
pki_cert_to_der(X509 *cert, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0)
        return NULL;
    *len = (size_t)n;
    return der; /* allocated by OpenSSL with OPENSSL_malloc == malloc by default */
}

/* A secret that others can read is no longer a secret: refuse it. */
static bool
s_private_file_ok(const char *path, remiss_err_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot read key %s: %s", path, strerror(errno));
        return false;
    }
    if (st.st_mode & 077) {
        remiss_err_set(err, REMISS_E_CONFIG,
                       "key %s is readable by group or others; chmod 600 it", path);
        return false;
    }
    return true;
}

EVP_PKEY *
pki_key_load(const char *path, remiss_err_t *err)
{
    if (!s_private_file_ok(path, err))
        return NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot read key %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key)
        remiss_err_set(err, REMISS_E_CONFIG, "%s is not a PEM private key", path);
    return key;
}

remiss_code_t
pki_curve_load(const char *path, uint8_t secret[PKI_CURVE_KEYLEN],
               uint8_t public_key[PKI_CURVE_KEYLEN], remiss_err_t *err)
{
    char z85[64] = {0}, pub_z85[41];
    remiss_code_t r = REMISS_E_CONFIG;
    if (!s_private_file_ok(path, err))
        return REMISS_E_CONFIG;
    FILE *f = fopen(path, "r");
    if (!f)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
    size_t n = fread(z85, 1, sizeof z85 - 1, f);
    fclose(f);
    while (n > 0 && (z85[n - 1] == '\n' || z85[n - 1] == '\r'))
        z85[--n] = '\0';
    if (n != 40 || !zmq_z85_decode(secret, z85) || zmq_curve_public(pub_z85, z85) != 0 ||
        !zmq_z85_decode(public_key, pub_z85)) {
        remiss_err_set(err, REMISS_E_CONFIG, "%s does not hold a Z85 CURVE secret key", path);
        goto out;
    }
    r = REMISS_OK;
out:
    OPENSSL_cleanse(z85, sizeof z85);
    return r;
}

/* ------------------------------------------------------------ signatures */

/* Ed25519 signs in one pass over contiguous bytes, so the label and data are
 * joined; ECDSA and RSA stream them into the digest. */
static bool
s_digest_op(EVP_PKEY *key, bool sign, const char *ctx, const uint8_t *data, size_t len,
            uint8_t *sig, size_t *siglen)
{
    bool ok = false;
    uint8_t *joined = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int base = EVP_PKEY_get_base_id(key);
    const EVP_MD *digest = base == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    size_t clen = strlen(ctx) + 1; /* label and its NUL */
    if (!md)
        goto out;
    int rc = sign ? EVP_DigestSignInit(md, &pctx, digest, NULL, key)
                  : EVP_DigestVerifyInit(md, &pctx, digest, NULL, key);
    if (rc != 1)
        goto out;
    if (base == EVP_PKEY_RSA && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                                 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto out;
    if (base == EVP_PKEY_ED25519) {
        if (len > SIZE_MAX - clen || !(joined = malloc(clen + len)))
            goto out;
        memcpy(joined, ctx, clen);
        if (len)
            memcpy(joined + clen, data, len);
        if (sign) {
            size_t cap = *siglen;
            ok = EVP_DigestSign(md, sig, &cap, joined, clen + len) == 1;
            *siglen = cap;
        } else {
            ok = EVP_DigestVerify(md, sig, *siglen, joined, clen + len) == 1;
        }
        goto out;
    }
    if (sign) {
        size_t cap = *siglen;
        ok = EVP_DigestSignUpdate(md, ctx, clen) == 1 && EVP_DigestSignUpdate(md, data, len) == 1 &&
             EVP_DigestSignFinal(md, NULL, &cap) == 1 && cap <= *siglen &&
             EVP_DigestSignFinal(md, sig, &cap) == 1;
        *siglen = cap;
    } else {
        ok = EVP_DigestVerifyUpdate(md, ctx, clen) == 1 &&
             EVP_DigestVerifyUpdate(md, data, len) == 1 &&
             EVP_DigestVerifyFinal(md, sig, *siglen) == 1;
    }
out:
    free(joined);
    EVP_MD_CTX_free(md);
    ERR_clear_error(); /* a failed verify leaves errors queued; we report by value */
    return ok;
}

bool
pki_sign(EVP_PKEY *key, const char *ctx, const uint8_t *data, size_t len, uint8_t *sig,
         size_t *siglen)
{
    *siglen = PKI_SIG_MAX;
    return key && s_digest_op(key, true, ctx, data, len, sig, siglen);
}

bool
pki_verify(EVP_PKEY *pub, const char *ctx, const uint8_t *data, size_t len, const uint8_t *sig,
           size_t siglen)
{
    if (!pub || !sig || siglen == 0 || siglen > PKI_SIG_MAX)
        return false;
    size_t n = siglen;
    return s_digest_op(pub, false, ctx, data, len, (uint8_t *)sig, &n);
}

int64_t
pki_trust_ca_not_after(const pki_trust_t *trust)
{
    return trust ? trust->ca_not_after : 0;
}


int64_t
pki_cert_not_after(const X509 *cert)
{
    return cert ? s_asn1_unix(X509_get0_notAfter(cert)) : 0;
}
