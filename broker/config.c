/* config: remissd options from the command line (getopt_long: --opt value and
 * --opt=value) and an INI file. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_STR, S_INT, S_BOOL } s_kind_t;

typedef struct {
    const char *key;
    s_kind_t kind;
    size_t offset;
    size_t size;      /* for strings */
    int64_t min, max; /* for integers */
    const char *help;
} s_opt_t;

#define S_STR_OPT(k, f, h)                                                                         \
    {                                                                                              \
        k, S_STR, offsetof(broker_config_t, f), sizeof(((broker_config_t *)0)->f), 0, 0, h         \
    }
#define S_INT_OPT(k, f, lo, hi, h)                                                                 \
    {                                                                                              \
        k, S_INT, offsetof(broker_config_t, f), 0, lo, hi, h                                       \
    }
#define S_BOOL_OPT(k, f, h)                                                                        \
    {                                                                                              \
        k, S_BOOL, offsetof(broker_config_t, f), 0, 0, 1, h                                        \
    }

static const s_opt_t s_opts[] = {
    S_STR_OPT("pki", pki, "PKI directory (ca.crt, crl.pem, broker.*, parties/)"),
    S_STR_OPT("db", db, "store: a SQLite file (or sqlite:FILE) or a postgresql:// URI"),
    S_STR_OPT("policy", policy, "secrecy policy file"),
    S_STR_OPT("listen", listen, "ZeroMQ endpoint to bind [tcp://127.0.0.1:7400]"),
    S_STR_OPT("metrics", metrics,
              "loopback HTTP address for /metrics and /healthz, e.g. "
              "127.0.0.1:9474 [off]"),
    S_INT_OPT("max-frame", max_frame, 1024, 64 << 20, "largest frame in bytes [262144]"),
    S_INT_OPT("redeliver-ms", redeliver_ms, 100, 86400000,
              "redeliver unacknowledged after [30000]"),
    S_INT_OPT("max-attempts", max_attempts, 1, 1000, "deliveries before dead-lettering [10]"),
    S_INT_OPT("replay-window", replay_window_s, 1, 365 * 86400,
              "seconds an envelope stays acceptable [86400]"),
    S_INT_OPT("retention", retention_s, 0, 10 * 365 * 86400,
              "seconds message bodies are kept after acknowledgement [2592000]"),
    S_INT_OPT("crl-check", crl_check_s, 1, 86400, "seconds between certificate/CRL reloads [60]"),
    S_INT_OPT("crl-grace", crl_grace_s, 0, 30 * 86400,
              "seconds a CRL past its nextUpdate stays in force before every party is refused "
              "[86400]"),
    S_INT_OPT("window", window, 1, 10000, "deliveries in flight per connection [64]"),
    S_INT_OPT("max-connections", max_connections, 1, 100000, "connected clients at most [256]"),
    S_INT_OPT("max-party-connections", max_party_connections, 1, 100000,
              "receiving connections of one party at most [16]"),
    S_INT_OPT("rate", rate_per_s, 0, 10000000, "messages per second per party, 0 = off [0]"),
    S_INT_OPT("rate-burst", rate_burst, 1, 10000000, "burst for the rate limit [1000]"),
    S_INT_OPT("max-queue", max_queue, 1, 1000000000, "queued messages per recipient [100000]"),
    S_INT_OPT("sth-interval", sth_interval_s, 1, 86400, "sign a tree head at least every [10] s"),
    S_INT_OPT("sth-every", sth_every, 1, 100000000, "... and every [1000] entries"),
    S_STR_OPT("audit-origin", audit_origin,
              "checkpoint origin of the audit log [remiss.invalid/audit]"),
    S_STR_OPT("witnesses", witnesses, "witness list file, one \"VKEY URL\" a line [none]"),
    S_INT_OPT("witness-quorum", witness_quorum, 0, 64, "cosignatures wanted, 0 = all [0]"),
    S_STR_OPT("status-socket", status_socket,
              "Unix socket remissctl status asks, off = none [next to the SQLite store]"),
    S_INT_OPT("cert-warn-days", cert_warn_days, 0, 3650,
              "/healthz degraded this many days before a certificate ends [30]"),
    S_BOOL_OPT("audit", audit, "audit log on [yes]; off only for benchmarks"),
    S_BOOL_OPT("verbose", verbose, "log every message event [no]"),
};
#define S_NOPTS (sizeof s_opts / sizeof s_opts[0])

void
config_defaults(broker_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->listen, "tcp://127.0.0.1:7400");
    cfg->max_frame = 256 * 1024;
    cfg->redeliver_ms = 30000;
    cfg->max_attempts = 10;
    cfg->replay_window_s = 86400;
    cfg->retention_s = 30 * 86400;
    cfg->crl_check_s = 60;
    cfg->crl_grace_s = 86400;
    cfg->window = 64;
    cfg->max_connections = 256;
    cfg->max_party_connections = 16;
    cfg->rate_per_s = 0;
    cfg->rate_burst = 1000;
    cfg->max_queue = 100000;
    cfg->sth_interval_s = 10;
    cfg->sth_every = 1000;
    cfg->cert_warn_days = 30;
    cfg->audit = true;
    strcpy(cfg->audit_origin, "remiss.invalid/audit");
}

static const s_opt_t *
s_find(const char *key)
{
    for (size_t i = 0; i < S_NOPTS; i++)
        if (strcmp(s_opts[i].key, key) == 0)
            return &s_opts[i];
    /* The config file may spell keys with '_' as INI files often do. */
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

/* Sets one option from text; a sentence in why on failure. */
static bool
s_set(broker_config_t *cfg, const s_opt_t *o, const char *value, char *why, size_t whysize)
{
    char *field = (char *)cfg + o->offset;
    if (o->kind == S_STR) {
        if (strlen(value) >= o->size) {
            snprintf(why, whysize, "value of %s is too long", o->key);
            return false;
        }
        strcpy(field, value);
        return true;
    }
    if (o->kind == S_BOOL) {
        bool v;
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on") ||
            !strcmp(value, "1"))
            v = true;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off") ||
                 !strcmp(value, "0"))
            v = false;
        else {
            snprintf(why, whysize, "%s must be yes or no", o->key);
            return false;
        }
        memcpy(field, &v, sizeof v);
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
    broker_config_t *cfg;
    char why[256];
} s_ini_ctx_t;

static int
s_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ini_ctx_t *ctx = user;
    if (strcmp(section, "remissd") != 0) {
        snprintf(ctx->why, sizeof ctx->why, "unknown section [%s] (expected [remissd])", section);
        return 0;
    }
    const s_opt_t *o = s_find(name);
    if (!o) {
        snprintf(ctx->why, sizeof ctx->why, "unknown option \"%s\"", name);
        return 0;
    }
    return s_set(ctx->cfg, o, value, ctx->why, sizeof ctx->why) ? 1 : 0;
}

remiss_code_t
config_load_file(broker_config_t *cfg, const char *path, remiss_err_t *err)
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

/* A yes/no word, as a boolean option's separate value ("--audit no"). */
static bool
s_is_bool_word(const char *w)
{
    static const char *const words[] = {"yes", "no", "true", "false", "on", "off", "1", "0"};
    for (size_t i = 0; w && i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

/* getopt_long's table for s_opts plus --config and --help; the index of an
 * s_opts row is its val + S_VAL_BASE. */
enum { S_VAL_CONFIG = 1000, S_VAL_HELP, S_VAL_BASE };

static void
s_longopts(struct option out[S_NOPTS + 3])
{
    for (size_t i = 0; i < S_NOPTS; i++)
        out[i] = (struct option){s_opts[i].key,
                                 s_opts[i].kind == S_BOOL ? optional_argument : required_argument,
                                 NULL, S_VAL_BASE + (int)i};
    out[S_NOPTS] = (struct option){"config", required_argument, NULL, S_VAL_CONFIG};
    out[S_NOPTS + 1] = (struct option){"help", no_argument, NULL, S_VAL_HELP};
    out[S_NOPTS + 2] = (struct option){NULL, 0, NULL, 0};
}

/* One getopt_long pass over argv. With files_only it loads --config FILE
 * and ignores the rest; otherwise it sets every other option. */
static remiss_code_t
s_pass(broker_config_t *cfg, int argc, char **argv, bool files_only, bool *help, remiss_err_t *err)
{
    struct option longopts[S_NOPTS + 3];
    s_longopts(longopts);
    optind = 0; /* GNU: start over */
    opterr = 0;
    /* "+": stop at the first operand (remissd takes none); ":": report a
     * missing value as ':'; "h" for -h. */
    for (int c; (c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1;) {
        if (c == '?')
            return remiss_err_set(err, REMISS_E_USAGE, "unknown option %s (see --help)",
                                  argv[optind - 1]);
        if (c == ':')
            return remiss_err_set(err, REMISS_E_USAGE, "%s needs a value", argv[optind - 1]);
        if (c == 'h' || c == S_VAL_HELP) {
            *help = true;
            continue;
        }
        if (c == S_VAL_CONFIG) {
            remiss_code_t r = files_only ? config_load_file(cfg, optarg, err) : REMISS_OK;
            if (r != REMISS_OK)
                return r;
            continue;
        }
        const s_opt_t *o = &s_opts[c - S_VAL_BASE];
        const char *value = optarg;
        if (o->kind == S_BOOL && !value)
            value = s_is_bool_word(argv[optind]) ? argv[optind++] : "yes";
        char why[256];
        if (!files_only && !s_set(cfg, o, value, why, sizeof why))
            return remiss_err_set(err, REMISS_E_USAGE, "%s", why);
    }
    if (optind < argc)
        return remiss_err_set(err, REMISS_E_USAGE, "unexpected argument \"%s\"", argv[optind]);
    return REMISS_OK;
}

remiss_code_t
config_parse_args(broker_config_t *cfg, int argc, char **argv, bool *help, remiss_err_t *err)
{
    *help = false;
    /* The file first, so the command line overrides it whatever the order. */
    remiss_code_t r = s_pass(cfg, argc, argv, true, help, err);
    if (r == REMISS_OK && !*help)
        r = s_pass(cfg, argc, argv, false, help, err);
    return r;
}

remiss_code_t
config_validate(const broker_config_t *cfg, remiss_err_t *err)
{
    if (!cfg->pki[0])
        return remiss_err_set(err, REMISS_E_USAGE, "--pki DIR is required");
    if (!cfg->db[0])
        return remiss_err_set(err, REMISS_E_USAGE,
                              "--db STORE is required (a file or a postgresql:// URI)");
    if (!cfg->policy[0])
        return remiss_err_set(err, REMISS_E_USAGE,
                              "--policy FILE is required (without a policy nothing may pass)");
    if (!cfg->listen[0])
        return remiss_err_set(err, REMISS_E_USAGE, "--listen ENDPOINT is required");
    return REMISS_OK;
}

void
config_usage(FILE *out)
{
    for (size_t i = 0; i < S_NOPTS; i++) {
        const s_opt_t *o = &s_opts[i];
        const char *arg = o->kind == S_STR ? " VALUE" : o->kind == S_INT ? " N" : "[=yes|no]";
        fprintf(out, "  --%s%s\n      %s\n", o->key, arg, o->help);
    }
}
