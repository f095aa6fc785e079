/* check: remissd --check-config (include/check.h). */
#include "check.h"

#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "parties.h"
#include "pki.h"
#include "policy.h"
#include "pseudonym.h"
#include "status.h"
#include "store.h"

typedef struct s_check {
    const broker_config_t *cfg;
    FILE *out;
    int64_t now;    /* Unix seconds */
    int64_t warn_s; /* warning period */
    int warnings;
} s_check_t;

/* "valid N more days" or a warning when within the warning period. */
static void
s_expiry_line(s_check_t *c, const char *what, const char *file, int64_t not_after)
{
    long days = (long)((not_after - c->now) / 86400);
    if (not_after - c->now < c->warn_s) {
        fprintf(c->out, "remissd: warning: %s %s ends in %ld days\n", what, file, days);
        c->warnings++;
    } else {
        fprintf(c->out, "remissd: %s %s: valid %ld more days\n", what, file, days);
    }
}

/* A certificate file in PKI_DIR that must be within its validity period. */
static remiss_code_t
s_cert_current(const char *dir, const char *name, int64_t now, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    X509 *cert = pki_cert_load(path, err);
    if (!cert)
        return REMISS_E_CONFIG;
    int64_t end = pki_cert_not_after(cert), start = 0;
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm))
        start = (int64_t)timegm(&tm);
    X509_free(cert);
    if (end <= now)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: certificate expired %ld days ago", path,
                              (long)((now - end) / 86400));
    if (start > now)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: certificate is not valid yet", path);
    return REMISS_OK;
}

/* The broker's certificate and keys, checked against each other and the
 * CA of the registry (what main.c loaded before). */
static remiss_code_t
s_load_identity(const char *pki, server_keys_t *k, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    uint8_t pub[32];
    pki_identity_t id;
    snprintf(path, sizeof path, "%s/broker.key", pki);
    if (!(k->sign_key = pki_key_load(path, err)))
        return REMISS_E_CONFIG;
    if (s_cert_current(pki, "broker.crt", (int64_t)time(NULL), err) != REMISS_OK)
        return REMISS_E_CONFIG;
    snprintf(path, sizeof path, "%s/broker.crt", pki);
    if (!(k->cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if (pki_verify_cert(parties_trust(k->parties), k->cert, 0, &id, err) != REMISS_OK ||
        strcmp(id.role, "broker") != 0 || strcmp(id.party, "broker") != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: not a valid broker certificate of this CA",
                              path);
    if (X509_check_private_key(k->cert, k->sign_key) != 1)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s/broker.key: does not match broker.crt",
                              pki);
    snprintf(path, sizeof path, "%s/broker.curve", pki);
    if (pki_curve_load(path, k->curve_secret, pub, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    if (memcmp(pub, id.curve_pub, 32) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: does not match the key in broker.crt",
                              path);
    return REMISS_OK;
}

remiss_code_t
check_load_keys(const broker_config_t *cfg, server_keys_t *k, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    memset(k, 0, sizeof *k);
    if (s_cert_current(cfg->pki, "ca.crt", (int64_t)time(NULL), err) != REMISS_OK ||
        !(k->parties = parties_load_grace(cfg->pki, cfg->crl_grace_s, err)) ||
        s_load_identity(cfg->pki, k, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    snprintf(path, sizeof path, "%s/broker.secret", cfg->pki);
    if (!(k->pseudonyms = pseudonym_load(path, err)))
        return REMISS_E_CONFIG;
    return REMISS_OK;
}

/* ------------------------------------------------------------ the checks */

static remiss_code_t
s_check_policy(s_check_t *c, remiss_err_t *err)
{
    policy_t *p = policy_load(c->cfg->policy, err);
    if (!p)
        return REMISS_E_CONFIG;
    fprintf(c->out, "remissd: policy %s: %zu rules\n", c->cfg->policy, policy_rule_count(p));
    policy_free(&p);
    return REMISS_OK;
}

/* The CRL must be there and current: a broker that cannot check
 * revocation must not start. */
static remiss_code_t
s_check_crl(s_check_t *c, const parties_t *parties, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/crl.pem", c->cfg->pki);
    if (stat(path, &st) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "%s: %s (without a CRL revocation is not checked; remissctl pki "
                              "crl writes one)",
                              path, strerror(errno));
    int64_t next = pki_trust_crl_next_update(parties_trust(parties));
    if (next && next <= c->now)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "%s: CRL is stale (its next update was %ld days ago)", path,
                              (long)((c->now - next) / 86400));
    if (next)
        s_expiry_line(c, "CRL", path, next);
    return REMISS_OK;
}

static remiss_code_t
s_check_pki(s_check_t *c, remiss_err_t *err)
{
    server_keys_t k;
    char path[CONFIG_PATH_MAX + 96];
    remiss_code_t r = check_load_keys(c->cfg, &k, err);
    if (r == REMISS_OK)
        r = s_check_crl(c, k.parties, err);
    if (r == REMISS_OK) {
        snprintf(path, sizeof path, "%s/ca.crt", c->cfg->pki);
        s_expiry_line(c, "CA certificate", path, pki_trust_ca_not_after(parties_trust(k.parties)));
        snprintf(path, sizeof path, "%s/broker.crt", c->cfg->pki);
        s_expiry_line(c, "broker certificate", path, pki_cert_not_after(k.cert));
        for (size_t i = 0; i < parties_count(k.parties); i++) {
            const party_t *p = parties_at(k.parties, i);
            snprintf(path, sizeof path, "%s/parties/%s.crt", c->cfg->pki, p->id);
            if (p->revoked)
                fprintf(c->out, "remissd: party certificate %s: revoked\n", path);
            else
                s_expiry_line(c, "party certificate", path, p->not_after);
        }
        fprintf(c->out, "remissd: pki %s: %zu parties, keys readable by their owner only\n",
                c->cfg->pki, parties_count(k.parties));
    }
    server_keys_clear(&k);
    return r;
}

/* A SQLite file that exists must open; one that does not must be
 * creatable (its directory exists and is writable) and is not created
 * here. A PostgreSQL URI must connect. */
static remiss_code_t
s_check_store(s_check_t *c, remiss_err_t *err)
{
    char redacted[CONFIG_PATH_MAX];
    const char *file = store_file(c->cfg->db);
    if (file && access(file, F_OK) != 0) {
        char dir[CONFIG_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", file);
        const char *d = dirname(dir);
        if (access(d, W_OK | X_OK) != 0)
            return remiss_err_set(err, REMISS_E_CONFIG, "%s: cannot create the store: %s: %s", file,
                                  d, strerror(errno));
        fprintf(c->out, "remissd: store %s: will be created\n", file);
        return REMISS_OK;
    }
    store_t *s = store_open(c->cfg->db, err);
    store_redact(c->cfg->db, redacted, sizeof redacted);
    if (!s) {
        char why[sizeof err->text];
        snprintf(why, sizeof why, "%s", err->text);
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: %s", redacted, why);
    }
    fprintf(c->out, "remissd: store %s (%s): opens\n", redacted, store_engine(s));
    store_close(&s);
    return REMISS_OK;
}

static remiss_code_t
s_check_socket(s_check_t *c, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX];
    if (!status_socket_path(c->cfg, path, sizeof path))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "status-socket: the path is too long for a Unix socket");
    if (path[0])
        fprintf(c->out, "remissd: status socket %s\n", path);
    return REMISS_OK;
}

int
check_config(const broker_config_t *cfg, const char *config_file, FILE *out, FILE *errf)
{
    s_check_t c = {.cfg = cfg, .out = out, .now = (int64_t)time(NULL)};
    remiss_err_t err;
    c.warn_s = cfg->cert_warn_days * 86400;
    if (config_file)
        fprintf(out, "remissd: configuration file %s syntax is ok\n", config_file);
    if (config_validate(cfg, &err) != REMISS_OK || s_check_policy(&c, &err) != REMISS_OK ||
        s_check_pki(&c, &err) != REMISS_OK || s_check_store(&c, &err) != REMISS_OK ||
        s_check_socket(&c, &err) != REMISS_OK) {
        fprintf(errf, "error: %s: %s\nremissd: configuration check failed\n",
                remiss_code_name(err.code), err.text);
        return 1;
    }
    fprintf(out, "remissd: configuration check is successful%s\n",
            c.warnings ? " (with warnings)" : "");
    return 0;
}
