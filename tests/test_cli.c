/* The remiss command line against a real remissd (issue 12): every
 * subcommand with --json prints JSON only, on stdout and stderr, also for
 * texts with quotes, backslashes and control characters; an unreachable
 * broker is E_TIMEOUT naming it; the conventions (exit statuses, getopt
 * forms, --version, COMMAND --help, messages that name the fix). */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg",
                                        "af-kommunhubb:kommunhubb", NULL};

/* Text another party controls: a quote, a backslash, a tab, a newline, an
 * escape sequence and a C1 control. */
#define S_HOSTILE "Enhet \"Kista\" \\ avd\t2\nerror: forged line\x1b[2J\xc2\x9b"

/* The output of one run of a program. */
typedef struct {
    int status; /* exit status, -1 if it did not exit */
    char out[65536], err[16384];
} s_run_t;

static void
s_slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
}

/* Runs "PROG ARGS" (ARGS already shell-quoted) and collects its output. */
static void
s_run(s_run_t *r, const char *prog, const char *fmt, ...)
{
    char bin[256], args[4096], cmd[8192], out[] = "/tmp/remiss-cli-out-XXXXXX",
                                          err[] = "/tmp/remiss-cli-err-XXXXXX";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    close(mkstemp(out));
    close(mkstemp(err));
    snprintf(cmd, sizeof cmd, "%s %s </dev/null >%s 2>%s", harness_bin(prog, bin, sizeof bin), args,
             out, err);
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    s_slurp(out, r->out, sizeof r->out);
    s_slurp(err, r->err, sizeof r->err);
}

/* Every line of text parses as JSON; returns how many lines. */
static int
s_all_json(const char *what, const char *text)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        cJSON *j = cJSON_ParseWithLength(p, len);
        cr_assert_not_null(j, "%s: a line is not JSON: %.*s", what, (int)len, p);
        cJSON_Delete(j);
        n++;
        p += len + (nl ? 1 : 0);
    }
    return n;
}

/* The string at key of the first line of text (parsed as JSON), copied. */
static char *
s_field(const char *text, const char *key)
{
    cJSON *j = cJSON_ParseWithLength(text, strcspn(text, "\n"));
    cr_assert_not_null(j, "not JSON: %s", text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    char *copy = strdup(cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(j);
    return copy;
}

/* The error object of stderr under --json. */
static void
s_expect_json_error(const s_run_t *r, const char *code, int status)
{
    cr_expect_eq(r->status, status, "exit %d, stderr %s", r->status, r->err);
    cr_assert_eq(s_all_json("stderr", r->err), 1, "stderr: %s", r->err);
    cJSON *j = cJSON_Parse(r->err);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    cr_expect(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "sentence")), "%s", r->err);
    cr_expect(cJSON_IsString(c) && strcmp(c->valuestring, code) == 0, "want %s: %s", code, r->err);
    cJSON_Delete(j);
}

static void
s_day(int offset, char out[16])
{
    time_t t = time(NULL) + (time_t)offset * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* Writes docs/examples/NAME.json to dir/NAME.json with fields replaced
 * (NULL-terminated key, value pairs; values are strings). */
static void
s_example(const char *dir, const char *name, ...)
{
    char path[512], buf[65536];
    snprintf(path, sizeof path, "docs/examples/%s.json", name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    va_list ap;
    va_start(ap, name);
    for (const char *k; (k = va_arg(ap, const char *));)
        cJSON_ReplaceItemInObject(j, k, cJSON_CreateString(va_arg(ap, const char *)));
    va_end(ap);
    char *text = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
    cJSON_Delete(j);
}

/* The shell-quoted common options for party as. */
static const char *
s_as(const harness_t *h, const char *as)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "--pki %s --broker %s --state %s/state --as %s --timeout=20", h->pki,
             h->endpoint, h->dir, as);
    return buf;
}

static void
s_prepare(harness_t *h)
{
    char from[16], until[16];
    s_day(-1, from);
    s_day(180, until);
    s_example(h->dir, "consent_grant", "valid_from", from, "valid_until", until, NULL);
    s_example(h->dir, "referral", NULL);
    s_example(h->dir, "case_submission", NULL);
}

/* Each subcommand with --json; hostile text in a refusal reason, a
 * transfer decision's receiving unit and a revocation reason. */
Test(cli, every_subcommand_speaks_json_only, .timeout = 240)
{
    harness_t h;
    s_run_t r;
    char path[512];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    s_prepare(&h);

    s_run(&r, "remiss",
          "%s --json consent grant --save-receipt %s/grant.rcpt %s/consent_grant.json",
          s_as(&h, "sdf-rinkeby-kista"), h.dir, h.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("consent grant", r.out), 1);
    snprintf(path, sizeof path, "%s/grant.rcpt", h.dir);
    struct stat st;
    cr_expect(stat(path, &st) == 0 && st.st_size > 0 && (st.st_mode & 0777) == 0600);

    s_run(&r, "remiss", "%s --json send %s/referral.json", s_as(&h, "sdf-rinkeby-kista"), h.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("send", r.out), 1);
    char *id = s_field(r.out, "message_id");

    s_run(&r, "remiss", "--json recv --max 1 --wait 20 --save %s %s", h.dir, s_as(&h, "jobbtorg"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("recv", r.out), 1);
    snprintf(path, sizeof path, "%s/%s.env", h.dir, id);
    cr_expect_eq(stat(path, &st), 0, "recv --save wrote no %s", path);

    s_run(&r, "remiss", "%s --json refuse %s '%s'", s_as(&h, "jobbtorg"), id,
          "fel \"mottagare\" \\ \t\n\x1b[2J");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("refuse", r.out), 1);

    s_run(&r, "remiss", "%s --json status %s", s_as(&h, "sdf-rinkeby-kista"), id);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("status", r.out), 1);
    char *reason = s_field(r.out, "refuse_reason");
    cr_expect_str_eq(reason, "fel \"mottagare\" \\ \t\n\x1b[2J");
    free(reason);

    s_run(&r, "remiss", "%s --json proof %s", s_as(&h, "sdf-rinkeby-kista"), id);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("proof", r.out), 1);

    /* An unknown id is one code in every command. */
    const char *unknown = "00112233445566778899aabbccddeeff";
    s_run(&r, "remiss", "%s --json ack %s", s_as(&h, "jobbtorg"), unknown);
    s_expect_json_error(&r, "E_UNKNOWN_MESSAGE", 1);
    s_run(&r, "remiss", "%s --json refuse %s nej", s_as(&h, "jobbtorg"), unknown);
    s_expect_json_error(&r, "E_UNKNOWN_MESSAGE", 1);
    s_run(&r, "remiss", "%s --json status %s", s_as(&h, "jobbtorg"), unknown);
    s_expect_json_error(&r, "E_UNKNOWN_MESSAGE", 1);
    s_run(&r, "remiss", "%s --json proof %s", s_as(&h, "jobbtorg"), unknown);
    s_expect_json_error(&r, "E_UNKNOWN_MESSAGE", 1);
    cr_expect_eq(r.out[0], '\0', "nothing on stdout: %s", r.out);

    s_run(&r, "remiss", "%s --json consent revoke c-2026-0001 '%s'", s_as(&h, "sdf-rinkeby-kista"),
          S_HOSTILE);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("consent revoke", r.out), 1);

    /* Usage errors are JSON too. */
    s_run(&r, "remiss", "%s --json recv --wait abc", s_as(&h, "jobbtorg"));
    s_expect_json_error(&r, "E_USAGE", 2);
    s_run(&r, "remiss", "%s --json status %s extra", s_as(&h, "jobbtorg"), unknown);
    s_expect_json_error(&r, "E_USAGE", 2);
    free(id);
    harness_stop(&h);
}

/* Issue 12, bug 2: a transfer_ack's receiving_unit holding a quote, a
 * backslash, a tab and a newline broke `remiss --json status` (built with
 * printf) and could forge lines in the plain output. */
Test(cli, status_survives_a_hostile_receiving_unit, .timeout = 240)
{
    harness_t h;
    s_run_t r;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    s_prepare(&h);
    s_run(&r, "remiss", "%s consent grant %s/consent_grant.json", s_as(&h, "sdf-rinkeby-kista"),
          h.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    s_run(&r, "remiss", "%s --json send %s/case_submission.json", s_as(&h, "jobbtorg"), h.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *case_id = s_field(r.out, "message_id");
    s_run(&r, "remiss", "%s recv --ack --max 1 --wait 20", s_as(&h, "af-kommunhubb"));
    cr_assert_eq(r.status, 0, "%s", r.err);
    s_example(h.dir, "transfer_ack", "original_message_id", case_id, "receiving_unit", S_HOSTILE,
              NULL);
    s_run(&r, "remiss", "%s send %s/transfer_ack.json", s_as(&h, "af-kommunhubb"), h.dir);
    cr_assert_eq(r.status, 0, "%s", r.err);

    s_run(&r, "remiss", "%s --json status %s", s_as(&h, "jobbtorg"), case_id);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(s_all_json("status", r.out), 1, "%s", r.out);
    char *unit = s_field(r.out, "receiving_unit");
    cr_expect_str_eq(unit, S_HOSTILE);
    free(unit);

    /* Plain: two lines (state, transfer), no control character. */
    s_run(&r, "remiss", "%s status %s", s_as(&h, "jobbtorg"), case_id);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int lines = 0;
    for (const char *p = r.out; *p; p++) {
        lines += *p == '\n';
        cr_expect(*p == '\n' || ((unsigned char)*p >= 0x20 && *p != 0x7f), "control 0x%02x",
                  (unsigned char)*p);
    }
    cr_expect_eq(lines, 2, "%s", r.out);
    cr_expect_null(strstr(r.out, "\nerror:"), "a forged line: %s", r.out);
    free(case_id);
    harness_stop(&h);
}

/* Issue 12, bug 3: an unreachable broker looked like an empty inbox (recv
 * waited, printed nothing and exited 0). */
Test(cli, an_unreachable_broker_is_e_timeout_naming_it, .timeout = 120)
{
    harness_t h;
    s_run_t r;
    char opts[1024];
    harness_init(&h, s_parties);
    /* Nothing listens on this port: the harness started no broker. */
    snprintf(opts, sizeof opts,
             "--pki %s --broker tcp://127.0.0.1:9 --state %s/state --as jobbtorg", h.pki, h.dir);
    s_run(&r, "remiss", "%s recv --timeout 1 --wait 1", opts);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "error: E_TIMEOUT: "), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "tcp://127.0.0.1:9"), "the endpoint is named: %s", r.err);
    s_run(&r, "remiss", "%s --json --timeout=1 status 00112233445566778899aabbccddeeff", opts);
    s_expect_json_error(&r, "E_TIMEOUT", 1);
    s_prepare(&h);
    snprintf(opts + strlen(opts) - strlen("jobbtorg"), 64, "sdf-rinkeby-kista");
    s_run(&r, "remiss", "%s --timeout 1 send %s/referral.json", opts, h.dir);
    cr_expect_eq(r.status, 1, "exit %d", r.status);
    cr_expect_not_null(strstr(r.err, "E_TIMEOUT"), "%s", r.err);
    harness_stop(&h);
}

Test(cli, conventions, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char opts[1024];
    harness_init(&h, s_parties);
    snprintf(opts, sizeof opts, "--pki=%s --state=%s/state", h.pki, h.dir);
    const char *const progs[] = {"remiss", "remissctl", "remissd"};
    for (size_t i = 0; i < 3; i++) {
        s_run(&r, progs[i], "--version");
        cr_expect_eq(r.status, 0, "%s --version: %s", progs[i], r.err);
        cr_expect_not_null(strstr(r.out, progs[i]), "%s --version: %s", progs[i], r.out);
        cr_expect_not_null(strstr(r.out, REMISS_VERSION), "%s --version: %s", progs[i], r.out);
    }
    cr_expect_str_eq(remiss_version(), REMISS_VERSION);

    s_run(&r, "remiss", "%s --as Jobbtorg --broker tcp://127.0.0.1:9 recv", opts);
    cr_expect_eq(r.status, 2);
    cr_expect_not_null(strstr(r.err, "lower case"), "%s", r.err);
    cr_expect_not_null(strstr(r.err, "--as jobbtorg"), "%s", r.err);
    s_run(&r, "remiss", "%s --as jobbtorg --broker 127.0.0.1:7400 recv", opts);
    cr_expect_eq(r.status, 2);
    cr_expect_not_null(strstr(r.err, "tcp://127.0.0.1:7400"), "%s", r.err);

    /* A missing PKI file is named. */
    char path[512];
    snprintf(path, sizeof path, "%s/parties/jobbtorg.crt", h.pki);
    cr_assert_eq(unlink(path), 0);
    s_run(&r, "remiss", "%s --as jobbtorg --broker tcp://127.0.0.1:9 recv", opts);
    cr_expect_eq(r.status, 1);
    cr_expect_not_null(strstr(r.err, path), "%s", r.err);

    /* Bad numbers, extra operands, unknown options and commands: usage, 2. */
    const char *const bad[] = {"recv --wait abc",
                               "recv --wait=-1",
                               "recv --max 1x",
                               "recv extra",
                               "status",
                               "status 00112233445566778899aabbccddeeff x",
                               "send a.json b.json",
                               "ack",
                               "refuse 00",
                               "recv --frobnicate",
                               "frobnicate",
                               "status --ack 00112233445566778899aabbccddeeff",
                               "recv --timeout 0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run(&r, "remiss", "%s --as jobbtorg --broker tcp://127.0.0.1:9 %s", opts, bad[i]);
        cr_expect_eq(r.status, 2, "%s: exit %d", bad[i], r.status);
        cr_expect_not_null(strstr(r.err, "E_USAGE"), "%s: %s", bad[i], r.err);
    }

    /* COMMAND --help: that command's usage, exit 0. */
    const char *const cmds[] = {"send", "recv", "ack", "refuse", "status", "consent", "proof"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        s_run(&r, "remiss", "%s --help", cmds[i]);
        cr_expect_eq(r.status, 0, "%s --help", cmds[i]);
        char want[64];
        snprintf(want, sizeof want, "] %s", cmds[i]);
        cr_expect_not_null(strstr(r.out, want), "%s --help: %s", cmds[i], r.out);
    }
    harness_stop(&h);
}

/* remissctl: every command with --json prints JSON only (the refusal
 * reason of a dead letter is another party's text). */
Test(cli, remissctl_speaks_json_only, .timeout = 180)
{
    harness_t h;
    s_run_t r;
    remiss_err_t err;
    remiss_receipt_t rc;
    char hex[33];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_id_to_hex(rc.message_id, hex);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_refuse(jt, remiss_message_id(m), S_HOSTILE, &err), REMISS_OK);
    remiss_message_free(&m);
    remiss_close(&jt);
    remiss_close(&sdf);

    s_run(&r, "remissctl", "deadletter list --db %s --json", h.db);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("deadletter list", r.out), 1);
    char *reason = s_field(r.out, "reason");
    cr_expect_str_eq(reason, S_HOSTILE);
    free(reason);
    s_run(&r, "remissctl", "deadletter list --db=%s", h.db);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_null(strstr(r.out, "\nerror:"), "a forged line: %s", r.out);
    const char *const cmds[] = {
        "audit verify --db %s --pki %s --json",
        "audit export --json --db %s",
        "audit subject " HARNESS_PNR " --db %s --pki %s --json",
        "audit proof --db %s 0 --pki %s --json",
        "consent list --db %s --pki %s --subject " HARNESS_PNR " --json",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[1024];
        snprintf(args, sizeof args, cmds[i], h.db, h.pki);
        s_run(&r, "remissctl", "%s", args);
        cr_expect_eq(r.status, 0, "%s: %s", args, r.err);
        cr_expect_geq(s_all_json(args, r.out), 1, "%s", args);
        s_all_json(args, r.err);
    }
    s_run(&r, "remissctl", "deadletter requeue --db %s %s --json", h.db, hex);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(s_all_json("requeue", r.out), 1);
    s_run(&r, "remissctl", "pki init %s/pki2 --json", h.dir);
    cr_expect_eq(s_all_json("pki init", r.out), 1);
    s_run(&r, "remissctl", "pki issue --json %s/pki2 jobbtorg jobbtorg --days=30", h.dir);
    cr_expect_eq(s_all_json("pki issue", r.out), 1, "%s", r.err);
    s_run(&r, "remissctl", "pki revoke %s/pki2 jobbtorg --json", h.dir);
    cr_expect_eq(s_all_json("pki revoke", r.out), 1, "%s", r.err);
    s_run(&r, "remissctl", "pki issue %s/pki2 x y --days abc --json", h.dir);
    s_expect_json_error(&r, "E_USAGE", 2);
    s_run(&r, "remissctl", "frobnicate --json");
    s_expect_json_error(&r, "E_USAGE", 2);
    harness_stop(&h);
}

/* Issue 12, bug 4: a mistyped --db created an empty database and answered
 * "0 consent(s)" or "0 message(s) on the dead-letter list" with exit 0.
 * Every command refuses a database that does not exist, naming it. */
Test(cli, remissctl_refuses_a_missing_database, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char typo[256];
    harness_init(&h, s_parties);
    snprintf(typo, sizeof typo, "%s/remis.db", h.dir);
    const char *const cmds[] = {
        "deadletter list --db %s",
        "deadletter list --db %s --json",
        "deadletter requeue --db %s 00112233445566778899aabbccddeeff",
        "consent list --db %s --pki %s --subject " HARNESS_PNR,
        "consent list --db=%s --pki %s --subject " HARNESS_PNR " --json",
        "audit verify --db %s --pki %s",
        "audit export --db %s",
        "audit subject " HARNESS_PNR " --db %s --pki %s",
        "audit proof --db %s 0 --pki %s",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[1024];
        struct stat st;
        snprintf(args, sizeof args, cmds[i], typo, h.pki);
        s_run(&r, "remissctl", "%s", args);
        cr_expect_eq(r.status, 1, "%s: exit %d", args, r.status);
        cr_expect_not_null(strstr(r.err, "E_IO"), "%s: %s", args, r.err);
        cr_expect_not_null(strstr(r.err, typo), "%s: the path is named: %s", args, r.err);
        cr_expect_eq(r.out[0], '\0', "%s printed %s", args, r.out);
        cr_expect_neq(stat(typo, &st), 0, "%s created %s", args, typo);
        if (strstr(args, "--json"))
            s_expect_json_error(&r, "E_IO", 1);
    }
    harness_stop(&h);
}
