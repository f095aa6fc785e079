/* gateway_harness: real remiss-gateway processes for integration tests. */
#include "gateway_harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
s_write(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "cannot write %s", path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
}

static bool
s_log_has(const gwh_t *g, const char *needle)
{
    FILE *f = fopen(g->log, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Starts the gateway; false if it exited at start (its port taken, say). */
static bool
s_try_spawn(gwh_t *g)
{
    char bin[256];
    const char *argv[] = {harness_bin("remiss-gateway", bin, sizeof bin), "--config", g->conf,
                          NULL};
    truncate(g->log, 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    g->pid = pid;
    for (int i = 0; i < 400; i++) {
        if (s_log_has(g, "event=gateway.start"))
            return true;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g->pid = 0;
            return false;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("remiss-gateway did not start (see %s)", g->log);
    return false;
}

static void
s_spawn(gwh_t *g)
{
    if (!s_try_spawn(g))
        cr_assert_fail("remiss-gateway exited at start (see %s)", g->log);
}

void
gwh_start(gwh_t *g, harness_t *h, const char *party, const char *extra)
{
    char path[300], conf[4096];
    memset(g, 0, sizeof *g);
    snprintf(g->dir, sizeof g->dir, "%s/gw-%s", h->dir, party);
    cr_assert_eq(mkdir(g->dir, 0700), 0);
    snprintf(g->conf, sizeof g->conf, "%s/gateway.conf", g->dir);
    snprintf(g->log, sizeof g->log, "%s/gateway.log", g->dir);
    snprintf(path, sizeof path, "%s/token", g->dir);
    s_write(path, GWH_TOKEN "\n", 0600);
    /* A random high port, tried again if the gateway cannot start on it. */
    for (int attempt = 0; attempt < 20; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        g->port = 20000 + (int)((ts.tv_nsec / 1000 + getpid() * 31 + attempt * 7919) % 40000);
        snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d", g->port);
        snprintf(conf, sizeof conf,
                 "[remiss-gateway]\npki = %s\nparty = %s\nbroker = %s\nstate = %s/state\n"
                 "listen = 127.0.0.1:%d\ntoken_file = %s\ntimeout_ms = 5000\nlease = 2\n%s",
                 h->pki, party, h->endpoint, g->dir, g->port, path, extra ? extra : "");
        s_write(g->conf, conf, 0600);
        if (s_try_spawn(g))
            return;
    }
    cr_assert_fail("remiss-gateway exited at start 20 times (see %s)", g->log);
}

void
gwh_restart(gwh_t *g)
{
    s_spawn(g);
}

void
gwh_kill(gwh_t *g)
{
    if (g->pid > 0) {
        kill(g->pid, SIGKILL);
        waitpid(g->pid, NULL, 0);
    }
    g->pid = 0;
}

int
gwh_stop(gwh_t *g)
{
    int st = 0;
    if (g->pid > 0) {
        kill(g->pid, SIGTERM);
        waitpid(g->pid, &st, 0);
    }
    g->pid = 0;
    return st;
}

typedef struct {
    char *data;
    size_t len;
} s_buf_t;

static size_t
s_collect(char *data, size_t size, size_t n, void *arg)
{
    s_buf_t *b = arg;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, data, size * n);
    b->len += size * n;
    b->data[b->len] = '\0';
    return size * n;
}

long
gwh_request(const gwh_t *g, const char *method, const char *path, const char *token,
            const char *body, const char *header, char **out)
{
    char url[512], auth[256];
    s_buf_t b = {calloc(1, 1), 0};
    long status = 0;
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    snprintf(url, sizeof url, "%s%s", g->url, path);
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    if (header)
        h = curl_slist_append(h, header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 90L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (out)
        *out = b.data;
    else
        free(b.data);
    return status;
}

long
gwh_call(const gwh_t *g, const char *method, const char *path, const char *body, char **out)
{
    return gwh_request(g, method, path, GWH_TOKEN, body, NULL, out);
}

const char *
gwh_field(const char *json, const char *name, char *buf, size_t size)
{
    char pat[128];
    buf[0] = '\0';
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return buf;
    p += strlen(pat);
    size_t n = strcspn(p, "\"");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}
