/* server: the broker's event loop.
 *
 * One thread owns the ZeroMQ sockets: a ROUTER with CURVE server security
 * for the parties and the ZAP handler (inproc REP) that admits only CURVE
 * keys bound to valid, unrevoked party certificates. Every poll cycle runs
 * in one store transaction: deliveries of already committed messages, then
 * every frame that is waiting; the commit comes before any receipt is sent. */
#ifndef SERVER_H
#define SERVER_H

#include <signal.h>

#include "config.h"
#include "remiss_code.h"

typedef struct server server_t;

/* Loads the PKI and store, binds the endpoint. NULL with err on failure.
 * cfg is copied. */
server_t *server_new(const broker_config_t *cfg, remiss_err_t *err);
void server_destroy(server_t **self_p);

/* Runs until *stop becomes non-zero; reloads certificates, CRL and policy
 * whenever *reload is non-zero (and clears it). Returns 0 on a clean stop. */
int server_run(server_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
