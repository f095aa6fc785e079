/* remissctl status against a running remissd: after known traffic its
 * answer counts what was sent, shows the queue and the parties, and a
 * refused policy reload shows there, in /healthz and in /metrics. The
 * socket is 0660 and only answers: what a client writes changes nothing. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "hex.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* remissctl status --json --db of h, parsed; NULL if it failed. */
static cJSON *
s_status(harness_t *h)
{
    char bin[256], cmd[1024], out[1 << 16];
    snprintf(cmd, sizeof cmd, "%s status --json --db %s 2>/dev/null",
             harness_bin("remissctl", bin, sizeof bin), h->db);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return st == 0 ? cJSON_Parse(out) : NULL;
}

static double
s_num(const cJSON *o, const char *path)
{
    char key[64];
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
        o = cJSON_GetObjectItemCaseSensitive(o, key);
        path = dot + 1;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const cJSON *
s_party(const cJSON *st, const char *id)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(st, "parties"))
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "id");
        if (cJSON_IsString(v) && strcmp(v->valuestring, id) == 0)
            return p;
    }
    return NULL;
}

typedef bool (*s_pred_t)(const cJSON *st);

/* Asks until pred holds (the snapshot is refreshed each second). */
static cJSON *
s_wait(harness_t *h, s_pred_t pred)
{
    cJSON *st = NULL;
    for (int i = 0; i < 100; i++) {
        cJSON_Delete(st);
        st = s_status(h);
        if (st && pred(st))
            return st;
        usleep(100000);
    }
    char *text = st ? cJSON_Print(st) : NULL;
    cr_assert_fail("the status never showed it: %s", text ? text : "(no answer)");
    return NULL;
}

/* A snapshot (before the first one the broker answers {"error":"starting"}). */
static bool
s_any(const cJSON *st)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(st, "version"));
}

static bool
s_queued(const cJSON *st)
{
    return s_num(st, "messages.accepted") == 4 &&
           s_num(s_party(st, "jobbtorg"), "queue_depth") == 3;
}

static bool
s_drained(const cJSON *st)
{
    const cJSON *jt = s_party(st, "jobbtorg");
    return s_num(st, "messages.acknowledged") == 3 && s_num(jt, "queue_depth") == 0 &&
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(jt, "connected"));
}

static bool
s_refused(const cJSON *st)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(st, "last_reload"), "refused"));
}

static void
s_send(remiss_client_t *c, int n, remiss_code_t expect)
{
    remiss_err_t err;
    for (int i = 0; i < n; i++) {
        remiss_receipt_t rc;
        Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
        remiss_code_t got = remiss_send(c, env, &rc, &err);
        cr_assert_eq(got, expect, "%s: %s", remiss_code_name(got), err.text);
        remiss_receipt_clear(&rc);
        harness_envelope_free(env);
    }
}

/* SHA-256 of a file, hex. */
static void
s_sha256(const char *path, char out[65])
{
    char buf[1 << 16];
    uint8_t md[32];
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert(EVP_Digest(buf, n, md, NULL, EVP_sha256(), NULL));
    hex_encode(out, md, 32);
}

static char *
s_http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 17, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

Test(status, answers_what_was_sent_and_a_refused_reload, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    char cmd[512], digest[65];
    const char *const extra[] = {"--metrics", "@metrics", NULL};
    harness_init(&h, s_parties);
    snprintf(cmd, sizeof cmd, "cp config/stockholm.policy %s/p.policy", h.dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(h.policy, sizeof h.policy, "%s/p.policy", h.dir);
    s_sha256(h.policy, digest);
    harness_start(&h, extra);

    /* One refusal, a consent and three referrals for an absent recipient. */
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    s_send(sdf, 1, REMISS_E_NO_CONSENT);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    s_send(sdf, 3, REMISS_OK);
    cJSON *st = s_wait(&h, s_queued);
    cr_assert_eq(s_num(st, "messages.refused"), 1);
    cr_assert_eq(s_num(st, "messages.delivered"), 0);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "parties")), 2);
    cr_assert_eq(s_num(s_party(st, "sdf-rinkeby-kista"), "queue_depth"), 0);
    cr_assert_geq(s_num(s_party(st, "jobbtorg"), "oldest_message_age_seconds"), 0);
    cr_assert_gt(s_num(s_party(st, "jobbtorg"), "certificate_days_left"), 300);
    cr_assert_gt(s_num(st, "certificates.broker.days_left"), 300);
    cr_assert_gt(s_num(st, "certificates.crl_next_update.days_left"), 0);
    cr_assert_geq(s_num(st, "audit.tree_size"), 5);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "policy"), "sha256")->valuestring,
                     digest);
    cr_assert_str_eq(cJSON_GetObjectItem(st, "store_engine")->valuestring, "sqlite");
    cr_assert(strchr(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "node"), "id")->valuestring, ':'));
    cr_assert_str_eq(cJSON_GetObjectItem(st, "health")->valuestring, "ok");
    cJSON_Delete(st);

    /* The recipient takes and acknowledges them. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(remiss_subscribe(jt, 16, &err), REMISS_OK, "%s", err.text);
    for (int i = 0; i < 3; i++) {
        remiss_message_t *m = NULL;
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    st = s_wait(&h, s_drained);
    cr_assert_eq(s_num(st, "messages.delivered"), 3);
    cr_assert_eq(s_num(st, "messages.dead_letters"), 0);
    cJSON_Delete(st);

    /* A policy that does not parse: refused, shown in status and /healthz. */
    snprintf(cmd, sizeof cmd, "echo 'not a rule' >> %s", h.policy);
    cr_assert_eq(system(cmd), 0);
    harness_signal(&h, SIGHUP);
    st = s_wait(&h, s_refused);
    const cJSON *lr = cJSON_GetObjectItem(st, "last_reload");
    char where[256];
    snprintf(where, sizeof where, "%s:", h.policy);
    cr_assert(strstr(cJSON_GetObjectItem(lr, "reason")->valuestring, where), "%s",
              cJSON_GetObjectItem(lr, "reason")->valuestring);
    cr_assert_str_eq(cJSON_GetObjectItem(st, "health")->valuestring, "degraded");
    /* The policy in force is still the old one. */
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "policy"), "sha256")->valuestring,
                     digest);
    cJSON_Delete(st);
    char *health = s_http_get(h.port + 1, "/healthz");
    cr_assert(strstr(health, " 200 ") && strstr(health, "degraded reload=refused"), "%s", health);
    char *metrics = s_http_get(h.port + 1, "/metrics");
    cr_assert(strstr(metrics, "\nremiss_reload_success 0\n"), "%s", metrics);
    free(health);
    free(metrics);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(status, the_socket_is_for_operators_and_only_answers, .timeout = 60)
{
    harness_t h;
    char sock[256];
    struct stat sb;
    harness_init(&h, s_parties);
    harness_start(&h, NULL); /* without --metrics: the status still counts */
    snprintf(sock, sizeof sock, "%s/remissd.sock", h.dir);
    cr_assert_eq(stat(sock, &sb), 0, "no status socket next to the store");
    cr_assert(S_ISSOCK(sb.st_mode));
    cr_assert_eq(sb.st_mode & 0777, 0660, "mode %o", sb.st_mode & 0777);

    /* Whatever a client writes, it gets the snapshot and nothing changes. */
    cJSON *before = s_wait(&h, s_any);
    for (int i = 0; i < 3; i++) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        cr_assert_lt(strlen(sock), sizeof sun.sun_path);
        memcpy(sun.sun_path, sock, strlen(sock) + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
        const char junk[] = "requeue everything\nPOST /x HTTP/1.1\r\n\r\n{\"stop\":true}";
        /* The broker may have answered and closed already: no SIGPIPE. */
        (void)!send(fd, junk, sizeof junk, MSG_NOSIGNAL);
        char buf[4096];
        cr_assert_gt(read(fd, buf, sizeof buf), 0);
        cr_assert_eq(buf[0], '{');
        close(fd);
    }
    cJSON *after = s_status(&h);
    cr_assert_not_null(after);
    cr_assert_eq(s_num(after, "messages.accepted"), s_num(before, "messages.accepted"));
    cr_assert_eq(s_num(after, "audit.tree_size"), s_num(before, "audit.tree_size"));
    cr_assert_eq(kill(h.pid, 0), 0);
    cJSON_Delete(before);
    cJSON_Delete(after);
    /* Stopped: the socket goes, and remissctl says the broker is not there. */
    harness_stop_broker(&h);
    cr_assert_neq(access(sock, F_OK), 0, "the socket outlived the broker");
    cr_assert_eq(s_status(&h), NULL);
    harness_stop(&h);
}

/* A certificate within the warning period: /healthz says degraded and
 * why, and so does the status; the broker serves on. The harness issues
 * party certificates for 365 days: a 400-day warning period covers them. */
Test(status, a_certificate_in_its_warning_period_degrades_health, .timeout = 60)
{
    harness_t h;
    const char *const extra[] = {"--metrics", "@metrics", "--cert-warn-days", "400", NULL};
    char *health = NULL;
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    for (int i = 0; i < 100; i++) {
        free(health);
        health = s_http_get(h.port + 1, "/healthz");
        if (strstr(health, "degraded cert=expiring"))
            break;
        usleep(100000);
    }
    cr_assert(strstr(health, " 200 ") && strstr(health, "degraded cert=expiring"), "%s", health);
    cr_assert(strstr(health, "reload=refused") == NULL, "%s", health);
    cJSON *st = s_wait(&h, s_any);
    cr_assert_str_eq(cJSON_GetObjectItem(st, "health")->valuestring, "degraded");
    cr_assert_str_eq(cJSON_GetObjectItem(st, "degraded_because")->valuestring, "cert=expiring");
    cJSON_Delete(st);
    free(health);
    harness_stop(&h);
}
