/* note: C2SP signed notes, checkpoints and cosignatures (include/note.h). */
#include "note.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "utf8.h"

static const char s_dash[] = "\xe2\x80\x94 "; /* U+2014 em dash, space */
#define S_DASH_LEN  4
#define S_COSIG_HDR "cosignature/v1\ntime "

/* ---------------------------------------------------------------- base64 */

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
s_b64_val(char c)
{
    const char *p = c ? strchr(s_b64, c) : NULL;
    return p ? (int)(p - s_b64) : -1;
}

size_t
note_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = (len + 2) / 3 * 4;
    if (len > (SIZE_MAX - 3) / 4 * 3 - 3 || need >= cap)
        return 0;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    out[need] = '\0';
    return need;
}

/* Decodes one 4-character group; *n gets 1..3 bytes. Padding only at the
 * end (last), and unused bits must be zero so each value has one encoding. */
static bool
s_b64_group(const char *g, bool last, uint8_t o[3], size_t *n)
{
    int v[4];
    int pad = (g[3] == '=') + (g[3] == '=' && g[2] == '=');
    for (int i = 0; i < 4 - pad; i++)
        if ((v[i] = s_b64_val(g[i])) < 0)
            return false;
    if (pad > 0 && !last)
        return false;
    for (int i = 4 - pad; i < 4; i++)
        v[i] = 0;
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
        return false;
    o[0] = (uint8_t)(w >> 16);
    o[1] = (uint8_t)(w >> 8);
    o[2] = (uint8_t)w;
    *n = 3 - (size_t)pad;
    return true;
}

remiss_code_t
note_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
    size_t n = 0;
    *out_len = 0;
    if (len == 0 || len % 4 != 0)
        return REMISS_E_MALFORMED;
    for (size_t i = 0; i < len; i += 4) {
        uint8_t o[3];
        size_t k;
        if (!s_b64_group(in + i, i + 4 == len, o, &k))
            return REMISS_E_MALFORMED;
        if (k > cap - n)
            return REMISS_E_TOO_LARGE;
        memcpy(out + n, o, k);
        n += k;
    }
    *out_len = n;
    return REMISS_OK;
}

/* ---------------------------------------------------------------- keys */

uint32_t
note_key_id(const char *name, uint8_t type, const uint8_t pub[32])
{
    uint8_t md[32];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint32_t id = 0;
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(c, name, strlen(name)) == 1 && EVP_DigestUpdate(c, "\n", 1) == 1 &&
        EVP_DigestUpdate(c, &type, 1) == 1 && EVP_DigestUpdate(c, pub, 32) == 1 &&
        EVP_DigestFinal_ex(c, md, NULL) == 1)
        id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
    EVP_MD_CTX_free(c);
    return id;
}

bool
note_name_valid(const char *name)
{
    size_t n = strnlen(name, NOTE_NAME_MAX);
    if (n == 0 || n >= NOTE_NAME_MAX || !utf8_valid(name, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c == 0x7f || c == '+')
            return false;
        /* U+00A0, U+2000..U+200A, U+2028/9, U+202F, U+205F, U+3000, U+FEFF */
        if ((c == 0xc2 && (unsigned char)name[i + 1] == 0xa0) ||
            (c == 0xe2 && (unsigned char)name[i + 1] == 0x80 &&
             ((unsigned char)name[i + 2] <= 0x8a || (unsigned char)name[i + 2] == 0xa8 ||
              (unsigned char)name[i + 2] == 0xa9 || (unsigned char)name[i + 2] == 0xaf)) ||
            (c == 0xe2 && (unsigned char)name[i + 1] == 0x81 &&
             (unsigned char)name[i + 2] == 0x9f) ||
            (c == 0xe3 && (unsigned char)name[i + 1] == 0x80 && (unsigned char)name[i + 2] == 0x80))
            return false;
    }
    return true;
}

remiss_code_t
note_vkey_parse(const char *vkey, note_verifier_t *v)
{
    const char *p1, *p2;
    uint8_t raw[64];
    size_t raw_len, name_len;
    char hex[9];
    unsigned long id;

    memset(v, 0, sizeof *v);
    if (vkey == NULL || strnlen(vkey, NOTE_VKEY_MAX) >= NOTE_VKEY_MAX ||
        (p1 = strchr(vkey, '+')) == NULL || (p2 = strchr(p1 + 1, '+')) == NULL)
        return REMISS_E_MALFORMED;
    name_len = (size_t)(p1 - vkey);
    if (name_len == 0 || name_len >= NOTE_NAME_MAX || p2 - p1 != 9)
        return REMISS_E_MALFORMED;
    memcpy(v->name, vkey, name_len);
    memcpy(hex, p1 + 1, 8);
    hex[8] = '\0';
    if (strspn(hex, "0123456789abcdef") != 8 || !note_name_valid(v->name) ||
        note_b64_decode(p2 + 1, strlen(p2 + 1), raw, sizeof raw, &raw_len) != REMISS_OK ||
        raw_len != 33 || (raw[0] != NOTE_TYPE_ED25519 && raw[0] != NOTE_TYPE_COSIG))
        return REMISS_E_MALFORMED;
    id = strtoul(hex, NULL, 16);
    v->type = raw[0];
    memcpy(v->pub, raw + 1, 32);
    v->id = note_key_id(v->name, v->type, v->pub);
    return v->id == (uint32_t)id ? REMISS_OK : REMISS_E_MALFORMED;
}

bool
note_vkey_format(const note_verifier_t *v, char *buf, size_t size)
{
    uint8_t raw[33];
    char b64[64];
    raw[0] = v->type;
    memcpy(raw + 1, v->pub, 32);
    if (note_b64_encode(raw, sizeof raw, b64, sizeof b64) == 0)
        return false;
    int n = snprintf(buf, size, "%s+%08" PRIx32 "+%s", v->name, v->id, b64);
    return n > 0 && (size_t)n < size;
}

remiss_code_t
note_key_generate(const char *path, remiss_err_t *err)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    int fd = -1;
    FILE *f = NULL;
    remiss_code_t r = REMISS_E_INTERNAL;

    if (key == NULL)
        return remiss_err_set(err, r, "cannot generate an Ed25519 key");
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        r = remiss_err_set(err, REMISS_E_CONFIG, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    /* 0600 whatever the umask: the umask may only have narrowed it. */
    if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, "w")) == NULL) {
        r = remiss_err_set(err, REMISS_E_IO, "cannot write %s", path);
        goto out;
    }
    fd = -1;
    if (PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fflush(f) != 0 ||
        fsync(fileno(f)) != 0) {
        r = remiss_err_set(err, REMISS_E_IO, "cannot write %s", path);
        goto out;
    }
    r = REMISS_OK;
out:
    if (f != NULL && fclose(f) != 0 && r == REMISS_OK)
        r = remiss_err_set(err, REMISS_E_IO, "cannot write %s", path);
    if (fd >= 0)
        close(fd);
    if (r != REMISS_OK && r != REMISS_E_CONFIG)
        unlink(path);
    EVP_PKEY_free(key);
    return r;
}

remiss_code_t
note_signer_load(const char *path, const char *name, uint8_t type, note_signer_t *out,
                 remiss_err_t *err)
{
    struct stat st;
    size_t len = 32;
    FILE *f;

    memset(out, 0, sizeof *out);
    if (!note_name_valid(name))
        return remiss_err_set(err, REMISS_E_CONFIG, "key name is not a valid note key name");
    if (stat(path, &st) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
    if (st.st_mode & 077)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "key %s is readable by group or others; chmod 600 it", path);
    if ((f = fopen(path, "r")) == NULL)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
    out->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (out->key == NULL || EVP_PKEY_get_id(out->key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(out->key, out->pub.pub, &len) != 1 || len != 32) {
        note_signer_clear(out);
        return remiss_err_set(err, REMISS_E_CONFIG, "%s is not an Ed25519 PEM private key", path);
    }
    snprintf(out->pub.name, sizeof out->pub.name, "%s", name);
    out->pub.type = type;
    out->pub.id = note_key_id(name, type, out->pub.pub);
    return REMISS_OK;
}

void
note_signer_clear(note_signer_t *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->key);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- signing */

/* The message a signature of type covers: the text itself, or for a
 * cosignature the header and time lines before it (into buf). */
static const uint8_t *
s_message(uint8_t type, uint64_t ts, const char *text, size_t len, char *buf, size_t cap,
          size_t *out_len)
{
    if (type == NOTE_TYPE_ED25519) {
        *out_len = len;
        return (const uint8_t *)text;
    }
    int h = snprintf(buf, cap, S_COSIG_HDR "%" PRIu64 "\n", ts);
    if (h < 0 || (size_t)h >= cap || len > cap - (size_t)h)
        return NULL;
    memcpy(buf + h, text, len);
    *out_len = (size_t)h + len;
    return (const uint8_t *)buf;
}

static bool
s_ed25519(EVP_PKEY *key, bool sign, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok;
    if (sign)
        ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(c, sig, sig_len, msg, len) == 1 && *sig_len == 64;
    else
        ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(c, sig, *sig_len, msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

remiss_code_t
note_sign(const note_signer_t *s, const char *text, size_t len, uint64_t timestamp,
          char line[NOTE_LINE_MAX])
{
    char buf[NOTE_TEXT_MAX + 64];
    uint8_t raw[4 + 8 + 64];
    size_t mlen, off = 4, sig_len = 64;
    const uint8_t *msg;

    if (s == NULL || s->key == NULL || len == 0 || len > NOTE_TEXT_MAX || text[len - 1] != '\n' ||
        timestamp > INT64_MAX)
        return REMISS_E_USAGE;
    if ((msg = s_message(s->pub.type, timestamp, text, len, buf, sizeof buf, &mlen)) == NULL)
        return REMISS_E_TOO_LARGE;
    for (int i = 0; i < 4; i++)
        raw[i] = (uint8_t)(s->pub.id >> (24 - 8 * i));
    if (s->pub.type == NOTE_TYPE_COSIG)
        for (int i = 0; i < 8; i++)
            raw[off++] = (uint8_t)(timestamp >> (56 - 8 * i));
    if (!s_ed25519(s->key, true, msg, mlen, raw + off, &sig_len))
        return REMISS_E_INTERNAL;
    int n = snprintf(line, NOTE_LINE_MAX, "%s%s ", s_dash, s->pub.name);
    if (n < 0 || note_b64_encode(raw, off + 64, line + n, NOTE_LINE_MAX - (size_t)n - 1) == 0)
        return REMISS_E_TOO_LARGE;
    strcat(line, "\n");
    return REMISS_OK;
}

/* ---------------------------------------------------------------- verification */

bool
note_sig_verify(const note_t *n, const note_sig_t *sig, const note_verifier_t *v,
                uint64_t *timestamp)
{
    char buf[NOTE_TEXT_MAX + 64];
    size_t mlen, off = 0, sig_len = 64;
    uint64_t ts = 0;
    const uint8_t *msg;
    EVP_PKEY *pub;
    bool ok;

    if (strcmp(sig->name, v->name) != 0 || sig->id != v->id)
        return false;
    if (sig->sig_len != (v->type == NOTE_TYPE_COSIG ? 72u : 64u))
        return false;
    if (v->type == NOTE_TYPE_COSIG)
        for (; off < 8; off++)
            ts = ts << 8 | sig->sig[off];
    if (ts > INT64_MAX ||
        (msg = s_message(v->type, ts, n->text, n->text_len, buf, sizeof buf, &mlen)) == NULL ||
        (pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, v->pub, 32)) == NULL)
        return false;
    ok = s_ed25519(pub, false, msg, mlen, (uint8_t *)sig->sig + off, &sig_len);
    EVP_PKEY_free(pub);
    if (ok && timestamp != NULL)
        *timestamp = ts;
    return ok;
}

remiss_code_t
note_verify(const note_t *n, const note_verifier_t *v, size_t nv, bool *ok, size_t *n_ok)
{
    size_t count = 0;
    for (size_t k = 0; k < nv; k++) {
        bool signed_k = false;
        for (size_t i = 0; i < n->n_sigs; i++) {
            if (strcmp(n->sigs[i].name, v[k].name) != 0 || n->sigs[i].id != v[k].id)
                continue;
            if (!note_sig_verify(n, &n->sigs[i], &v[k], NULL))
                return REMISS_E_BAD_SIGNATURE;
            signed_k = true;
        }
        if (ok != NULL)
            ok[k] = signed_k;
        count += signed_k;
    }
    if (n_ok != NULL)
        *n_ok = count;
    return REMISS_OK;
}

/* ---------------------------------------------------------------- parsing */

/* Valid UTF-8, and no control character but newline. */
static bool
s_text_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] < 0x20 && s[i] != '\n') || s[i] == 0x7f)
            return false;
    return utf8_valid(s, len);
}

/* One signature line s[0..len) without its newline. */
static remiss_code_t
s_parse_sig(const char *s, size_t len, note_sig_t *out)
{
    const char *sp;
    uint8_t raw[4 + NOTE_SIG_MAX];
    size_t name_len, b64_len, raw_len;
    remiss_code_t r;

    memset(out, 0, sizeof *out);
    if (len < S_DASH_LEN || memcmp(s, s_dash, S_DASH_LEN) != 0)
        return REMISS_E_MALFORMED;
    s += S_DASH_LEN;
    len -= S_DASH_LEN;
    if ((sp = memchr(s, ' ', len)) == NULL)
        return REMISS_E_MALFORMED;
    name_len = (size_t)(sp - s);
    b64_len = len - name_len - 1;
    if (name_len == 0 || name_len >= NOTE_NAME_MAX)
        return REMISS_E_MALFORMED;
    memcpy(out->name, s, name_len);
    if (!note_name_valid(out->name) || b64_len < 8)
        return REMISS_E_MALFORMED;
    r = note_b64_decode(sp + 1, b64_len, raw, sizeof raw, &raw_len);
    if (r == REMISS_E_TOO_LARGE) {
        /* A longer signature of a type we never verify: keep its ID only,
         * once the whole line is known to be base64. */
        uint8_t big[NOTE_MAX];
        if (note_b64_decode(sp + 1, b64_len, big, sizeof big, &raw_len) != REMISS_OK)
            return REMISS_E_MALFORMED;
        memcpy(raw, big, 4);
    } else if (r != REMISS_OK || raw_len < 5) {
        return REMISS_E_MALFORMED;
    } else {
        out->sig_len = raw_len - 4;
        memcpy(out->sig, raw + 4, out->sig_len);
    }
    out->id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 | (uint32_t)raw[2] << 8 | raw[3];
    return REMISS_OK;
}

/* Index of the last "\n\n" in buf (the text's end), or len if none. */
static size_t
s_split(const char *buf, size_t len)
{
    for (size_t i = len - 1; i > 0; i--)
        if (buf[i] == '\n' && buf[i - 1] == '\n')
            return i - 1;
    return len;
}

remiss_code_t
note_parse(const char *buf, size_t len, note_t *out)
{
    size_t split, pos;
    remiss_code_t r;

    memset(out, 0, sizeof *out);
    if (buf == NULL || len > NOTE_MAX)
        return buf == NULL ? REMISS_E_MALFORMED : REMISS_E_TOO_LARGE;
    if (len < 3 || buf[len - 1] != '\n' || !s_text_ok(buf, len) ||
        (split = s_split(buf, len)) == len || split == 0)
        return REMISS_E_MALFORMED;
    if (split + 1 > NOTE_TEXT_MAX)
        return REMISS_E_TOO_LARGE;
    out->text_len = split + 1;
    memcpy(out->text, buf, out->text_len);
    for (pos = split + 2; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t line = (size_t)(nl - (buf + pos));
        if (out->n_sigs == NOTE_SIGS_MAX)
            return REMISS_E_TOO_LARGE;
        if ((r = s_parse_sig(buf + pos, line, &out->sigs[out->n_sigs])) != REMISS_OK)
            return r;
        out->n_sigs++;
        pos += line + 1;
    }
    return out->n_sigs > 0 ? REMISS_OK : REMISS_E_MALFORMED;
}

/* ---------------------------------------------------------------- checkpoints */

/* Next line of text[*pos..len) without its newline; false at the end or
 * for a line without a newline. */
static bool
s_line(const char *text, size_t len, size_t *pos, const char **line, size_t *line_len)
{
    const char *nl;
    if (*pos >= len || (nl = memchr(text + *pos, '\n', len - *pos)) == NULL)
        return false;
    *line = text + *pos;
    *line_len = (size_t)(nl - *line);
    *pos += *line_len + 1;
    return true;
}

static bool
s_decimal(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

remiss_code_t
checkpoint_parse(const char *text, size_t text_len, checkpoint_t *out)
{
    const char *l;
    size_t pos = 0, n, root_len;

    memset(out, 0, sizeof *out);
    if (text == NULL || text_len > NOTE_TEXT_MAX || !s_text_ok(text, text_len))
        return REMISS_E_MALFORMED;
    if (!s_line(text, text_len, &pos, &l, &n) || n == 0 || n >= NOTE_NAME_MAX)
        return REMISS_E_MALFORMED;
    memcpy(out->origin, l, n);
    if (!s_line(text, text_len, &pos, &l, &n) || !s_decimal(l, n, &out->size))
        return REMISS_E_MALFORMED;
    if (!s_line(text, text_len, &pos, &l, &n) ||
        note_b64_decode(l, n, out->root, sizeof out->root, &root_len) != REMISS_OK ||
        root_len != NOTE_HASH_LEN)
        return REMISS_E_MALFORMED;
    while (pos < text_len) {
        if (!s_line(text, text_len, &pos, &l, &n) || n == 0)
            return REMISS_E_MALFORMED;
        out->n_extensions++;
    }
    return REMISS_OK;
}

size_t
checkpoint_format(const char *origin, uint64_t size, const uint8_t root[NOTE_HASH_LEN], char *buf,
                  size_t cap)
{
    char b64[64];
    if (origin == NULL || origin[0] == '\0' || strnlen(origin, NOTE_NAME_MAX) >= NOTE_NAME_MAX ||
        strchr(origin, '\n') != NULL || !s_text_ok(origin, strlen(origin)) ||
        note_b64_encode(root, NOTE_HASH_LEN, b64, sizeof b64) == 0)
        return 0;
    int n = snprintf(buf, cap, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
