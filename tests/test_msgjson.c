/* Tests for msgjson: the example files, round trips, every error class,
 * truncation and random mutation. Run from the repository root. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "msgjson.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* Criterion reports a test as passed before its worker exits, so a leak
 * that LeakSanitizer prints at exit fails nothing, and an assertion in a
 * .fini hook is not counted either. Each test therefore ends with this
 * check when built with ASan. */
static void
s_no_leaks(void)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked (see the report above)");
#endif
}

static const char *const s_examples[] = {
    "referral",       "case_submission", "transfer_ack",   "inquiry",
    "inquiry_answer", "consent_grant",   "consent_revoke", "concern_report",
};
#define S_NEXAMPLES (sizeof s_examples / sizeof s_examples[0])

/* A secret in every value of the error cases: no sentence may repeat it. */
#define SECRET "Hemlig-19991231"

static char *
s_read_example(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "docs/examples/%s.json", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root)", path);
    char *buf = malloc(MSGJSON_MAX_INPUT);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, MSGJSON_MAX_INPUT, f);
    fclose(f);
    return buf;
}

static uint8_t *
s_pack(const Remiss__Envelope *env, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(&env->base);
    uint8_t *buf = malloc(*len ? *len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(protobuf_c_message_pack(&env->base, buf), *len);
    return buf;
}

static Remiss__Envelope *
s_parse_ok(const char *json, size_t len)
{
    Remiss__Envelope *env = NULL;
    remiss_err_t err = {0};
    remiss_code_t r = msgjson_parse(json, len, &env, &err);
    cr_assert_eq(r, REMISS_OK, "parse failed: %s: %s", remiss_code_name(r), err.text);
    cr_assert_not_null(env);
    return env;
}

static Remiss__Envelope *
s_parse_str(const char *json)
{
    return s_parse_ok(json, strlen(json));
}

/* format -> parse gives an envelope that packs to the same bytes. */
static void
s_assert_round_trip(const Remiss__Envelope *env, bool pretty)
{
    size_t alen, blen;
    char *text = pretty ? msgjson_format_pretty(env, NULL) : msgjson_format(env, NULL);
    cr_assert_not_null(text, "format failed");
    if (!pretty)
        cr_assert_null(strchr(text, '\n'), "format must be one line");
    Remiss__Envelope *back = s_parse_str(text);
    uint8_t *a = s_pack(env, &alen), *b = s_pack(back, &blen);
    cr_assert_eq(alen, blen, "packed sizes differ after round trip of %s", text);
    cr_assert(memcmp(a, b, alen) == 0, "packed bytes differ after round trip of %s", text);
    free(a);
    free(b);
    free(text);
    msgjson_free(&back);
}

/* Parses json and expects code with a sentence containing want and never
 * the secret marker. */
static void
s_assert_error(const char *json, size_t len, remiss_code_t code, const char *want)
{
    Remiss__Envelope *env = (Remiss__Envelope *)1;
    remiss_err_t err = {0};
    remiss_code_t r = msgjson_parse(json, len, &env, &err);
    cr_assert_eq(r, code, "%s: got %s (%s), want %s", json, remiss_code_name(r), err.text,
                 remiss_code_name(code));
    cr_assert_null(env, "out must be NULL on error");
    cr_assert_eq(err.code, code);
    cr_assert_not_null(strstr(err.text, want), "%s: sentence \"%s\" lacks \"%s\"", json, err.text,
                       want);
    cr_assert_null(strstr(err.text, SECRET), "sentence repeats a value: %s", err.text);
}

#define ERR(json, want) s_assert_error((json), strlen(json), REMISS_E_MALFORMED, (want))

/* ------------------------------------------------------------ examples */

Test(msgjson, examples_parse_and_round_trip)
{
    for (size_t i = 0; i < S_NEXAMPLES; i++) {
        size_t len;
        char *json = s_read_example(s_examples[i], &len);
        Remiss__Envelope *env = s_parse_ok(json, len);
        Remiss__MessageType type;
        cr_assert(msgtype_parse(s_examples[i], &type));
        cr_assert_eq(env->type, type, "%s", s_examples[i]);
        cr_assert_eq(env->body_case, msgtype_body_case(type), "%s", s_examples[i]);
        /* The client fills these in. */
        cr_assert_eq(env->message_id.len, 0, "%s", s_examples[i]);
        cr_assert_str_empty(env->sender, "%s", s_examples[i]);
        cr_assert_eq(env->created_at, 0);
        cr_assert_not_null(env->subject, "%s", s_examples[i]);
        s_assert_round_trip(env, false);
        s_assert_round_trip(env, true);
        /* The documented alternative to msgjson_free. */
        protobuf_c_message_free_unpacked(&env->base, NULL);
        free(json);
    }
    s_no_leaks();
}

/* Luhn over the 10-digit form YYMMDDNNNC. */
static bool
s_luhn_ok(const char *pnr)
{
    char d[16];
    size_t n = 0;
    for (const char *p = pnr; *p && n < sizeof d - 1; p++)
        if (*p >= '0' && *p <= '9')
            d[n++] = *p;
    if (n != 12)
        return false;
    int sum = 0;
    for (int i = 0; i < 10; i++) {
        int v = (d[2 + i] - '0') * (i % 2 == 0 ? 2 : 1);
        sum += v / 10 + v % 10;
    }
    return sum % 10 == 0;
}

Test(msgjson, examples_use_valid_synthetic_personnummer)
{
    cr_assert(s_luhn_ok("20060115-2382")); /* DESIGN.md's example */
    cr_assert_not(s_luhn_ok("20060115-2383"));
    for (size_t i = 0; i < S_NEXAMPLES; i++) {
        size_t len;
        char *json = s_read_example(s_examples[i], &len);
        Remiss__Envelope *env = s_parse_ok(json, len);
        cr_assert(s_luhn_ok(env->subject->personnummer), "%s: %s", s_examples[i],
                  env->subject->personnummer);
        msgjson_free(&env);
        free(json);
    }
    s_no_leaks();
}

Test(msgjson, example_contents)
{
    size_t len;
    char *json = s_read_example("referral", &len);
    Remiss__Envelope *env = s_parse_ok(json, len);
    cr_assert_str_eq(env->recipient, "jobbtorg");
    cr_assert_str_eq(env->purpose, "anvisning");
    cr_assert_str_eq(env->consent_id, "c-2026-0001");
    cr_assert_str_eq(env->subject->personnummer, "20060115-2382");
    cr_assert_str_eq(env->subject->contact->phone, "070-174 06 05");
    cr_assert(env->social->income_support);
    cr_assert_not_null(env->referral->reason);
    cr_assert_null(env->health);
    catset_t cats = category_of_envelope(env);
    cr_assert_eq(cats, (1u << CAT_IDENTITY) | (1u << CAT_CONTACT) | (1u << CAT_EDUCATION) |
                           (1u << CAT_EMPLOYMENT) | (1u << CAT_SOCIAL) | (1u << CAT_FREE_TEXT));
    msgjson_free(&env);
    free(json);

    json = s_read_example("transfer_ack", &len);
    env = s_parse_ok(json, len);
    cr_assert_str_eq(env->recipient, "jobbtorg");
    cr_assert_str_eq(env->purpose, "overforing");
    cr_assert_eq(env->transfer_ack->decision, REMISS__TRANSFER_DECISION__ACCEPTED);
    cr_assert_str_eq(env->transfer_ack->receiving_unit, "Arbetsförmedlingen Stockholm Kista");
    cr_assert_eq(env->transfer_ack->original_message_id.len, MSGJSON_ID_LEN);
    cr_assert_eq(env->transfer_ack->original_message_id.data[0], 0x5f);
    cr_assert_eq(env->transfer_ack->original_message_id.data[15], 0x5b);
    msgjson_free(&env);
    free(json);

    json = s_read_example("consent_grant", &len);
    env = s_parse_ok(json, len);
    Remiss__ConsentGrant *g = env->consent_grant;
    cr_assert_str_eq(env->recipient, "broker");
    cr_assert_eq(g->n_from_parties, 3);
    cr_assert_str_eq(g->from_parties[0], "sdf-rinkeby-kista");
    cr_assert_eq(g->n_purposes, 4);
    cr_assert_str_eq(g->purposes[0], "anvisning");
    for (size_t i = 0; i < g->n_categories; i++) {
        category_t c;
        cr_assert(category_parse(g->categories[i], &c), "%s", g->categories[i]);
    }
    cr_assert_eq(g->given_by, REMISS__GIVEN_BY__SUBJECT);
    cr_assert_str_eq(g->valid_from, "2026-11-01");
    cr_assert_eq(strlen(g->evidence_sha256), 64);
    msgjson_free(&env);
    free(json);

    json = s_read_example("concern_report", &len);
    env = s_parse_ok(json, len);
    cr_assert_str_eq(env->recipient, "sdf-rinkeby-kista");
    cr_assert_str_eq(env->purpose, "oro");
    cr_assert_str_empty(env->consent_id);                          /* statutory duty, no consent */
    cr_assert_str_eq(env->subject->personnummer, "20090514-2386"); /* 17 in November 2026 */
    cr_assert(env->concern_report->urgent);
    msgjson_free(&env);
    free(json);
    s_no_leaks();
}

/* The flattening is only unambiguous while no body field shares a name
 * with an envelope key; and every bytes field is a 16-byte id. */
Test(msgjson, schema_assumptions)
{
    const ProtobufCMessageDescriptor *ed = &remiss__envelope__descriptor;
    static const char *const extra[] = {"to", "from", "received_at"};
    unsigned nbytes = 0;

    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *b = &ed->fields[i];
        if (b->type == PROTOBUF_C_TYPE_BYTES)
            nbytes++;
        if (!(b->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        const ProtobufCMessageDescriptor *bd = b->descriptor;
        for (unsigned j = 0; j < bd->n_fields; j++) {
            const char *name = bd->fields[j].name;
            cr_assert_null(protobuf_c_message_descriptor_get_field_by_name(ed, name),
                           "body field %s.%s shadows an envelope field", b->name, name);
            for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
                cr_assert_str_neq(name, extra[k]);
            if (bd->fields[j].type == PROTOBUF_C_TYPE_BYTES) {
                nbytes++;
                cr_assert(strcmp(name, "original_message_id") == 0 ||
                              strcmp(name, "in_reply_to") == 0,
                          "bytes field %s is not a message id: extend msgjson", name);
            }
        }
    }
    cr_assert_eq(nbytes, 3);
    s_no_leaks();
}

/* -------------------------------------------------------------- format */

Test(msgjson, format_omits_defaults_and_empty_blocks)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Person subj = REMISS__PERSON__INIT;
    Remiss__Contact contact = REMISS__CONTACT__INIT;
    Remiss__Health health = REMISS__HEALTH__INIT;
    Remiss__ConsentRevoke revoke = REMISS__CONSENT_REVOKE__INIT;

    env.type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    env.body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    env.consent_revoke = &revoke;
    env.recipient = "broker";
    env.consent_id = "c-2026-0001";
    env.subject = &subj;
    subj.personnummer = "20060115-2382";
    subj.contact = &contact; /* empty: left out */
    env.health = &health;    /* empty: left out */
    env.free_text = NULL;    /* NULL reads as empty */
    char *text = msgjson_format(&env, NULL);
    cr_assert_str_eq(text, "{\"type\":\"consent_revoke\",\"to\":\"broker\",\"consent_id\":"
                           "\"c-2026-0001\",\"subject\":{\"personnummer\":\"20060115-2382\"}}");
    free(text);

    revoke.revoke_reason = "withdrawn by the person";
    health.disability = true;
    text = msgjson_format(&env, NULL);
    cr_assert_str_eq(text, "{\"type\":\"consent_revoke\",\"to\":\"broker\",\"consent_id\":"
                           "\"c-2026-0001\",\"subject\":{\"personnummer\":\"20060115-2382\"},"
                           "\"health\":{\"disability\":true},"
                           "\"revoke_reason\":\"withdrawn by the person\"}");
    free(text);
    s_no_leaks();
}

Test(msgjson, format_meta_and_times)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__TransferAck ack = REMISS__TRANSFER_ACK__INIT;
    uint8_t orig[MSGJSON_ID_LEN], mid[MSGJSON_ID_LEN];

    for (int i = 0; i < MSGJSON_ID_LEN; i++) {
        orig[i] = (uint8_t)(0xA0 + i);
        mid[i] = (uint8_t)i;
    }
    env.type = REMISS__MESSAGE_TYPE__TRANSFER_ACK;
    env.body_case = REMISS__ENVELOPE__BODY_TRANSFER_ACK;
    env.transfer_ack = &ack;
    env.recipient = "jobbtorg";
    env.sender = "af-kommunhubb";
    env.created_at = INT64_C(1795428900000); /* 2026-11-23T10:15:00.000Z */
    ack.original_message_id.data = orig;
    ack.original_message_id.len = sizeof orig;
    ack.decision = REMISS__TRANSFER_DECISION__NEEDS_INFO;

    msgjson_meta_t meta = {.message_id = mid, .received_at = INT64_C(1795428900123)};
    char *text = msgjson_format(&env, &meta);
    cr_assert_str_eq(text, "{\"type\":\"transfer_ack\","
                           "\"message_id\":\"000102030405060708090a0b0c0d0e0f\","
                           "\"from\":\"af-kommunhubb\",\"to\":\"jobbtorg\","
                           "\"created_at\":\"2026-11-23T10:15:00.000Z\","
                           "\"received_at\":\"2026-11-23T10:15:00.123Z\","
                           "\"original_message_id\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\","
                           "\"decision\":\"needs_info\"}");

    /* recv's output reads back; received_at is checked and dropped. */
    Remiss__Envelope *back = s_parse_str(text);
    cr_assert_eq(back->created_at, env.created_at);
    cr_assert_str_eq(back->sender, "af-kommunhubb");
    cr_assert_eq(back->message_id.len, MSGJSON_ID_LEN);
    cr_assert(memcmp(back->message_id.data, mid, MSGJSON_ID_LEN) == 0);
    cr_assert_eq(back->transfer_ack->decision, REMISS__TRANSFER_DECISION__NEEDS_INFO);
    msgjson_free(&back);
    free(text);

    /* meta's from and created_at win over the envelope's. */
    meta = (msgjson_meta_t){.from = "jobbtorg", .created_at = 1};
    text = msgjson_format(&env, &meta);
    cr_assert_not_null(strstr(text, "\"from\":\"jobbtorg\""));
    cr_assert_not_null(strstr(text, "\"created_at\":\"1970-01-01T00:00:00.001Z\""));
    free(text);

    text = msgjson_format_pretty(&env, NULL);
    cr_assert_not_null(strchr(text, '\n'));
    free(text);
    s_assert_round_trip(&env, false);
    s_no_leaks();
}

Test(msgjson, format_refuses_what_would_not_read_back)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Referral ref = REMISS__REFERRAL__INIT;
    Remiss__Inquiry inq = REMISS__INQUIRY__INIT;
    uint8_t shortid[4] = {1, 2, 3, 4};

    cr_assert_null(msgjson_format(NULL, NULL));
    env.recipient = "jobbtorg";
    cr_assert_null(msgjson_format(&env, NULL)); /* no type */
    env.type = REMISS__MESSAGE_TYPE__REFERRAL;
    cr_assert_null(msgjson_format(&env, NULL)); /* no body */
    env.body_case = REMISS__ENVELOPE__BODY_INQUIRY;
    env.inquiry = &inq;
    cr_assert_null(msgjson_format(&env, NULL)); /* body of another type */
    env.body_case = REMISS__ENVELOPE__BODY_REFERRAL;
    env.referral = &ref;
    char *ok = msgjson_format(&env, NULL);
    cr_assert_str_eq(ok, "{\"type\":\"referral\",\"to\":\"jobbtorg\"}");
    free(ok);

    ref.reason = "bad \xC3\x28 text";
    cr_assert_null(msgjson_format(&env, NULL));
    ref.reason = "";
    env.message_id.data = shortid;
    env.message_id.len = sizeof shortid;
    cr_assert_null(msgjson_format(&env, NULL));
    env.message_id.len = 0;
    env.created_at = -5;
    cr_assert_null(msgjson_format(&env, NULL));
    env.created_at = 0;
    msgjson_meta_t meta = {.from = "\xFF"};
    cr_assert_null(msgjson_format(&env, &meta));
    env.type = (Remiss__MessageType)99;
    cr_assert_null(msgjson_format(&env, NULL));
    /* Found by fuzz_envelope: without a recipient the text lacked "to",
     * which msgjson_parse requires. */
    env.type = REMISS__MESSAGE_TYPE__REFERRAL;
    env.recipient = "";
    cr_assert_null(msgjson_format(&env, NULL));
    env.recipient = NULL;
    cr_assert_null(msgjson_format(&env, NULL));
    s_no_leaks();
}

/* --------------------------------------------------------------- parse */

Test(msgjson, parse_mapping_details)
{
    /* Times as integer ms or ISO strings; an empty block is no block;
     * enum and id conventions; escapes decode. */
    Remiss__Envelope *env = s_parse_str(
        "{\"type\":\"consent_grant\",\"to\":\"broker\",\"from\":\"sdf-rinkeby-kista\","
        "\"message_id\":\"00112233445566778899AABBCCDDEEFF\",\"created_at\":1795428900123,"
        "\"subject\":{\"personnummer\":\"20060115-2382\",\"contact\":{}},\"health\":{},"
        "\"given_by\":\"subject_and_guardian\",\"purposes\":[],\"categories\":[\"social\",\"\"],"
        "\"free_text\":\"rad 1\\nrad 2 \\u00e5 \\ud83d\\ude00\"}");
    cr_assert_str_eq(env->sender, "sdf-rinkeby-kista");
    cr_assert_eq(env->message_id.data[15], 0xFF);
    cr_assert_eq(env->created_at, INT64_C(1795428900123));
    cr_assert_null(env->subject->contact);
    cr_assert_null(env->health);
    cr_assert_eq(env->consent_grant->given_by, REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN);
    cr_assert_eq(env->consent_grant->n_purposes, 0);
    cr_assert_eq(env->consent_grant->n_categories, 2);
    cr_assert_str_eq(env->free_text, "rad 1\nrad 2 \xC3\xA5 \xF0\x9F\x98\x80");
    s_assert_round_trip(env, false);
    msgjson_free(&env);
    msgjson_free(&env); /* already NULL: no-op */
    msgjson_free(NULL);

    env = s_parse_str("{\"type\":\"inquiry\",\"to\":\"af-kommunhubb\","
                      "\"created_at\":\"2026-11-23T10:15:00.123456Z\"}");
    cr_assert_eq(env->created_at, INT64_C(1795428900123));
    cr_assert_eq(env->body_case, REMISS__ENVELOPE__BODY_INQUIRY);
    cr_assert_not_null(env->inquiry); /* an empty body is still the body */
    s_assert_round_trip(env, false);
    msgjson_free(&env);

    /* Whitespace around the object and a JSON text that is not NUL-terminated. */
    const char buf[] = " \n{\"type\":\"inquiry\",\"to\":\"x\"}\r\n\tGARBAGE";
    env = s_parse_ok(buf, strlen(buf) - strlen("GARBAGE"));
    msgjson_free(&env);
    s_no_leaks();
}

Test(msgjson, time_helpers)
{
    int64_t ms = -1;
    char buf[MSGJSON_TIME_LEN];

    cr_assert(msgjson_time_parse("1970-01-01T00:00:00Z", &ms));
    cr_assert_eq(ms, 0);
    cr_assert(msgjson_time_parse("2024-02-29T23:59:59.9Z", &ms));
    cr_assert(msgjson_time_format(ms, buf, sizeof buf));
    cr_assert_str_eq(buf, "2024-02-29T23:59:59.900Z");
    cr_assert(msgjson_time_parse("9999-12-31T23:59:59.999Z", &ms));
    cr_assert_eq(ms, INT64_C(253402300799999));
    cr_assert(msgjson_time_format(ms, buf, sizeof buf));
    cr_assert_not(msgjson_time_format(ms + 1, buf, sizeof buf));
    cr_assert_not(msgjson_time_format(-1, buf, sizeof buf));
    cr_assert_not(msgjson_time_format(0, buf, sizeof buf - 1));

    static const char *const bad[] = {
        "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z",
        "2026-11-23T10:15:60Z",
        "2026-11-23 10:15:00Z",
        "2026-11-23T10:15:00",
        "2026-11-23T10:15:00+01:00",
        "2026-11-23T10:15:00.Z",
        "2026-11-23T10:15:00.1234567891Z",
        "1969-12-31T23:59:59Z",
        "2026-11-23",
        "2026-1-23T10:15:00Z",
        "2026-11-23T10:15:00ZZ",
        "",
        "+026-11-23T10:15:00Z",
        "2026-11-23t10:15:00z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(msgjson_time_parse(bad[i], &ms), "%s", bad[i]);
    cr_assert_not(msgjson_time_parse(NULL, &ms));
    s_no_leaks();
}

Test(msgjson, usage_and_size_limits)
{
    Remiss__Envelope *env = NULL;
    remiss_err_t err;
    cr_assert_eq(msgjson_parse(NULL, 0, &env, &err), REMISS_E_USAGE);
    cr_assert_eq(msgjson_parse("{}", 2, NULL, &err), REMISS_E_USAGE);
    cr_assert_eq(msgjson_parse("{}", 2, &env, NULL), REMISS_E_MALFORMED); /* err may be NULL */
    s_assert_error("", 0, REMISS_E_MALFORMED, "empty");

    /* One byte over the limit is refused before it is read. */
    size_t big = MSGJSON_MAX_INPUT + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    s_assert_error(huge, big, REMISS_E_TOO_LARGE, "at most");
    /* At the limit it is read (and found to lack a type). */
    huge[big - 2] = '}';
    s_assert_error(huge, big - 1, REMISS_E_MALFORMED, "\"type\" is required");
    free(huge);
    s_no_leaks();
}

Test(msgjson, not_json_or_not_an_object)
{
    ERR("{", "not valid JSON");
    ERR("{\"type\":\"referral\",\"to\":\"x\"", "not valid JSON");
    ERR("{\"type\":\"referral\",\"to\":\"x\",}", "not valid JSON");
    ERR("{'type':'referral'}", "not valid JSON");
    ERR("[]", "must be a JSON object");
    ERR("\"" SECRET "\"", "must be a JSON object");
    ERR("42", "must be a JSON object");
    ERR("null", "must be a JSON object");
    ERR("{\"type\":\"referral\",\"to\":\"x\"} {}", "more text after");
    ERR("{\"type\":\"referral\",\"to\":\"x\"}x", "more text after");
    static const char nul[] = "{\"type\":\"referral\",\0\"to\":\"x\"}";
    s_assert_error(nul, sizeof nul - 1, REMISS_E_MALFORMED, "NUL byte");
    s_no_leaks();
}

Test(msgjson, required_fields_and_type)
{
    ERR("{\"to\":\"jobbtorg\"}", "field \"type\" is required");
    ERR("{\"type\":\"" SECRET "\",\"to\":\"x\"}", "field \"type\" must be one of referral, ");
    ERR("{\"type\":\"Referral\",\"to\":\"x\"}", "field \"type\" must be one of");
    ERR("{\"type\":\"unspecified\",\"to\":\"x\"}", "field \"type\" must be one of");
    ERR("{\"type\":1,\"to\":\"x\"}", "field \"type\" must be a string");
    ERR("{\"type\":null,\"to\":\"x\"}", "field \"type\" must be a string");
    ERR("{\"type\":\"referral\"}", "field \"to\" is required");
    ERR("{\"type\":\"referral\",\"to\":\"\"}", "field \"to\" is required");
    s_no_leaks();
}

Test(msgjson, unknown_keys_at_every_level)
{
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"colour\":\"" SECRET "\"}",
        "unknown field \"colour\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"Purpose\":\"anvisning\"}",
        "unknown field \"Purpose\"");
    /* The proto names of renamed fields and the nested body are not keys. */
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"recipient\":\"x\"}", "unknown field \"recipient\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"sender\":\"x\"}", "unknown field \"sender\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"referral\":{}}", "unknown field \"referral\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"fax\":\"" SECRET "\"}}",
        "unknown field \"subject.fax\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"contact\":{\"fax\":\"1\"}}}",
        "unknown field \"subject.contact.fax\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"social\":{\"income\":true}}",
        "unknown field \"social.income\"");
    /* A body field of another type. */
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"decision\":\"accepted\"}",
        "field \"decision\" belongs to a transfer_ack message, not a referral");
    ERR("{\"type\":\"consent_revoke\",\"to\":\"broker\",\"purposes\":[\"x\"]}",
        "field \"purposes\" belongs to a consent_grant message");
    /* A key that could be personal data is not repeated. */
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"Kim Andersson " SECRET "\":1}",
        "unknown field at the top level");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"\\u00e5\":1}}",
        "unknown field in \"subject\"");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"\":1}", "unknown field at the top level");
    s_no_leaks();
}

Test(msgjson, wrong_json_types)
{
    ERR("{\"type\":\"referral\",\"to\":5}", "field \"to\" must be a string");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"from\":[\"" SECRET "\"]}",
        "field \"from\" must be a string");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"purpose\":null}",
        "field \"purpose\" must be a string");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"contact\":{\"phone\":701740605}}}",
        "field \"subject.contact.phone\" must be a string");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"protected_identity\":\"yes\"}}",
        "field \"subject.protected_identity\" must be true or false");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"protected_identity\":1}}",
        "field \"subject.protected_identity\" must be true or false");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":\"" SECRET "\"}",
        "field \"subject\" must be an object");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"contact\":[]}}",
        "field \"subject.contact\" must be an object");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"name\":{\"first\":\"Kim\"}}}",
        "field \"subject.name\" must be a string");
    ERR("{\"type\":\"consent_grant\",\"to\":\"broker\",\"purposes\":\"anvisning\"}",
        "field \"purposes\" must be an array");
    ERR("{\"type\":\"consent_grant\",\"to\":\"broker\",\"purposes\":[\"anvisning\",3]}",
        "field \"purposes[1]\" must be a string");
    ERR("{\"type\":\"concern_report\",\"to\":\"x\",\"urgent\":\"true\"}",
        "field \"urgent\" must be true or false");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"free_text\":true}",
        "field \"free_text\" must be a string");
    s_no_leaks();
}

Test(msgjson, integers_and_times_out_of_range)
{
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":-1}", "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":1.5}", "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":1e300}",
        "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":253402300800000}",
        "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":true}", "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":\"2026-02-30T00:00:00Z\"}",
        "field \"created_at\" must be");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"received_at\":\"yesterday\"}",
        "field \"received_at\" must be");
    s_no_leaks();
}

Test(msgjson, enums)
{
    ERR("{\"type\":\"transfer_ack\",\"to\":\"x\",\"decision\":\"" SECRET "\"}",
        "field \"decision\" must be one of accepted, rejected, needs_info");
    ERR("{\"type\":\"transfer_ack\",\"to\":\"x\",\"decision\":\"unspecified\"}",
        "field \"decision\" must be one of");
    ERR("{\"type\":\"transfer_ack\",\"to\":\"x\",\"decision\":\"ACCEPTED\"}",
        "field \"decision\" must be one of");
    ERR("{\"type\":\"transfer_ack\",\"to\":\"x\",\"decision\":1}",
        "field \"decision\" must be one of");
    ERR("{\"type\":\"consent_grant\",\"to\":\"x\",\"given_by\":\"guardian\"}",
        "field \"given_by\" must be one of subject, subject_and_guardian");
    s_no_leaks();
}

Test(msgjson, message_ids)
{
    static const char *const bad[] = {
        "0011223344556677889900112233445",   /* 31 digits */
        "001122334455667788990011223344556", /* 33 digits */
        "0011223344556677889900112233445g",  /* not hex */
        "00112233-4455-6677-8899-001122334455", " 0011223344556677889900112233445", "",
    };
    char json[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"type\":\"transfer_ack\",\"to\":\"x\",\"original_message_id\":\"%s\"}", bad[i]);
        ERR(json, "field \"original_message_id\" must be a message id of 32 hexadecimal digits");
        snprintf(json, sizeof json, "{\"type\":\"inquiry\",\"to\":\"x\",\"message_id\":\"%s\"}",
                 bad[i]);
        ERR(json, "field \"message_id\" must be a message id");
    }
    ERR("{\"type\":\"inquiry_answer\",\"to\":\"x\",\"in_reply_to\":7}",
        "field \"in_reply_to\" must be a message id");
    s_no_leaks();
}

Test(msgjson, strings_must_be_utf8_without_nul)
{
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"name\":\"Kim \xC3\x28" SECRET "\"}}",
        "field \"subject.name\" must be valid UTF-8 text without NUL characters");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"free_text\":\"\xC0\xAF\"}",
        "field \"free_text\" must be valid UTF-8");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"free_text\":\"\xED\xA0\x80\"}",
        "field \"free_text\" must be valid UTF-8");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"reason\":\"\xF4\x90\x80\x80\"}",
        "field \"reason\" must be valid UTF-8");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"reason\":\"cut \xE2\x82\"}",
        "field \"reason\" must be valid UTF-8");
    /* An escaped NUL would silently cut the string: refused, with the field. */
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"name\":\"Kim\\u0000" SECRET "\"}}",
        "field \"subject.name\" must be valid UTF-8 text without NUL");
    ERR("{\"type\":\"consent_grant\",\"to\":\"x\",\"purposes\":[\"a\",\"\\u0000\"]}",
        "field \"purposes[1]\" must be valid UTF-8");
    ERR("{\"type\":\"referral\",\"to\":\"jobb\\u0000torg\"}", "field \"to\" must be valid UTF-8");
    /* An escaped backslash before u0000 is just text. */
    Remiss__Envelope *env =
        s_parse_str("{\"type\":\"referral\",\"to\":\"x\",\"reason\":\"a\\\\u0000\"}");
    cr_assert_str_eq(env->referral->reason, "a\\u0000");
    msgjson_free(&env);
    /* Lone escaped surrogates are refused by the JSON reader itself. */
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"reason\":\"\\ud800\"}", "not valid JSON");
    s_no_leaks();
}

Test(msgjson, duplicate_keys)
{
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"to\":\"y\"}", "field \"to\" appears more than once");
    ERR("{\"type\":\"referral\",\"type\":\"inquiry\",\"to\":\"x\"}",
        "field \"type\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"from\":\"a\",\"from\":\"b\"}",
        "field \"from\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"reason\":\"a\",\"reason\":\"b\"}",
        "field \"reason\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{\"name\":\"a\",\"name\":\"b\"}}",
        "field \"subject.name\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"subject\":{},\"subject\":{}}",
        "field \"subject\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"created_at\":1,\"created_at\":1}",
        "field \"created_at\" appears more than once");
    ERR("{\"type\":\"referral\",\"to\":\"x\",\"received_at\":1,\"received_at\":1}",
        "field \"received_at\" appears more than once");
    s_no_leaks();
}

/* ------------------------------------------------- robustness, leaks */

static size_t
s_last_brace(const char *json, size_t len)
{
    while (len > 0 && json[len - 1] != '}')
        len--;
    cr_assert_gt(len, 0);
    return len - 1;
}

Test(msgjson, every_truncation_is_rejected)
{
    for (size_t i = 0; i < S_NEXAMPLES; i++) {
        size_t len;
        char *json = s_read_example(s_examples[i], &len);
        size_t stop = s_last_brace(json, len);
        for (size_t n = 0; n <= stop; n++) {
            /* An exact-size copy, so a read past the end trips ASan. */
            char *cut = malloc(n ? n : 1);
            memcpy(cut, json, n);
            Remiss__Envelope *env = NULL;
            remiss_err_t err;
            remiss_code_t r = msgjson_parse(cut, n, &env, &err);
            cr_assert_eq(r, REMISS_E_MALFORMED, "%s cut at %zu: %s", s_examples[i], n,
                         remiss_code_name(r));
            cr_assert_null(env);
            free(cut);
        }
        free(json);
    }
    s_no_leaks();
}

static uint64_t
s_rand(uint64_t *state)
{
    /* xorshift64*: a fixed seed keeps failures reproducible. */
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C(2685821657736338717);
}

static size_t
s_mutate(char *buf, size_t len, size_t cap, uint64_t *rng)
{
    static const char interesting[] = "{}[]\":,\\u0 -1.e9tfn\xC3\xA5\xED\xA0\x80\xFF";
    int ops = 1 + (int)(s_rand(rng) % 4);
    for (int k = 0; k < ops; k++) {
        size_t at = len ? (size_t)(s_rand(rng) % len) : 0;
        switch (s_rand(rng) % 4) {
        case 0: /* flip a bit */
            if (len)
                buf[at] ^= (char)(1u << (s_rand(rng) % 8));
            break;
        case 1: /* insert a byte */
            if (len < cap) {
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = s_rand(rng) % 2 ? interesting[s_rand(rng) % (sizeof interesting - 1)]
                                          : (char)(s_rand(rng) & 0xFF);
                len++;
            }
            break;
        case 2: /* delete a byte */
            if (len) {
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
            }
            break;
        default: /* copy a chunk over another place */
            if (len > 8) {
                size_t from = (size_t)(s_rand(rng) % len), n = 1 + (size_t)(s_rand(rng) % 8);
                if (n > len - from)
                    n = len - from;
                if (n > len - at)
                    n = len - at;
                memmove(buf + at, buf + from, n);
            }
            break;
        }
    }
    return len;
}

/* Mutated examples never crash or leak, and whatever is accepted formats
 * and reads back to the same bytes. */
Test(msgjson, random_mutations, .timeout = 120)
{
    char *src[S_NEXAMPLES];
    size_t srclen[S_NEXAMPLES];
    uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
    unsigned accepted = 0, refused = 0;

    for (size_t i = 0; i < S_NEXAMPLES; i++)
        src[i] = s_read_example(s_examples[i], &srclen[i]);
    for (int iter = 0; iter < 4000; iter++) {
        size_t e = (size_t)(s_rand(&rng) % S_NEXAMPLES), cap = srclen[e] + 16;
        char *buf = malloc(cap);
        memcpy(buf, src[e], srclen[e]);
        size_t len = s_mutate(buf, srclen[e], cap, &rng);
        /* Shrink to the exact length so over-reads are caught. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        free(buf);

        Remiss__Envelope *env = NULL;
        remiss_err_t err = {0};
        remiss_code_t r = msgjson_parse(exact, len, &env, &err);
        if (r == REMISS_OK) {
            accepted++;
            s_assert_round_trip(env, false);
            msgjson_free(&env);
        } else {
            refused++;
            cr_assert_eq(r, REMISS_E_MALFORMED, "iteration %d: %s", iter, remiss_code_name(r));
            cr_assert_null(env);
            cr_assert_gt(strlen(err.text), 0);
        }
        free(exact);
    }
    for (size_t i = 0; i < S_NEXAMPLES; i++)
        free(src[i]);
    /* Both paths must have been exercised for the loop to mean anything. */
    cr_assert_gt(accepted, 100);
    cr_assert_gt(refused, 1000);
    s_no_leaks();
}
