/* The JSON Schemas of docs/schema agree with remiss (issue 17): the
 * examples validate with a maintained validator (Debian's
 * python3-jsonschema, through scripts/check-schemas.py), every file of
 * docs/examples/invalid is refused by the schema AND by the real `remiss
 * send` against a real remissd with the code docs/examples/invalid/
 * expected.tsv names, and what the CLI prints validates against the output
 * schemas. Run from the top of the tree; REMISS_BIN names the programs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define S_CHECKER  "scripts/check-schemas.py"
#define S_INVALID  "docs/examples/invalid"
#define S_EXPECTED S_INVALID "/expected.tsv"
#define S_OUT_MAX  16384

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg",
                                        "af-kommunhubb:kommunhubb", NULL};

/* Runs cmd through the shell with stdout and stderr captured separately.
 * Returns the exit status, -1 if it did not exit normally. */
static int
s_run(const char *cmd, char *out, char *errout)
{
    char o[] = "/tmp/remiss-schema-out-XXXXXX", e[] = "/tmp/remiss-schema-err-XXXXXX";
    char full[4096];
    int fo = mkstemp(o), fe = mkstemp(e);
    cr_assert(fo >= 0 && fe >= 0);
    close(fo);
    close(fe);
    snprintf(full, sizeof full, "%s >'%s' 2>'%s'", cmd, o, e);
    int st = system(full);
    const char *paths[2] = {o, e};
    char *bufs[2] = {out, errout};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(paths[i], "r");
        size_t n = f ? fread(bufs[i], 1, S_OUT_MAX - 1, f) : 0;
        bufs[i][n] = '\0';
        if (f)
            fclose(f);
        unlink(paths[i]);
    }
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The validator on text (written to a file): 0 if it is valid. */
static int
s_validate(const char *schema, const char *text, bool lines, char *report)
{
    char path[] = "/tmp/remiss-schema-doc-XXXXXX", cmd[512], ignored[S_OUT_MAX];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(cmd, sizeof cmd, "%s %s %s '%s'", S_CHECKER, lines ? "--lines" : "", schema, path);
    int rc = s_run(cmd, report, ignored);
    unlink(path);
    return rc;
}

static void
s_remiss_cmd(char *buf, size_t size, const harness_t *h, const char *as, const char *args)
{
    char bin[512];
    snprintf(buf, size, "%s --pki '%s' --as %s --broker %s --json %s",
             harness_bin("remiss", bin, sizeof bin), h->pki, as, h->endpoint, args);
}

/* An error the CLI printed on stderr names code: the JSON error object of
 * error.schema.json, or (before the CLI printed JSON errors) the line
 * "error: CODE: sentence". */
static void
s_assert_error(const char *errout, const char *code, const char *what)
{
    char report[S_OUT_MAX], needle[128];
    if (errout[0] == '{') {
        cr_assert_eq(s_validate("error", errout, false, report), 0, "%s: %s\n%s", what, errout,
                     report);
        snprintf(needle, sizeof needle, "\"%s\"", code);
    } else {
        snprintf(needle, sizeof needle, "error: %s: ", code);
    }
    cr_assert_not_null(strstr(errout, needle), "%s: expected %s, stderr: %s", what, code, errout);
}

Test(schema, examples_validate_and_invalid_ones_do_not, .timeout = 60)
{
    static char out[S_OUT_MAX], errout[S_OUT_MAX];
    cr_assert_eq(access(S_CHECKER, X_OK), 0, "%s not found: run from the top of the tree",
                 S_CHECKER);
    int rc = s_run(S_CHECKER " examples", out, errout);
    cr_assert_eq(rc, 0, "check-schemas.py exited %d:\n%s%s", rc, out, errout);
    cr_assert_not_null(strstr(out, "8 messages"), "%s", out);
}

/* The checker is not a rubber stamp: an invalid file among the examples,
 * or a valid one among the invalid, fails it. */
Test(schema, checker_fails_on_a_misplaced_example, .timeout = 60)
{
    static char out[S_OUT_MAX], errout[S_OUT_MAX];
    char dir[] = "/tmp/remiss-schema-docs-XXXXXX", cmd[1024];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cp -r docs/schema docs/examples '%s'/ && "
             "cp " S_INVALID "/unknown-field.json '%s'/examples/referral-2.json",
             dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, S_CHECKER " --dir '%s' examples", dir);
    int rc = s_run(cmd, out, errout);
    cr_assert_eq(rc, 1, "%s%s", out, errout);
    cr_assert_not_null(strstr(out, "referral-2.json: message.schema.json"), "%s", out);

    snprintf(cmd, sizeof cmd,
             "rm '%s'/examples/referral-2.json && cp docs/examples/inquiry.json "
             "'%s'/examples/invalid/inquiry.json",
             dir, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, S_CHECKER " --dir '%s' examples", dir);
    rc = s_run(cmd, out, errout);
    cr_assert_eq(rc, 1, "%s%s", out, errout);
    cr_assert_not_null(strstr(out, "inquiry.json: accepted by message.schema.json"), "%s", out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* One line of expected.tsv: file, sending party, code. */
static bool
s_expected_line(FILE *f, char *file, char *sender, char *code)
{
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        cr_assert_eq(sscanf(line, "%127[^\t]\t%63[^\t]\t%63[^\t]", file, sender, code), 3,
                     "bad line in %s: %s", S_EXPECTED, line);
        return true;
    }
    return false;
}

/* Every file the schema refuses, remiss refuses too, with its code:
 * `remiss send` itself (msgjson) or the broker (a refusal receipt). */
Test(schema, invalid_examples_are_refused_by_remiss, .timeout = 240)
{
    static char out[S_OUT_MAX], errout[S_OUT_MAX], cmd[2048], args[512];
    char file[128], sender[64], code[64], listed[8192] = "";
    harness_t h;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    FILE *f = fopen(S_EXPECTED, "r");
    cr_assert_not_null(f, "cannot read %s", S_EXPECTED);
    int n = 0;
    while (s_expected_line(f, file, sender, code)) {
        snprintf(args, sizeof args, "send " S_INVALID "/%s", file);
        s_remiss_cmd(cmd, sizeof cmd, &h, sender, args);
        int rc = s_run(cmd, out, errout);
        cr_assert_eq(rc, 1, "%s: remiss send exited %d (must refuse)\n%s%s", file, rc, out, errout);
        s_assert_error(errout, code, file);
        strncat(listed, file, sizeof listed - strlen(listed) - 2);
        strcat(listed, "\n");
        n++;
    }
    fclose(f);
    harness_stop(&h);
    /* Every invalid file is listed, so none escapes the check above. */
    FILE *ls = popen("ls " S_INVALID " | grep '\\.json$'", "r");
    char name[256];
    int files = 0;
    while (fgets(name, sizeof name, ls)) {
        files++;
        cr_assert_not_null(strstr(listed, name), "%s is not in %s", name, S_EXPECTED);
    }
    pclose(ls);
    cr_assert_eq(files, n);
    cr_assert_geq(n, 20);
}

/* What the CLI prints validates against the output schemas: the receipt of
 * `send --json` (accepted and refused) and the lines of `recv --json`. */
Test(schema, cli_output_validates, .timeout = 120)
{
    static char out[S_OUT_MAX], errout[S_OUT_MAX], cmd[2048], report[S_OUT_MAX];
    harness_t h;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);

    /* A concern report needs no consent (SoL 14 kap. 1 §). */
    s_remiss_cmd(cmd, sizeof cmd, &h, "jobbtorg", "send docs/examples/concern_report.json");
    cr_assert_eq(s_run(cmd, out, errout), 0, "%s%s", out, errout);
    cr_assert_eq(s_validate("send-receipt", out, true, report), 0, "%s\n%s", out, report);
    cr_assert_not_null(strstr(out, "\"code\":\"OK\""), "%s", out);

    /* A refusal prints its receipt too, and the error. */
    s_remiss_cmd(cmd, sizeof cmd, &h, "sdf-rinkeby-kista",
                 "send " S_INVALID "/personnummer-month-13.json");
    cr_assert_eq(s_run(cmd, out, errout), 1, "%s%s", out, errout);
    cr_assert_eq(s_validate("send-receipt", out, true, report), 0, "%s\n%s", out, report);
    s_assert_error(errout, "E_INVALID_PERSONNUMMER", "refused send");

    s_remiss_cmd(cmd, sizeof cmd, &h, "sdf-rinkeby-kista", "recv --wait 10 --max 1 --ack");
    cr_assert_eq(s_run(cmd, out, errout), 0, "%s%s", out, errout);
    cr_assert_not_null(strstr(out, "\"type\":\"concern_report\""), "%s", out);
    cr_assert_eq(s_validate("recv-message", out, true, report), 0, "%s\n%s", out, report);

    /* And a recv line is a message `remiss send` reads again. */
    cr_assert_eq(s_validate("message", out, true, report), 0, "%s\n%s", out, report);
    harness_stop(&h);
}
