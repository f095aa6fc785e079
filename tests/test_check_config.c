/* remissd --check-config: exits 0 on a configuration that would start and
 * 1 on each kind of bad one, naming the file and the reason (nginx -t
 * style), and binds nothing. Runs the real remissd on a real dev PKI. */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

typedef struct s_run {
    int status;      /* exit status, -1 if it did not exit */
    char out[16384]; /* stdout and stderr */
} s_run_t;

/* remissd --check-config --pki --policy --db of h, then extra. */
static void
s_check(harness_t *h, const char *db, const char *extra, s_run_t *r)
{
    char bin[256], cmd[2048], path[256];
    snprintf(path, sizeof path, "%s/check.out", h->dir);
    snprintf(cmd, sizeof cmd,
             "%s --check-config --pki %s --policy %s --db '%s' --listen %s %s > %s 2>&1",
             harness_bin("remissd", bin, sizeof bin), h->pki, h->policy, db ? db : h->db,
             h->endpoint[0] ? h->endpoint : "tcp://127.0.0.1:1", extra ? extra : "", path);
    int st = system(cmd);
    r->status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(r->out, 1, sizeof r->out - 1, f);
    r->out[n] = '\0';
    fclose(f);
}

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* Re-signs PKI/broker.crt with the CA key, valid from 10 days ago until
 * yesterday: the same broker, expired. */
static void
s_expire_broker_cert(const harness_t *h)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ca.key", h->pki);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    EVP_PKEY *ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof path, "%s/broker.crt", h->pki);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert(ca_key && cert);
    cr_assert(X509_gmtime_adj(X509_getm_notBefore(cert), -10L * 86400) &&
              X509_gmtime_adj(X509_getm_notAfter(cert), -86400L));
    const EVP_MD *md = EVP_PKEY_get_id(ca_key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    cr_assert_gt(X509_sign(cert, ca_key, md), 0);
    f = fopen(path, "w");
    cr_assert(f && PEM_write_X509(f, cert));
    fclose(f);
    X509_free(cert);
    EVP_PKEY_free(ca_key);
}

Test(check_config, a_good_configuration_passes_and_creates_nothing, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char conf[256], text[1024], sock[256];
    harness_init(&h, s_parties);
    snprintf(conf, sizeof conf, "%s/remissd.conf", h.dir);
    snprintf(text, sizeof text, "[remissd]\npki = %s\ndb = %s\npolicy = %s\n", h.pki, h.db,
             h.policy);
    s_write(conf, text);
    char extra[300];
    snprintf(extra, sizeof extra, "--config %s", conf);
    s_check(&h, NULL, extra, &r);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "syntax is ok") && strstr(r.out, "18 rules") &&
                  strstr(r.out, "broker.crt: valid") && strstr(r.out, "will be created") &&
                  strstr(r.out, "configuration check is successful"),
              "%s", r.out);
    /* Nothing made: no store, no status socket. */
    snprintf(sock, sizeof sock, "%s/remissd.sock", h.dir);
    cr_assert_neq(access(h.db, F_OK), 0, "--check-config created the store");
    cr_assert_neq(access(sock, F_OK), 0, "--check-config made the status socket");
    harness_stop(&h);
}

Test(check_config, binds_nothing_next_to_a_running_broker, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    /* The same endpoint, store and socket the running broker holds. */
    s_check(&h, NULL, NULL, &r);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, "opens") != NULL, "%s", r.out);
    cr_assert_eq(kill(h.pid, 0), 0, "the broker is still running");
    harness_stop(&h);
}

Test(check_config, a_bad_policy_line_is_named, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char cmd[512];
    harness_init(&h, s_parties);
    snprintf(cmd, sizeof cmd,
             "cp config/stockholm.policy %s/bad.policy && echo 'not a rule' >> %s/bad.policy",
             h.dir, h.dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(h.policy, sizeof h.policy, "%s/bad.policy", h.dir);
    s_check(&h, NULL, NULL, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    char where[256];
    snprintf(where, sizeof where, "%s/bad.policy:", h.dir);
    cr_assert(strstr(r.out, where) && strstr(r.out, "syntax error") &&
                  strstr(r.out, "configuration check failed"),
              "%s", r.out);
    harness_stop(&h);
}

Test(check_config, a_key_readable_by_others_is_refused, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char key[256];
    harness_init(&h, s_parties);
    snprintf(key, sizeof key, "%s/broker.key", h.pki);
    cr_assert_eq(chmod(key, 0644), 0);
    s_check(&h, NULL, NULL, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, key) && strstr(r.out, "chmod 600"), "%s", r.out);
    harness_stop(&h);
}

Test(check_config, an_expired_certificate_is_refused, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char crt[256];
    harness_init(&h, s_parties);
    s_expire_broker_cert(&h);
    s_check(&h, NULL, NULL, &r);
    snprintf(crt, sizeof crt, "%s/broker.crt: certificate expired", h.pki);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, crt) != NULL, "%s", r.out);
    harness_stop(&h);
}

Test(check_config, an_unreachable_store_is_refused, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    harness_init(&h, s_parties);
    /* Nothing listens on port 1: the connection is refused at once. */
    s_check(&h, "postgresql://remiss:secret@127.0.0.1:1/remiss?connect_timeout=5", NULL, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "127.0.0.1:1/remiss") && strstr(r.out, "cannot connect"), "%s", r.out);
    cr_assert(strstr(r.out, "secret") == NULL, "the password is in the output: %s", r.out);
    /* A SQLite store whose directory does not exist cannot be created. */
    s_check(&h, "/nonexistent-remiss-dir/remiss.db", NULL, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "/nonexistent-remiss-dir/remiss.db: cannot create the store"), "%s",
              r.out);
    harness_stop(&h);
}

Test(check_config, a_missing_crl_and_a_bad_config_line_are_refused, .timeout = 60)
{
    harness_t h;
    s_run_t r;
    char path[256], extra[300];
    harness_init(&h, s_parties);
    snprintf(path, sizeof path, "%s/remissd.conf", h.dir);
    s_write(path, "[remissd]\nlisten = tcp://127.0.0.1:1\nno-such-key = 1\n");
    snprintf(extra, sizeof extra, "--config %s", path);
    s_check(&h, NULL, extra, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, "remissd.conf:3: unknown option") != NULL, "%s", r.out);
    snprintf(path, sizeof path, "%s/crl.pem", h.pki);
    cr_assert_eq(unlink(path), 0);
    s_check(&h, NULL, NULL, &r);
    cr_assert_eq(r.status, 1, "%s", r.out);
    cr_assert(strstr(r.out, path) != NULL, "%s", r.out);
    harness_stop(&h);
}
