/* remiss-gateway: an agency's local HTTP door to the remiss broker.
 *
 * main builds the pieces and owns them: the configuration (gw_config), the
 * broker link with its inbox and journal (gw_link), the request router
 * (gw_router), the HTTP listener (gw_http) and, with deliver-to, the push
 * thread (gw_push). It then waits for SIGTERM or SIGINT. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gw_config.h"
#include "gw_http.h"
#include "gw_link.h"
#include "gw_push.h"
#include "gw_router.h"
#include "gw_tls.h"
#include "log.h"

#define S_TOKEN_MIN  16 /* bytes of a bearer token at least */
#define S_SECRET_MIN 16 /* bytes of the push secret at least */

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: remiss-gateway --config FILE | --pki DIR --party ID --broker ENDPOINT\n"
                 "                      --state DIR --token-file FILE ...\n\n"
                 "An agency's local HTTP gateway to the remiss broker: case-management systems\n"
                 "send and receive messages as JSON over HTTP (docs/openapi.yaml); the gateway\n"
                 "holds the party's keys, signs, verifies and keeps the delivery guarantees.\n\n"
                 "options:\n");
    gw_config_usage(out);
    fprintf(out, "\nExit 0 after SIGTERM or SIGINT; otherwise \"error: CODE: sentence\".\n");
}

static int
s_fail(const remiss_err_t *err)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(err->code), err->text);
    return 1;
}

static remiss_code_t
s_state_dir(const char *dir, remiss_err_t *err)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return remiss_err_set(err, REMISS_E_IO, "cannot create %s: %s", dir, strerror(errno));
    return REMISS_OK;
}

/* Blocks the signals every thread started later inherits, so only
 * sigwait in main sees them. */
static void
s_block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Everything main owns, so one function can stop it in order. */
typedef struct s_gateway {
    gw_config_t cfg;
    char token[GW_SECRET_MAX + 1];
    char secret[GW_SECRET_MAX + 1];
    size_t secret_len;
    gw_link_t *link;
    gw_router_t router;
    gw_tls_t *tls; /* NULL without tls-cert */
    gw_http_t *http;
    gw_push_t *push;
} s_gateway_t;

static remiss_code_t
s_start(s_gateway_t *g, remiss_err_t *err)
{
    size_t token_len;
    gw_config_t *c = &g->cfg;
    remiss_code_t r;
    if ((r = gw_config_validate(c, err)) != REMISS_OK ||
        (r = gw_config_read_secret(c->token_file, S_TOKEN_MIN, g->token, &token_len, err)) ||
        (c->deliver_to[0] && (r = gw_config_read_secret(c->push_secret_file, S_SECRET_MIN,
                                                        g->secret, &g->secret_len, err))) ||
        (r = s_state_dir(c->state, err)) != REMISS_OK)
        return r;
    gw_link_opts_t lo = {.pki_dir = c->pki,
                         .party = c->party,
                         .endpoint = c->broker,
                         .state_dir = c->state,
                         .timeout_ms = (int)c->timeout_ms,
                         .lease_ms = (int)(c->lease_s * 1000)};
    if (!(g->link = gw_link_open(&lo, err)))
        return err->code;
    g->router.token = g->token;
    gw_link_ops(g->link, &g->router.ops);
    if (c->tls_cert[0] && !(g->tls = gw_tls_load(c->tls_cert, c->tls_key, c->tls_client_ca, err)))
        return err->code;
    if (!(g->http = gw_http_start(&g->router, c->listen, g->tls, (size_t)c->max_body,
                                  (unsigned)c->max_connections, err)))
        return err->code;
    if (c->deliver_to[0] &&
        !(g->push = gw_push_start(g->link, c->deliver_to, (const uint8_t *)g->secret, g->secret_len,
                                  c->push_ca[0] ? c->push_ca : NULL, err)))
        return err->code;
    return REMISS_OK;
}

static void
s_stop(s_gateway_t *g)
{
    gw_push_stop(&g->push);
    gw_http_stop(&g->http);
    gw_tls_free(&g->tls);
    gw_link_close(&g->link);
    OPENSSL_cleanse(g->token, sizeof g->token);
    OPENSSL_cleanse(g->secret, sizeof g->secret);
}

int
main(int argc, char **argv)
{
    static s_gateway_t g;
    remiss_err_t err;
    bool help;
    sigset_t set;
    int sig = 0;
    gw_config_defaults(&g.cfg);
    if (gw_config_parse_args(&g.cfg, argc, argv, &help, &err) != REMISS_OK)
        return s_fail(&err);
    if (help) {
        s_usage(stdout);
        return 0;
    }
    s_block_signals(&set);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 0;
    if (s_start(&g, &err) != REMISS_OK) {
        rc = s_fail(&err);
    } else {
        log_emit(LOG_INFO, "gateway.start", "party=%s push=%s tls=%s", g.cfg.party,
                 g.cfg.deliver_to[0] ? "yes" : "no", g.tls ? "yes" : "no");
        sigwait(&set, &sig);
        log_emit(LOG_INFO, "gateway.stop", "signal=%d", sig);
    }
    s_stop(&g);
    curl_global_cleanup();
    return rc;
}
