/* The Debian packages (make deb) as a test: scripts/test-deb.sh builds them
 * in a temporary copy of the tree, fails on lintian errors, installs them
 * with apt-get, checks remissd --help (and --check-config once remissd has
 * it), the system user, the conffiles, pkg-config and a client linked to
 * the installed libremiss, then purges what it installed. It needs root;
 * elsewhere it is skipped. Run from the top of the tree. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_SCRIPT "scripts/test-deb.sh"
#define S_SKIP   77

Test(deb, builds_passes_lintian_installs_and_links, .timeout = 900)
{
    cr_assert_eq(access(S_SCRIPT, X_OK), 0, "%s not found: run the tests from the top of the tree",
                 S_SCRIPT);
    int st = system(S_SCRIPT " 2>&1");
    cr_assert(st != -1 && WIFEXITED(st), "%s did not run to its end", S_SCRIPT);
    if (WEXITSTATUS(st) == S_SKIP)
        cr_skip_test("%s was skipped (see its output)", S_SCRIPT);
    cr_expect_eq(WEXITSTATUS(st), 0, "%s failed (see its output)", S_SCRIPT);
}
