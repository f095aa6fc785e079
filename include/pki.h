/* pki: the federation's X.509 PKI and the CURVE keys bound to it.
 *
 * One federation CA issues the broker's and every party's certificate. A
 * certificate names the holder in its subject (CN = party id, OU = role) and
 * binds the holder's ZeroMQ CURVE public key as a subjectAltName URI
 *     urn:remiss:curve25519:<64 lowercase hex digits>
 * so whoever trusts the CA can map a CURVE key to a party and back.
 *
 * Layout of a PKI directory (what `remissctl pki init/issue` writes):
 *     ca.crt, ca.key            federation CA (ca.key only where the CA is run)
 *     crl.pem                   certificate revocation list signed by the CA
 *     broker.crt, broker.key    broker certificate and signing key
 *     broker.curve              broker CURVE secret key (Z85)
 *     broker.secret             broker HMAC key for audit pseudonyms (hex)
 *     broker.logkey             broker Ed25519 key for C2SP checkpoints (PEM)
 *     broker.vkey               its public vkey, written by remissd at start
 *     parties/ID.crt            a party's certificate
 *     parties/ID.key            its signing key (only at that party)
 *     parties/ID.curve          its CURVE secret key (only at that party)
 * Private key files are written 0600 and refused when group/other can read.
 *
 * Signatures cover the ASCII context label, one 0x00 byte and the data
 * (see proto/remiss.proto): ECDSA with SHA-256, RSA-PSS with SHA-256,
 * Ed25519 pure. */
#ifndef PKI_H
#define PKI_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define PKI_ID_MAX       63 /* longest party id or role */
#define PKI_CURVE_KEYLEN 32
#define PKI_SIG_MAX      512 /* largest signature we produce or accept (RSA-4096) */

#define PKI_CTX_ENVELOPE "remiss-envelope-v1"
#define PKI_CTX_RECEIPT  "remiss-receipt-v1"
#define PKI_CTX_RECEIPTS "remiss-receipts-v1"
#define PKI_CTX_TREEHEAD "remiss-treehead-v1"

/* The identity a verified certificate names. */
typedef struct pki_identity {
    char party[PKI_ID_MAX + 1];          /* CN */
    char role[PKI_ID_MAX + 1];           /* OU */
    uint8_t curve_pub[PKI_CURVE_KEYLEN]; /* from the SAN URI */
} pki_identity_t;

/* Trust anchors: the CA certificate and (optionally) its CRL. */
typedef struct pki_trust pki_trust_t;

/* Loads ca.crt and, if crl_path is not NULL and the file exists, the CRL.
 * Returns NULL with err set on failure. Caller frees with pki_trust_free. */
pki_trust_t *pki_trust_load(const char *ca_path, const char *crl_path, remiss_err_t *err);
/* As pki_trust_load, but fails closed: the CRL must exist, be signed by the
 * CA, have a nextUpdate and that must be after now_s (the broker). */
pki_trust_t *pki_trust_load_strict(const char *ca_path, const char *crl_path, int64_t now_s,
                                   remiss_err_t *err);
/* nextUpdate of the loaded CRL in seconds since the epoch; 0 without one. */
int64_t pki_trust_crl_next_update(const pki_trust_t *self);
void pki_trust_free(pki_trust_t **self_p);

/* The CA certificate's notAfter and the loaded CRL's nextUpdate as Unix
 * seconds (0 when there is no CRL or it names no next update), for
 * expiry metrics, `remissd --check-config` and `remissctl status`. */
int64_t pki_trust_ca_not_after(const pki_trust_t *trust);
int64_t pki_trust_crl_next_update(const pki_trust_t *trust);
/* A certificate's notAfter as Unix seconds (0 if unreadable). */
int64_t pki_cert_not_after(const X509 *cert);

/* Verifies that cert chains to the CA, is within its validity period at
 * `now` (seconds since the epoch; 0 = current time), is not revoked and
 * carries a well-formed identity; fills *id. Returns REMISS_OK,
 * REMISS_E_CERT_REVOKED or REMISS_E_BAD_SIGNATURE (any other failure),
 * with the reason in err. */
remiss_code_t pki_verify_cert(const pki_trust_t *trust, X509 *cert, int64_t now, pki_identity_t *id,
                              remiss_err_t *err);

/* Reads the identity of a certificate without verifying it. */
remiss_code_t pki_cert_identity(X509 *cert, pki_identity_t *id, remiss_err_t *err);

/* PEM and DER helpers. Returned objects belong to the caller. */
X509 *pki_cert_load(const char *path, remiss_err_t *err);
X509 *pki_cert_from_der(const uint8_t *der, size_t len);
/* DER encoding into a malloc'd buffer; caller frees. NULL on failure. */
uint8_t *pki_cert_to_der(X509 *cert, size_t *len);

/* Loads a private key from a PEM file that only its owner may read. */
EVP_PKEY *pki_key_load(const char *path, remiss_err_t *err);

/* Reads a CURVE secret key file (Z85, 40 characters) into secret and derives
 * public. Refuses a file group/other can read. */
remiss_code_t pki_curve_load(const char *path, uint8_t secret[PKI_CURVE_KEYLEN],
                             uint8_t public_key[PKI_CURVE_KEYLEN], remiss_err_t *err);

/* Signs ctx || 0x00 || data with key. sig must hold PKI_SIG_MAX bytes;
 * *siglen is set. Returns false on failure. */
bool pki_sign(EVP_PKEY *key, const char *ctx, const uint8_t *data, size_t len, uint8_t *sig,
              size_t *siglen);

/* Verifies sig over ctx || 0x00 || data with the public key. */
bool pki_verify(EVP_PKEY *pub, const char *ctx, const uint8_t *data, size_t len, const uint8_t *sig,
                size_t siglen);

/* True if s is a valid party id or role: 1..63 of [a-z0-9-], starting with a
 * letter or digit. */
bool pki_id_valid(const char *s);

/* Builds "DIR/NAME" into buf; false if it does not fit. */
bool pki_path(char *buf, size_t size, const char *dir, const char *name);

#endif
