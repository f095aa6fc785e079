/* Tests for pki and pki_admin: a real temporary PKI, every key type,
 * revocation, foreign CAs, key file permissions. */
#include <criterion/criterion.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pki.h"
#include "pki_admin.h"

static char s_dir[64];

static void
s_setup(void)
{
    strcpy(s_dir, "/tmp/remiss-pki-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    remiss_err_t err;
    cr_assert_eq(pki_init(s_dir, &err), REMISS_OK, "%s", err.text);
}

static void
s_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

static X509 *
s_cert(const char *dir, const char *party)
{
    char path[256];
    snprintf(path, sizeof path, "%s/parties/%s.crt", dir, party);
    X509 *c = pki_cert_load(path, NULL);
    cr_assert_not_null(c);
    return c;
}

static pki_trust_t *
s_trust(const char *dir)
{
    char ca[256], crl[256];
    remiss_err_t err;
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(crl, sizeof crl, "%s/crl.pem", dir);
    pki_trust_t *t = pki_trust_load(ca, crl, &err);
    cr_assert_not_null(t, "%s", err.text);
    return t;
}

static mode_t
s_mode(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return st.st_mode & 0777;
}

TestSuite(pki, .init = s_setup, .fini = s_teardown);

Test(pki, init_writes_keys_0600)
{
    cr_assert_eq(s_mode(s_dir, "ca.key"), 0600);
    cr_assert_eq(s_mode(s_dir, "broker.key"), 0600);
    cr_assert_eq(s_mode(s_dir, "broker.curve"), 0600);
    cr_assert_eq(s_mode(s_dir, "broker.secret"), 0600);
    remiss_err_t err;
    cr_assert_eq(pki_init(s_dir, &err), REMISS_E_CONFIG, "a second init must not overwrite");
}

Test(pki, issue_verify_and_sign_every_key_type)
{
    const char *types[] = {"p256", "rsa", "ed25519"};
    pki_trust_t *trust = s_trust(s_dir);
    for (int i = 0; i < 3; i++) {
        pki_keytype_t kt;
        char party[32], keyname[64], path[256];
        remiss_err_t err;
        cr_assert(pki_keytype_parse(types[i], &kt));
        snprintf(party, sizeof party, "party-%s", types[i]);
        cr_assert_eq(pki_issue(s_dir, party, "sdf", kt, 30, &err), REMISS_OK, "%s", err.text);
        snprintf(keyname, sizeof keyname, "parties/%s.key", party);
        cr_assert_eq(s_mode(s_dir, keyname), 0600);

        X509 *cert = s_cert(s_dir, party);
        pki_identity_t id;
        cr_assert_eq(pki_verify_cert(trust, cert, 0, &id, &err), REMISS_OK, "%s", err.text);
        cr_assert_str_eq(id.party, party);
        cr_assert_str_eq(id.role, "sdf");

        /* The certificate binds the CURVE key in the party's .curve file. */
        uint8_t sec[32], pub[32];
        snprintf(path, sizeof path, "%s/parties/%s.curve", s_dir, party);
        cr_assert_eq(pki_curve_load(path, sec, pub, &err), REMISS_OK, "%s", err.text);
        cr_assert_arr_eq(pub, id.curve_pub, 32);

        snprintf(path, sizeof path, "%s/%s", s_dir, keyname);
        EVP_PKEY *key = pki_key_load(path, &err);
        cr_assert_not_null(key, "%s", err.text);
        uint8_t msg[100], sig[PKI_SIG_MAX];
        size_t siglen;
        memset(msg, 0x5a, sizeof msg);
        cr_assert(pki_sign(key, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, &siglen));
        EVP_PKEY *pubkey = X509_get0_pubkey(cert);
        cr_assert(pki_verify(pubkey, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, siglen));
        /* Another context label, one flipped data bit, one flipped signature
         * bit: each fails. */
        cr_assert_not(pki_verify(pubkey, PKI_CTX_RECEIPT, msg, sizeof msg, sig, siglen));
        msg[7] ^= 1;
        cr_assert_not(pki_verify(pubkey, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, siglen));
        msg[7] ^= 1;
        sig[siglen / 2] ^= 0x10;
        cr_assert_not(pki_verify(pubkey, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, siglen));
        cr_assert_not(pki_verify(pubkey, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, 0));
        EVP_PKEY_free(key);
        X509_free(cert);
    }
    pki_trust_free(&trust);
    cr_assert_null(trust);
}

Test(pki, revoked_certificate_is_refused)
{
    remiss_err_t err;
    pki_identity_t id;
    cr_assert_eq(pki_issue(s_dir, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err), REMISS_OK);
    cr_assert_eq(pki_issue(s_dir, "sdf-sodermalm", "sdf", PKI_KEY_P256, 30, &err), REMISS_OK);
    cr_assert_eq(pki_revoke(s_dir, "jobbtorg", &err), REMISS_OK, "%s", err.text);
    pki_trust_t *trust = s_trust(s_dir);
    X509 *a = s_cert(s_dir, "jobbtorg"), *b = s_cert(s_dir, "sdf-sodermalm");
    cr_assert_eq(pki_verify_cert(trust, a, 0, &id, &err), REMISS_E_CERT_REVOKED);
    cr_assert_eq(pki_verify_cert(trust, b, 0, &id, &err), REMISS_OK, "%s", err.text);
    /* Revoking a second party keeps the first on the list. */
    cr_assert_eq(pki_revoke(s_dir, "sdf-sodermalm", &err), REMISS_OK);
    pki_trust_free(&trust);
    trust = s_trust(s_dir);
    cr_assert_eq(pki_verify_cert(trust, a, 0, &id, &err), REMISS_E_CERT_REVOKED);
    cr_assert_eq(pki_verify_cert(trust, b, 0, &id, &err), REMISS_E_CERT_REVOKED);
    X509_free(a);
    X509_free(b);
    pki_trust_free(&trust);
}

Test(pki, foreign_ca_and_expiry_are_refused)
{
    char other[64] = "/tmp/remiss-pki2-XXXXXX", cmd[128];
    remiss_err_t err;
    pki_identity_t id;
    cr_assert_not_null(mkdtemp(other));
    cr_assert_eq(pki_init(other, &err), REMISS_OK);
    cr_assert_eq(pki_issue(other, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err), REMISS_OK);
    pki_trust_t *trust = s_trust(s_dir);
    X509 *foreign = s_cert(other, "jobbtorg");
    cr_assert_eq(pki_verify_cert(trust, foreign, 0, &id, &err), REMISS_E_BAD_SIGNATURE);
    X509_free(foreign);

    cr_assert_eq(pki_issue(s_dir, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err), REMISS_OK);
    X509 *mine = s_cert(s_dir, "jobbtorg");
    int64_t in_40_days = (int64_t)time(NULL) + 40 * 86400;
    cr_assert_eq(pki_verify_cert(trust, mine, in_40_days, &id, &err), REMISS_E_BAD_SIGNATURE);
    cr_assert_eq(pki_verify_cert(trust, mine, 0, &id, &err), REMISS_OK);
    X509_free(mine);
    pki_trust_free(&trust);
    snprintf(cmd, sizeof cmd, "rm -rf %s", other);
    cr_assert_eq(system(cmd), 0);
}

Test(pki, readable_key_files_and_bad_ids_are_refused)
{
    char path[256];
    remiss_err_t err;
    snprintf(path, sizeof path, "%s/broker.key", s_dir);
    chmod(path, 0644);
    cr_assert_null(pki_key_load(path, &err));
    cr_assert_eq(err.code, REMISS_E_CONFIG);
    cr_assert(strstr(err.text, "chmod 600") != NULL);
    cr_assert_eq(pki_issue(s_dir, "Jobbtorg", "x", PKI_KEY_P256, 30, &err), REMISS_E_USAGE);
    cr_assert_eq(pki_issue(s_dir, "broker", "x", PKI_KEY_P256, 30, &err), REMISS_E_USAGE);
    cr_assert_eq(pki_issue(s_dir, "a/b", "x", PKI_KEY_P256, 30, &err), REMISS_E_USAGE);
    cr_assert_eq(pki_issue(s_dir, "ok", "x", PKI_KEY_P256, 30, &err), REMISS_OK);
    cr_assert_eq(pki_issue(s_dir, "ok", "x", PKI_KEY_P256, 30, &err), REMISS_E_CONFIG);
    cr_assert(pki_id_valid("sdf-rinkeby-kista"));
    cr_assert_not(pki_id_valid("-x"));
    cr_assert_not(pki_id_valid(""));
}

Test(pki, der_round_trip_rejects_trailing_bytes)
{
    remiss_err_t err;
    cr_assert_eq(pki_issue(s_dir, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err), REMISS_OK);
    X509 *c = s_cert(s_dir, "jobbtorg");
    size_t len;
    uint8_t *der = pki_cert_to_der(c, &len);
    cr_assert_not_null(der);
    X509 *back = pki_cert_from_der(der, len);
    cr_assert_not_null(back);
    X509_free(back);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, der, len);
    longer[len] = 0;
    cr_assert_null(pki_cert_from_der(longer, len + 1));
    for (size_t cut = 0; cut < len; cut += 7)
        cr_assert_null(pki_cert_from_der(der, cut));
    free(longer);
    OPENSSL_free(der);
    X509_free(c);
}
