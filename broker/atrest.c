/* atrest: per-record data keys wrapped by rotating KEKs (include/atrest.h). */
#include "atrest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_MAGIC    "RAE1"
#define S_MAGICLEN 4
#define S_KEYLEN   32
#define S_NONCE    12
#define S_TAG      16
#define S_MAXKEYS  16
/* Offsets in a sealed blob. */
#define S_OFF_KID   S_MAGICLEN
#define S_OFF_WNONC (S_OFF_KID + 4)
#define S_OFF_WKEY  (S_OFF_WNONC + S_NONCE)
#define S_OFF_WTAG  (S_OFF_WKEY + S_KEYLEN)
#define S_OFF_NONCE (S_OFF_WTAG + S_TAG)
#define S_OFF_BODY  (S_OFF_NONCE + S_NONCE)

typedef struct {
    uint32_t kid;
    uint8_t key[S_KEYLEN];
} s_kek_t;

struct atrest {
    char path[4096];
    s_kek_t ring[S_MAXKEYS];
    size_t n;            /* keys loaded; ring[n-1] has the highest kid */
    time_t checked;      /* last stat of the file */
    struct stat seen;    /* the file as last loaded */
    EVP_CIPHER *gcm;     /* fetched once */
    EVP_CIPHER_CTX *ctx; /* reused */
};

/* ------------------------------------------------------------ the KEK file */

static bool
s_hex32(const char *hex, uint8_t out[S_KEYLEN])
{
    for (size_t i = 0; i < S_KEYLEN; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return strlen(hex) == 2 * S_KEYLEN;
}

/* Reads the ring from the file: 0600, lines "KID HEX64", kids ascending. */
static remiss_code_t
s_ring_load(atrest_t *self, remiss_err_t *err)
{
    s_kek_t ring[S_MAXKEYS];
    size_t n = 0;
    char line[256], hex[80];
    struct stat st;
    FILE *f = fopen(self->path, "r");
    if (!f)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", self->path,
                              strerror(errno));
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077)) {
        fclose(f);
        return remiss_err_set(err, REMISS_E_CONFIG, "%s must be readable by its owner only",
                              self->path);
    }
    while (fgets(line, sizeof line, f)) {
        unsigned kid;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (n == S_MAXKEYS || sscanf(line, "%u %79s", &kid, hex) != 2 || kid == 0 ||
            (n && kid <= ring[n - 1].kid) || !s_hex32(hex, ring[n].key)) {
            fclose(f);
            OPENSSL_cleanse(ring, sizeof ring);
            return remiss_err_set(err, REMISS_E_CONFIG, "%s: malformed key line", self->path);
        }
        ring[n++].kid = kid;
    }
    fclose(f);
    if (n == 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s holds no key", self->path);
    OPENSSL_cleanse(self->ring, sizeof self->ring);
    memcpy(self->ring, ring, sizeof ring);
    OPENSSL_cleanse(ring, sizeof ring);
    self->n = n;
    self->seen = st;
    return REMISS_OK;
}

/* Writes ring[from..n) to the file: a 0600 temporary, fsync, rename. */
static remiss_code_t
s_ring_write(atrest_t *self, size_t from, remiss_err_t *err)
{
    char tmp[4200], line[96];
    snprintf(tmp, sizeof tmp, "%s.tmp", self->path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && fchmod(fd, 0600) == 0;
    struct stat old;
    /* Run as root on the broker's file: it stays the broker's. */
    if (ok && stat(self->path, &old) == 0 && fchown(fd, old.st_uid, old.st_gid) != 0)
        ok = false;
    for (size_t i = from; ok && i < self->n; i++) {
        int k = snprintf(line, sizeof line, "%u ", self->ring[i].kid);
        for (size_t j = 0; j < S_KEYLEN; j++)
            k += snprintf(line + k, sizeof line - (size_t)k, "%02x", self->ring[i].key[j]);
        line[k++] = '\n';
        ok = write(fd, line, (size_t)k) == k;
    }
    OPENSSL_cleanse(line, sizeof line);
    ok = ok && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    if (!ok || rename(tmp, self->path) != 0) {
        unlink(tmp);
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot write %s: %s", self->path,
                              strerror(errno));
    }
    return s_ring_load(self, err);
}

/* Re-reads the file when it changed (at most once a second unless
 * forced): a rotation by remissctl reaches the broker without a restart. */
static void
s_maybe_reload(atrest_t *self, bool force)
{
    struct stat st;
    time_t now = time(NULL);
    if (!force && now == self->checked)
        return;
    self->checked = now;
    if (stat(self->path, &st) != 0)
        return;
    if (st.st_ino != self->seen.st_ino || st.st_size != self->seen.st_size ||
        st.st_mtim.tv_sec != self->seen.st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != self->seen.st_mtim.tv_nsec)
        s_ring_load(self, NULL); /* a broken file keeps the ring in memory */
}

static const s_kek_t *
s_kek(atrest_t *self, uint32_t kid)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < self->n; i++)
            if (self->ring[i].kid == kid)
                return &self->ring[i];
        s_maybe_reload(self, true);
    }
    return NULL;
}

atrest_t *
atrest_open(const char *path, remiss_err_t *err)
{
    atrest_t *self = calloc(1, sizeof *self);
    if (!self || strlen(path) >= sizeof self->path) {
        free(self);
        remiss_err_set(err, REMISS_E_CONFIG, "the key file path is too long");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", path);
    self->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    self->ctx = EVP_CIPHER_CTX_new();
    remiss_code_t r = !self->gcm || !self->ctx
                          ? remiss_err_set(err, REMISS_E_INTERNAL, "no AES-256-GCM")
                      : access(path, F_OK) == 0 ? s_ring_load(self, err)
                                                : atrest_add_key(self, NULL, err);
    if (r != REMISS_OK)
        atrest_close(&self);
    self ? (void)(self->checked = time(NULL)) : (void)0;
    return self;
}

void
atrest_close(atrest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    EVP_CIPHER_free((*self_p)->gcm);
    EVP_CIPHER_CTX_free((*self_p)->ctx);
    OPENSSL_cleanse(*self_p, sizeof **self_p);
    free(*self_p);
    *self_p = NULL;
}

remiss_code_t
atrest_add_key(atrest_t *self, uint32_t *kid, remiss_err_t *err)
{
    if (self->n == S_MAXKEYS)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s holds %d keys: finish a rotation first",
                              self->path, S_MAXKEYS);
    s_kek_t *k = &self->ring[self->n];
    k->kid = self->n ? self->ring[self->n - 1].kid + 1 : 1;
    if (RAND_priv_bytes(k->key, S_KEYLEN) != 1)
        return remiss_err_set(err, REMISS_E_INTERNAL, "no randomness for a key");
    self->n++;
    if (kid)
        *kid = k->kid;
    return s_ring_write(self, 0, err);
}

remiss_code_t
atrest_drop_old_keys(atrest_t *self, remiss_err_t *err)
{
    return s_ring_write(self, self->n - 1, err);
}

uint32_t
atrest_current_kid(atrest_t *self)
{
    s_maybe_reload(self, false);
    return self->ring[self->n - 1].kid;
}

/* ------------------------------------------------------------ AES-256-GCM */

static bool
s_gcm(atrest_t *self, bool enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
      size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    int n = 0;
    EVP_CIPHER_CTX *c = self->ctx;
    bool ok = EVP_CipherInit_ex2(c, self->gcm, key, nonce, enc, NULL) == 1 &&
              (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
              (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
              (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, S_TAG, tag) == 1) &&
              EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) == 1 &&
              (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, S_TAG, tag) == 1);
    return ok;
}

bool
atrest_is_sealed(const uint8_t *blob, size_t len)
{
    return blob && len >= ATREST_OVERHEAD && memcmp(blob, S_MAGIC, S_MAGICLEN) == 0;
}

uint32_t
atrest_kid(const uint8_t *blob, size_t len)
{
    if (!atrest_is_sealed(blob, len))
        return 0;
    const uint8_t *p = blob + S_OFF_KID;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Wraps dek under the current KEK into blob's header. */
static bool
s_wrap(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t dek[S_KEYLEN],
       uint8_t *blob)
{
    s_maybe_reload(self, false);
    const s_kek_t *k = &self->ring[self->n - 1];
    memcpy(blob, S_MAGIC, S_MAGICLEN);
    for (int i = 0; i < 4; i++)
        blob[S_OFF_KID + i] = (uint8_t)(k->kid >> (24 - 8 * i));
    return RAND_bytes(blob + S_OFF_WNONC, S_NONCE) == 1 &&
           s_gcm(self, true, k->key, blob + S_OFF_WNONC, aad, aad_len, dek, S_KEYLEN,
                 blob + S_OFF_WKEY, blob + S_OFF_WTAG);
}

static bool
s_unwrap(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *blob, size_t len,
         uint8_t dek[S_KEYLEN])
{
    const s_kek_t *k = s_kek(self, atrest_kid(blob, len));
    uint8_t tag[S_TAG];
    memcpy(tag, blob + S_OFF_WTAG, S_TAG);
    return k && s_gcm(self, false, k->key, blob + S_OFF_WNONC, aad, aad_len, blob + S_OFF_WKEY,
                      S_KEYLEN, dek, tag);
}

bool
atrest_seal(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
            uint8_t **out, size_t *out_len)
{
    uint8_t dek[S_KEYLEN];
    uint8_t *blob = malloc(len + ATREST_OVERHEAD);
    bool ok = blob && RAND_priv_bytes(dek, S_KEYLEN) == 1 &&
              s_wrap(self, aad, aad_len, dek, blob) &&
              RAND_bytes(blob + S_OFF_NONCE, S_NONCE) == 1 &&
              s_gcm(self, true, dek, blob + S_OFF_NONCE, aad, aad_len, in, len, blob + S_OFF_BODY,
                    blob + S_OFF_BODY + len);
    OPENSSL_cleanse(dek, sizeof dek);
    if (!ok) {
        free(blob);
        return false;
    }
    *out = blob;
    *out_len = len + ATREST_OVERHEAD;
    return true;
}

bool
atrest_open_blob(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                 uint8_t **out, size_t *out_len)
{
    uint8_t dek[S_KEYLEN], tag[S_TAG];
    if (!atrest_is_sealed(in, len))
        return false;
    size_t body = len - ATREST_OVERHEAD;
    uint8_t *plain = malloc(body ? body : 1);
    memcpy(tag, in + len - S_TAG, S_TAG);
    bool ok =
        plain && s_unwrap(self, aad, aad_len, in, len, dek) &&
        s_gcm(self, false, dek, in + S_OFF_NONCE, aad, aad_len, in + S_OFF_BODY, body, plain, tag);
    OPENSSL_cleanse(dek, sizeof dek);
    if (!ok) {
        free(plain);
        return false;
    }
    *out = plain;
    *out_len = body;
    return true;
}

bool
atrest_rewrap(atrest_t *self, const uint8_t *aad, size_t aad_len, uint8_t *blob, size_t len)
{
    uint8_t dek[S_KEYLEN];
    bool ok = atrest_is_sealed(blob, len) && s_unwrap(self, aad, aad_len, blob, len, dek) &&
              s_wrap(self, aad, aad_len, dek, blob);
    OPENSSL_cleanse(dek, sizeof dek);
    return ok;
}
