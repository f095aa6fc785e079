/* remissd: the remiss broker. main owns everything and passes it down. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "check.h"
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
    fprintf(out, "usage: remissd --pki DIR --db STORE --policy FILE [--listen ENDPOINT] [options]\n"
                 "       remissd --config FILE [options]\n"
                 "       remissd --check-config [--config FILE] [options]\n"
                 "       remissd --help | --version\n"
                 "\n"
                 "The remiss broker: authenticates parties over CURVE with X.509-bound keys,\n"
                 "verifies signed envelopes, stores accepted messages durably and delivers them.\n"
                 "SIGHUP reloads certificates, the CRL and the policy; SIGTERM/SIGINT stop it.\n"
                 "--check-config checks the configuration, the policy, the PKI and the store\n"
                 "without binding anything, and exits 0 (it would start) or 1.\n"
                 "`remissctl status` asks a running remissd on its status socket.\n"
                 "\n"
                 "options (also the keys of the [remissd] section of --config FILE):\n");
    config_usage(out);
}

/* Takes --check-config out of argv (config_parse_args does not know it);
 * true if it was there. */
static bool
s_take_check(int *argc, char **argv)
{
    bool found = false;
    int n = 0;
    for (int i = 0; i < *argc; i++) {
        if (i > 0 && strcmp(argv[i], "--check-config") == 0)
            found = true;
        else
            argv[n++] = argv[i];
    }
    *argc = n;
    return found;
}

/* The --config FILE of argv, or NULL. */
static const char *
s_config_file(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--config") == 0)
            return argv[i + 1];
    return NULL;
}

int
main(int argc, char **argv)
{
    broker_config_t cfg;
    remiss_err_t err;
    bool help = false;
    config_defaults(&cfg);
    bool check = s_take_check(&argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("remissd %s\n", remiss_version());
            return 0;
        }
    if (config_parse_args(&cfg, argc, argv, &help, &err) != REMISS_OK) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        if (check)
            fprintf(stderr, "remissd: configuration check failed\n");
        return check ? 1 : 2;
    }
    if (help) {
        s_usage(stdout);
        return 0;
    }
    if (check)
        return check_config(&cfg, s_config_file(argc, argv), stdout, stderr);
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
    if (check_load_keys(&cfg, &keys, &err) == REMISS_OK)
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
