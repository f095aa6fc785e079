/* gw_router: the HTTP API of remiss-gateway as a pure function.
 *
 * gw_http hands every request over as a gw_request_t (method, path, query
 * parameters, the few headers that matter and the body) and sends back
 * whatever gw_route answers. Between the two nothing touches a socket: the
 * router authenticates the bearer token, matches the route in a table,
 * checks every byte of input (message JSON with msgjson, ids, query values,
 * reason strings) and only then calls the backend (gw_ops_t, implemented by
 * gw_link on a real broker connection). So a malformed request never reaches
 * the broker, and the fuzz target drives the whole router without a network.
 *
 * Errors are JSON {"error":{"code":"E_…","sentence":"…"}} with a 4xx status
 * for anything the caller can change (docs/openapi.yaml lists them). */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "remiss.h"

#define GW_MAX_QUERY  8   /* query parameters looked at */
#define GW_MAX_WAIT_S 60  /* longest long poll */
#define GW_MAX_BATCH  100 /* most messages one inbox call returns */
#define GW_REASON_MAX 200 /* bytes of a refusal or revocation reason */
#define GW_KEY_MAX    128 /* bytes of an Idempotency-Key */

/* A backend's "no such message here" (HTTP 404, "E_NOT_FOUND"): local to
 * the gateway, outside remiss_code_t's values, never on the wire. */
#define GW_E_NOT_FOUND ((remiss_code_t)200)

typedef struct gw_request {
    const char *method;                 /* "GET", "POST", ... */
    const char *path;                   /* without the query string */
    const char *query[GW_MAX_QUERY][2]; /* name, value (value may be NULL) */
    size_t n_query;
    bool query_overflow;         /* more parameters than GW_MAX_QUERY */
    const char *authorization;   /* Authorization header or NULL */
    const char *idempotency_key; /* Idempotency-Key header or NULL */
    const char *content_type;    /* Content-Type header or NULL */
    const char *body;            /* need not be NUL-terminated */
    size_t body_len;
    bool body_too_large; /* the HTTP layer stopped reading at its limit */
} gw_request_t;

typedef struct gw_response {
    unsigned status;          /* HTTP status */
    char *body;               /* malloc'd; the caller frees it */
    const char *content_type; /* static */
} gw_response_t;

/* What a request may ask of the broker side. Each function returns
 * REMISS_OK with *out (a cJSON object the caller of the op owns), or a code
 * and err. A send that the broker refused returns the refusal code and may
 * still set *out to the signed refusal receipt. */
typedef struct gw_ops {
    void *ctx;
    remiss_code_t (*send)(void *ctx, Remiss__Envelope *env, const char *idem_key,
                          const uint8_t body_sha256[32], cJSON **out, remiss_err_t *err);
    remiss_code_t (*inbox)(void *ctx, int wait_ms, int max, cJSON **out, remiss_err_t *err);
    /* reason NULL: acknowledge; otherwise refuse with that reason. */
    remiss_code_t (*ack)(void *ctx, const uint8_t id[REMISS_ID_LEN], const char *reason,
                         remiss_err_t *err);
    remiss_code_t (*status)(void *ctx, const uint8_t id[REMISS_ID_LEN], cJSON **out,
                            remiss_err_t *err);
    remiss_code_t (*proof)(void *ctx, const uint8_t id[REMISS_ID_LEN], cJSON **out,
                           remiss_err_t *err);
    /* REMISS_OK when healthy; *out describes it either way. */
    remiss_code_t (*health)(void *ctx, cJSON **out, remiss_err_t *err);
    /* Prometheus text exposition, malloc'd. */
    char *(*metrics)(void *ctx);
} gw_ops_t;

typedef struct gw_router {
    const char *token; /* the bearer token every request must carry */
    gw_ops_t ops;
} gw_router_t;

/* True if the Authorization header carries the token ("Bearer TOKEN").
 * Compares digests in constant time, so neither the token's bytes nor
 * its length leak through timing. */
bool gw_router_authorized(const gw_router_t *self, const char *authorization);

/* Answers req. Always fills resp (status 500 with a static body only when
 * memory runs out). Never reads beyond req->body_len. */
void gw_route(const gw_router_t *self, const gw_request_t *req, gw_response_t *resp);

/* HTTP status for a reason code: 4xx for what the caller can change. */
unsigned gw_router_status(remiss_code_t code);

/* Error body {"error":{"code":name,"sentence":sentence}} (malloc'd). */
char *gw_router_error_json(const char *name, const char *sentence);

#endif
