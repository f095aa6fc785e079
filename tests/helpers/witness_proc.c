/* witness_proc: real remiss-witness processes for integration tests. */
#include "witness_proc.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

void
witness_proc_init(witness_proc_t *w, const char *dir, const char *name)
{
    note_signer_t s;
    remiss_err_t err;
    struct timespec ts;
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    snprintf(w->key, sizeof w->key, "%s/%s.key", dir, name);
    snprintf(w->db, sizeof w->db, "%s/%s.db", dir, name);
    snprintf(w->log, sizeof w->log, "%s/%s.log", dir, name);
    cr_assert_eq(note_key_generate(w->key, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(note_signer_load(w->key, name, NOTE_TYPE_COSIG, &s, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert(note_vkey_format(&s.pub, w->vkey, sizeof w->vkey));
    note_signer_clear(&s);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    w->port = 20000 + (int)((ts.tv_nsec / 1000 + getpid() * 7919 + name[1] * 131) % 40000);
}

static bool
s_answers(witness_proc_t *w)
{
    char url[128], buf[256];
    snprintf(url, sizeof url, "%s/checkpoint/none", w->url);
    return witness_proc_http_get(url, buf, sizeof buf) == 404;
}

static void
s_exec(witness_proc_t *w, const char *log_vkey)
{
    char bin[256], listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", w->port);
    const char *argv[] = {harness_bin("remiss-witness", bin, sizeof bin),
                          "serve",
                          "--key",
                          w->key,
                          "--name",
                          w->name,
                          "--db",
                          w->db,
                          "--listen",
                          listen,
                          "--log",
                          log_vkey,
                          NULL};
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = open("/dev/null", O_RDWR);
    if (fd >= 0 && null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(fd, 2);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

void
witness_proc_start(witness_proc_t *w, const char *log_vkey)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        snprintf(w->url, sizeof w->url, "http://127.0.0.1:%d", w->port);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            s_exec(w, log_vkey);
        w->pid = pid;
        for (int i = 0; i < 100; i++) {
            int status;
            if (s_answers(w))
                return;
            if (waitpid(pid, &status, WNOHANG) == pid)
                break;
            usleep(100000);
        }
        witness_proc_kill(w);
        w->port = w->port < 60000 ? w->port + 7 : 20011; /* taken? another port */
    }
    cr_assert_fail("remiss-witness %s did not start", w->name);
}

void
witness_proc_kill(witness_proc_t *w)
{
    if (w->pid == 0)
        return;
    kill(w->pid, SIGKILL);
    waitpid(w->pid, NULL, 0);
    w->pid = 0;
}

void
witness_proc_stop(witness_proc_t *w)
{
    int status = 0;
    if (w->pid == 0)
        return;
    kill(w->pid, SIGTERM);
    waitpid(w->pid, &status, 0);
    w->pid = 0;
    cr_expect_eq(status, 0, "remiss-witness %s exited with status %d", w->name, status);
}

static size_t
s_write(char *p, size_t size, size_t n, void *ctx)
{
    char **cur = ctx;
    size_t len = size * n, room = (size_t)(cur[1] - cur[0]);
    size_t take = len < room ? len : room;
    memcpy(cur[0], p, take);
    cur[0] += take;
    *cur[0] = '\0';
    return len;
}

long
witness_proc_http_get(const char *url, char *buf, size_t cap)
{
    char *cur[2] = {buf, buf + cap - 1};
    long status = 0;
    CURL *c = curl_easy_init();
    buf[0] = '\0';
    if (c == NULL)
        return 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, cur);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

bool
witness_proc_log_has(const witness_proc_t *w, const char *needle)
{
    FILE *f = fopen(w->log, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}
