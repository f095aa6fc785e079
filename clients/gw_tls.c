/* gw_tls: certificate files and client-certificate checks for remiss-gateway. */
#include "gw_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PEM_MAX (1024 * 1024) /* a certificate chain or CA bundle at most */

struct gw_tls {
    char *cert;      /* the gateway's certificate (chain), PEM */
    char *key;       /* its private key, PEM; wiped on free */
    size_t key_size; /* bytes allocated for key */
    char *client_ca; /* the CA(s) of the case systems' certificates, PEM */
};

/* The whole file as a NUL-terminated string; private refuses group/other
 * permission bits. */
static char *
s_read_pem(const char *path, bool private, size_t *size, remiss_err_t *err)
{
    struct stat st;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > S_PEM_MAX) {
        remiss_err_set(err, REMISS_E_CONFIG, "%s: not a file of 1 to %d bytes", path, S_PEM_MAX);
    } else if (private && (st.st_mode & 077) != 0) {
        remiss_err_set(err, REMISS_E_CONFIG, "%s may be read by group or others: make it mode 0600",
                       path);
    } else if ((buf = calloc(1, (size_t)st.st_size + 1)) != NULL) {
        *size = (size_t)st.st_size + 1;
        if (read(fd, buf, (size_t)st.st_size) != st.st_size || !strstr(buf, "-----BEGIN ")) {
            remiss_err_set(err, REMISS_E_CONFIG, "%s: no PEM block", path);
            OPENSSL_clear_free(buf, *size);
            buf = NULL;
        }
    } else {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    }
    close(fd);
    return buf;
}

gw_tls_t *
gw_tls_load(const char *cert_file, const char *key_file, const char *client_ca_file,
            remiss_err_t *err)
{
    size_t ignored;
    gw_tls_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    if (!(self->cert = s_read_pem(cert_file, false, &ignored, err)) ||
        !(self->key = s_read_pem(key_file, true, &self->key_size, err)) ||
        !(self->client_ca = s_read_pem(client_ca_file, false, &ignored, err)))
        gw_tls_free(&self);
    return self;
}

void
gw_tls_free(gw_tls_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_tls_t *self = *self_p;
    if (self->key)
        OPENSSL_clear_free(self->key, self->key_size);
    free(self->cert);
    free(self->client_ca);
    free(self);
    *self_p = NULL;
}

const char *
gw_tls_cert_pem(const gw_tls_t *self)
{
    return self->cert;
}

const char *
gw_tls_key_pem(const gw_tls_t *self)
{
    return self->key;
}

const char *
gw_tls_client_ca_pem(const gw_tls_t *self)
{
    return self->client_ca;
}

const char *
gw_tls_priorities(void)
{
    return "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

bool
gw_tls_peer_verified(void *session)
{
    gnutls_session_t s = session;
    unsigned int n = 0, status = ~0u;
    if (!s || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
        return false;
    if (!gnutls_certificate_get_peers(s, &n) || n == 0)
        return false;
    return gnutls_certificate_verify_peers2(s, &status) == GNUTLS_E_SUCCESS && status == 0;
}
