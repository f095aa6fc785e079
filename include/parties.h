/* parties: the broker's registry of federation parties, read from the
 * certificates in PKI_DIR/parties/ and checked against the CA and its CRL.
 *
 * A certificate that does not chain to the CA is left out (and logged); a
 * revoked one is kept, marked revoked, so the broker can tell a revoked
 * party from a stranger. The registry is immutable once loaded: a reload
 * builds a new one and the broker swaps them. */
#ifndef PARTIES_H
#define PARTIES_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pki.h"
#include "remiss_code.h"

typedef struct party {
    char id[PKI_ID_MAX + 1];             /* party id (certificate CN) */
    char role[PKI_ID_MAX + 1];           /* role (certificate OU) */
    uint8_t curve_pub[PKI_CURVE_KEYLEN]; /* CURVE key the certificate binds */
    X509 *cert;                          /* the certificate */
    EVP_PKEY *pub;                       /* its public key (borrowed from cert) */
    uint8_t *der;                        /* DER bytes, sent along with deliveries */
    size_t der_len;
    bool revoked;      /* on the CRL */
    int64_t not_after; /* end of validity, seconds since the epoch */
} party_t;

typedef struct parties parties_t;

/* Seconds a CRL past its nextUpdate stays in force by default. */
#define PARTIES_CRL_GRACE 86400

/* Loads the registry from pki_dir (ca.crt, crl.pem, parties/ *.crt).
 * Returns NULL with err set if the CA or CRL cannot be used: the CRL must
 * exist, be signed by the CA and not be past its nextUpdate (fail closed;
 * a reload keeps the old registry). Every party stops being admissible
 * grace_s after the CRL's nextUpdate unless a new CRL is loaded first.
 * parties_load uses PARTIES_CRL_GRACE. */
parties_t *parties_load(const char *pki_dir, remiss_err_t *err);
parties_t *parties_load_grace(const char *pki_dir, int64_t grace_s, remiss_err_t *err);
/* nextUpdate of the CRL in force (seconds since the epoch). */
int64_t parties_crl_next_update(const parties_t *self);
void parties_free(parties_t **self_p);

/* Lookups; the returned party belongs to the registry. NULL if unknown. */
const party_t *parties_by_id(const parties_t *self, const char *id);
const party_t *parties_by_curve(const parties_t *self, const uint8_t key[PKI_CURVE_KEYLEN]);

size_t parties_count(const parties_t *self);
const party_t *parties_at(const parties_t *self, size_t i);

/* The trust anchors the registry was checked against (borrowed). */
const pki_trust_t *parties_trust(const parties_t *self);

/* True if the party may act now: known, not revoked, within validity. */
bool parties_admissible(const party_t *p, int64_t now_s);

#endif
