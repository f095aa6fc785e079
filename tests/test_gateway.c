/* remiss-gateway end to end: a real remissd, two real gateways (a district
 * and Jobbtorg) and the case systems played by HTTP requests (libcurl). */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway_harness.h"
#include "gw_push.h"

#define DISTRICT "sdf-rinkeby-kista"

static const char *const s_parties[] = {DISTRICT ":sdf", "jobbtorg:jobbtorg", NULL};

static harness_t s_h;
static gwh_t s_a, s_b; /* the district's gateway and Jobbtorg's */

static void
s_setup(void)
{
    harness_init(&s_h, s_parties);
    harness_start(&s_h, NULL);
    gwh_start(&s_a, &s_h, DISTRICT, NULL);
}

static void
s_teardown(void)
{
    gwh_stop(&s_a);
    gwh_stop(&s_b);
    harness_stop(&s_h);
}

/* A consent grant for HARNESS_PNR from the district to Jobbtorg, in force
 * from..until (YYYY-MM-DD). */
static char *
s_grant_json_dated(const char *consent_id, const char *categories, const char *from,
                   const char *until)
{
    char *out = malloc(1024);
    snprintf(out, 1024,
             "{\"type\":\"consent_grant\",\"to\":\"broker\",\"consent_id\":\"%s\","
             "\"subject\":{\"personnummer\":\"%s\"},\"from_parties\":[\"" DISTRICT "\"],"
             "\"to_parties\":[\"jobbtorg\"],\"purposes\":[\"anvisning\"],\"categories\":[%s],"
             "\"valid_from\":\"%s\",\"valid_until\":\"%s\","
             "\"given_by\":\"subject\",\"evidence_sha256\":\"%064d\"}",
             consent_id, HARNESS_PNR, categories, from, until, 7);
    return out;
}

static char *
s_grant_json(const char *consent_id, const char *categories)
{
    return s_grant_json_dated(consent_id, categories, "2020-01-01", "2036-01-01");
}

/* A referral with the fields to vary; extra is more top-level members. */
static char *
s_referral_json(const char *to, const char *pnr, const char *consent_id, const char *extra)
{
    char *out = malloc(2048);
    snprintf(out, 2048,
             "{\"type\":\"referral\",\"to\":\"%s\",\"purpose\":\"anvisning\","
             "\"consent_id\":\"%s\",\"subject\":{\"personnummer\":\"%s\",\"name\":\"Test "
             "Testsson\"},\"social\":{\"income_support\":true,\"notes\":\"Bistånd.\"},"
             "\"reason\":\"Behöver stöd mot arbete\"%s}",
             to, consent_id, pnr, extra ? extra : "");
    return out;
}

static void
s_grant(const gwh_t *g, const char *consent_id, const char *categories)
{
    char *body = s_grant_json(consent_id, categories), *out = NULL;
    long st = gwh_call(g, "POST", "/v1/consents", body, &out);
    cr_assert_eq(st, 200, "grant: %ld %s", st, out);
    free(body);
    free(out);
}

/* A dated grant through the district's gateway, answered status with code. */
static void
s_grant_dated(const char *consent_id, const char *from, const char *until, long status,
              const char *code)
{
    char *body = s_grant_json_dated(consent_id, "\"identity\",\"social\"", from, until);
    char *out = NULL, want[64];
    long st = gwh_call(&s_a, "POST", "/v1/consents", body, &out);
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    cr_assert_eq(st, status, "grant %s: %ld %s", consent_id, st, out);
    cr_assert(strstr(out, want), "grant %s: %s", consent_id, out);
    free(body);
    free(out);
}

/* Sends a referral through g; returns the HTTP status, id gets the id. */
static long
s_send(const gwh_t *g, const char *body, const char *key, char id[33], char **out_p)
{
    char hdr[200], *out = NULL;
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", key ? key : "");
    long st = gwh_request(g, "POST", "/v1/messages", GWH_TOKEN, body, key ? hdr : NULL, &out);
    if (id)
        gwh_field(out, "message_id", id, 33);
    if (out_p)
        *out_p = out;
    else
        free(out);
    return st;
}

/* Long-polls the inbox of g for up to wait seconds; the first message id. */
static const char *
s_inbox_first(const gwh_t *g, int wait, char id[33], char **out_p)
{
    char path[64], *out = NULL;
    snprintf(path, sizeof path, "/v1/inbox?wait=%d&max=10", wait);
    cr_assert_eq(gwh_call(g, "GET", path, NULL, &out), 200, "%s", out);
    gwh_field(out, "message_id", id, 33);
    if (out_p)
        *out_p = out;
    else
        free(out);
    return id;
}

static void
s_expect_state(const gwh_t *g, const char *id, const char *state)
{
    char path[128], *out = NULL, got[32] = "";
    snprintf(path, sizeof path, "/v1/messages/%s", id);
    for (int i = 0; i < 50; i++) {
        free(out);
        cr_assert_eq(gwh_call(g, "GET", path, NULL, &out), 200, "%s", out);
        if (strcmp(gwh_field(out, "state", got, sizeof got), state) == 0)
            break;
        usleep(100000);
    }
    cr_assert_str_eq(got, state, "%s", out);
    free(out);
}

TestSuite(gateway, .init = s_setup, .fini = s_teardown, .timeout = 120);

Test(gateway, referral_over_http_arrives_is_acked_and_status_shows_it)
{
    char id[33], again[33], got[33], *out = NULL, path[128];
    gwh_start(&s_b, &s_h, "jobbtorg", NULL);
    s_grant(&s_a, "c-gw-1", "\"identity\",\"social\"");
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-1", NULL);
    cr_assert_eq(s_send(&s_a, body, "case-4711", id, &out), 200, "%s", out);
    cr_assert(strstr(out, "\"code\":\"OK\"") && strstr(out, "\"signed_receipt\":\""), "%s", out);
    free(out);
    /* The same key gets the same receipt, never a second message. */
    cr_assert_eq(s_send(&s_a, body, "case-4711", again, NULL), 200);
    cr_assert_str_eq(again, id);
    s_inbox_first(&s_b, 20, got, &out);
    cr_assert_str_eq(got, id, "%s", out);
    cr_assert(strstr(out, "\"from\":\"" DISTRICT "\"") && strstr(out, "\"signed_envelope\":\""),
              "%s", out);
    cr_assert(strstr(out, HARNESS_PNR), "%s", out);
    free(out);
    s_expect_state(&s_a, id, "delivered");
    snprintf(path, sizeof path, "/v1/messages/%s/ack", id);
    cr_assert_eq(gwh_call(&s_b, "POST", path, NULL, NULL), 200);
    s_expect_state(&s_a, id, "acknowledged");
    /* Nothing more arrives: the retry above made no second message. */
    s_inbox_first(&s_b, 1, got, NULL);
    cr_assert_str_eq(got, "");
    snprintf(path, sizeof path, "/v1/messages/%s/proof", id);
    cr_assert_eq(gwh_call(&s_a, "GET", path, NULL, &out), 200, "%s", out);
    cr_assert(strstr(out, "\"verified\":true"), "%s", out);
    free(out);
    free(body);
}

Test(gateway, wrong_or_missing_token_gets_401_and_nothing_else)
{
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-x", NULL), *out = NULL;
    const char *tokens[] = {NULL, "", "wrong", GWH_TOKEN "x", "test-token-0123456789abcdeF"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        cr_assert_eq(gwh_request(&s_a, "POST", "/v1/messages", tokens[i], body, NULL, &out), 401);
        cr_assert(strstr(out, "E_UNAUTHORIZED"), "%s", out);
        free(out);
        cr_assert_eq(gwh_request(&s_a, "GET", "/v1/inbox", tokens[i], NULL, NULL, NULL), 401);
        cr_assert_eq(gwh_request(&s_a, "GET", "/metrics", tokens[i], NULL, NULL, NULL), 401);
    }
    cr_assert_eq(
        gwh_request(&s_a, "POST", "/v1/messages", "x", body, "Authorization: Basic eA==", NULL),
        401);
    /* Nothing reached the broker. */
    cr_assert_eq(gwh_call(&s_a, "GET", "/metrics", NULL, &out), 200);
    cr_assert(strstr(out, "remiss_gateway_sent_total 0\n") &&
                  strstr(out, "remiss_gateway_refused_total 0\n"),
              "%s", out);
    free(out);
    free(body);
}

/* Expects status and code for body sent through the district's gateway. */
static void
s_refused(const char *body, long status, const char *code)
{
    char *out = NULL, want[64];
    long st = s_send(&s_a, body, NULL, NULL, &out);
    snprintf(want, sizeof want, "\"code\":\"%s\"", code);
    cr_assert_eq(st, status, "%s: %ld %s", code, st, out);
    cr_assert(strstr(out, "{\"error\":{") == out && strstr(out, want), "%s: %s", code, out);
    free(out);
}

static void
s_refused_free(char *body, long status, const char *code)
{
    s_refused(body, status, code);
    free(body);
}

Test(gateway, every_refusal_an_agency_can_cause_is_a_4xx_with_its_code)
{
    s_grant(&s_a, "c-gw-2", "\"identity\",\"social\"");
    s_refused("{\"type\":\"referral\"", 400, "E_MALFORMED");
    s_refused("{\"type\":\"referral\",\"to\":\"jobbtorg\",\"bogus\":1}", 400, "E_MALFORMED");
    s_refused_free(s_referral_json("nobody-here", HARNESS_PNR, "c-gw-2", NULL), 422,
                   "E_UNKNOWN_RECIPIENT");
    s_refused_free(s_referral_json("jobbtorg", "20080229-4729", "c-gw-2", NULL), 422,
                   "E_INVALID_PERSONNUMMER");
    s_refused_free(s_referral_json("jobbtorg", HARNESS_PNR, "c-none", NULL), 422, "E_NO_CONSENT");
    s_refused_free(
        s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2", ",\"health\":{\"notes\":\"Diagnos.\"}"),
        422, "E_CATEGORY_NOT_COVERED");
    s_refused_free(s_referral_json(DISTRICT, HARNESS_PNR, "c-gw-2", NULL), 422, "E_POLICY_DENIED");
    s_refused_free(s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2", ",\"from\":\"jobbtorg\""),
                   403, "E_SENDER_MISMATCH");
    /* 1950-01-01: far outside the 16-29 of the referral rule. */
    s_refused_free(s_referral_json("jobbtorg", "19500101-0015", "c-gw-2", NULL), 422,
                   "E_AGE_OUT_OF_SCOPE");
    /* A message id used for another body. */
    char *one = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2",
                                ",\"message_id\":\"00112233445566778899aabbccddeeff\"");
    char *two = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2",
                                ",\"message_id\":\"00112233445566778899aabbccddeeff\","
                                "\"free_text\":\"x\"");
    cr_assert_eq(s_send(&s_a, one, NULL, NULL, NULL), 200);
    s_refused_free(two, 409, "E_REPLAY");
    free(one);
    /* A withdrawn consent. */
    cr_assert_eq(gwh_call(&s_a, "DELETE", "/v1/consents/c-gw-2", NULL, NULL), 200);
    s_refused_free(s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2", NULL), 422,
                   "E_CONSENT_REVOKED");
    /* Protected identity with contact data in the message. */
    char *prot = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-2", NULL);
    char *subj = strstr(prot, "\"name\":\"Test Testsson\"");
    cr_assert_not_null(subj);
    char *with = malloc(strlen(prot) + 200);
    snprintf(with, strlen(prot) + 200,
             "%.*s\"protected_identity\":true,\"contact\":{\"address\":\"Testgatan 1\"},%s",
             (int)(subj - prot), prot, subj);
    s_refused_free(with, 422, "E_PROTECTED_IDENTITY");
    free(prot);
    /* Consents are dated: one that starts next year is not in force yet, and
     * a grant whose last day has passed is refused itself. */
    s_grant_dated("c-gw-later", "2035-01-01", "2036-01-01", 200, "OK");
    s_refused_free(s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-later", NULL), 422,
                   "E_CONSENT_EXPIRED");
    s_grant_dated("c-gw-past", "2020-01-01", "2021-12-31", 422, "E_CONSENT_EXPIRED");
    s_refused_free(s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-past", NULL), 422,
                   "E_NO_CONSENT");
    /* Too large for the gateway. */
    char *big = calloc(1, 1100000);
    memset(big, ' ', 1099999);
    s_refused_free(big, 413, "E_TOO_LARGE");
}

Test(gateway, consent_withdrawn_through_the_gateway_withholds_a_queued_referral)
{
    char id[33], got[33];
    s_grant(&s_a, "c-gw-3", "\"identity\",\"social\"");
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-3", NULL);
    cr_assert_eq(s_send(&s_a, body, NULL, id, NULL), 200);
    free(body);
    s_expect_state(&s_a, id, "queued"); /* Jobbtorg's gateway is not running */
    cr_assert_eq(
        gwh_call(&s_a, "DELETE", "/v1/consents/c-gw-3", "{\"reason\":\"återkallat\"}", NULL), 200);
    /* Withdrawing again is the same request: the same receipt. */
    cr_assert_eq(gwh_call(&s_a, "DELETE", "/v1/consents/c-gw-3", NULL, NULL), 200);
    gwh_start(&s_b, &s_h, "jobbtorg", NULL);
    s_inbox_first(&s_b, 3, got, NULL);
    cr_assert_str_eq(got, "");
    s_expect_state(&s_a, id, "withheld");
}

Test(gateway, sigkill_between_receipt_and_the_case_systems_ack_redelivers)
{
    char id[33], got[33], path[128];
    gwh_start(&s_b, &s_h, "jobbtorg", NULL);
    s_grant(&s_a, "c-gw-4", "\"identity\",\"social\"");
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-4", NULL);
    cr_assert_eq(s_send(&s_a, body, NULL, id, NULL), 200);
    free(body);
    s_inbox_first(&s_b, 20, got, NULL);
    cr_assert_str_eq(got, id);
    gwh_kill(&s_b);
    gwh_restart(&s_b);
    s_inbox_first(&s_b, 40, got, NULL);
    cr_assert_str_eq(got, id, "the message was not delivered again after the crash");
    snprintf(path, sizeof path, "/v1/messages/%s/ack", id);
    cr_assert_eq(gwh_call(&s_b, "POST", path, NULL, NULL), 200);
    s_expect_state(&s_a, id, "acknowledged");
}

/* ------------------------------------------------------------ push */

/* A case system's push endpoint: answers 500 to the first POST, 200 after,
 * and keeps the last body and signature header. */
typedef struct {
    pthread_mutex_t lock;
    int posts;
    char body[8192];
    size_t len;
    char sig[80];
} s_target_t;

static enum MHD_Result
s_target_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)url, (void)method, (void)version;
    s_target_t *t = cls;
    if (!*con_cls) {
        *con_cls = t;
        pthread_mutex_lock(&t->lock);
        t->len = 0;
        pthread_mutex_unlock(&t->lock);
        return MHD_YES;
    }
    pthread_mutex_lock(&t->lock);
    if (*size) {
        size_t n = *size < sizeof t->body - 1 - t->len ? *size : sizeof t->body - 1 - t->len;
        memcpy(t->body + t->len, data, n);
        t->len += n;
        *size = 0;
        pthread_mutex_unlock(&t->lock);
        return MHD_YES;
    }
    t->body[t->len] = '\0';
    const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Remiss-Signature");
    snprintf(t->sig, sizeof t->sig, "%s", sig ? sig : "");
    unsigned status = t->posts++ == 0 ? 500 : 200;
    pthread_mutex_unlock(&t->lock);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result res = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return res;
}

Test(gateway, push_mode_posts_with_hmac_retries_and_acks_after_2xx)
{
    char id[33], extra[512], secret_path[300], want[72];
    static s_target_t t = {.lock = PTHREAD_MUTEX_INITIALIZER};
    /* Port 0: the kernel picks a free one (a fixed offset collided under load). */
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                            s_target_answer, &t, MHD_OPTION_END);
    cr_assert_not_null(d);
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert_not_null(di);
    int port = di->port;
    snprintf(secret_path, sizeof secret_path, "%s/push.secret", s_h.dir);
    FILE *f = fopen(secret_path, "w");
    fputs("push-secret-0123456789\n", f);
    fclose(f);
    chmod(secret_path, 0600);
    snprintf(extra, sizeof extra,
             "deliver_to = http://127.0.0.1:%d/remiss\npush_secret_file = %s\n", port, secret_path);
    gwh_start(&s_b, &s_h, "jobbtorg", extra);
    s_grant(&s_a, "c-gw-5", "\"identity\",\"social\"");
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-5", NULL);
    cr_assert_eq(s_send(&s_a, body, NULL, id, NULL), 200);
    free(body);
    s_expect_state(&s_a, id, "acknowledged");
    pthread_mutex_lock(&t.lock);
    cr_assert_geq(t.posts, 2, "the first (failed) push was not retried");
    cr_assert(strstr(t.body, id), "%s", t.body);
    gw_push_signature((const uint8_t *)"push-secret-0123456789", 22, t.body, t.len, want);
    cr_assert_str_eq(t.sig, want);
    pthread_mutex_unlock(&t.lock);
    MHD_stop_daemon(d);
}

/* clients/python: the standard-library client against the same gateways. */
Test(gateway, python_client_sends_receives_acks_and_reads_status)
{
    char cmd[1024];
    gwh_start(&s_b, &s_h, "jobbtorg", NULL);
    snprintf(cmd, sizeof cmd,
             "GW_A=%s GW_B=%s GW_TOKEN=%s GW_PNR=%s python3 clients/python/test_e2e.py "
             ">%s/python.log 2>&1",
             s_a.url, s_b.url, GWH_TOKEN, HARNESS_PNR, s_h.dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/python.log >&2", s_h.dir);
        if (system(cmd) != 0)
            cr_log_warn("could not show the log");
    }
    cr_assert_eq(rc, 0, "clients/python/test_e2e.py failed");
}

/* docs/openapi.yaml: every example sent, every response validated. */
Test(gateway, openapi_examples_and_responses_match_the_document)
{
    char cmd[1024];
    gwh_start(&s_b, &s_h, "jobbtorg", NULL);
    snprintf(cmd, sizeof cmd,
             "GW_A=%s GW_B=%s GW_TOKEN=%s /usr/bin/python3 tests/contract/openapi_contract.py "
             ">%s/contract.log 2>&1",
             s_a.url, s_b.url, GWH_TOKEN, s_h.dir);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/contract.log >&2", s_h.dir);
        if (system(cmd) != 0)
            cr_log_warn("could not show the log");
    }
    cr_assert_eq(rc, 0, "tests/contract/openapi_contract.py failed");
}

/* ------------------------------------------------------------ rate */

static void
s_setup_rate(void)
{
    /* 2 per second with a burst of 4: a burst of 30 must hit it. */
    static const char *const extra[] = {"--rate", "2", "--rate-burst", "4", NULL};
    harness_init(&s_h, s_parties);
    harness_start(&s_h, extra);
    gwh_start(&s_a, &s_h, DISTRICT, NULL);
}

TestSuite(gateway_rate, .init = s_setup_rate, .fini = s_teardown, .timeout = 120);

Test(gateway_rate, a_burst_over_the_brokers_rate_gets_429_with_e_rate_limited)
{
    char *out = NULL;
    int ok = 0, limited = 0;
    s_grant(&s_a, "c-gw-rate", "\"identity\",\"social\"");
    char *body = s_referral_json("jobbtorg", HARNESS_PNR, "c-gw-rate", NULL);
    for (int i = 0; i < 30; i++) {
        long st = s_send(&s_a, body, NULL, NULL, &out);
        if (st == 200)
            ok++;
        else if (st == 429 && strstr(out, "{\"error\":{") == out &&
                 strstr(out, "\"code\":\"E_RATE_LIMITED\""))
            limited++;
        else
            cr_assert_fail("unexpected %ld: %s", st, out);
        free(out);
    }
    free(body);
    cr_assert_gt(limited, 0, "30 messages at once never hit a limit of 2/s");
    cr_assert_gt(ok, 0);
}

/* ------------------------------------------------------------ TLS */

/* A test CA (ca.*), the gateway's certificate for 127.0.0.1 (srv.*), a
 * client certificate from that CA (cli.*), and another CA (other-ca.*)
 * with a client certificate of its own (other.*), made by openssl in dir. */
static void
s_make_tls_pki(const char *dir)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "(set -e; cd %s; K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
             "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' >srv.ext\n"
             "printf 'extendedKeyUsage=clientAuth\\n' >cli.ext\n"
             "for ca in ca other-ca; do openssl req -x509 $K -keyout $ca.key -out $ca.crt "
             "-days 2 -subj /CN=$ca; done\n"
             "leaf() { openssl req $K -keyout $1.key -out $1.csr -subj /CN=$1; "
             "openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial "
             "-days 2 -extfile $3 -out $1.crt; }\n"
             "leaf srv ca srv.ext; leaf cli ca cli.ext; leaf other other-ca cli.ext\n"
             "chmod 600 *.key) >/dev/null 2>&1",
             dir);
    cr_assert_eq(system(cmd), 0, "openssl could not make the test CA in %s", dir);
}

/* curl (the command-line tool) to url with more arguments; the HTTP
 * status it printed ("000" when no HTTP answer came: TLS refused). */
static void
s_curl(const char *args, const char *url, char status[8])
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && curl -s --max-time 20 -o /dev/null -w '%%{http_code}' %s '%s' 2>/dev/null",
             s_h.dir, args, url);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    if (!fgets(status, 8, p))
        strcpy(status, "");
    pclose(p);
}

Test(gateway, tls_listener_needs_a_client_certificate_from_its_ca_and_the_token)
{
    char extra[1024], url[96], st[8];
    const char *bearer = "-H 'Authorization: Bearer " GWH_TOKEN "'";
    const char *mine = "--cacert ca.crt --cert cli.crt --key cli.key";
    s_make_tls_pki(s_h.dir);
    snprintf(extra, sizeof extra,
             "tls_cert = %s/srv.crt\ntls_key = %s/srv.key\ntls_client_ca = %s/ca.crt\n", s_h.dir,
             s_h.dir, s_h.dir);
    gwh_start(&s_b, &s_h, "jobbtorg", extra);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", s_b.port);
    char args[512];
    snprintf(args, sizeof args, "%s %s", mine, bearer);
    s_curl(args, url, st);
    cr_assert_str_eq(st, "200", "a valid client certificate and the token");
    s_curl(mine, url, st);
    cr_assert_str_eq(st, "401", "the token still applies under TLS");
    snprintf(args, sizeof args, "--cacert ca.crt %s", bearer);
    s_curl(args, url, st);
    cr_assert(strcmp(st, "403") == 0 || strcmp(st, "000") == 0, "no client certificate: %s", st);
    snprintf(args, sizeof args, "--cacert ca.crt --cert other.crt --key other.key %s", bearer);
    s_curl(args, url, st);
    cr_assert(strcmp(st, "403") == 0 || strcmp(st, "000") == 0, "another CA's certificate: %s", st);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", s_b.port);
    s_curl(bearer, url, st);
    cr_assert_str_eq(st, "000", "plain HTTP to the TLS port was answered");
}

Test(gateway, a_non_loopback_listener_needs_tls)
{
    char bin[256], cmd[1024];
    harness_bin("remiss-gateway", bin, sizeof bin);
    snprintf(cmd, sizeof cmd,
             "%s --pki %s --party jobbtorg --broker %s --state %s/st --token-file /nonexistent "
             "--listen 0.0.0.0:8480 2>%s/nl.err",
             bin, s_h.pki, s_h.endpoint, s_h.dir, s_h.dir);
    cr_assert_neq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'need tls-cert' %s/nl.err", s_h.dir);
    cr_assert_eq(system(cmd), 0, "no sentence about TLS");
    /* Half a TLS configuration is refused too. */
    snprintf(cmd, sizeof cmd,
             "%s --pki %s --party jobbtorg --broker %s --state %s/st --token-file /nonexistent "
             "--listen 127.0.0.1:8480 --tls-cert x.crt 2>%s/nl.err",
             bin, s_h.pki, s_h.endpoint, s_h.dir, s_h.dir);
    cr_assert_neq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -q 'go together' %s/nl.err", s_h.dir);
    cr_assert_eq(system(cmd), 0, "no sentence about the three TLS options");
}
