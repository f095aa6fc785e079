/* fuzz_msgjson: the CLI's JSON input. What msgjson_parse accepts must
 * format (unless msgjson.h allows NULL), the text must parse back to the
 * same bytes, and recv's form with metadata must read back too. Errors
 * must come with a code msgjson.h names. */
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "fuzz_common.h"
#include "msgjson.h"
#include "utf8.h"

#define S_MAX_MS INT64_C(253402300799999) /* 9999-12-31T23:59:59.999Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check_time(const uint8_t *data, size_t size)
{
    char text[64], back[MSGJSON_TIME_LEN];
    int64_t ms, ms2;
    if (size >= sizeof text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    if (!msgjson_time_parse(text, &ms))
        return;
    FUZZ_CHECK(ms >= 0 && ms <= S_MAX_MS, "time %lld out of range", (long long)ms);
    FUZZ_CHECK(msgjson_time_format(ms, back, sizeof back), "cannot format %lld", (long long)ms);
    FUZZ_CHECK(msgjson_time_parse(back, &ms2) && ms2 == ms, "time does not read back: %s", back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Remiss__Envelope *env = NULL;
    remiss_err_t err = {0};
    s_check_time(data, size);
    remiss_code_t r = msgjson_parse((const char *)data, size, &env, &err);
    if (r != REMISS_OK) {
        FUZZ_CHECK(
            !env && (r == REMISS_E_MALFORMED || r == REMISS_E_TOO_LARGE || r == REMISS_E_INTERNAL),
            "parse failed with %d", (int)r);
        FUZZ_CHECK(err.code == r && err.text[0], "error without its sentence");
        return 0;
    }
    FUZZ_CHECK(env && env->recipient && env->recipient[0], "parsed without \"to\"");
    FUZZ_CHECK(env->body_case == msgtype_body_case(env->type), "body does not match the type");
    FUZZ_CHECK(utf8_message_valid(&env->base, SIZE_MAX), "parsed text is not valid UTF-8");
    /* Only a time the ISO form cannot write keeps msgjson_format from
     * showing what msgjson_parse read. */
    char *text = msgjson_format(env, NULL);
    bool showable = env->created_at >= 0 && env->created_at <= S_MAX_MS;
    FUZZ_CHECK(text || !showable, "parsed envelope cannot be formatted");
    free(text);
    fuzz_check_json(env);

    uint8_t id[MSGJSON_ID_LEN] = {0xab};
    msgjson_meta_t meta = {.message_id = id,
                           .from = "sdf-rinkeby-kista",
                           .created_at = INT64_C(1795392000123),
                           .received_at = INT64_C(1795392001000)};
    text = msgjson_format(env, &meta);
    FUZZ_CHECK(text, "cannot format with metadata");
    Remiss__Envelope *again = NULL;
    r = msgjson_parse(text, strlen(text), &again, &err);
    FUZZ_CHECK(r == REMISS_OK, "recv's form does not read back: %s: %s", err.text, text);
    FUZZ_CHECK(again->created_at == meta.created_at && strcmp(again->sender, meta.from) == 0,
               "metadata lost");
    free(text);
    msgjson_free(&again);
    msgjson_free(&env);
    return 0;
}
