/* harness: integration-test fixtures. A temporary directory with a real
 * dev PKI, a real remissd started on 127.0.0.1 (the binary under test, from
 * $REMISS_BIN or build/san/bin), and clients connected to it. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "remiss.h"

typedef struct harness {
    char dir[128];     /* temporary directory, removed by harness_stop */
    char pki[160];     /* dir/pki */
    char db[160];      /* dir/remiss.db */
    char log[160];     /* dir/remissd.log: the broker's stderr */
    char policy[160];  /* policy file (config/stockholm.policy unless changed) */
    char endpoint[64]; /* tcp://127.0.0.1:PORT */
    int port;
    pid_t pid; /* running remissd, 0 if none */
} harness_t;

/* Makes the directory and PKI and issues the parties named in the
 * NULL-terminated list of "id:role" strings. */
void harness_init(harness_t *h, const char *const *parties);

/* Starts remissd with the extra NULL-terminated arguments (may be NULL);
 * an argument "@metrics" becomes 127.0.0.1:(port + 1). Waits until it
 * logs that it started. Asserts on failure. */
void harness_start(harness_t *h, const char *const *extra);

/* Starts remissd again on the same endpoint and store (after a kill). */
void harness_restart(harness_t *h, const char *const *extra);

/* Sends a signal to remissd (SIGHUP to reload). */
void harness_signal(harness_t *h, int sig);

/* Stops remissd (SIGTERM, then SIGKILL after 10 s); returns its exit status. */
int harness_stop_broker(harness_t *h);

/* Kills remissd with SIGKILL (crash test). */
void harness_kill(harness_t *h);

/* Stops everything and removes the directory. */
void harness_stop(harness_t *h);

/* Connects as party with the harness PKI (state file under dir if
 * with_state). Asserts on failure. */
remiss_client_t *harness_client(harness_t *h, const char *party, bool with_state);

/* An envelope with a valid referral about a synthetic person; the caller
 * frees it with harness_envelope_free. */
Remiss__Envelope *harness_referral(const char *to, const char *purpose);
void harness_envelope_free(Remiss__Envelope *env);

/* The CONSENT_GRANT envelope harness_grant sends (unsigned, without
 * sender, id or time); free with harness_envelope_free. */
Remiss__Envelope *harness_grant_envelope(const char *id, const char *from, const char *to,
                                         const char *purpose, const char *categories);

/* Registers a consent (id) from client's party for the synthetic subject
 * of harness_referral, covering from -> to for purpose and the categories
 * (comma list, e.g. "identity,social"), valid from yesterday for a year.
 * Returns the receipt code. */
remiss_code_t harness_grant(remiss_client_t *c, const char *id, const char *from, const char *to,
                            const char *purpose, const char *categories);

/* The synthetic subject of harness_referral (18 years old in 2026). */
#define HARNESS_PNR "20080229-4728"

/* Path of a built program (remissd, remiss, remissctl). */
const char *harness_bin(const char *prog, char *buf, size_t size);

/* True if the broker log contains needle. */
bool harness_log_has(harness_t *h, const char *needle);

#endif
