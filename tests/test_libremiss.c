/* libremiss against a real remissd: the client library's own promises
 * (de-duplication, refusals, timeouts, keeping the evidence). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* A consent and one referral from sdf-rinkeby-kista to jobbtorg; id gets
 * the referral's message id. */
static void
s_send_referral(harness_t *h, uint8_t id[REMISS_ID_LEN])
{
    remiss_err_t err;
    remiss_receipt_t rc;
    remiss_client_t *sdf = harness_client(h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK, "%s", err.text);
    memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&sdf);
}

/* Runs remissctl with args; returns its exit status. */
static int
s_ctl(const char *args)
{
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", harness_bin("remissctl", bin, sizeof bin),
             args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Issue 12, bug 1: a refusal recorded the id as processed, so after an
 * operator requeued the message the client acknowledged the redelivery as
 * a duplicate and the application never saw it. */
Test(libremiss, a_refused_then_requeued_message_reaches_the_application, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    char hex[33], args[512];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    s_send_referral(&h, id);
    remiss_id_to_hex(id, hex);

    remiss_client_t *jt = harness_client(&h, "jobbtorg", true);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_refuse(jt, remiss_message_id(m), "fel mottagare", &err), REMISS_OK, "%s",
                 err.text);
    remiss_message_free(&m);

    snprintf(args, sizeof args, "deadletter requeue --db %s %s", h.db, hex);
    cr_assert_eq(s_ctl(args), 0);

    /* The same connection and a later run with the same state both see it. */
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(remiss_message_id(m), id, REMISS_ID_LEN);
    remiss_message_free(&m);
    remiss_close(&jt);
    jt = harness_client(&h, "jobbtorg", true);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(remiss_message_id(m), id, REMISS_ID_LEN);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);
    remiss_close(&jt);

    /* Acknowledged, it is never handed out again by a client with that state. */
    jt = harness_client(&h, "jobbtorg", true);
    cr_assert_eq(remiss_recv(jt, 1500, &m, &err), REMISS_E_TIMEOUT);
    remiss_close(&jt);
    harness_stop(&h);
}

/* remiss_connect says what to fix: lower-case party ids, an endpoint with
 * its transport, the PKI file that is missing. */
Test(libremiss, connect_errors_name_the_fix, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    harness_init(&h, s_parties);
    remiss_opts_t o = {.pki_dir = h.pki, .party = "Jobbtorg", .endpoint = "tcp://127.0.0.1:9"};
    cr_assert_null(remiss_connect(&o, &err));
    cr_expect_eq(err.code, REMISS_E_USAGE);
    cr_expect_not_null(strstr(err.text, "--as jobbtorg"), "%s", err.text);
    o.party = "jobbtorg";
    o.endpoint = "127.0.0.1:7400";
    cr_assert_null(remiss_connect(&o, &err));
    cr_expect_not_null(strstr(err.text, "tcp://127.0.0.1:7400"), "%s", err.text);
    char path[256];
    snprintf(path, sizeof path, "%s/parties/jobbtorg.curve", h.pki);
    cr_assert_eq(unlink(path), 0);
    o.endpoint = "tcp://127.0.0.1:9";
    cr_assert_null(remiss_connect(&o, &err));
    cr_expect_not_null(strstr(err.text, path), "%s", err.text);
    harness_stop(&h);
}

/* Issue 12, bug 3 in the library: nothing listens, so every call that needs
 * the broker is E_TIMEOUT, naming the endpoint. */
Test(libremiss, an_unreachable_broker_is_e_timeout_naming_it, .timeout = 60)
{
    harness_t h;
    remiss_err_t err;
    harness_init(&h, s_parties);
    remiss_opts_t o = {
        .pki_dir = h.pki, .party = "jobbtorg", .endpoint = "tcp://127.0.0.1:9", .timeout_ms = 500};
    remiss_client_t *c = remiss_connect(&o, &err);
    cr_assert_not_null(c, "%s", err.text);
    Remiss__StatusReply *st = NULL;
    uint8_t id[REMISS_ID_LEN] = {1};
    cr_expect_eq(remiss_status(c, id, &st, &err), REMISS_E_TIMEOUT);
    cr_expect_not_null(strstr(err.text, "tcp://127.0.0.1:9"), "%s", err.text);
    cr_expect_eq(remiss_subscribe(c, 0, &err), REMISS_E_TIMEOUT);
    remiss_close(&c);
    harness_stop(&h);
}

/* The evidence an agency archives, and one code for an unknown id. */
Test(libremiss, receipts_and_messages_are_kept_and_unknown_ids_are_one_code, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t rc;
    char path[256];
    struct stat st;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK, "%s", err.text);
    snprintf(path, sizeof path, "%s/receipt", h.dir);
    cr_assert_eq(remiss_receipt_save(&rc, path, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    cr_expect_eq((size_t)st.st_size, rc.signed_len);
    remiss_receipt_clear(&rc);
    cr_expect_eq(remiss_receipt_save(&rc, path, &err), REMISS_E_USAGE, "nothing to save");
    harness_envelope_free(env);

    remiss_client_t *jt = harness_client(&h, "jobbtorg", true);
    remiss_message_t *m = NULL;
    char hex[33];
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_message_save(m, h.dir, &err), REMISS_OK, "%s", err.text);
    remiss_id_to_hex(remiss_message_id(m), hex);
    snprintf(path, sizeof path, "%s/%s.env", h.dir, hex);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Remiss__SignedEnvelope *se = remiss__signed_envelope__unpack(NULL, n, buf);
    cr_assert_not_null(se, "the saved envelope is a SignedEnvelope");
    cr_expect_gt(se->signature.len, 0);
    remiss__signed_envelope__free_unpacked(se, NULL);
    snprintf(path, sizeof path, "%s/%s.crt", h.dir, hex);
    cr_expect_eq(stat(path, &st), 0);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);

    uint8_t unknown[REMISS_ID_LEN] = {0xde, 0xad};
    cr_expect_eq(remiss_ack_sync(jt, unknown, &err), REMISS_E_UNKNOWN_MESSAGE, "%s", err.text);
    cr_expect_eq(remiss_refuse(jt, unknown, "nej", &err), REMISS_E_UNKNOWN_MESSAGE, "%s", err.text);
    Remiss__ProofReply *pr = NULL;
    cr_expect_eq(remiss_proof(jt, unknown, 0, &pr, &err), REMISS_E_UNKNOWN_MESSAGE, "%s", err.text);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(libremiss, json_api_and_version)
{
    const char *json = "{\"type\":\"consent_revoke\",\"to\":\"broker\",\"consent_id\":\"c-1\","
                       "\"revoke_reason\":\"tab\\there \\\"quoted\\\"\"}";
    Remiss__Envelope *env = NULL;
    remiss_err_t err;
    cr_assert_eq(remiss_json_parse(json, strlen(json), &env, &err), REMISS_OK, "%s", err.text);
    char *out = remiss_json_format(env, NULL);
    cr_assert_not_null(out);
    cr_expect_not_null(strstr(out, "tab\\there \\\"quoted\\\""), "%s", out);
    free(out);
    remiss_json_free(&env);
    cr_expect_null(env);
    cr_expect_str_eq(remiss_version(), REMISS_VERSION);
}
