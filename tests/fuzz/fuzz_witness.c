/* fuzz_witness: the add-checkpoint input of remiss-witness (the HTTP body,
 * which wit_core parses and judges). An input with a FUZZ_SEP is the request
 * head (old line, proof lines, blank line) and a checkpoint text, which the
 * target signs with the trusted log key so that inputs reach the state and
 * proof checks; any other input is sent as the body as it is. Invariants:
 * the status is one the spec names, a 409 carries a decimal size, a 200 a
 * cosignature line, and the stored size never goes down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "note.h"
#include "wit_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ORIGIN "remiss.fuzz/audit"

static wit_t *s_wit;
static note_signer_t s_log;

static void
s_init(void)
{
    char dir[] = "/tmp/remiss-fuzz-wit-XXXXXX", path[128];
    note_signer_t w;
    remiss_err_t err;
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/log.key", dir);
    FUZZ_CHECK(note_key_generate(path, &err) == REMISS_OK, "%s", err.text);
    FUZZ_CHECK(note_signer_load(path, ORIGIN, NOTE_TYPE_ED25519, &s_log, &err) == REMISS_OK, "log");
    snprintf(path, sizeof path, "%s/w.key", dir);
    FUZZ_CHECK(note_key_generate(path, &err) == REMISS_OK, "%s", err.text);
    FUZZ_CHECK(note_signer_load(path, "w.fuzz/w", NOTE_TYPE_COSIG, &w, &err) == REMISS_OK, "w");
    snprintf(path, sizeof path, "%s/state.db", dir);
    s_wit = wit_open(path, &w, &s_log.pub, 1, &err);
    FUZZ_CHECK(s_wit != NULL, "%s", err.text);
    note_signer_clear(&w);
}

/* head || text || signature line by the log key, into buf. */
static size_t
s_signed(const fuzz_part_t *p, char *buf, size_t cap)
{
    char line[NOTE_LINE_MAX];
    if (p[0].len + p[1].len + NOTE_LINE_MAX + 2 > cap || p[1].len == 0 ||
        p[1].data[p[1].len - 1] != '\n' ||
        note_sign(&s_log, (const char *)p[1].data, p[1].len, 0, line) != REMISS_OK)
        return 0;
    memcpy(buf, p[0].data, p[0].len);
    memcpy(buf + p[0].len, p[1].data, p[1].len);
    size_t n = p[0].len + p[1].len;
    buf[n++] = '\n';
    memcpy(buf + n, line, strlen(line));
    return n + strlen(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char body[WIT_BODY_MAX + NOTE_LINE_MAX + 8];
    static wit_reply_t r;
    fuzz_part_t p[2];
    size_t len;

    if (s_wit == NULL)
        s_init();
    if (size > WIT_BODY_MAX + 16)
        return 0;
    uint64_t before = wit_size(s_wit, ORIGIN);
    if (fuzz_split(data, size, p, 2) == 2 && (len = s_signed(p, body, sizeof body)) > 0)
        wit_add_checkpoint(s_wit, body, len, 1700000000, &r);
    else
        wit_add_checkpoint(s_wit, (const char *)data, size, 1700000000, &r);
    static const unsigned ok[] = {200, 400, 403, 404, 409, 413, 422};
    bool known = false;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        known |= r.status == ok[i];
    FUZZ_CHECK(known, "status %u", r.status);
    if (r.status == 409)
        FUZZ_CHECK(strspn(r.body, "0123456789") + 1 == r.body_len, "409 without a size");
    if (r.status == 200)
        FUZZ_CHECK(strncmp(r.body, "\xe2\x80\x94 w.fuzz/w ", 13) == 0, "200 without a cosignature");
    FUZZ_CHECK(wit_size(s_wit, ORIGIN) >= before, "stored size went down");
    return 0;
}
