/* gw_config: every remiss-gateway option, from the command line or the
 * [remiss-gateway] section of an INI file (one table drives both, as for
 * remissd; the command line overrides the file). Also reads the secret
 * files the options name, refusing any that group or others may read. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "remiss_code.h"

#define GW_PATH_MAX   1024
#define GW_SECRET_MAX 256

typedef struct gw_config {
    char pki[GW_PATH_MAX];              /* ca.crt, broker.crt, parties/PARTY.* */
    char party[128];                    /* the agency's party id */
    char broker[256];                   /* broker endpoint */
    char state[GW_PATH_MAX];            /* directory for gateway.db and PARTY.seen */
    char listen[GW_PATH_MAX];           /* "127.0.0.1:8480", "[::1]:8480" or "unix:/path" */
    char token_file[GW_PATH_MAX];       /* the bearer token (0600) */
    char deliver_to[GW_PATH_MAX];       /* push target URL, "" = poll only */
    char push_secret_file[GW_PATH_MAX]; /* HMAC key for push (0600) */
    char push_ca[GW_PATH_MAX];          /* CA file for an https push target, "" = system */
    char tls_cert[GW_PATH_MAX];         /* the listener's certificate (PEM), "" = no TLS */
    char tls_key[GW_PATH_MAX];          /* its key (PEM, 0600) */
    char tls_client_ca[GW_PATH_MAX];    /* CA of the case systems' client certificates */
    int64_t max_body;                   /* largest request body, bytes */
    int64_t timeout_ms;                 /* broker answers */
    int64_t lease_s;                    /* inbox lease */
    int64_t max_connections;            /* HTTP connections at once */
} gw_config_t;

void gw_config_defaults(gw_config_t *cfg);

/* Parses argv (--config FILE first, then every --KEY VALUE). Sets *help
 * when --help was asked for. REMISS_E_USAGE / REMISS_E_CONFIG with a
 * sentence ("file:line: reason" for the file). */
remiss_code_t gw_config_parse_args(gw_config_t *cfg, int argc, char **argv, bool *help,
                                   remiss_err_t *err);

/* Required options present; tls-cert, tls-key and tls-client-ca all or
 * none; the listener local (loopback or Unix socket) unless TLS is on; the
 * push target https or on loopback. */
remiss_code_t gw_config_validate(const gw_config_t *cfg, remiss_err_t *err);

/* Reads a secret file: at most GW_SECRET_MAX bytes, trailing white space
 * dropped, at least min bytes, mode without group/other bits. buf gets a
 * NUL after the secret; *len its length. */
remiss_code_t gw_config_read_secret(const char *path, size_t min, char buf[GW_SECRET_MAX + 1],
                                    size_t *len, remiss_err_t *err);

/* Prints the option list (for --help). */
void gw_config_usage(FILE *out);

#endif
