/* `make run` as a test (issue 12): scripts/run.sh makes its dev PKI and
 * config in a temporary RUN_DIR (never run/), starts remissd from that
 * config, and the broker listens on loopback; then the README walkthrough
 * (scripts/examples.sh, consent, referral, recv --ack, status) works twice
 * in a row. Uses the programs in $REMISS_BIN; `make test` also runs it on
 * the release binaries in bin/. The broker is stopped by its pid. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static bool
s_listening(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Runs a shell command line; returns its exit status and its output. */
static int
s_sh(char *out, size_t size, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The README walkthrough against the running broker. */
static void
s_walkthrough(const char *dir, const char *bin, int port, int round)
{
    char r[1024], out[65536], id[64] = "";
    snprintf(r, sizeof r, "%s/remiss --pki %s/pki --broker tcp://127.0.0.1:%d --state %s/state",
             bin, dir, port, dir);
    cr_assert_eq(s_sh(out, sizeof out, "scripts/examples.sh %s/examples 2>&1", dir), 0, "%s", out);
    cr_assert_eq(s_sh(out, sizeof out,
                      "%s --as sdf-rinkeby-kista send %s/examples/consent_grant.json "
                      "2>&1",
                      r, dir),
                 0, "round %d: consent: %s", round, out);
    cr_assert_eq(s_sh(out, sizeof out,
                      "%s --as sdf-rinkeby-kista send %s/examples/referral.json 2>&1", r, dir),
                 0, "round %d: referral: %s", round, out);
    /* "prints the signed receipt", as the README says. */
    cr_expect_not_null(strstr(out, "signed by the broker"), "round %d: %s", round, out);
    cr_assert_eq(sscanf(out, "message_id %32s", id), 1, "%s", out);
    cr_assert_eq(s_sh(out, sizeof out, "%s --as jobbtorg recv --ack --max 1 --wait 30 2>&1", r), 0,
                 "round %d: recv: %s", round, out);
    cr_expect_not_null(strstr(out, id), "round %d: the referral was not received: %s", round, out);
    cr_assert_eq(s_sh(out, sizeof out, "%s --as sdf-rinkeby-kista status %s 2>&1", r, id), 0,
                 "round %d: status: %s", round, out);
    cr_expect_not_null(strstr(out, "acknowledged"), "round %d: %s", round, out);
}

Test(run, make_run_listens_on_loopback_and_the_walkthrough_works_twice, .timeout = 240)
{
    char dir[] = "/tmp/remiss-run-XXXXXX", log[128], port_s[16], out[4096];
    const char *bin = getenv("REMISS_BIN");
    bin = bin && bin[0] ? bin : "build/san/bin";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(log, sizeof log, "%s/run.log", dir);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int port = 20000 + rand() % 20000;
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        setenv("RUN_DIR", dir, 1);
        setenv("REMISS_PORT", port_s, 1);
        setenv("REMISS_BIN", bin, 1);
        if (!freopen(log, "w", stdout) || !freopen(log, "a", stderr))
            _exit(127);
        execl("/bin/sh", "sh", "scripts/run.sh", (char *)NULL);
        _exit(127);
    }
    /* run.sh execs remissd, so pid is the broker once it runs. */
    bool up = false;
    for (int i = 0; i < 1200 && !up; i++) {
        int st;
        cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "make run exited; its log: %s/run.log", dir);
        up = s_listening(port);
        if (!up)
            usleep(100 * 1000);
    }
    cr_assert(up, "remissd of make run did not listen on 127.0.0.1:%d", port);
    s_sh(out, sizeof out, "grep -c '^listen = tcp://127.0.0.1:' %s/remissd.conf", dir);
    cr_expect_eq(atoi(out), 1, "the generated config listens on loopback");
    s_walkthrough(dir, bin, port, 1);
    s_walkthrough(dir, bin, port, 2);

    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st = 0;
    for (int i = 0; i < 200 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(50 * 1000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        cr_expect_fail("remissd did not stop on SIGTERM");
    }
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "remissd exit status %d", st);
    s_sh(out, sizeof out, "rm -rf %s", dir);
}
