/* interop: the Go verifier for C2SP notes (tests/helpers/interop.h). */
#include "interop.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_BIN "build/cpverify"

/* Builds the verifier once per tree (through a temporary file, so parallel
 * test processes never run half a binary). */
static void
s_build(void)
{
    struct stat st;
    char cmd[1024];
    if (stat(S_BIN, &st) == 0 && stat("tests/interop/cpverify.go", &st) == 0) {
        struct stat bin;
        stat(S_BIN, &bin);
        if (bin.st_mtime >= st.st_mtime)
            return;
    }
    snprintf(cmd, sizeof cmd,
             "mkdir -p build/gocache && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= "
             "GOCACHE=$PWD/build/gocache GOTOOLCHAIN=local go build -o %s.%d "
             "tests/interop/cpverify.go && mv %s.%d %s",
             S_BIN, (int)getpid(), S_BIN, (int)getpid(), S_BIN);
    cr_assert_eq(system(cmd), 0,
                 "cannot build the Go verifier (apt-get install golang-go "
                 "golang-golang-x-mod-dev; scripts/install-deps.sh does)");
}

int
interop_cpverify(const char *dir, const char *note, const char *log_vkey,
                 const char *const *witness_vkeys, size_t n, char *out, size_t cap)
{
    char path[256], cmd[4096];
    size_t len;
    FILE *f;
    int status;

    s_build();
    snprintf(path, sizeof path, "%s/cpverify.note", dir);
    cr_assert_not_null(f = fopen(path, "w"));
    fputs(note, f);
    fclose(f);
    len = (size_t)snprintf(cmd, sizeof cmd, "%s %s '%s'", S_BIN, path, log_vkey);
    for (size_t i = 0; i < n && len < sizeof cmd; i++)
        len += (size_t)snprintf(cmd + len, sizeof cmd - len, " '%s'", witness_vkeys[i]);
    if (len < sizeof cmd)
        snprintf(cmd + len, sizeof cmd - len, " 2>&1");
    cr_assert_not_null(f = popen(cmd, "r"));
    out[0] = '\0';
    if (fgets(out, (int)cap, f) == NULL)
        out[0] = '\0';
    status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
