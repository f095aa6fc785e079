/* archive: keeping the evidence (remiss.h: remiss_receipt_save,
 * remiss_message_save). Files are written 0600 and atomically, so an
 * archive never holds half a receipt. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hex.h"
#include "remiss.h"
#include "remiss_private.h"

/* Writes len bytes to path, mode 0600, atomically: a temporary file in the
 * same directory, fsync, rename. */
static remiss_code_t
s_write_file(const char *path, const uint8_t *data, size_t len, remiss_err_t *err)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
        return remiss_err_set(err, REMISS_E_IO, "the path %.200s is too long", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return remiss_err_set(err, REMISS_E_IO, "cannot write %s: %s", path, strerror(errno));
    bool ok = fchmod(fd, 0600) == 0;
    for (size_t off = 0; ok && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    ok = close(fd) == 0 && ok && rename(tmp, path) == 0;
    if (!ok) {
        saved = saved ? saved : errno;
        unlink(tmp);
        return remiss_err_set(err, REMISS_E_IO, "cannot write %s: %s", path, strerror(saved));
    }
    return REMISS_OK;
}

remiss_code_t
remiss_receipt_save(const remiss_receipt_t *rc, const char *path, remiss_err_t *err)
{
    if (!rc || !rc->signed_receipt || !rc->signed_len || !path)
        return remiss_err_set(err, REMISS_E_USAGE, "there is no signed receipt to save");
    return s_write_file(path, rc->signed_receipt, rc->signed_len, err);
}

remiss_code_t
remiss_message_save(const remiss_message_t *m, const char *dir, remiss_err_t *err)
{
    char hex[2 * REMISS_ID_LEN + 1], path[4200];
    const Remiss__Delivery *d = remiss_private_delivery(m);
    const Remiss__SignedEnvelope *se = d ? d->envelope : NULL;
    if (!se || !dir)
        return remiss_err_set(err, REMISS_E_USAGE, "there is no signed envelope to save");
    hex_encode(hex, remiss_message_id(m), REMISS_ID_LEN);
    size_t len = remiss__signed_envelope__get_packed_size(se);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    remiss__signed_envelope__pack(se, buf);
    snprintf(path, sizeof path, "%s/%s.env", dir, hex);
    remiss_code_t r = s_write_file(path, buf, len, err);
    free(buf);
    snprintf(path, sizeof path, "%s/%s.crt", dir, hex);
    if (r == REMISS_OK)
        r = s_write_file(path, d->sender_cert.data, d->sender_cert.len, err);
    return r;
}

/* The received SignedEnvelope bytes, for the gateway's JSON (base64) and
 * for archives; the caller frees them. */
uint8_t *
remiss_message_signed_envelope(const remiss_message_t *m, size_t *len)
{
    const Remiss__Delivery *d = remiss_private_delivery(m);
    *len = 0;
    if (!d || !d->envelope)
        return NULL;
    size_t n = remiss__signed_envelope__get_packed_size(d->envelope);
    uint8_t *out = malloc(n ? n : 1);
    if (out)
        *len = remiss__signed_envelope__pack(d->envelope, out);
    return out;
}
