/* pseudonym: HMAC-SHA256 subject pseudonyms (include/pseudonym.h). */
#include "pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pseudonym {
    EVP_MAC_CTX *mac; /* HMAC-SHA256 keyed once with the broker secret */
};

static bool
s_canonical_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0' && n <= 12; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n == 12;
}

pseudonym_t *
pseudonym_new(const uint8_t key[PSEUDONYM_LEN])
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    pseudonym_t *self = calloc(1, sizeof *self);
    EVP_MAC *mac = self ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;

    if (self && mac)
        self->mac = EVP_MAC_CTX_new(mac);
    /* The context holds its own reference to the algorithm. */
    EVP_MAC_free(mac);
    if (self && (!self->mac || EVP_MAC_init(self->mac, key, PSEUDONYM_LEN, params) != 1))
        pseudonym_free(&self);
    return self;
}

void
pseudonym_free(pseudonym_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    EVP_MAC_CTX_free((*self_p)->mac);
    free(*self_p);
    *self_p = NULL;
}

/* A re-init without a key starts the next MAC from the padded-key state
 * OpenSSL kept, instead of hashing the key again (half the work). */
bool
pseudonym_of(const pseudonym_t *self, const char *canonical, uint8_t out[PSEUDONYM_LEN])
{
    size_t n = 0;
    if (!self || !canonical || !s_canonical_ok(canonical) ||
        EVP_MAC_init(self->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(self->mac, (const uint8_t *)canonical, 12) != 1 ||
        EVP_MAC_final(self->mac, out, &n, PSEUDONYM_LEN) != 1 || n != PSEUDONYM_LEN) {
        memset(out, 0, PSEUDONYM_LEN);
        return false;
    }
    return true;
}

bool
pseudonym_mark(const pseudonym_t *self, const uint8_t *data, size_t len, uint8_t out[PSEUDONYM_LEN])
{
    size_t n = 0;
    if (!self || EVP_MAC_init(self->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(self->mac, data, len) != 1 ||
        EVP_MAC_final(self->mac, out, &n, PSEUDONYM_LEN) != 1 || n != PSEUDONYM_LEN) {
        memset(out, 0, PSEUDONYM_LEN);
        return false;
    }
    return true;
}

static int
s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 64 hex digits (a trailing newline allowed) into key. */
static remiss_code_t
s_parse(const char *path, char *text, ssize_t n, uint8_t key[PSEUDONYM_LEN], remiss_err_t *err)
{
    while (n > 64 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n != 64)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s does not hold 64 hex digits", path);
    for (int i = 0; i < PSEUDONYM_LEN; i++) {
        int hi = s_hexval(text[2 * i]), lo = s_hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return remiss_err_set(err, REMISS_E_CONFIG, "%s does not hold 64 hex digits", path);
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return REMISS_OK;
}

remiss_code_t
pseudonym_secret_load(const char *path, uint8_t key[PSEUDONYM_LEN], remiss_err_t *err)
{
    char text[80];
    struct stat st;
    remiss_code_t r = REMISS_E_CONFIG;
    int fd;

    memset(key, 0, PSEUDONYM_LEN);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
    /* fstat on the open file: the mode checked is the mode of what is read. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        remiss_err_set(err, REMISS_E_CONFIG, "%s is not a regular file", path);
    else if ((st.st_mode & 077) != 0)
        remiss_err_set(err, REMISS_E_CONFIG, "%s is readable by group or others; chmod 600 it",
                       path);
    else
        r = s_parse(path, text, read(fd, text, sizeof text - 1), key, err);
    if (r != REMISS_OK)
        OPENSSL_cleanse(key, PSEUDONYM_LEN);
    OPENSSL_cleanse(text, sizeof text);
    close(fd);
    return r;
}

pseudonym_t *
pseudonym_load(const char *path, remiss_err_t *err)
{
    uint8_t key[PSEUDONYM_LEN];
    if (pseudonym_secret_load(path, key, err) != REMISS_OK)
        return NULL;
    pseudonym_t *self = pseudonym_new(key);
    OPENSSL_cleanse(key, sizeof key);
    if (!self)
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot set up HMAC-SHA256");
    return self;
}
