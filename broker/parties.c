/* parties: registry of federation parties from their certificates. */
#include "parties.h"

#include <dirent.h>
#include <openssl/asn1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct parties {
    pki_trust_t *trust; /* CA + CRL the certificates were checked against */
    int64_t crl_until;  /* the CRL's nextUpdate + grace: nobody is admissible after */
    party_t *items;     /* sorted by id */
    size_t count;
};

static int
s_cmp_id(const void *a, const void *b)
{
    return strcmp(((const party_t *)a)->id, ((const party_t *)b)->id);
}

static void
s_party_clear(party_t *p)
{
    X509_free(p->cert);
    OPENSSL_free(p->der);
    memset(p, 0, sizeof *p);
}

/* Loads one certificate file into *p; false (with a log line) to skip it. */
static bool
s_load_one(parties_t *self, const char *path, party_t *p)
{
    remiss_err_t err;
    memset(p, 0, sizeof *p);
    X509 *cert = pki_cert_load(path, &err);
    if (!cert) {
        log_emit(LOG_WARN, "party_skipped", "file=%s reason=unreadable", path);
        return false;
    }
    pki_identity_t id;
    remiss_code_t r = pki_verify_cert(self->trust, cert, 0, &id, &err);
    if (r == REMISS_E_CERT_REVOKED) {
        /* Keep it to answer E_CERT_REVOKED; the identity is still readable. */
        if (pki_cert_identity(cert, &id, &err) != REMISS_OK) {
            X509_free(cert);
            return false;
        }
        p->revoked = true;
    } else if (r != REMISS_OK) {
        char q[400];
        log_emit(LOG_WARN, "party_skipped", "file=%s reason=%s", path,
                 log_quote(q, sizeof q, err.text));
        X509_free(cert);
        return false;
    }
    /* The broker's identity is the broker's alone (CN and OU "broker"). */
    if (strcmp(id.party, "broker") == 0 || strcmp(id.role, "broker") == 0) {
        log_emit(LOG_WARN, "party_skipped", "file=%s reason=\"broker identity\"", path);
        X509_free(cert);
        return false;
    }
    memcpy(p->id, id.party, sizeof p->id);
    memcpy(p->role, id.role, sizeof p->role);
    memcpy(p->curve_pub, id.curve_pub, sizeof p->curve_pub);
    p->cert = cert;
    p->pub = X509_get0_pubkey(cert);
    p->der = pki_cert_to_der(cert, &p->der_len);
    struct tm tm;
    if (!p->pub || !p->der || !ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) {
        s_party_clear(p);
        return false;
    }
    p->not_after = (int64_t)timegm(&tm);
    return true;
}

parties_t *
parties_load(const char *pki_dir, remiss_err_t *err)
{
    return parties_load_grace(pki_dir, PARTIES_CRL_GRACE, err);
}

parties_t *
parties_load_grace(const char *pki_dir, int64_t grace_s, remiss_err_t *err)
{
    char ca[4096], crl[4096], dir[4096], path[4400];
    parties_t *self = calloc(1, sizeof *self);
    DIR *d = NULL;
    size_t cap = 0;
    if (!self)
        return NULL;
    if (!pki_path(ca, sizeof ca, pki_dir, "ca.crt") ||
        !pki_path(crl, sizeof crl, pki_dir, "crl.pem") ||
        !pki_path(dir, sizeof dir, pki_dir, "parties")) {
        remiss_err_set(err, REMISS_E_CONFIG, "PKI path too long");
        goto fail;
    }
    /* Fail closed: no usable, current CRL, no registry (the caller keeps
     * the old one in force). */
    if (!(self->trust = pki_trust_load_strict(ca, crl, (int64_t)time(NULL), err)))
        goto fail;
    self->crl_until = pki_trust_crl_next_update(self->trust) + grace_s;
    if (!(d = opendir(dir))) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot open %s", dir);
        goto fail;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".crt") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (self->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            party_t *grown = realloc(self->items, ncap * sizeof *grown);
            if (!grown) {
                remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
                goto fail;
            }
            self->items = grown;
            cap = ncap;
        }
        party_t *p = &self->items[self->count];
        if (!s_load_one(self, path, p))
            continue;
        /* The file name must match the certificate: parties/ID.crt. */
        if (strlen(p->id) != n - 4 || strncmp(p->id, de->d_name, n - 4) != 0) {
            log_emit(LOG_WARN, "party_skipped", "file=%s reason=\"file name differs from CN\"",
                     path);
            s_party_clear(p);
            continue;
        }
        /* A CRL that is not replaced in time stops everyone. */
        if (p->not_after > self->crl_until)
            p->not_after = self->crl_until;
        self->count++;
    }
    closedir(d);
    d = NULL;
    qsort(self->items, self->count, sizeof *self->items, s_cmp_id);
    for (size_t i = 1; i < self->count; i++)
        for (size_t j = 0; j < i; j++)
            if (memcmp(self->items[i].curve_pub, self->items[j].curve_pub, PKI_CURVE_KEYLEN) == 0) {
                remiss_err_set(err, REMISS_E_CONFIG, "parties %s and %s share a CURVE key",
                               self->items[j].id, self->items[i].id);
                goto fail;
            }
    return self;
fail:
    if (d)
        closedir(d);
    parties_free(&self);
    return NULL;
}

void
parties_free(parties_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    parties_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_party_clear(&self->items[i]);
    free(self->items);
    pki_trust_free(&self->trust);
    free(self);
    *self_p = NULL;
}

const party_t *
parties_by_id(const parties_t *self, const char *id)
{
    if (!self || !id || strlen(id) > PKI_ID_MAX)
        return NULL;
    party_t key;
    memset(&key, 0, sizeof key);
    strcpy(key.id, id);
    return bsearch(&key, self->items, self->count, sizeof key, s_cmp_id);
}

const party_t *
parties_by_curve(const parties_t *self, const uint8_t key[PKI_CURVE_KEYLEN])
{
    for (size_t i = 0; self && i < self->count; i++)
        if (memcmp(self->items[i].curve_pub, key, PKI_CURVE_KEYLEN) == 0)
            return &self->items[i];
    return NULL;
}

size_t
parties_count(const parties_t *self)
{
    return self ? self->count : 0;
}

const party_t *
parties_at(const parties_t *self, size_t i)
{
    return self && i < self->count ? &self->items[i] : NULL;
}

int64_t
parties_crl_next_update(const parties_t *self)
{
    return self ? pki_trust_crl_next_update(self->trust) : 0;
}

const pki_trust_t *
parties_trust(const parties_t *self)
{
    return self ? self->trust : NULL;
}

bool
parties_admissible(const party_t *p, int64_t now_s)
{
    return p && !p->revoked && now_s < p->not_after;
}
