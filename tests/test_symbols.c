/* libremiss.so exports exactly its public API: the remiss_* functions of
 * include/remiss.h and include/remiss_code.h and the remiss__* functions
 * and descriptors of the generated remiss.pb-c.h (the headers libremiss-dev
 * installs), under the version node LIBREMISS_1 and the soname
 * libremiss.so.1; debian/libremiss1.symbols lists the same; and a client
 * that includes only <remiss.h> builds and runs against the .so alone.
 * Run from the top of the tree. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define S_MAX   1024
#define S_NAMEN 128

typedef struct s_set {
    char name[S_MAX][S_NAMEN];
    size_t n;
} s_set_t;

static void
s_add(s_set_t *s, const char *p, size_t len)
{
    cr_assert_lt(len, (size_t)S_NAMEN);
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->name[i]) == len && memcmp(s->name[i], p, len) == 0)
            return;
    cr_assert_lt(s->n, (size_t)S_MAX);
    memcpy(s->name[s->n], p, len);
    s->name[s->n++][len] = '\0';
}

static bool
s_has(const s_set_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return true;
    return false;
}

/* Every name of a in b, and the other way round. */
static void
s_same(const s_set_t *a, const char *an, const s_set_t *b, const char *bn)
{
    for (size_t i = 0; i < a->n; i++)
        cr_expect(s_has(b, a->name[i]), "%s is in %s but not in %s", a->name[i], an, bn);
    for (size_t i = 0; i < b->n; i++)
        cr_expect(s_has(a, b->name[i]), "%s is in %s but not in %s", b->name[i], bn, an);
}

static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    char *text = calloc(1, 1 << 20);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* Blanks out comments so names in them do not count. */
static void
s_strip_comments(char *t)
{
    for (char *p = t; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            memset(p, ' ', (size_t)(stop - p));
            p = stop - 1;
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                *p++ = ' ';
            if (!*p)
                break;
        }
    }
}

static bool
s_ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* The remiss_* names a header declares: functions (a name followed by
 * "(", not in a #define) and extern descriptors (followed by ";"). */
static void
s_header(s_set_t *s, const char *path)
{
    char *t = s_slurp(path);
    s_strip_comments(t);
    for (char *p = t; (p = strstr(p, "remiss_")) != NULL;) {
        size_t n = 0;
        while (s_ident(p[n]))
            n++;
        const char *q = p + n, *line = p;
        while (line > t && line[-1] != '\n')
            line--;
        while (isspace((unsigned char)*q))
            q++;
        bool decl = p == t || !s_ident(p[-1]);
        bool fn = *q == '(' && strncmp(line, "#define", 7) != 0 && strstr(line, "return") == NULL;
        bool var = *q == ';' && strncmp(line, "extern", 6) == 0;
        if (decl && (fn || var))
            s_add(s, p, n);
        p += n;
    }
    free(t);
}

static void
s_exports(s_set_t *s, const char *lib, bool *has_node)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    *has_node = false;
    while (fgets(line, sizeof line, p)) {
        char *name = strrchr(line, ' ');
        cr_assert_not_null(name, "%s", line);
        name++;
        bool versioned = strstr(name, "@@LIBREMISS_1") != NULL;
        name[strcspn(name, "@\n")] = '\0';
        if (strcmp(name, "LIBREMISS_1") == 0) {
            *has_node = true;
            continue;
        }
        s_add(s, name, strlen(name));
        cr_expect(versioned, "%s is not in version node LIBREMISS_1", name);
    }
    cr_assert_eq(pclose(p), 0, "nm failed");
}

/* debian/libremiss1.symbols: " NAME@LIBREMISS_1 VERSION" lines. */
static void
s_symbols_file(s_set_t *s)
{
    char *t = s_slurp("debian/libremiss1.symbols");
    cr_assert(strncmp(t, "libremiss.so.1 libremiss1 ", 26) == 0, "header line: %.40s", t);
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] != ' ')
            continue;
        size_t n = strcspn(line + 1, "@");
        cr_assert(strncmp(line + 1 + n, "@LIBREMISS_1 ", 13) == 0, "%s", line);
        if (strncmp(line + 1, "LIBREMISS_1", n) != 0)
            s_add(s, line + 1, n);
    }
    free(t);
}

static const char *
s_libdir(char *buf, size_t size)
{
    char bin[256];
    harness_bin("remissd", bin, sizeof bin);
    char *slash = strrchr(bin, '/');
    *slash = '\0';
    slash = strrchr(bin, '/');
    char rel[300], *abs;
    snprintf(rel, sizeof rel, "%.*slib", slash ? (int)(slash - bin + 1) : 0, bin);
    cr_assert_not_null(abs = realpath(rel, NULL), "no library directory %s", rel);
    snprintf(buf, size, "%s", abs);
    free(abs);
    return buf;
}

Test(symbols, the_library_exports_exactly_the_public_api)
{
    static s_set_t exported, declared, listed;
    char libdir[256], lib[300];
    bool node;
    snprintf(lib, sizeof lib, "%s/libremiss.so", s_libdir(libdir, sizeof libdir));
    s_exports(&exported, lib, &node);
    cr_assert(node, "no version node LIBREMISS_1 in %s", lib);
    s_header(&declared, "include/remiss.h");
    s_header(&declared, "include/remiss_code.h");
    s_header(&declared, "build/gen/remiss.pb-c.h");
    s_symbols_file(&listed);
    cr_assert_gt(declared.n, 100, "only %zu declarations found", declared.n);
    s_same(&exported, lib, &declared, "the public headers");
    s_same(&exported, lib, &listed, "debian/libremiss1.symbols");
    cr_expect(!s_has(&exported, "log_emit") && !s_has(&exported, "utf8_valid"));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "readelf -d '%s' | grep -q 'SONAME.*\\[libremiss.so.1\\]'", lib);
    cr_expect_eq(system(cmd), 0, "the soname is not libremiss.so.1");
}

/* What an integrator does: only <remiss.h>, only the shared library. */
Test(symbols, a_client_builds_against_the_header_and_the_shared_library_alone, .timeout = 120)
{
    char dir[] = "/tmp/remiss-sym-XXXXXX", libdir[256], cmd[2048], path[300];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/client.c", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("#include <remiss.h>\n#include <stdio.h>\n#include <string.h>\n"
          "int main(void) {\n"
          "    Remiss__Envelope env = REMISS__ENVELOPE__INIT;\n"
          "    env.type = REMISS__MESSAGE_TYPE__REFERRAL;\n"
          "    remiss_err_t err;\n"
          "    remiss_err_set(&err, REMISS_E_USAGE, \"x\");\n"
          "    printf(\"%s %zu %s\\n\", remiss_version(),\n"
          "           remiss__envelope__get_packed_size(&env), remiss_code_name(err.code));\n"
          "    return strcmp(remiss_version(), REMISS_VERSION) != 0;\n"
          "}\n",
          f);
    fclose(f);
    s_libdir(libdir, sizeof libdir);
    /* A staging copy of the headers as libremiss-dev installs them. */
    /* The headers as libremiss-dev installs them, the library under its
     * soname as libremiss1 does. */
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/include/remiss && cp include/remiss.h include/remiss_code.h "
             "build/gen/remiss.pb-c.h %s/include/remiss/ && "
             "ln -s %s/libremiss.so %s/libremiss.so.1 && "
             "cc -std=c11 -Wall -Wextra -Werror -I%s/include/remiss "
             "$(pkg-config --cflags libprotobuf-c) %s/client.c -o %s/client "
             "-L%s -lremiss -Wl,-rpath,%s $(pkg-config --libs libprotobuf-c) %s && "
             "%s/client > %s/out && grep -q '^%s [0-9][0-9]* E_USAGE$' %s/out",
             dir, dir, libdir, dir, dir, dir, dir, libdir, dir,
             strstr(libdir, "san") ? "-fsanitize=address,undefined" : "", dir, dir, REMISS_VERSION,
             dir);
    int st = system(cmd);
    cr_expect(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "the client did not build or run");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
}
