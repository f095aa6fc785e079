/* make install as a test: runs scripts/install.sh into a temporary DESTDIR
 * with PREFIX=/usr and the binaries under test ($REMISS_BIN, build/san/bin
 * by default; the libraries from the sibling lib/ or $REMISS_LIB), then
 * checks the tree: programs, library, headers, pkg-config file, man pages,
 * example configuration and the systemd unit, which `systemd-analyze
 * verify` must accept where it exists. (The script is run directly, not
 * through `make install`: a recursive make under `make test` is fragile.) */
#include <criterion/criterion.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct s_tree {
    char root[64];          /* the DESTDIR, removed by s_remove */
    char log[96];           /* root.log: what the last command said */
    char bin[PATH_MAX];     /* BIN_DIR: the programs under test */
    char lib[PATH_MAX + 8]; /* LIB_DIR: the libraries under test */
} s_tree_t;

/* Runs a shell command with output into t->log; returns its exit status
 * (-1 if it did not exit), printing the output when that is not 0. */
static int s_sh(const s_tree_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
s_sh(const s_tree_t *t, const char *fmt, ...)
{
    char cmd[2048], full[2300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s ) >'%s' 2>&1", cmd, t->log);
    int status = system(full);
    int rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc != 0) {
        char show[256];
        fprintf(stderr, "--- `%s` exited with %d:\n", cmd, rc);
        snprintf(show, sizeof show, "cat '%s' >&2", t->log);
        (void)system(show);
    }
    return rc;
}

/* The first line the last s_sh command printed, without its newline. */
static void
s_output(const s_tree_t *t, char *buf, size_t size)
{
    FILE *f = fopen(t->log, "r");
    buf[0] = '\0';
    if (f && fgets(buf, (int)size, f))
        buf[strcspn(buf, "\n")] = '\0';
    if (f)
        fclose(f);
}

/* The library directory under PREFIX=/usr, as scripts/install.sh picks
 * it: usr/lib/MULTIARCH (dpkg-architecture), usr/lib without it. */
static void
s_libdir(const s_tree_t *t, char *buf, size_t size)
{
    char ma[128];
    if (s_sh(t, "dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null") == 0)
        s_output(t, ma, sizeof ma);
    else
        ma[0] = '\0';
    snprintf(buf, size, "usr/lib%s%s", ma[0] ? "/" : "", ma);
}

static bool
s_log_empty(const s_tree_t *t)
{
    struct stat st;
    return stat(t->log, &st) == 0 && st.st_size == 0;
}

/* Runs scripts/install.sh into t->root with PREFIX=/usr; its exit status. */
static int
s_run_install(const s_tree_t *t)
{
    return s_sh(t, "DESTDIR='%s' PREFIX=/usr BIN_DIR='%s' LIB_DIR='%s' scripts/install.sh", t->root,
                t->bin, t->lib);
}

/* Installs into a fresh DESTDIR. */
static void
s_install(s_tree_t *t)
{
    const char *bin = getenv("REMISS_BIN");
    const char *lib = getenv("REMISS_LIB");
    snprintf(t->bin, sizeof t->bin, "%s", bin && bin[0] ? bin : "build/san/bin");
    if (lib && lib[0]) {
        snprintf(t->lib, sizeof t->lib, "%s", lib);
    } else {
        /* build/san/bin -> build/san/lib, bin -> lib */
        const char *slash = strrchr(t->bin, '/');
        if (slash)
            snprintf(t->lib, sizeof t->lib, "%.*s/lib", (int)(slash - t->bin), t->bin);
        else
            snprintf(t->lib, sizeof t->lib, "lib");
    }
    snprintf(t->root, sizeof t->root, "/tmp/remiss-install-XXXXXX");
    cr_assert_not_null(mkdtemp(t->root));
    snprintf(t->log, sizeof t->log, "%s.log", t->root);
    cr_assert_eq(s_run_install(t), 0, "scripts/install.sh failed");
}

static void
s_remove(s_tree_t *t)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", t->root, t->log);
    (void)system(cmd);
}

/* Asserts DESTDIR/rel is a regular file (executable if exec). */
static void
s_expect_file(const s_tree_t *t, const char *rel, bool exec)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    if (stat(path, &st) != 0) {
        cr_expect_fail("%s is not installed", rel);
        return;
    }
    cr_expect(S_ISREG(st.st_mode), "%s is not a regular file", rel);
    cr_expect(st.st_size > 0, "%s is empty", rel);
    if (exec)
        cr_expect(access(path, X_OK) == 0, "%s is not executable", rel);
}

/* True if DESTDIR/rel holds a line starting with line. */
static bool
s_has_line(const s_tree_t *t, const char *rel, const char *line)
{
    char path[PATH_MAX], buf[1024];
    bool found = false;
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    FILE *f = fopen(path, "r");
    while (f && !found && fgets(buf, sizeof buf, f))
        found = strncmp(buf, line, strlen(line)) == 0;
    if (f)
        fclose(f);
    return found;
}

Test(install, puts_every_file_in_place, .timeout = 60)
{
    s_tree_t t;
    s_install(&t);

    s_expect_file(&t, "usr/sbin/remissd", true);
    s_expect_file(&t, "usr/bin/remiss", true);
    s_expect_file(&t, "usr/bin/remissctl", true);

    char libdir[160], rel[PATH_MAX], path[PATH_MAX], target[64];
    struct stat st;
    s_libdir(&t, libdir, sizeof libdir);
    snprintf(rel, sizeof rel, "%s/libremiss.a", libdir);
    s_expect_file(&t, rel, false);
    snprintf(rel, sizeof rel, "%s/libremiss.so.1", libdir);
    s_expect_file(&t, rel, false);
    snprintf(path, sizeof path, "%s/%s/libremiss.so", t.root, libdir);
    cr_expect(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "libremiss.so is not a symlink");
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n > 0 ? n : 0] = '\0';
    cr_expect_str_eq(target, "libremiss.so.1");

    s_expect_file(&t, "usr/include/remiss/remiss.h", false);
    s_expect_file(&t, "usr/include/remiss/remiss_code.h", false);
    s_expect_file(&t, "usr/include/remiss/remiss.pb-c.h", false);
    snprintf(rel, sizeof rel, "%s/pkgconfig/remiss.pc", libdir);
    s_expect_file(&t, rel, false);
    s_expect_file(&t, "usr/share/remiss/remiss.proto", false);

    /* Every man page the tree has, in its section. */
    glob_t g;
    if (glob("docs/*.[158]", 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *name = strrchr(g.gl_pathv[i], '/') + 1;
            snprintf(rel, sizeof rel, "usr/share/man/man%c/%s", name[strlen(name) - 1], name);
            s_expect_file(&t, rel, false);
        }
        globfree(&g);
    }

    s_expect_file(&t, "etc/remiss/remissd.conf", false);
    s_expect_file(&t, "etc/remiss/stockholm.policy", false);
    cr_expect(s_has_line(&t, "etc/remiss/remissd.conf", "db = /var/lib/remiss/"),
              "the example config keeps its store outside /var/lib/remiss");

    s_expect_file(&t, "usr/lib/systemd/system/remissd.service", false);
    s_expect_file(&t, "usr/lib/sysusers.d/remiss.conf", false);
    const char *unit = "usr/lib/systemd/system/remissd.service";
    cr_expect(s_has_line(&t, unit, "ExecStart=/usr/sbin/remissd --config /etc/remiss/remissd.conf"),
              "the unit does not start the installed remissd with /etc/remiss/remissd.conf");
    cr_expect(s_has_line(&t, unit, "ExecStartPre=/usr/sbin/remissd --check-config --config "
                                   "/etc/remiss/remissd.conf"),
              "the unit does not check the configuration before the start");
    cr_expect(s_has_line(&t, unit, "ExecReload=/usr/sbin/remissd --check-config --config "
                                   "/etc/remiss/remissd.conf"),
              "the unit does not check the configuration before a reload");
    cr_expect(s_has_line(&t, unit, "User=remiss"));
    cr_expect(s_has_line(&t, unit, "StateDirectory=remiss"));
    cr_expect(s_has_line(&t, unit, "ProtectSystem=strict"));
    cr_expect(s_has_line(&t, unit, "NoNewPrivileges=yes"));
    cr_expect(s_has_line(&t, unit, "PrivateTmp=yes"));
    cr_expect(s_has_line(&t, "usr/lib/sysusers.d/remiss.conf", "u remiss "));
    s_remove(&t);
}

Test(install, pkg_config_file_describes_the_library, .timeout = 60)
{
    s_tree_t t;
    char out[512], libdir[160], pcdir[PATH_MAX], want[PATH_MAX + 16];
    s_install(&t);
    s_libdir(&t, libdir, sizeof libdir);
    snprintf(pcdir, sizeof pcdir, "%s/%s/pkgconfig", t.root, libdir);
    /* PKG_CONFIG_PATH finds it; the values are those of PREFIX=/usr, with
     * the libraries in the multiarch directory. */
#define PC "PKG_CONFIG_PATH='%s' pkg-config "
    cr_assert_eq(s_sh(&t, PC "--path remiss", pcdir), 0);
    s_output(&t, out, sizeof out);
    snprintf(want, sizeof want, "%s/remiss.pc", pcdir);
    cr_expect_str_eq(out, want);
    cr_assert_eq(s_sh(&t, PC "--variable=libdir remiss", pcdir), 0);
    s_output(&t, out, sizeof out);
    snprintf(want, sizeof want, "/%s", libdir);
    cr_expect_str_eq(out, want);
    cr_assert_eq(s_sh(&t, PC "--variable=includedir remiss", pcdir), 0);
    s_output(&t, out, sizeof out);
    cr_expect_str_eq(out, "/usr/include");
    /* libdir and includedir follow the prefix: a relocated or staged tree
     * is described by overriding it alone. */
    cr_assert_eq(s_sh(&t,
                      PC "--define-variable=prefix='%s/usr' --libs-only-L --cflags-only-I remiss",
                      pcdir, t.root),
                 0);
    s_output(&t, out, sizeof out);
    snprintf(want, sizeof want, "-I%s/usr/include/remiss", t.root);
    cr_expect_not_null(strstr(out, want), "--define-variable=prefix: %s", out);
    snprintf(want, sizeof want, "-L%s/%s", t.root, libdir);
    cr_expect_not_null(strstr(out, want), "--define-variable=prefix: %s", out);
    cr_assert_eq(s_sh(&t, PC "--libs remiss", pcdir), 0);
    s_output(&t, out, sizeof out);
    cr_expect_not_null(strstr(out, "-lremiss"), "pkg-config --libs remiss: %s", out);
    cr_assert_eq(s_sh(&t, PC "--print-requires-private remiss | tr '\\n' ' '", pcdir), 0);
    s_output(&t, out, sizeof out);
    cr_expect_str_eq(out, "libzmq openssl libprotobuf-c libcjson ");
    /* Its Cflags find the installed headers, which stand on their own: a
     * client compiles against them with nothing from the source tree. */
    cr_expect_eq(s_sh(&t,
                      "printf '#include <remiss.h>\\nint main(void) { return "
                      "remiss_code_name(REMISS_OK)[0] == 0; }\\n' | "
                      "cc -std=c11 -Wall -Werror -fsyntax-only -x c - "
                      "$(PKG_CONFIG_SYSROOT_DIR='%s' " PC "--cflags remiss)",
                      t.root, pcdir),
                 0, "a client does not compile against the installed headers");
#undef PC
    s_remove(&t);
}

Test(install, keeps_the_operators_configuration, .timeout = 60)
{
    s_tree_t t;
    s_install(&t);
    cr_assert_eq(s_sh(&t, "echo '; edited by the operator' >>'%s/etc/remiss/remissd.conf'", t.root),
                 0);
    cr_assert_eq(s_run_install(&t), 0, "a second install failed");
    cr_expect(s_has_line(&t, "etc/remiss/remissd.conf", "; edited by the operator"),
              "a second install overwrote /etc/remiss/remissd.conf");
    s_remove(&t);
}

Test(install, systemd_accepts_the_unit, .timeout = 60)
{
    s_tree_t t;
    if (system("command -v systemd-analyze >/dev/null 2>&1") != 0)
        cr_skip_test("systemd-analyze is not installed");
    s_install(&t);
    /* The unit names /usr/sbin/remissd, which is under DESTDIR here: verify a
     * copy pointing there. The Documentation= man page is checked when it is
     * installed and man(1) exists. */
    char man8[PATH_MAX];
    snprintf(man8, sizeof man8, "%s/usr/share/man/man8/remissd.8", t.root);
    bool check_man = access(man8, R_OK) == 0 && system("command -v man >/dev/null 2>&1") == 0;
    cr_assert_eq(s_sh(&t,
                      "mkdir '%s/verify' && sed 's|^\\(Exec[A-Za-z]*\\)=/usr/sbin/|\\1=%s/usr/sbin/|' "
                      "'%s/usr/lib/systemd/system/remissd.service' >'%s/verify/remissd.service'",
                      t.root, t.root, t.root, t.root),
                 0);
    cr_expect_eq(s_sh(&t,
                      "MANPATH='%s/usr/share/man' systemd-analyze verify --man=%s "
                      "'%s/verify/remissd.service'",
                      t.root, check_man ? "yes" : "no", t.root),
                 0, "systemd-analyze verify refused the unit");
    /* A warning (an unknown or misspelt key) does not change its status. */
    if (!s_log_empty(&t)) {
        char show[256];
        snprintf(show, sizeof show, "cat '%s' >&2", t.log);
        (void)system(show);
        cr_expect_fail("systemd-analyze verify warned about the unit (above)");
    }
    s_remove(&t);
}

/* The FILES section of a man page as plain text, one ".I" path per line
 * between newlines, PREFIX replaced by /usr and troff escapes dropped. */
static void
s_man_files(const char *page, char *out, size_t size)
{
    char line[512];
    bool in = false;
    size_t used = 0;
    FILE *f = fopen(page, "r");
    cr_assert_not_null(f, "%s", page);
    out[used++] = '\n';
    while (fgets(line, sizeof line, f) && used < size - 1) {
        if (strncmp(line, ".SH", 3) == 0)
            in = strncmp(line, ".SH FILES", 9) == 0;
        if (!in || (strncmp(line, ".I ", 3) != 0 && strncmp(line, ".IR ", 4) != 0))
            continue;
        const char *p = line + (line[2] == ' ' ? 3 : 4);
        if (strncmp(p, "PREFIX", 6) == 0) {
            used += (size_t)snprintf(out + used, size - used, "/usr");
            p += 6;
        }
        for (; *p && *p != '\n' && *p != ' ' && used < size - 2; p++)
            if (*p != '\\')
                out[used++] = *p;
        out[used++] = '\n';
    }
    out[used] = '\0';
    fclose(f);
}

/* The page names path in FILES, and make install put it under DESTDIR. */
static void
s_expect_documented(const s_tree_t *t, const char *files, const char *page, const char *path,
                    bool installed)
{
    char want[256];
    snprintf(want, sizeof want, "\n%s\n", path);
    cr_expect(strstr(files, want) != NULL, "%s does not name %s in FILES", page, path);
    if (installed)
        s_expect_file(t, path + 1, false);
}

Test(install, gateway_and_witness_land_where_their_man_pages_say, .timeout = 60)
{
    s_tree_t t;
    static char files[8192];
    const char *gw = "docs/remiss-gateway.8", *wit = "docs/remiss-witness.8";
    const char *gw_unit = "usr/lib/systemd/system/remiss-gateway.service";
    const char *wit_unit = "usr/lib/systemd/system/remiss-witness.service";
    s_install(&t);

    s_man_files(gw, files, sizeof files);
    s_expect_file(&t, "usr/sbin/remiss-gateway", true);
    s_expect_documented(&t, files, gw, "/usr/sbin/remiss-gateway", true);
    s_expect_documented(&t, files, gw, "/etc/remiss/remiss-gateway.conf", true);
    s_expect_documented(&t, files, gw, "/usr/share/remiss/remiss-gateway.conf", true);
    s_expect_documented(&t, files, gw, "/usr/lib/systemd/system/remiss-gateway.service", true);
    s_expect_documented(&t, files, gw, "/var/lib/remiss-gateway", false);
    cr_expect(s_has_line(&t, gw_unit,
                         "ExecStart=/usr/sbin/remiss-gateway --config "
                         "/etc/remiss/remiss-gateway.conf"),
              "the gateway's unit does not start the installed program with its config");
    cr_expect(s_has_line(&t, gw_unit, "StateDirectory=remiss-gateway"));
    cr_expect(s_has_line(&t, "etc/remiss/remiss-gateway.conf", "state = /var/lib/remiss-gateway"),
              "the example config keeps its state elsewhere than the unit's StateDirectory");

    s_man_files(wit, files, sizeof files);
    s_expect_file(&t, "usr/bin/remiss-witness", true);
    s_expect_documented(&t, files, wit, "/usr/bin/remiss-witness", true);
    s_expect_documented(&t, files, wit, "/usr/share/remiss/remiss-witness.conf", true);
    s_expect_documented(&t, files, wit, "/usr/lib/systemd/system/remiss-witness.service", true);
    s_expect_documented(&t, files, wit, "/etc/remiss-witness/remiss-witness.conf", false);
    cr_expect(s_has_line(&t, wit_unit,
                         "ExecStart=/usr/bin/remiss-witness serve --config "
                         "/etc/remiss-witness/remiss-witness.conf"),
              "the witness's unit does not read the config its man page names");
    s_remove(&t);
}
