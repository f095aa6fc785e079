/* config: every remissd option, from the command line or a config file.
 *
 * One table drives both: `--KEY VALUE` on the command line and `KEY = VALUE`
 * in the [remissd] section of an INI file (parsed with inih). Command line
 * options override the file. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "remiss_code.h"

#define CONFIG_PATH_MAX 1024

typedef struct broker_config {
    char pki[CONFIG_PATH_MAX];           /* PKI directory (ca.crt, broker.*, parties/) */
    char db[CONFIG_PATH_MAX];            /* store: SQLite file or postgresql:// URI */
    char policy[CONFIG_PATH_MAX];        /* secrecy policy file */
    char listen[256];                    /* ZeroMQ endpoint, e.g. tcp://127.0.0.1:7400 */
    char metrics[256];                   /* loopback HTTP listener "127.0.0.1:9474", "" = off */
    int64_t max_frame;                   /* largest frame answered, bytes */
    int64_t redeliver_ms;                /* unacknowledged this long: deliver again */
    int64_t max_attempts;                /* deliveries before a message is dead-lettered */
    int64_t replay_window_s;             /* older envelopes are E_REPLAY */
    int64_t retention_s;                 /* envelope bytes kept this long after the end */
    int64_t crl_check_s;                 /* reload certificates and CRL this often */
    int64_t crl_grace_s;                 /* a stale CRL in force this long, then fail closed */
    int64_t window;                      /* default deliveries in flight per connection */
    int64_t max_connections;             /* connected clients at once */
    int64_t max_party_connections;       /* ... of them one party's */
    int64_t rate_per_s;                  /* messages per second per party, 0 = no limit */
    int64_t rate_burst;                  /* burst allowance for the rate limit */
    int64_t max_queue;                   /* queued messages per recipient */
    int64_t sth_interval_s;              /* sign a tree head at least this often */
    int64_t sth_every;                   /* ... and after this many entries */
    char audit_origin[256];              /* checkpoint origin, e.g. remiss.stockholm.se/audit */
    char witnesses[CONFIG_PATH_MAX];     /* witness list file ("" = none) */
    int64_t witness_quorum;              /* cosignatures asked for (0 = all listed) */
    char status_socket[CONFIG_PATH_MAX]; /* remissctl status socket, "" = next to the db */
    int64_t cert_warn_days;              /* /healthz degraded this close to a notAfter */
    bool audit;                          /* audit log on (off only for benchmarks) */
    bool verbose;                        /* log every message event */
} broker_config_t;

/* Fills in the defaults. */
void config_defaults(broker_config_t *cfg);

/* Reads an INI file into cfg. REMISS_E_CONFIG with "file:line: reason". */
remiss_code_t config_load_file(broker_config_t *cfg, const char *path, remiss_err_t *err);

/* Parses argv: --config FILE first (if present), then every --KEY VALUE.
 * Sets *help when --help was asked for. */
remiss_code_t config_parse_args(broker_config_t *cfg, int argc, char **argv, bool *help,
                                remiss_err_t *err);

/* Checks that the required options are set and values are in range. */
remiss_code_t config_validate(const broker_config_t *cfg, remiss_err_t *err);

/* Prints the option list (for --help). */
void config_usage(FILE *out);

#endif
