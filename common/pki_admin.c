/* pki_admin: create the federation CA, issue party certificates, revoke. */
#include "pki_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "note.h"

#define S_CA_DAYS  3650
#define S_CRL_DAYS 365 /* a stale CRL fails every verification: re-sign before then */
#define S_SKEW     300 /* notBefore this many seconds back, for clock skew */

bool
pki_keytype_parse(const char *s, pki_keytype_t *out)
{
    if (!s)
        return false;
    if (strcmp(s, "p256") == 0 || strcmp(s, "ecdsa") == 0)
        *out = PKI_KEY_P256;
    else if (strcmp(s, "rsa") == 0)
        *out = PKI_KEY_RSA;
    else if (strcmp(s, "ed25519") == 0)
        *out = PKI_KEY_ED25519;
    else
        return false;
    return true;
}

static EVP_PKEY *
s_keygen(pki_keytype_t type)
{
    switch (type) {
    case PKI_KEY_P256:
        return EVP_EC_gen("P-256");
    case PKI_KEY_RSA:
        return EVP_RSA_gen(3072);
    case PKI_KEY_ED25519:
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    }
    return NULL;
}

/* Writes data to dir/name through a temporary file and rename, so a reader
 * never sees half a file; secret files are created 0600. */
static remiss_code_t
s_write_file(const char *dir, const char *name, const void *data, size_t len, bool secret,
             remiss_err_t *err)
{
    char path[4096], tmp[4200];
    if (!pki_path(path, sizeof path, dir, name) ||
        snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return remiss_err_set(err, REMISS_E_CONFIG, "path too long under %s", dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644);
    if (fd < 0)
        return remiss_err_set(err, REMISS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return remiss_err_set(err, REMISS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return remiss_err_set(err, REMISS_E_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return REMISS_OK;
}

/* Serialises an OpenSSL object to PEM through a memory BIO, then writes it. */
typedef int (*s_pem_fn)(BIO *, const void *);

static int
s_pem_key(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static int
s_pem_cert(BIO *b, const void *c)
{
    return PEM_write_bio_X509(b, (X509 *)c);
}

static int
s_pem_crl(BIO *b, const void *c)
{
    return PEM_write_bio_X509_CRL(b, (X509_CRL *)c);
}

static remiss_code_t
s_write_pem(const char *dir, const char *name, s_pem_fn fn, const void *obj, bool secret,
            remiss_err_t *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    remiss_code_t r;
    if (!b || !fn(b, obj)) {
        BIO_free(b);
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot encode %s", name);
    }
    long len = BIO_get_mem_data(b, &data);
    r = s_write_file(dir, name, data, (size_t)len, secret, err);
    if (secret)
        OPENSSL_cleanse(data, (size_t)len);
    BIO_free(b);
    return r;
}

static bool
s_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static bool
s_random_serial(X509 *cert)
{
    uint8_t raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    raw[0] &= 0x7f; /* positive */
    raw[0] |= 0x40; /* and never with a leading zero byte */
    BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
    ASN1_INTEGER *serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    bool ok = serial && X509_set_serialNumber(cert, serial);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return ok;
}

/* Builds a certificate for key with subject O=remiss federation, OU=role,
 * CN=name, signed by ca_key (self-signed when issuer is NULL). curve_hex
 * (64 hex digits) becomes the subjectAltName URI. */
static X509 *
s_make_cert(EVP_PKEY *key, const char *name, const char *role, const char *curve_hex,
            X509 *issuer, EVP_PKEY *ca_key, int days, bool is_ca)
{
    X509 *cert = X509_new();
    X509_NAME *subj = X509_NAME_new();
    char san[128];
    bool ok = cert && subj && X509_set_version(cert, 2) && s_random_serial(cert) &&
              X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC,
                                         (const unsigned char *)"remiss federation", -1, -1, 0) &&
              X509_NAME_add_entry_by_txt(subj, "OU", MBSTRING_ASC, (const unsigned char *)role, -1,
                                         -1, 0) &&
              X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
                                         -1, 0) &&
              X509_set_subject_name(cert, subj) &&
              X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : subj) &&
              X509_gmtime_adj(X509_getm_notBefore(cert), -S_SKEW) &&
              X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400L) &&
              X509_set_pubkey(cert, key);
    X509 *ext_issuer = issuer ? issuer : cert;
    if (ok && is_ca)
        ok = s_add_ext(cert, ext_issuer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             s_add_ext(cert, ext_issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    else if (ok)
        ok = s_add_ext(cert, ext_issuer, NID_basic_constraints, "critical,CA:FALSE") &&
             s_add_ext(cert, ext_issuer, NID_key_usage, "critical,digitalSignature");
    ok = ok && s_add_ext(cert, ext_issuer, NID_subject_key_identifier, "hash");
    if (ok && issuer)
        ok = s_add_ext(cert, ext_issuer, NID_authority_key_identifier, "keyid:always");
    if (ok && curve_hex) {
        snprintf(san, sizeof san, "URI:urn:remiss:curve25519:%s", curve_hex);
        ok = s_add_ext(cert, ext_issuer, NID_subject_alt_name, san);
    }
    const EVP_MD *md = EVP_PKEY_get_base_id(ca_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    ok = ok && X509_sign(cert, ca_key, md) > 0;
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

/* Makes a CURVE key pair; writes the Z85 secret to dir/name (0600) and
 * returns the public key as 64 hex digits in hex. */
static remiss_code_t
s_make_curve(const char *dir, const char *name, char hex[65], remiss_err_t *err)
{
    char pub_z85[41], sec_z85[41], line[42];
    uint8_t pub[32];
    if (zmq_curve_keypair(pub_z85, sec_z85) != 0 || !zmq_z85_decode(pub, pub_z85))
        return remiss_err_set(err, REMISS_E_INTERNAL,
                              "cannot make a CURVE key pair (libzmq without CURVE?)");
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", pub[i]);
    snprintf(line, sizeof line, "%s\n", sec_z85);
    remiss_code_t r = s_write_file(dir, name, line, strlen(line), true, err);
    OPENSSL_cleanse(sec_z85, sizeof sec_z85);
    OPENSSL_cleanse(line, sizeof line);
    return r;
}

static bool
s_exists(const char *dir, const char *name)
{
    char path[4096];
    return pki_path(path, sizeof path, dir, name) && access(path, F_OK) == 0;
}

/* Signs and writes a CRL listing the given revoked entries (may be NULL). */
static remiss_code_t
s_write_crl(const char *dir, X509 *ca, EVP_PKEY *ca_key, const STACK_OF(X509_REVOKED) * revoked,
            remiss_err_t *err)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
    ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL), S_CRL_DAYS, 0);
    bool ok = crl && last && next && X509_CRL_set_version(crl, 1) &&
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
              X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next);
    for (int i = 0; ok && revoked && i < sk_X509_REVOKED_num(revoked); i++) {
        X509_REVOKED *dup = X509_REVOKED_dup(sk_X509_REVOKED_value(revoked, i));
        ok = dup && X509_CRL_add0_revoked(crl, dup);
        if (!ok)
            X509_REVOKED_free(dup);
    }
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
    remiss_code_t r = ok ? s_write_pem(dir, "crl.pem", s_pem_crl, crl, false, err)
                         : remiss_err_set(err, REMISS_E_INTERNAL, "cannot sign the CRL");
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    return r;
}

/* mkdir -p: creates dir and its missing parents. */
static bool
s_mkdir_p(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return false;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return false;
            *p = '/';
        }
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* The broker's Ed25519 key for C2SP checkpoints (broker/witnesses.c). */
static remiss_code_t
s_make_logkey(const char *dir, remiss_err_t *err)
{
    char path[4096];
    if (!pki_path(path, sizeof path, dir, "broker.logkey"))
        return remiss_err_set(err, REMISS_E_CONFIG, "path too long under %s", dir);
    return note_key_generate(path, err);
}

remiss_code_t
pki_init(const char *dir, remiss_err_t *err)
{
    remiss_code_t r = REMISS_E_INTERNAL;
    EVP_PKEY *ca_key = NULL, *broker_key = NULL;
    X509 *ca = NULL, *broker = NULL;
    char curve_hex[65], secret_hex[66];
    uint8_t secret[32];
    char parties[4096];

    if (!s_mkdir_p(dir))
        return remiss_err_set(err, REMISS_E_IO, "cannot create %s: %s", dir, strerror(errno));
    if (s_exists(dir, "ca.key"))
        return remiss_err_set(err, REMISS_E_CONFIG, "%s already holds a CA; not overwriting it",
                              dir);
    if (!pki_path(parties, sizeof parties, dir, "parties") ||
        (mkdir(parties, 0755) != 0 && errno != EEXIST))
        return remiss_err_set(err, REMISS_E_IO, "cannot create %s/parties", dir);

    if (!(ca_key = s_keygen(PKI_KEY_P256)) || !(broker_key = s_keygen(PKI_KEY_P256))) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot generate keys");
        goto out;
    }
    if (!(ca = s_make_cert(ca_key, "remiss-federation-ca", "ca", NULL, NULL, ca_key, S_CA_DAYS,
                           true))) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot make the CA certificate");
        goto out;
    }
    if ((r = s_make_curve(dir, "broker.curve", curve_hex, err)) != REMISS_OK)
        goto out;
    if (!(broker = s_make_cert(broker_key, "broker", "broker", curve_hex, ca, ca_key, S_CA_DAYS,
                               false))) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot make the broker certificate");
        goto out;
    }
    if (RAND_bytes(secret, sizeof secret) != 1) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "no randomness for the broker secret");
        goto out;
    }
    for (int i = 0; i < 32; i++)
        snprintf(secret_hex + 2 * i, 3, "%02x", secret[i]);
    secret_hex[64] = '\n';
    secret_hex[65] = '\0';
    if ((r = s_write_pem(dir, "ca.key", s_pem_key, ca_key, true, err)) != REMISS_OK ||
        (r = s_write_pem(dir, "ca.crt", s_pem_cert, ca, false, err)) != REMISS_OK ||
        (r = s_write_pem(dir, "broker.key", s_pem_key, broker_key, true, err)) != REMISS_OK ||
        (r = s_write_pem(dir, "broker.crt", s_pem_cert, broker, false, err)) != REMISS_OK ||
        (r = s_write_file(dir, "broker.secret", secret_hex, 65, true, err)) != REMISS_OK ||
        (r = s_make_logkey(dir, err)) != REMISS_OK ||
        (r = s_write_crl(dir, ca, ca_key, NULL, err)) != REMISS_OK)
        goto out;
    r = REMISS_OK;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(secret_hex, sizeof secret_hex);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(broker_key);
    X509_free(ca);
    X509_free(broker);
    return r;
}

/* Loads the CA certificate and key from dir. */
static remiss_code_t
s_load_ca(const char *dir, X509 **ca, EVP_PKEY **ca_key, remiss_err_t *err)
{
    char path[4096];
    *ca = NULL;
    *ca_key = NULL;
    if (!pki_path(path, sizeof path, dir, "ca.crt") || !(*ca = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if (!pki_path(path, sizeof path, dir, "ca.key") || !(*ca_key = pki_key_load(path, err))) {
        X509_free(*ca);
        *ca = NULL;
        return REMISS_E_CONFIG;
    }
    return REMISS_OK;
}

remiss_code_t
pki_issue(const char *dir, const char *party, const char *role, pki_keytype_t type, int days,
          remiss_err_t *err)
{
    remiss_code_t r;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL, *key = NULL;
    char name[128], curve_hex[65];

    if (!pki_id_valid(party) || !pki_id_valid(role) || strcmp(party, "broker") == 0 ||
        strcmp(role, "broker") == 0)
        return remiss_err_set(err, REMISS_E_USAGE,
                              "party id and role must be 1-63 of a-z, 0-9 and '-' (and neither "
                              "\"broker\": only pki init makes the broker's certificate)");
    if (days <= 0 || days > 3650)
        return remiss_err_set(err, REMISS_E_USAGE, "validity must be 1..3650 days");
    snprintf(name, sizeof name, "parties/%s.crt", party);
    if (s_exists(dir, name))
        return remiss_err_set(err, REMISS_E_CONFIG, "party %s already has a certificate", party);
    if ((r = s_load_ca(dir, &ca, &ca_key, err)) != REMISS_OK)
        return r;
    if (!(key = s_keygen(type))) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot generate a key");
        goto out;
    }
    snprintf(name, sizeof name, "parties/%s.curve", party);
    if ((r = s_make_curve(dir, name, curve_hex, err)) != REMISS_OK)
        goto out;
    if (!(cert = s_make_cert(key, party, role, curve_hex, ca, ca_key, days, false))) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot make the certificate");
        goto out;
    }
    snprintf(name, sizeof name, "parties/%s.key", party);
    if ((r = s_write_pem(dir, name, s_pem_key, key, true, err)) != REMISS_OK)
        goto out;
    snprintf(name, sizeof name, "parties/%s.crt", party);
    r = s_write_pem(dir, name, s_pem_cert, cert, false, err);
out:
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    X509_free(cert);
    X509_free(ca);
    return r;
}

remiss_code_t
pki_revoke(const char *dir, const char *party, remiss_err_t *err)
{
    remiss_code_t r;
    X509 *ca = NULL, *cert = NULL;
    EVP_PKEY *ca_key = NULL;
    X509_CRL *old = NULL;
    X509_REVOKED *entry = NULL;
    STACK_OF(X509_REVOKED) *list = NULL;
    ASN1_TIME *now = NULL;
    char path[4096], name[128];
    FILE *f;

    if (!pki_id_valid(party))
        return remiss_err_set(err, REMISS_E_USAGE, "not a valid party id");
    snprintf(name, sizeof name, "parties/%s.crt", party);
    if (!pki_path(path, sizeof path, dir, name) || !(cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if ((r = s_load_ca(dir, &ca, &ca_key, err)) != REMISS_OK)
        goto out;
    list = sk_X509_REVOKED_new_null();
    if (pki_path(path, sizeof path, dir, "crl.pem") && (f = fopen(path, "r"))) {
        old = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        fclose(f);
        if (!old || X509_CRL_verify(old, X509_get0_pubkey(ca)) != 1) {
            r = remiss_err_set(err, REMISS_E_CONFIG, "the existing CRL is not valid");
            goto out;
        }
    }
    STACK_OF(X509_REVOKED) *prev = old ? X509_CRL_get_REVOKED(old) : NULL;
    for (int i = 0; prev && i < sk_X509_REVOKED_num(prev); i++) {
        const X509_REVOKED *rv = sk_X509_REVOKED_value(prev, i);
        if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(rv), X509_get0_serialNumber(cert)) ==
            0) {
            r = REMISS_OK; /* already revoked: nothing to do */
            goto out;
        }
        sk_X509_REVOKED_push(list, (X509_REVOKED *)rv);
    }
    entry = X509_REVOKED_new();
    now = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
    if (!list || !entry || !now ||
        !X509_REVOKED_set_serialNumber(entry, (ASN1_INTEGER *)X509_get0_serialNumber(cert)) ||
        !X509_REVOKED_set_revocationDate(entry, now) || !sk_X509_REVOKED_push(list, entry)) {
        r = remiss_err_set(err, REMISS_E_INTERNAL, "cannot build the revocation entry");
        goto out;
    }
    r = s_write_crl(dir, ca, ca_key, list, err);
out:
    sk_X509_REVOKED_free(list); /* entries are owned by old CRL / entry below */
    X509_REVOKED_free(entry);
    ASN1_TIME_free(now);
    X509_CRL_free(old);
    X509_free(cert);
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    return r;
}
