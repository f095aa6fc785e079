/* server: the broker's event loop.
 *
 * Owns the broker's objects (registry, policy, store, intake, audit log,
 * metrics) and its four modules: transport (sockets and ZAP), cycle (the
 * transaction of a poll cycle and its replies), delivery (connections and
 * queues) and admission (submitted messages). A table dispatches each
 * request frame to its handler and declares which requests need a
 * durable reply. Every poll cycle runs in one store transaction:
 * deliveries of already committed messages, then every frame waiting;
 * the commit comes before any receipt is sent. */
#ifndef SERVER_H
#define SERVER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <signal.h>

#include "config.h"
#include "parties.h"
#include "pseudonym.h"
#include "remiss_code.h"

typedef struct server server_t;

/* The broker's identity and secrets, loaded by main (main.c). */
typedef struct server_keys {
    parties_t *parties;       /* the registry whose CA vouched for the broker */
    EVP_PKEY *sign_key;       /* broker signing key */
    X509 *cert;               /* broker certificate */
    uint8_t curve_secret[32]; /* broker CURVE secret */
    pseudonym_t *pseudonyms;  /* keyed with broker.secret */
} server_keys_t;

/* Frees what keys holds and wipes it (after a failed server_new too). */
void server_keys_clear(server_keys_t *keys);

/* Loads the policy and store and binds the endpoint; takes over everything
 * in keys (cleared, success or not). cfg is copied. NULL with err on
 * failure. */
server_t *server_new(const broker_config_t *cfg, server_keys_t *keys, remiss_err_t *err);
void server_destroy(server_t **self_p);

/* Runs until *stop becomes non-zero; reloads certificates, CRL and policy
 * whenever *reload is non-zero (and clears it). Returns 0 on a clean stop. */
int server_run(server_t *self, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload);

#endif
