/* broker_fixture: the broker's modules in the test process, without
 * remissd: a real PKI in a temporary directory, the Stockholm policy, a real
 * SQLite store with the audit log, a real transport on an ipc:// endpoint
 * and real CURVE peers (DEALER sockets) connected to it. The fixture's
 * dispatch hands SUBMIT, SUBSCRIBE and ACK to admission and delivery as
 * server.c's table does. */
#ifndef BROKER_FIXTURE_H
#define BROKER_FIXTURE_H

#include "admission.h"
#include "broker_env.h"
#include "cycle.h"
#include "delivery.h"
#include "policy.h"
#include "pseudonym.h"
#include "remiss.pb-c.h"
#include "transport.h"

typedef struct bfix {
    char dir[64];        /* temporary directory, removed by bfix_free */
    char pki[96];        /* dir/pki */
    broker_config_t cfg; /* defaults, ipc://dir/broker, audit on */
    policy_t *policy;
    pseudonym_t *ps;
    EVP_PKEY *sign_key; /* broker signing key */
    broker_env_t env;
    transport_t *transport;
    cycle_t *cycle; /* its transaction is open between calls */
    delivery_t *delivery;
    admission_t *admission;
    void *zctx;                  /* the peers' context */
    uint8_t rid[BROKER_RID_MAX]; /* routing id of the last request's peer */
    size_t rid_len;
} bfix_t;

/* Makes the PKI with the "id:role" parties (NULL-terminated) and opens
 * every module; cfg_edit (may be NULL) adjusts the configuration first. */
void bfix_init(bfix_t *f, const char *const *parties, void (*cfg_edit)(broker_config_t *));
void bfix_free(bfix_t *f);

/* A DEALER connected as party with its CURVE key. */
void *bfix_connect(bfix_t *f, const char *party);
void bfix_disconnect(void *peer);

/* A SUBMIT frame: env signed as party (sender, a fresh message id and
 * created_at now are filled in unless set). The caller frees it. */
uint8_t *bfix_submit(bfix_t *f, const char *party, Remiss__Envelope *env, uint64_t request_id,
                     size_t *len);
/* A frame of kind SUBSCRIBE (window) or ACK (id, refuse). */
uint8_t *bfix_subscribe(uint32_t window, size_t *len);
uint8_t *bfix_ack(const uint8_t id[16], bool refuse, size_t *len);

/* Sends frame from peer and has the fixture handle it (answering the
 * handshake on the way). */
void bfix_request(bfix_t *f, void *peer, const uint8_t *frame, size_t len);

/* Ends the cycle as the loop does (commit if a reply needs it, then
 * deliver what became durable, flush) and opens the next transaction.
 * Returns the commit's code (REMISS_OK also when no commit was due). */
remiss_code_t bfix_cycle(bfix_t *f);
/* Delivers what is due for the marked recipients (the start of a cycle). */
void bfix_pump(bfix_t *f);

/* Runs sql on the store file over a connection of its own, between two
 * cycles (a test's way to make the store fail: a trigger that raises). */
void bfix_sql(bfix_t *f, const char *sql);

/* The next BrokerFrame at peer (asserts one arrives within 5 s); free with
 * remiss__broker_frame__free_unpacked. NULL if none within timeout_ms when
 * timeout_ms >= 0 is given to bfix_recv_within. */
Remiss__BrokerFrame *bfix_recv(void *peer);
Remiss__BrokerFrame *bfix_recv_within(void *peer, int timeout_ms);

/* The code of a receipt or result frame (asserts it is one). */
remiss_code_t bfix_code(const Remiss__BrokerFrame *bf);

#endif
