/* fuzz_status: what remissctl status prints from the answer on the status
 * socket (clients/ctl_status.c). The answer comes from the local broker,
 * but remissctl must not trust it to be well formed: any bytes either are
 * refused or render, and the text for a terminal holds no control
 * character but the newlines it writes itself. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl_status.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return 0;
    bool ok = ctl_status_render((const char *)data, size, false, out);
    fclose(out);
    for (size_t i = 0; ok && i < len; i++)
        FUZZ_CHECK((unsigned char)text[i] >= 0x20 || text[i] == '\n',
                   "control character 0x%02x in the text", (unsigned)(unsigned char)text[i]);
    free(text);
    out = open_memstream(&text, &len);
    if (!out)
        return 0;
    bool ok_json = ctl_status_render((const char *)data, size, true, out);
    fclose(out);
    FUZZ_CHECK(ok == ok_json, "text and JSON disagree on whether the answer is a status");
    free(text);
    return 0;
}
