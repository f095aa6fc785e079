/* gateway_harness: a real remiss-gateway process next to a harness broker,
 * and an HTTP client (libcurl) to talk to it, for integration tests. */
#ifndef GATEWAY_HARNESS_H
#define GATEWAY_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

#define GWH_TOKEN "test-token-0123456789abcdef"

typedef struct gwh {
    char dir[200]; /* h->dir/gw-PARTY: config, token, state, log */
    char conf[240];
    char log[240];
    char url[64]; /* http://127.0.0.1:PORT */
    int port;
    pid_t pid; /* running gateway, 0 if none */
} gwh_t;

/* Writes the config (extra: more "key = value" lines, may be NULL) and
 * starts the gateway for party; waits until it serves. Asserts on failure. */
void gwh_start(gwh_t *g, harness_t *h, const char *party, const char *extra);

/* Starts it again with the same config and state (after a kill). */
void gwh_restart(gwh_t *g);

/* SIGKILL (crash) or SIGTERM (and wait). */
void gwh_kill(gwh_t *g);
int gwh_stop(gwh_t *g);

/* One HTTP request. token NULL sends no Authorization header; header is one
 * extra "Name: value" line or NULL. Returns the status; *out (may be NULL)
 * gets the body, malloc'd. */
long gwh_request(const gwh_t *g, const char *method, const char *path, const char *token,
                 const char *body, const char *header, char **out);

/* The same with the right token and a JSON body. */
long gwh_call(const gwh_t *g, const char *method, const char *path, const char *body, char **out);

/* A JSON string field of a JSON text (first occurrence of "name"), copied
 * into buf; "" if absent. */
const char *gwh_field(const char *json, const char *name, char *buf, size_t size);

#endif
