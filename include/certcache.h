/* certcache: sender certificates already verified. Parsing and chain
 * verification cost several times a signature check, and a party's
 * certificate rarely changes. Entries are checked again after
 * CERTCACHE_TTL_MS (a CRL may have changed on disk); the oldest entry is
 * replaced when the cache is full. */
#ifndef CERTCACHE_H
#define CERTCACHE_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "pki.h"
#include "remiss_code.h"

#define CERTCACHE_SIZE   64
#define CERTCACHE_TTL_MS 60000

typedef struct certcache_entry {
    uint8_t der_sha256[32]; /* which certificate */
    X509 *cert;             /* parsed */
    pki_identity_t id;      /* what it names */
    remiss_code_t verdict;  /* REMISS_OK, or E_CERT_REVOKED (signature still usable) */
    int64_t checked_at;     /* ms */
} certcache_entry_t;

typedef struct certcache certcache_t;

/* An empty cache, NULL when out of memory; free with certcache_free. */
certcache_t *certcache_new(void);
void certcache_free(certcache_t **self_p);

/* The certificate of DER bytes, verified against trust (CA and CRL) at
 * now (ms) or taken from the cache. *out belongs to the cache and stays
 * valid until the next call. A revoked certificate is returned with
 * verdict E_CERT_REVOKED (a signature made while it was valid still
 * counts); any other failure is returned as the error
 * (E_BAD_SIGNATURE for missing or unparseable DER). */
remiss_code_t certcache_get(certcache_t *self, pki_trust_t *trust, const uint8_t *der, size_t len,
                            int64_t now, const certcache_entry_t **out, remiss_err_t *err);

#endif
