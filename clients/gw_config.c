/* gw_config: remiss-gateway options from the command line and an INI file. */
#include "gw_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *key;
    bool is_int;
    size_t offset;
    size_t size;      /* strings */
    int64_t min, max; /* integers */
    const char *help;
} s_opt_t;

#define S_STR(k, f, h)                                                                             \
    {                                                                                              \
        k, false, offsetof(gw_config_t, f), sizeof(((gw_config_t *)0)->f), 0, 0, h                 \
    }
#define S_INT(k, f, lo, hi, h)                                                                     \
    {                                                                                              \
        k, true, offsetof(gw_config_t, f), 0, lo, hi, h                                            \
    }

static const s_opt_t s_opts[] = {
    S_STR("pki", pki, "PKI directory (ca.crt, broker.crt, parties/PARTY.{crt,key,curve})"),
    S_STR("party", party, "this agency's party id"),
    S_STR("broker", broker, "broker endpoint, e.g. tcp://broker.example:7400"),
    S_STR("state", state, "directory for gateway.db and PARTY.seen, kept across restarts"),
    S_STR("listen", listen,
          "HOST:PORT on loopback or unix:PATH; any address with TLS [127.0.0.1:8480]"),
    S_STR("token-file", token_file, "file (mode 0600) holding the bearer token"),
    S_STR("deliver-to", deliver_to, "push each message to this https:// (or loopback http://) URL"),
    S_STR("push-secret-file", push_secret_file, "file (0600) with the push HMAC-SHA256 key"),
    S_STR("push-ca", push_ca, "CA certificates for an https push target [system]"),
    S_STR("tls-cert", tls_cert, "serve HTTPS with this certificate (PEM) [plain HTTP]"),
    S_STR("tls-key", tls_key, "the key of tls-cert (PEM, mode 0600)"),
    S_STR("tls-client-ca", tls_client_ca,
          "CA certificates (PEM) that issue the case systems' client certificates"),
    S_INT("max-body", max_body, 1024, 1048576, "largest request body in bytes [1048576]"),
    S_INT("timeout-ms", timeout_ms, 100, 600000, "wait this long for the broker [10000]"),
    S_INT("lease", lease_s, 1, 86400, "seconds an inbox call hides what it returned [60]"),
    S_INT("max-connections", max_connections, 1, 1024, "HTTP connections at once [64]"),
};
#define S_NOPTS (sizeof s_opts / sizeof s_opts[0])

void
gw_config_defaults(gw_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->listen, "127.0.0.1:8480");
    cfg->max_body = 1048576;
    cfg->timeout_ms = 10000;
    cfg->lease_s = 60;
    cfg->max_connections = 64;
}

/* An option by name; '_' stands for '-' as INI files often spell it. */
static const s_opt_t *
s_find(const char *key)
{
    char alt[64];
    size_t n = strlen(key);
    if (n >= sizeof alt)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        alt[i] = key[i] == '_' ? '-' : key[i];
    for (size_t i = 0; i < S_NOPTS; i++)
        if (strcmp(s_opts[i].key, alt) == 0)
            return &s_opts[i];
    return NULL;
}

static bool
s_set(gw_config_t *cfg, const s_opt_t *o, const char *value, char *why, size_t whysize)
{
    char *field = (char *)cfg + o->offset;
    if (!o->is_int) {
        if (strlen(value) >= o->size) {
            snprintf(why, whysize, "value of %s is too long", o->key);
            return false;
        }
        strcpy(field, value);
        return true;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < o->min || v > o->max) {
        snprintf(why, whysize, "%s must be a whole number from %lld to %lld", o->key,
                 (long long)o->min, (long long)o->max);
        return false;
    }
    int64_t v64 = v;
    memcpy(field, &v64, sizeof v64);
    return true;
}

typedef struct {
    gw_config_t *cfg;
    char why[256];
} s_ini_ctx_t;

static int
s_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ini_ctx_t *ctx = user;
    if (strcmp(section, "remiss-gateway") != 0) {
        snprintf(ctx->why, sizeof ctx->why, "unknown section [%s] (expected [remiss-gateway])",
                 section);
        return 0;
    }
    const s_opt_t *o = s_find(name);
    if (!o) {
        snprintf(ctx->why, sizeof ctx->why, "unknown option \"%s\"", name);
        return 0;
    }
    return s_set(ctx->cfg, o, value, ctx->why, sizeof ctx->why) ? 1 : 0;
}

static remiss_code_t
s_load_file(gw_config_t *cfg, const char *path, remiss_err_t *err)
{
    s_ini_ctx_t ctx = {.cfg = cfg, .why = ""};
    int line = ini_parse(path, s_ini_handler, &ctx);
    if (line == -1)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    if (line != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s:%d: %s", path, line,
                              ctx.why[0] ? ctx.why : "syntax error");
    return REMISS_OK;
}

/* One --KEY VALUE or --KEY=VALUE at argv[*i]. */
static remiss_code_t
s_arg(gw_config_t *cfg, int argc, char **argv, int *i, remiss_err_t *err)
{
    const char *a = argv[*i], *eq = strchr(a + 2, '='), *value;
    char key[64], why[256];
    size_t klen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if (strncmp(a, "--", 2) != 0)
        return remiss_err_set(err, REMISS_E_USAGE, "unexpected argument \"%s\"", a);
    if (klen >= sizeof key)
        return remiss_err_set(err, REMISS_E_USAGE, "unknown option (see --help)");
    memcpy(key, a + 2, klen);
    key[klen] = '\0';
    const s_opt_t *o = s_find(key);
    if (!o)
        return remiss_err_set(err, REMISS_E_USAGE, "unknown option --%s (see --help)", key);
    if (eq)
        value = eq + 1;
    else if (*i + 1 < argc)
        value = argv[++*i];
    else
        return remiss_err_set(err, REMISS_E_USAGE, "--%s needs a value", key);
    if (!s_set(cfg, o, value, why, sizeof why))
        return remiss_err_set(err, REMISS_E_USAGE, "%s", why);
    return REMISS_OK;
}

remiss_code_t
gw_config_parse_args(gw_config_t *cfg, int argc, char **argv, bool *help, remiss_err_t *err)
{
    *help = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            return REMISS_OK;
        }
    }
    /* The file first, so the command line overrides it whatever the order. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") != 0)
            continue;
        if (i + 1 >= argc)
            return remiss_err_set(err, REMISS_E_USAGE, "--config needs a file");
        remiss_code_t r = s_load_file(cfg, argv[i + 1], err);
        if (r != REMISS_OK)
            return r;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        remiss_code_t r = s_arg(cfg, argc, argv, &i, err);
        if (r != REMISS_OK)
            return r;
    }
    return REMISS_OK;
}

/* http:// only to this host: the body carries personal data. */
static bool
s_push_url_ok(const char *url)
{
    static const char *const ok[] = {"https://",          "http://127.0.0.1:", "http://127.0.0.1/",
                                     "http://localhost:", "http://localhost/", "http://[::1]:",
                                     "http://[::1]/"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(url, ok[i], strlen(ok[i])) == 0 && strlen(url) > strlen(ok[i]) - 1)
            return true;
    return false;
}

/* With TLS: HOST:PORT with any numeric address; the name localhost only. */
static bool
s_listen_tls_ok(const char *l)
{
    const char *colon = strrchr(l, ':');
    if (!colon || colon == l || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return false;
    size_t n = (size_t)(colon - l);
    if (l[0] == '[')
        return l[n - 1] == ']' && strspn(l + 1, "0123456789abcdefABCDEF:.") == n - 2;
    return strspn(l, "0123456789.") == n || strncmp(l, "localhost:", 10) == 0;
}

static bool
s_listen_ok(const char *l)
{
    return strncmp(l, "unix:/", 6) == 0 || strncmp(l, "127.0.0.1:", 10) == 0 ||
           strncmp(l, "[::1]:", 6) == 0 || strncmp(l, "localhost:", 10) == 0;
}

remiss_code_t
gw_config_validate(const gw_config_t *cfg, remiss_err_t *err)
{
    static const struct {
        size_t offset;
        const char *what;
    } required[] = {
        {offsetof(gw_config_t, pki), "--pki DIR"},
        {offsetof(gw_config_t, party), "--party ID"},
        {offsetof(gw_config_t, broker), "--broker ENDPOINT"},
        {offsetof(gw_config_t, state), "--state DIR"},
        {offsetof(gw_config_t, token_file), "--token-file FILE"},
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!((const char *)cfg + required[i].offset)[0])
            return remiss_err_set(err, REMISS_E_USAGE, "%s is required", required[i].what);
    bool tls = cfg->tls_cert[0] || cfg->tls_key[0] || cfg->tls_client_ca[0];
    if (tls && !(cfg->tls_cert[0] && cfg->tls_key[0] && cfg->tls_client_ca[0]))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "tls-cert, tls-key and tls-client-ca go together: TLS here always "
                              "asks the case system for a client certificate");
    if (tls && !s_listen_tls_ok(cfg->listen))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "with TLS, listen must be ADDRESS:PORT ([V6]:PORT, localhost:PORT)");
    if (!tls && !s_listen_ok(cfg->listen))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "listen must be 127.0.0.1:PORT, [::1]:PORT or unix:PATH: the "
                              "gateway holds the agency's keys and answers only this host "
                              "(other addresses need tls-cert, tls-key and tls-client-ca)");
    if (cfg->deliver_to[0] && !s_push_url_ok(cfg->deliver_to))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "deliver-to must be https://, or http:// to this host");
    if (cfg->deliver_to[0] && !cfg->push_secret_file[0])
        return remiss_err_set(err, REMISS_E_CONFIG, "deliver-to needs push-secret-file");
    return REMISS_OK;
}

remiss_code_t
gw_config_read_secret(const char *path, size_t min, char buf[GW_SECRET_MAX + 1], size_t *len,
                      remiss_err_t *err)
{
    struct stat st;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
        close(fd);
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "%s may be read by group or others: make it mode 0600", path);
    }
    ssize_t n = read(fd, buf, GW_SECRET_MAX + 1);
    close(fd);
    if (n < 0 || n > GW_SECRET_MAX)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: unreadable or longer than %d bytes", path,
                              GW_SECRET_MAX);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
        n--;
    buf[n] = '\0';
    if ((size_t)n < min || memchr(buf, '\0', (size_t)n))
        return remiss_err_set(err, REMISS_E_CONFIG, "%s must hold at least %zu bytes of text", path,
                              min);
    *len = (size_t)n;
    return REMISS_OK;
}

void
gw_config_usage(FILE *out)
{
    fprintf(out, "  --config FILE\n      read the [remiss-gateway] section of an INI file\n");
    for (size_t i = 0; i < S_NOPTS; i++)
        fprintf(out, "  --%s %s\n      %s\n", s_opts[i].key, s_opts[i].is_int ? "N" : "VALUE",
                s_opts[i].help);
}
