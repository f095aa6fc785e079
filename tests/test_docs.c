/* The man pages agree with the programs' --help (scripts/check-man.sh), and
 * the checker does fail when a page drifts: run against a copy of the pages
 * with an option, a default or a command taken out. Run from the top of the
 * tree; REMISS_BIN names the programs (default build/san/bin). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_CHECKER "scripts/check-man.sh"

static const char *const s_pages[] = {"remissd.8", "remiss.1", "remissctl.8", "policy.5",
                                      "remiss-gateway.8"};
#define S_NPAGES (sizeof s_pages / sizeof s_pages[0])

/* Runs the checker on the pages in man_dir (NULL: docs/), with its output
 * in out. Returns its exit status, or -1 if it did not exit normally. */
static int
s_check(const char *man_dir, char *out, size_t size)
{
    const char *bin = getenv("REMISS_BIN");
    cr_assert_eq(access(S_CHECKER, X_OK), 0, "%s not found: run the tests from the top of the tree",
                 S_CHECKER);
    cr_assert_eq(setenv("REMISS_BIN", bin && bin[0] ? bin : "build/san/bin", 1), 0);
    if (man_dir)
        cr_assert_eq(setenv("REMISS_MAN_DIR", man_dir, 1), 0);
    else
        cr_assert_eq(unsetenv("REMISS_MAN_DIR"), 0);
    FILE *p = popen(S_CHECKER " 2>&1", "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Copies docs/NAME to dir/NAME, dropping every line that contains drop and
 * replacing the first line equal to from (without its newline) with to.
 * Returns how many lines were dropped or replaced. */
static int
s_copy_page(const char *dir, const char *name, const char *drop, const char *from, const char *to)
{
    char src[512], dst[512], line[4096];
    int changed = 0;
    snprintf(src, sizeof src, "docs/%s", name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    cr_assert_not_null(in, "cannot read %s", src);
    cr_assert_not_null(out, "cannot write %s", dst);
    while (fgets(line, sizeof line, in)) {
        size_t len = strcspn(line, "\n");
        if (drop && strstr(line, drop)) {
            changed++;
            continue;
        }
        if (from && strlen(from) == len && strncmp(line, from, len) == 0) {
            fprintf(out, "%s\n", to);
            from = NULL;
            changed++;
            continue;
        }
        fputs(line, out);
    }
    fclose(in);
    cr_assert_eq(fclose(out), 0);
    return changed;
}

/* A copy of every page in a fresh directory, one of them altered. */
static void
s_altered_copy(char dir[64], const char *page, const char *drop, const char *from, const char *to)
{
    snprintf(dir, 64, "/tmp/remiss-docs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    for (size_t i = 0; i < S_NPAGES; i++) {
        bool mine = strcmp(s_pages[i], page) == 0;
        int changed =
            s_copy_page(dir, s_pages[i], mine ? drop : NULL, mine ? from : NULL, mine ? to : NULL);
        if (mine)
            cr_assert_gt(changed, 0, "the alteration of %s matched no line", page);
    }
}

static void
s_remove_copy(const char *dir)
{
    char path[512];
    for (size_t i = 0; i < S_NPAGES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, s_pages[i]);
        unlink(path);
    }
    rmdir(dir);
}

Test(docs, man_pages_agree_with_help, .timeout = 120)
{
    static char out[16384];
    int rc = s_check(NULL, out, sizeof out);
    cr_assert_eq(rc, 0, "check-man.sh exited %d:\n%s", rc, out);
}

Test(docs, checker_fails_without_an_option, .timeout = 120)
{
    static char out[16384];
    char dir[64];
    s_altered_copy(dir, "remissd.8", "max\\-attempts", NULL, NULL);
    int rc = s_check(dir, out, sizeof out);
    s_remove_copy(dir);
    cr_assert_eq(rc, 1, "check-man.sh exited %d:\n%s", rc, out);
    cr_assert_not_null(strstr(out, "remissd.8: option --max-attempts of 'remissd --help' is "
                                   "missing"),
                       "%s", out);
    cr_assert_null(strstr(out, "remiss.1"), "only remissd.8 was altered:\n%s", out);
}

Test(docs, checker_fails_on_a_wrong_default, .timeout = 120)
{
    static char out[16384];
    char dir[64];
    s_altered_copy(dir, "remissd.8", NULL, "Default: 30000.", "Default: 3000.");
    int rc = s_check(dir, out, sizeof out);
    s_remove_copy(dir);
    cr_assert_eq(rc, 1, "check-man.sh exited %d:\n%s", rc, out);
    cr_assert_not_null(strstr(out, "the entry of --redeliver-ms does not show its default '30000'"),
                       "%s", out);
}

Test(docs, checker_fails_without_a_command, .timeout = 120)
{
    static char out[16384];
    char dir[64];
    s_altered_copy(dir, "remissctl.8", NULL, ".BI \"pki revoke \" \"DIR PARTY\"",
                   ".BI \"pki withdraw \" \"DIR PARTY\"");
    int rc = s_check(dir, out, sizeof out);
    s_remove_copy(dir);
    cr_assert_eq(rc, 1, "check-man.sh exited %d:\n%s", rc, out);
    cr_assert_not_null(strstr(out, "command 'pki revoke' of 'remissctl --help' has no entry"), "%s",
                       out);
}
