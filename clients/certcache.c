/* certcache: see certcache.h. */
#include "certcache.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct certcache {
    certcache_entry_t entries[CERTCACHE_SIZE]; /* verified sender certificates */
};

certcache_t *
certcache_new(void)
{
    return calloc(1, sizeof(certcache_t));
}

void
certcache_free(certcache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < CERTCACHE_SIZE; i++)
        X509_free((*self_p)->entries[i].cert);
    free(*self_p);
    *self_p = NULL;
}

/* The sender certificate of a delivery, verified against the CA (and CRL)
 * or taken from the cache. The entry belongs to the cache. */
remiss_code_t
certcache_get(certcache_t *self, pki_trust_t *trust, const uint8_t *der, size_t len, int64_t now,
              const certcache_entry_t **out, remiss_err_t *err)
{
    uint8_t h[32];
    unsigned int hl = 32;
    certcache_entry_t *slot = &self->entries[0];
    *out = NULL;
    if (!der || len == 0 || EVP_Digest(der, len, h, &hl, EVP_sha256(), NULL) != 1)
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the delivery lacks the sender's certificate");
    for (size_t i = 0; i < CERTCACHE_SIZE; i++) {
        certcache_entry_t *e = &self->entries[i];
        if (e->cert && memcmp(e->der_sha256, h, 32) == 0 &&
            now - e->checked_at < CERTCACHE_TTL_MS) {
            *out = e;
            return REMISS_OK;
        }
        if (!e->cert || e->checked_at < slot->checked_at)
            slot = e; /* empty, or the oldest: replaced below */
    }
    X509 *cert = pki_cert_from_der(der, len);
    if (!cert)
        return remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                              "the delivery lacks the sender's certificate");
    pki_identity_t id;
    remiss_code_t r = pki_verify_cert(trust, cert, 0, &id, err);
    /* A certificate revoked after the broker accepted the message does not
     * undo a signature made while it was valid; any other failure does. */
    if (r == REMISS_E_CERT_REVOKED)
        r = pki_cert_identity(cert, &id, err) == REMISS_OK ? REMISS_E_CERT_REVOKED
                                                           : REMISS_E_BAD_SIGNATURE;
    if (r != REMISS_OK && r != REMISS_E_CERT_REVOKED) {
        X509_free(cert);
        return r;
    }
    X509_free(slot->cert);
    memcpy(slot->der_sha256, h, 32);
    slot->cert = cert;
    slot->id = id;
    slot->verdict = r;
    slot->checked_at = now;
    *out = slot;
    return REMISS_OK;
}
