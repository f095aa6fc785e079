/* remissd: the remiss broker. main owns everything and passes it down. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"
#include "pki.h"
#include "remiss.h"
#include "server.h"

static volatile sig_atomic_t s_stop = 0;
static volatile sig_atomic_t s_reload = 0;

static void
s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: remissd --pki DIR --db STORE --policy FILE [--listen ENDPOINT] [options]\n"
            "       remissd --config FILE [options]\n"
            "       remissd --help | --version\n"
            "\n"
            "The remiss broker: authenticates parties over CURVE with X.509-bound keys,\n"
            "verifies signed envelopes, stores accepted messages durably and delivers them.\n"
            "SIGHUP reloads certificates, the CRL and the policy; SIGTERM/SIGINT stop it.\n"
            "\n"
            "options (also the keys of the [remissd] section of --config FILE):\n");
    config_usage(out);
}

/* The broker's certificate and keys in PKI_DIR, checked against each other
 * and against the CA of the registry. */
static remiss_code_t
s_load_identity(const char *pki, server_keys_t *k, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    uint8_t pub[32];
    pki_identity_t id;
    snprintf(path, sizeof path, "%s/broker.key", pki);
    if (!(k->sign_key = pki_key_load(path, err)))
        return REMISS_E_CONFIG;
    snprintf(path, sizeof path, "%s/broker.crt", pki);
    if (!(k->cert = pki_cert_load(path, err)))
        return REMISS_E_CONFIG;
    if (pki_verify_cert(parties_trust(k->parties), k->cert, 0, &id, err) != REMISS_OK ||
        strcmp(id.role, "broker") != 0 || strcmp(id.party, "broker") != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "broker.crt is not a valid broker certificate of this CA");
    if (X509_check_private_key(k->cert, k->sign_key) != 1)
        return remiss_err_set(err, REMISS_E_CONFIG, "broker.key does not match broker.crt");
    snprintf(path, sizeof path, "%s/broker.curve", pki);
    if (pki_curve_load(path, k->curve_secret, pub, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    if (memcmp(pub, id.curve_pub, 32) != 0)
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "broker.curve does not match the key in broker.crt");
    return REMISS_OK;
}

/* The registry, the broker's identity and the pseudonym key (broker.secret
 * keys the subject pseudonyms of the audit log and the consent registry). */
static remiss_code_t
s_load_keys(const broker_config_t *cfg, server_keys_t *k, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32];
    memset(k, 0, sizeof *k);
    if (!(k->parties = parties_load_grace(cfg->pki, cfg->crl_grace_s, err)) ||
        s_load_identity(cfg->pki, k, err) != REMISS_OK)
        return REMISS_E_CONFIG;
    snprintf(path, sizeof path, "%s/broker.secret", cfg->pki);
    if (!(k->pseudonyms = pseudonym_load(path, err)))
        return REMISS_E_CONFIG;
    return REMISS_OK;
}

int
main(int argc, char **argv)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help = false;
    config_defaults(&cfg);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("remissd %s\n", remiss_version());
            return 0;
        }
    if (config_parse_args(&cfg, argc, argv, &help, &err) != REMISS_OK) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        return 2;
    }
    if (help) {
        s_usage(stdout);
        return 0;
    }
    if (config_validate(&cfg, &err) != REMISS_OK) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        return 2;
    }
    /* The broker frees and allocates frames all the time: returning the top
     * of the heap to the kernel after every cycle (glibc's default above
     * 128 KiB) costs a TLB shootdown on every core each time. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    server_keys_t keys;
    server_t *server = NULL;
    if (s_load_keys(&cfg, &keys, &err) == REMISS_OK)
        server = server_new(&cfg, &keys, &err);
    server_keys_clear(&keys);
    if (!server) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        return 1;
    }
    int rc = server_run(server, &s_stop, &s_reload);
    server_destroy(&server);
    return rc;
}
