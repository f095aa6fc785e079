/* check: `remissd --check-config`, in the manner of `nginx -t`.
 *
 * Loads everything remissd would load at start (the policy, the PKI: CA,
 * CRL, parties, the broker's certificate and key files, the pseudonym
 * key) and opens the store, but binds nothing and starts no thread. Each
 * check prints one line on out; the first problem ends the run with
 * "error: CODE: FILE: reason" on err. Certificates within the warning
 * period (cert-warn-days) are warnings, not failures. main.c loads the
 * broker's keys with check_load_keys too, so the check and the start can
 * never disagree about them. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

#include "config.h"
#include "server.h"

/* Runs every check; returns 0 when the configuration would start, 1 if
 * not. config_file names the --config file (NULL: none) for the report. */
int check_config(const broker_config_t *cfg, const char *config_file, FILE *out, FILE *err);

/* The party registry, the broker's identity (broker.key 0600, broker.crt
 * of this CA with role broker, in its validity period, broker.curve
 * matching it) and the pseudonym key (broker.secret). On failure err
 * names the file; keys is then cleared by the caller (server_keys_clear). */
remiss_code_t check_load_keys(const broker_config_t *cfg, server_keys_t *keys, remiss_err_t *err);

#endif
