/* make demo as a test: runs scripts/demo.sh with the binaries under test
 * ($REMISS_BIN, build/san/bin by default) and checks that it exits 0 and
 * narrates each of the six seed scenarios (issue 7). The script checks each
 * step's outcome itself; this test makes `make test` run it. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The narration lines of scripts/demo.sh, one per step. */
static const char *const s_steps[] = {
    "1. Rinkeby-Kista's social services register the young person's consent and refer them "
    "(income support) to Jobbtorg; Jobbtorg receives the referral.",
    "2. Jobbtorg presents the case to Arbetsförmedlingen's kommunhubb (ärendedragning); the "
    "kommunhubb accepts the transfer to a local unit and Jobbtorg sees the decision.",
    "3. A referral carrying health data that the young person's consent does not cover is "
    "refused, with its reason.",
    "4. A consent is withdrawn while a referral waits for Jobbtorg, who is offline; the referral "
    "is never delivered.",
    "5. Jobbtorg reports concern about a 17-year-old to Rinkeby-Kista's social services; no "
    "consent is needed (SoL 14 kap. 1 §).",
    "6. The audit log verifies as untampered, and the young person's access report lists every "
    "exchange above.",
};

/* Reads all of path into a NUL-terminated buffer the caller frees. */
static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            cr_assert_not_null(buf);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

Test(demo, plays_every_seed_scenario, .timeout = 150)
{
    char out[] = "/tmp/remiss-demo-out-XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    close(fd);
    const char *bin = getenv("REMISS_BIN");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "REMISS_BIN='%s' scripts/demo.sh >'%s' 2>&1",
             bin && bin[0] ? bin : "build/san/bin", out);
    int status = system(cmd);
    char *text = s_slurp(out);
    unlink(out);
    bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    bool narrated = true;
    for (size_t i = 0; i < sizeof s_steps / sizeof s_steps[0]; i++)
        narrated = narrated && strstr(text, s_steps[i]) != NULL;
    if (!ok || !narrated)
        fprintf(stderr, "--- scripts/demo.sh said:\n%s---\n", text);
    cr_expect(ok, "scripts/demo.sh failed (wait status %d); its output is above", status);
    for (size_t i = 0; i < sizeof s_steps / sizeof s_steps[0]; i++)
        cr_expect_not_null(strstr(text, s_steps[i]), "the demo did not narrate step %zu: %s", i + 1,
                           s_steps[i]);
    free(text);
}
