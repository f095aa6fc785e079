/* pki_admin: the dev/federation CA operations behind `remissctl pki`.
 * Writes the PKI directory layout described in pki.h with the OpenSSL 3
 * API. Private keys are written 0600 (umask 077 while writing). */
#ifndef PKI_ADMIN_H
#define PKI_ADMIN_H

#include "pki.h"

typedef enum pki_keytype { PKI_KEY_P256 = 0, PKI_KEY_RSA, PKI_KEY_ED25519 } pki_keytype_t;

/* Creates DIR with a new CA, broker certificate and keys, broker secret and
 * an empty CRL. Refuses a directory that already holds ca.key. */
remiss_code_t pki_init(const char *dir, remiss_err_t *err);

/* Issues a certificate, signing key and CURVE key for party with role,
 * valid for days days. Refuses an id that already has a certificate. */
remiss_code_t pki_issue(const char *dir, const char *party, const char *role, pki_keytype_t type,
                        int days, remiss_err_t *err);

/* Adds the party's certificate to the CRL and re-signs it. */
remiss_code_t pki_revoke(const char *dir, const char *party, remiss_err_t *err);

/* Parses "p256", "rsa" or "ed25519". */
bool pki_keytype_parse(const char *s, pki_keytype_t *out);

#endif
