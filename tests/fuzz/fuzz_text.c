/* fuzz_text: the small text helpers that read untrusted bytes: hex_decode
 * (message ids from the command line and files), rfc3339_parse (times in
 * JSON) and cli_plain (another party's text on its way to a terminal).
 * Invariants: hex and RFC 3339 round-trip; cli_plain never lets a control
 * character (C0, DEL or C1 as UTF-8) through and always terminates. */
#include <string.h>

#include "cli.h"
#include "fuzz_common.h"
#include "hex.h"
#include "rfc3339.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_hex(const char *text, size_t len)
{
    uint8_t bytes[64];
    char back[129];
    size_t n = len / 2;
    if (n > sizeof bytes || !hex_decode(text, bytes, n))
        return;
    hex_encode(back, bytes, n);
    for (size_t i = 0; i < 2 * n; i++)
        FUZZ_CHECK(back[i] == (text[i] >= 'A' && text[i] <= 'F' ? text[i] + 32 : text[i]),
                   "hex does not round-trip");
}

static void
s_time(const char *text)
{
    int64_t ms, again;
    char buf[RFC3339_LEN];
    if (!rfc3339_parse(text, &ms))
        return;
    FUZZ_CHECK(rfc3339_format(ms, buf, sizeof buf), "a parsed time does not format");
    FUZZ_CHECK(rfc3339_parse(buf, &again) && again == ms, "time does not round-trip");
}

static void
s_plain(const char *text)
{
    char out[300];
    cli_plain(out, sizeof out, text);
    size_t n = strnlen(out, sizeof out);
    FUZZ_CHECK(n < sizeof out, "not terminated");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f, "control character 0x%02x passed", c);
        FUZZ_CHECK(!(c == 0xc2 && i + 1 < n && (unsigned char)out[i + 1] >= 0x80 &&
                     (unsigned char)out[i + 1] <= 0x9f),
                   "C1 control passed");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[1025];
    if (size > 1024)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    s_hex(text, strlen(text));
    s_time(text);
    s_plain(text);
    return 0;
}
