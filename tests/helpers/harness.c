/* harness: real remissd + real PKI for integration tests. */
#include "harness.h"

#include <criterion/criterion.h>
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

#include "pki_admin.h"

const char *
harness_bin(const char *prog, char *buf, size_t size)
{
    const char *dir = getenv("REMISS_BIN");
    snprintf(buf, size, "%s/%s", dir && dir[0] ? dir : "build/san/bin", prog);
    return buf;
}

void
harness_init(harness_t *h, const char *const *parties)
{
    remiss_err_t err;
    memset(h, 0, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "/tmp/remiss-test-XXXXXX");
    cr_assert_not_null(mkdtemp(h->dir));
    snprintf(h->pki, sizeof h->pki, "%s/pki", h->dir);
    snprintf(h->db, sizeof h->db, "%s/remiss.db", h->dir);
    snprintf(h->log, sizeof h->log, "%s/remissd.log", h->dir);
    snprintf(h->policy, sizeof h->policy, "config/stockholm.policy");
    cr_assert_eq(pki_init(h->pki, &err), REMISS_OK, "%s", err.text);
    for (size_t i = 0; parties && parties[i]; i++) {
        char id[64], *role;
        snprintf(id, sizeof id, "%s", parties[i]);
        role = strchr(id, ':');
        cr_assert_not_null(role);
        *role++ = '\0';
        cr_assert_eq(pki_issue(h->pki, id, role, PKI_KEY_P256, 365, &err), REMISS_OK, "%s",
                     err.text);
    }
}

static bool
s_file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

bool
harness_log_has(harness_t *h, const char *needle)
{
    return s_file_has(h->log, needle);
}

static void s_start(harness_t *h, const char *const *extra, bool same_port);

void
harness_start(harness_t *h, const char *const *extra)
{
    s_start(h, extra, false);
}

void
harness_restart(harness_t *h, const char *const *extra)
{
    s_start(h, extra, true);
}

static void
s_start(harness_t *h, const char *const *extra, bool same_port)
{
    char bin[256], port_s[16];
    for (int attempt = 0; attempt < (same_port ? 50 : 20); attempt++) {
        /* A random high port; retried if taken. The same port on a restart
         * (retried: the old socket may linger a moment). */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (!same_port)
            h->port =
                20000 + (int)((ts.tv_nsec / 1000 + getpid() * 7919 + attempt * 104729) % 40000);
        snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", h->port);
        snprintf(port_s, sizeof port_s, "%d", h->port);
        const char *argv[64] = {harness_bin("remissd", bin, sizeof bin),
                                "--pki",
                                h->pki,
                                "--db",
                                h->db,
                                "--listen",
                                h->endpoint,
                                "--policy",
                                h->policy};
        int argc = 9;
        char mport[32];
        snprintf(mport, sizeof mport, "127.0.0.1:%d", h->port + 1);
        for (size_t i = 0; extra && extra[i] && argc < 62; i++)
            argv[argc++] = strcmp(extra[i], "@metrics") == 0 ? mport : extra[i];
        argv[argc] = NULL;
        truncate(h->log, 0);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            /* A failed assertion ends the test process: take the broker along. */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            int null = open("/dev/null", O_RDWR);
            if (fd >= 0 && null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(fd, 2);
                close(fd);
                close(null);
            }
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        h->pid = pid;
        for (int i = 0; i < 200; i++) { /* up to 20 s under sanitizers */
            if (harness_log_has(h, "event=started"))
                return;
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) {
                h->pid = 0;
                break; /* exited: port taken? try another */
            }
            usleep(100000);
        }
        if (h->pid) {
            kill(h->pid, SIGKILL);
            waitpid(h->pid, NULL, 0);
            h->pid = 0;
        }
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "cat %s >&2", h->log);
    (void)system(cmd);
    cr_assert_fail("remissd did not start");
}

void
harness_signal(harness_t *h, int sig)
{
    if (h->pid)
        kill(h->pid, sig);
}

int
harness_stop_broker(harness_t *h)
{
    int status = 0;
    if (!h->pid)
        return 0;
    kill(h->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->pid = 0;
            return status;
        }
        usleep(100000);
    }
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    h->pid = 0;
    return -1;
}

void
harness_kill(harness_t *h)
{
    if (!h->pid)
        return;
    kill(h->pid, SIGKILL);
    waitpid(h->pid, NULL, 0);
    h->pid = 0;
}

void
harness_stop(harness_t *h)
{
    int status = harness_stop_broker(h);
    /* The broker must exit cleanly: a sanitizer report makes it non-zero. */
    if (status != 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "cat %s >&2", h->log);
        (void)system(cmd);
    }
    cr_expect_eq(status, 0, "remissd exited with status %d", status);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", h->dir);
    (void)system(cmd);
}

remiss_client_t *
harness_client(harness_t *h, const char *party, bool with_state)
{
    char state[256];
    remiss_err_t err;
    snprintf(state, sizeof state, "%s/%s.seen", h->dir, party);
    remiss_opts_t o = {.pki_dir = h->pki,
                       .party = party,
                       .endpoint = h->endpoint,
                       .timeout_ms = 20000,
                       .state_path = with_state ? state : NULL};
    remiss_client_t *c = remiss_connect(&o, &err);
    cr_assert_not_null(c, "connect %s: %s", party, err.text);
    return c;
}

Remiss__Envelope *
harness_referral(const char *to, const char *purpose)
{
    Remiss__Envelope *env = calloc(1, sizeof *env);
    Remiss__Person *p = calloc(1, sizeof *p);
    Remiss__Social *s = calloc(1, sizeof *s);
    Remiss__Referral *r = calloc(1, sizeof *r);
    remiss__envelope__init(env);
    remiss__person__init(p);
    remiss__social__init(s);
    remiss__referral__init(r);
    p->personnummer = strdup(HARNESS_PNR);
    p->name = strdup("Testperson Testsson");
    s->income_support = true;
    s->notes = strdup("Ekonomiskt bistånd sedan 2026.");
    r->reason = strdup("Behöver stöd mot arbete");
    env->recipient = strdup(to);
    env->purpose = strdup(purpose);
    env->consent_id = strdup("c-test-1");
    env->type = REMISS__MESSAGE_TYPE__REFERRAL;
    env->subject = p;
    env->social = s;
    env->body_case = REMISS__ENVELOPE__BODY_REFERRAL;
    env->referral = r;
    return env;
}

void
harness_envelope_free(Remiss__Envelope *env)
{
    remiss__envelope__free_unpacked(env, NULL);
}

static char **
s_split(const char *list, size_t *n)
{
    char *copy = strdup(list), *save = NULL;
    char **out = calloc(16, sizeof *out);
    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && *n < 16; t = strtok_r(NULL, ",", &save))
        out[(*n)++] = strdup(t);
    free(copy);
    return out;
}

Remiss__Envelope *
harness_grant_envelope(const char *id, const char *from, const char *to, const char *purpose,
                       const char *categories)
{
    Remiss__Envelope *env = calloc(1, sizeof *env);
    Remiss__Person *p = calloc(1, sizeof *p);
    Remiss__ConsentGrant *g = calloc(1, sizeof *g);
    remiss__envelope__init(env);
    remiss__person__init(p);
    remiss__consent_grant__init(g);
    p->personnummer = strdup(HARNESS_PNR);
    env->subject = p;
    env->recipient = strdup("broker");
    env->consent_id = strdup(id);
    env->type = REMISS__MESSAGE_TYPE__CONSENT_GRANT;
    env->body_case = REMISS__ENVELOPE__BODY_CONSENT_GRANT;
    env->consent_grant = g;
    g->from_parties = s_split(from, &g->n_from_parties);
    g->to_parties = s_split(to, &g->n_to_parties);
    g->purposes = s_split(purpose, &g->n_purposes);
    g->categories = s_split(categories, &g->n_categories);
    char day[16];
    time_t t = time(NULL) - 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    g->valid_from = strdup(day);
    t += 366 * 86400;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    g->valid_until = strdup(day);
    g->given_by = REMISS__GIVEN_BY__SUBJECT;
    g->evidence_sha256 = strdup("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    return env;
}

remiss_code_t
harness_grant(remiss_client_t *c, const char *id, const char *from, const char *to,
              const char *purpose, const char *categories)
{
    Remiss__Envelope *env = harness_grant_envelope(id, from, to, purpose, categories);
    remiss_receipt_t rc;
    remiss_err_t err;
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    if (r != REMISS_OK)
        fprintf(stderr, "grant %s: %s: %s\n", id, remiss_code_name(r), err.text);
    remiss_receipt_clear(&rc);
    remiss__envelope__free_unpacked(env, NULL);
    return r;
}
