/* gw_tls: the TLS side of remiss-gateway, for a case system on another
 * host. The gateway's certificate and key and the CA that issues the case
 * systems' client certificates, read from files (the key refused unless
 * mode 0600 or stricter), and the check, per connection, that the client
 * presented a certificate that CA issued. libmicrohttpd does the TLS with
 * GnuTLS; it only *requests* a client certificate, so gw_http asks
 * gw_tls_peer_verified on every request and answers 403 without one. */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdbool.h>

#include "remiss_code.h"

typedef struct gw_tls gw_tls_t;

/* Reads the three PEM files. NULL with err (REMISS_E_CONFIG) if one cannot
 * be read, is too large, holds no PEM block or, for the key, may be read by
 * group or others. The caller frees with gw_tls_free. */
gw_tls_t *gw_tls_load(const char *cert_file, const char *key_file, const char *client_ca_file,
                      remiss_err_t *err);

/* Wipes the key and frees; accepts NULL and sets *self_p to NULL. */
void gw_tls_free(gw_tls_t **self_p);

/* The PEM texts, NUL-terminated, borrowed for the life of self. */
const char *gw_tls_cert_pem(const gw_tls_t *self);
const char *gw_tls_key_pem(const gw_tls_t *self);
const char *gw_tls_client_ca_pem(const gw_tls_t *self);

/* The GnuTLS priority string: TLS 1.2 and 1.3 only. */
const char *gw_tls_priorities(void);

/* True only if session (a gnutls_session_t) carries an X.509 client
 * certificate that verifies against the client CA (chain, signature,
 * validity dates). False for NULL, no certificate or any failure. */
bool gw_tls_peer_verified(void *session);

#endif
