/* fuzz_evidence: remissctl verify-evidence's reading of a bundle (JSON,
 * base64, the proof reply, the broker certificate, the signed receipt and
 * the checkpoint) against the test vectors' CA. The seeds verify, so
 * mutations reach every check. Invariants: a bundle that verifies has a
 * summary that is JSON naming the bundle's message id, and one that fails
 * has a code and a sentence. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *summary = NULL;
    remiss_err_t err;
    if (size > EVIDENCE_MAX)
        return 0;
    remiss_code_t r = evidence_verify(
        (const char *)data, size, FUZZ_SRCDIR "/docs/test-vectors/ca.crt", NULL, &summary, &err);
    if (r == REMISS_OK) {
        cJSON *o = summary ? cJSON_Parse(summary) : NULL;
        FUZZ_CHECK(o, "verified without a JSON summary");
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "message_id"));
        FUZZ_CHECK(id && strlen(id) == 32, "summary without the message id");
        cJSON_Delete(o);
    } else {
        FUZZ_CHECK(err.code == r && err.text[0], "a failure without a sentence");
    }
    free(summary);
    return 0;
}
