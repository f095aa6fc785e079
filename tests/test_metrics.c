/* Integration test of the metrics listener: after a few messages the
 * Prometheus counters have moved by exactly the right amounts, and
 * /healthz reports a writable store and a loaded policy. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* A plain HTTP/1.0 GET on 127.0.0.1:port; returns the malloc'd response. */
static char *
s_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "metrics listener");
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* The value of one metric line (exact name with labels), or -1. */
static long
s_value(const char *text, const char *metric)
{
    size_t n = strlen(metric);
    for (const char *p = text; (p = strstr(p, metric)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atol(p + n + 1);
    return -1;
}

/* The sum of a labelled metric's lines ("NAME{...} V"), or -1 if none. */
static long
s_sum(const char *text, const char *name)
{
    size_t n = strlen(name);
    long sum = -1;
    for (const char *p = text; (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '{') {
            const char *sp = strchr(p, ' ');
            sum = (sum < 0 ? 0 : sum) + (sp ? atol(sp + 1) : 0);
        }
    return sum;
}

Test(metrics, counters_move_by_the_right_amounts, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    const char *const extra[] = {"--metrics", "@metrics", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    int mport = h.port + 1;
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);

    char *before = s_get(mport, "/metrics");
    long acc0 = s_sum(before, "remiss_messages_accepted_total");
    long ref_type0 = s_value(before, "remiss_messages_accepted_total{type=\"referral\"}");
    long ref0 = s_value(before, "remiss_messages_refused_total{code=\"E_NO_CONSENT\"}");
    long del0 = s_value(before, "remiss_deliveries_total");
    long ack0 = s_value(before, "remiss_acknowledgements_total");
    cr_assert(acc0 >= 0 && ref0 >= 0 && del0 >= 0 && ack0 >= 0, "%s", before);

    /* Two refusals without consent, then a consent and three referrals. */
    for (int i = 0; i < 2; i++) {
        remiss_receipt_t rc;
        Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
        cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_E_NO_CONSENT);
        remiss_receipt_clear(&rc);
        harness_envelope_free(env);
    }
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    for (int i = 0; i < 3; i++) {
        remiss_receipt_t rc;
        Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
        cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK);
        remiss_receipt_clear(&rc);
        harness_envelope_free(env);
    }
    char *queued = NULL;
    for (int i = 0; i < 30; i++) { /* gauges refresh each second */
        free(queued);
        queued = s_get(mport, "/metrics");
        if (s_value(queued, "remiss_queue_depth{recipient=\"jobbtorg\"}") == 3)
            break;
        usleep(200000);
    }
    cr_assert_eq(s_value(queued, "remiss_queue_depth{recipient=\"jobbtorg\"}"), 3, "%s", queued);

    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    for (int i = 0; i < 3; i++) {
        remiss_message_t *m = NULL;
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    char *after = s_get(mport, "/metrics");
    cr_assert_eq(s_sum(after, "remiss_messages_accepted_total") - acc0, 4,
                 "3 referrals + 1 consent");
    cr_assert_eq(s_value(after, "remiss_messages_accepted_total{type=\"referral\"}") - ref_type0, 3);
    cr_assert_eq(s_value(after, "remiss_messages_accepted_total{type=\"consent_grant\"}"), 1);
    cr_assert_eq(s_value(after, "remiss_messages_refused_total{code=\"E_NO_CONSENT\"}") - ref0, 2);
    cr_assert_eq(s_value(after, "remiss_deliveries_total") - del0, 3);
    cr_assert_eq(s_value(after, "remiss_acknowledgements_total") - ack0, 3);
    cr_assert_geq(s_value(after, "remiss_verify_seconds_count"), 6);
    cr_assert(strstr(after, "remiss_commit_seconds_bucket{le=\"+Inf\"}") != NULL);

    char *health = s_get(mport, "/healthz");
    cr_assert(strstr(health, "200") != NULL && strstr(health, "ok store=writable policy=loaded"),
              "%s", health);
    char *nope = s_get(mport, "/nope");
    cr_assert(strstr(nope, "404") != NULL);
    free(before);
    free(queued);
    free(after);
    free(health);
    free(nope);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(metrics, only_loopback_addresses_are_accepted, .timeout = 60)
{
    harness_t h;
    char bin[256], cmd[1024];
    harness_init(&h, s_parties);
    /* Everything valid but the metrics address: the broker must refuse to
     * start, naming the reason. */
    snprintf(cmd, sizeof cmd,
             "%s --pki %s --db %s --policy %s --listen tcp://127.0.0.1:1 --metrics 0.0.0.0:9474 "
             "> %s/out 2>&1",
             harness_bin("remissd", bin, sizeof bin), h.pki, h.db, h.policy, h.dir);
    int rc = system(cmd);
    cr_assert_neq(rc, 0, "remissd started with metrics on 0.0.0.0");
    snprintf(cmd, sizeof cmd, "grep -q 'E_CONFIG: metrics must listen on a loopback' %s/out",
             h.dir);
    cr_assert_eq(system(cmd), 0, "the refusal says why");
    harness_stop(&h);
}
