/* gw_router: request checking and routing of remiss-gateway, without sockets. */
#include "gw_router.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgjson.h"
#include "utf8.h"

#define S_PATH_MAX     256 /* longest path looked at */
#define S_CONSENT_MAX  64  /* bytes of a consent id */
#define S_MAX_SEGMENTS 6

/* What a handler gets: the request and the path parameter, if any. */
typedef struct s_call {
    const gw_router_t *router;
    const gw_request_t *req;
    char param[S_PATH_MAX]; /* the {…} segment of the route */
} s_call_t;

typedef void (*s_handler_fn)(const s_call_t *call, gw_response_t *resp);

static void s_post_message(const s_call_t *call, gw_response_t *resp);
static void s_get_inbox(const s_call_t *call, gw_response_t *resp);
static void s_post_ack(const s_call_t *call, gw_response_t *resp);
static void s_post_refuse(const s_call_t *call, gw_response_t *resp);
static void s_get_status(const s_call_t *call, gw_response_t *resp);
static void s_get_proof(const s_call_t *call, gw_response_t *resp);
static void s_post_consent(const s_call_t *call, gw_response_t *resp);
static void s_delete_consent(const s_call_t *call, gw_response_t *resp);
static void s_get_health(const s_call_t *call, gw_response_t *resp);
static void s_get_metrics(const s_call_t *call, gw_response_t *resp);

/* The API: one row per route; "{}" matches one path segment. */
static const struct {
    const char *method;
    const char *pattern;
    s_handler_fn fn;
    bool takes_query; /* only the inbox reads query parameters */
} s_routes[] = {
    {"POST", "/v1/messages", s_post_message, false},
    {"GET", "/v1/inbox", s_get_inbox, true},
    {"POST", "/v1/messages/{}/ack", s_post_ack, false},
    {"POST", "/v1/messages/{}/refuse", s_post_refuse, false},
    {"GET", "/v1/messages/{}", s_get_status, false},
    {"GET", "/v1/messages/{}/proof", s_get_proof, false},
    {"POST", "/v1/consents", s_post_consent, false},
    {"DELETE", "/v1/consents/{}", s_delete_consent, false},
    {"GET", "/healthz", s_get_health, false},
    {"GET", "/metrics", s_get_metrics, false},
};
#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

/* ------------------------------------------------------------ responses */

static const char s_oom_body[] =
    "{\"error\":{\"code\":\"E_INTERNAL\",\"sentence\":\"The gateway ran out of memory.\"}}";

unsigned
gw_router_status(remiss_code_t code)
{
    switch ((int)code) {
    case REMISS_OK:
        return 200;
    case REMISS_E_MALFORMED:
    case REMISS_E_BAD_SIGNATURE:
    case REMISS_E_USAGE:
        return 400;
    case REMISS_E_TOO_LARGE:
        return 413;
    case REMISS_E_SENDER_MISMATCH:
    case REMISS_E_CERT_REVOKED:
        return 403;
    case REMISS_E_REPLAY:
        return 409;
    case REMISS_E_RATE_LIMITED:
        return 429;
    case REMISS_E_STORAGE:
        return 503;
    case REMISS_E_TIMEOUT:
        return 504;
    case GW_E_NOT_FOUND:
    case REMISS_E_UNKNOWN_MESSAGE:
        return 404;
    case REMISS_E_INTERNAL:
    case REMISS_E_IO:
    case REMISS_E_CONFIG:
        return 500;
    default: /* the decisions of the secrecy policy and the recipient checks */
        return 422;
    }
}

char *
gw_router_error_json(const char *name, const char *sentence)
{
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    char *out = NULL;
    if (e && cJSON_AddStringToObject(e, "code", name) &&
        cJSON_AddStringToObject(e, "sentence", sentence))
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* Fills resp with body (taken over) or the out-of-memory answer. */
static void
s_respond(gw_response_t *resp, unsigned status, char *body)
{
    resp->content_type = "application/json";
    if (!body) {
        resp->status = 500;
        resp->body = strdup(s_oom_body);
        return;
    }
    resp->status = status;
    resp->body = body;
}

static void
s_error(gw_response_t *resp, unsigned status, const char *name, const char *sentence)
{
    s_respond(resp, status, gw_router_error_json(name, sentence));
}

static const char *
s_code_name(remiss_code_t code)
{
    return code == GW_E_NOT_FOUND ? "E_NOT_FOUND" : remiss_code_name(code);
}

static void
s_code_error(gw_response_t *resp, const remiss_err_t *err)
{
    s_error(resp, gw_router_status(err->code), s_code_name(err->code), err->text);
}

/* Answers with json (taken over): 200 for OK, otherwise the error with the
 * receipt (if any) next to it. */
static void
s_answer(gw_response_t *resp, remiss_code_t r, const remiss_err_t *err, cJSON *json)
{
    if (r == REMISS_OK) {
        s_respond(resp, 200, json ? cJSON_PrintUnformatted(json) : NULL);
        cJSON_Delete(json);
        return;
    }
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    if (e) {
        cJSON_AddStringToObject(e, "code", s_code_name(err->code));
        cJSON_AddStringToObject(e, "sentence", err->text);
    }
    if (json && root)
        cJSON_AddItemToObject(root, "receipt", json);
    else
        cJSON_Delete(json);
    s_respond(resp, gw_router_status(err->code), root ? cJSON_PrintUnformatted(root) : NULL);
    cJSON_Delete(root);
}

/* ------------------------------------------------------------ checks */

bool
gw_router_authorized(const gw_router_t *self, const char *authorization)
{
    static const char prefix[] = "Bearer ";
    uint8_t want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
    if (!self->token || !self->token[0] || !authorization ||
        strncmp(authorization, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *given = authorization + sizeof prefix - 1;
    SHA256((const uint8_t *)self->token, strlen(self->token), want);
    SHA256((const uint8_t *)given, strlen(given), got);
    return CRYPTO_memcmp(want, got, sizeof want) == 0;
}

/* True if the body is JSON (the media type application/json). */
static bool
s_is_json(const gw_request_t *req)
{
    const char *t = req->content_type;
    static const char want[] = "application/json";
    if (!t || strncasecmp(t, want, sizeof want - 1) != 0)
        return false;
    t += sizeof want - 1;
    return *t == '\0' || *t == ';' || *t == ' ';
}

/* An empty body or a JSON object: a body's own checks come after. NULL
 * with resp filled if the body is not acceptable; *empty when there was
 * none (and NULL returned without an error). */
static cJSON *
s_json_object(const gw_request_t *req, gw_response_t *resp, bool *empty)
{
    *empty = req->body_len == 0;
    if (*empty)
        return NULL;
    if (!s_is_json(req)) {
        s_error(resp, 415, "E_UNSUPPORTED_MEDIA_TYPE", "The body must be application/json.");
        return NULL;
    }
    cJSON *o = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        s_error(resp, 400, "E_MALFORMED", "The body is not a JSON object.");
        return NULL;
    }
    return o;
}

/* A reason: a string of 1..GW_REASON_MAX bytes of UTF-8 without control
 * characters (it ends up in the recipient's dead-letter list). */
static bool
s_reason_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > GW_REASON_MAX || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Reads {"reason": "..."} (the only key). NULL if there is no body
 * (*bad false) or it is wrong (*bad true, resp filled). Caller frees. */
static char *
s_reason(const gw_request_t *req, gw_response_t *resp, bool *bad)
{
    bool empty;
    cJSON *o = s_json_object(req, resp, &empty);
    *bad = !empty && !o;
    if (!o)
        return NULL;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reason");
    char *out = NULL;
    if (cJSON_GetArraySize(o) != 1 || !cJSON_IsString(r) || !s_reason_ok(r->valuestring)) {
        *bad = true;
        s_error(resp, 400, "E_MALFORMED",
                "The body must be {\"reason\": \"…\"}: 1 to 200 bytes of text without control "
                "characters.");
    } else if (!(out = strdup(r->valuestring))) {
        *bad = true;
        s_respond(resp, 500, NULL);
    }
    cJSON_Delete(o);
    return out;
}

/* An Idempotency-Key: 1..GW_KEY_MAX visible ASCII characters. */
static bool
s_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > GW_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

/* A consent id: 1..64 of [A-Za-z0-9._:-]. */
static bool
s_consent_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_CONSENT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", s[i]))
            return false;
    return true;
}

/* A decimal integer in lo..hi, nothing else. */
static bool
s_int_param(const char *s, long lo, long hi, long *out)
{
    long v = 0;
    if (!s || !*s || strlen(s) > 6)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------ sending */

/* Parses, checks and sends a message body; key is the Idempotency-Key to
 * use (NULL: the request's header, else the message id if the JSON names
 * one). want_type 0 accepts every type. */
static void
s_send_body(const s_call_t *call, gw_response_t *resp, int want_type, const char *default_key)
{
    const gw_request_t *req = call->req;
    remiss_err_t err;
    Remiss__Envelope *env = NULL;
    char idkey[40];
    if (!s_is_json(req))
        return s_error(resp, 415, "E_UNSUPPORTED_MEDIA_TYPE", "The body must be application/json.");
    const char *key = req->idempotency_key;
    if (key && !s_key_ok(key))
        return s_error(resp, 400, "E_MALFORMED",
                       "An Idempotency-Key is 1 to 128 visible ASCII characters.");
    if (msgjson_parse(req->body, req->body_len, &env, &err) != REMISS_OK)
        return s_code_error(resp, &err);
    if (want_type && (int)env->type != want_type) {
        msgjson_free(&env);
        return s_error(resp, 400, "E_MALFORMED", "This endpoint takes a consent_grant.");
    }
    if (!key && env->message_id.len == REMISS_ID_LEN) {
        snprintf(idkey, sizeof idkey, "id:");
        remiss_id_to_hex(env->message_id.data, idkey + 3);
        key = idkey;
    }
    if (!key)
        key = default_key;
    uint8_t sha[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)req->body, req->body_len, sha);
    cJSON *out = NULL;
    remiss_code_t r = call->router->ops.send(call->router->ops.ctx, env, key, sha, &out, &err);
    msgjson_free(&env);
    s_answer(resp, r, &err, out);
}

static void
s_post_message(const s_call_t *call, gw_response_t *resp)
{
    s_send_body(call, resp, 0, NULL);
}

static void
s_post_consent(const s_call_t *call, gw_response_t *resp)
{
    s_send_body(call, resp, REMISS__MESSAGE_TYPE__CONSENT_GRANT, NULL);
}

/* A consent_revoke envelope for consent_id (NULL when out of memory). */
static Remiss__Envelope *
s_revoke_envelope(const char *consent_id, const char *reason)
{
    Remiss__Envelope *env = calloc(1, sizeof *env);
    Remiss__ConsentRevoke *rv = calloc(1, sizeof *rv);
    if (!env || !rv) {
        free(env);
        free(rv);
        return NULL;
    }
    remiss__envelope__init(env);
    remiss__consent_revoke__init(rv);
    env->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    env->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    env->consent_revoke = rv;
    env->recipient = strdup("broker");
    env->consent_id = strdup(consent_id);
    rv->revoke_reason = strdup(reason ? reason : "withdrawn by the person");
    if (!env->recipient || !env->consent_id || !rv->revoke_reason)
        msgjson_free(&env);
    return env;
}

/* DELETE /v1/consents/{id}: the key defaults to the consent id, so a
 * repeated withdrawal gets the first one's receipt. */
static void
s_delete_consent(const s_call_t *call, gw_response_t *resp)
{
    const gw_request_t *req = call->req;
    remiss_err_t err;
    bool bad;
    char key[S_PATH_MAX + 8];
    if (!s_consent_id_ok(call->param))
        return s_error(resp, 400, "E_MALFORMED",
                       "A consent id is 1 to 64 letters, digits and . _ : -.");
    if (req->idempotency_key && !s_key_ok(req->idempotency_key))
        return s_error(resp, 400, "E_MALFORMED",
                       "An Idempotency-Key is 1 to 128 visible ASCII characters.");
    char *reason = s_reason(req, resp, &bad);
    if (bad)
        return;
    Remiss__Envelope *env = s_revoke_envelope(call->param, reason);
    free(reason);
    if (!env)
        return s_respond(resp, 500, NULL);
    snprintf(key, sizeof key, "revoke:%s", call->param);
    uint8_t sha[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)call->param, strlen(call->param), sha);
    cJSON *out = NULL;
    const char *k = req->idempotency_key ? req->idempotency_key : key;
    remiss_code_t r = call->router->ops.send(call->router->ops.ctx, env, k, sha, &out, &err);
    msgjson_free(&env);
    s_answer(resp, r, &err, out);
}

/* ------------------------------------------------------------ receiving */

static void
s_get_inbox(const s_call_t *call, gw_response_t *resp)
{
    const gw_request_t *req = call->req;
    long wait = 0, max = 10;
    remiss_err_t err;
    if (req->query_overflow)
        return s_error(resp, 400, "E_MALFORMED", "Too many query parameters.");
    for (size_t i = 0; i < req->n_query; i++) {
        const char *name = req->query[i][0], *value = req->query[i][1];
        bool ok = false;
        if (name && strcmp(name, "wait") == 0)
            ok = s_int_param(value, 0, GW_MAX_WAIT_S, &wait);
        else if (name && strcmp(name, "max") == 0)
            ok = s_int_param(value, 1, GW_MAX_BATCH, &max);
        if (!ok)
            return s_error(resp, 400, "E_MALFORMED",
                           "The inbox takes wait (0 to 60 seconds) and max (1 to 100).");
    }
    cJSON *out = NULL;
    remiss_code_t r =
        call->router->ops.inbox(call->router->ops.ctx, (int)wait * 1000, (int)max, &out, &err);
    s_answer(resp, r, &err, out);
}

/* The {id} of the path as a message id; false with resp filled if not. */
static bool
s_message_id(const s_call_t *call, gw_response_t *resp, uint8_t id[REMISS_ID_LEN])
{
    if (strlen(call->param) == 2 * REMISS_ID_LEN && remiss_id_from_hex(call->param, id))
        return true;
    s_error(resp, 400, "E_MALFORMED", "A message id is 32 hexadecimal digits.");
    return false;
}

static void
s_post_ack(const s_call_t *call, gw_response_t *resp)
{
    uint8_t id[REMISS_ID_LEN];
    remiss_err_t err;
    bool empty;
    if (!s_message_id(call, resp, id))
        return;
    cJSON *o = s_json_object(call->req, resp, &empty);
    if (!empty && (!o || cJSON_GetArraySize(o) != 0)) {
        if (o)
            s_error(resp, 400, "E_MALFORMED", "An acknowledgement takes no body (or {}).");
        cJSON_Delete(o);
        return;
    }
    cJSON_Delete(o);
    remiss_code_t r = call->router->ops.ack(call->router->ops.ctx, id, NULL, &err);
    cJSON *out = r == REMISS_OK ? cJSON_CreateObject() : NULL;
    if (out)
        cJSON_AddStringToObject(out, "message_id", call->param);
    if (out)
        cJSON_AddStringToObject(out, "code", "OK");
    s_answer(resp, r, &err, out);
}

static void
s_post_refuse(const s_call_t *call, gw_response_t *resp)
{
    uint8_t id[REMISS_ID_LEN];
    remiss_err_t err;
    bool bad;
    if (!s_message_id(call, resp, id))
        return;
    char *reason = s_reason(call->req, resp, &bad);
    if (bad)
        return;
    if (!reason)
        return s_error(resp, 400, "E_MALFORMED", "A refusal needs {\"reason\": \"…\"}.");
    remiss_code_t r = call->router->ops.ack(call->router->ops.ctx, id, reason, &err);
    free(reason);
    cJSON *out = r == REMISS_OK ? cJSON_CreateObject() : NULL;
    if (out)
        cJSON_AddStringToObject(out, "message_id", call->param);
    if (out)
        cJSON_AddStringToObject(out, "code", "OK");
    s_answer(resp, r, &err, out);
}

/* ------------------------------------------------------------ queries */

static void
s_get_status(const s_call_t *call, gw_response_t *resp)
{
    uint8_t id[REMISS_ID_LEN];
    remiss_err_t err;
    cJSON *out = NULL;
    if (!s_message_id(call, resp, id))
        return;
    remiss_code_t r = call->router->ops.status(call->router->ops.ctx, id, &out, &err);
    s_answer(resp, r, &err, out);
}

static void
s_get_proof(const s_call_t *call, gw_response_t *resp)
{
    uint8_t id[REMISS_ID_LEN];
    remiss_err_t err;
    cJSON *out = NULL;
    if (!s_message_id(call, resp, id))
        return;
    remiss_code_t r = call->router->ops.proof(call->router->ops.ctx, id, &out, &err);
    s_answer(resp, r, &err, out);
}

static void
s_get_health(const s_call_t *call, gw_response_t *resp)
{
    remiss_err_t err;
    cJSON *out = NULL;
    remiss_code_t r = call->router->ops.health(call->router->ops.ctx, &out, &err);
    /* Unhealthy is 503 with the same description, for load balancers. */
    s_respond(resp, r == REMISS_OK ? 200 : 503, out ? cJSON_PrintUnformatted(out) : NULL);
    cJSON_Delete(out);
}

static void
s_get_metrics(const s_call_t *call, gw_response_t *resp)
{
    s_respond(resp, 200, call->router->ops.metrics(call->router->ops.ctx));
    resp->content_type = "text/plain; version=0.0.4";
}

/* ------------------------------------------------------------ routing */

/* Matches path against pattern segment by segment; the "{}" segment is
 * copied to param. */
static bool
s_match(const char *pattern, const char *path, char param[S_PATH_MAX])
{
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/')
            return false;
        pattern++, path++;
        size_t pn = strcspn(pattern, "/"), n = strcspn(path, "/");
        if (pn == 2 && memcmp(pattern, "{}", 2) == 0) {
            if (n == 0 || n >= S_PATH_MAX)
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
        } else if (pn != n || memcmp(pattern, path, n) != 0) {
            return false;
        }
        pattern += pn, path += n;
    }
    return *pattern == '\0' && *path == '\0';
}

void
gw_route(const gw_router_t *self, const gw_request_t *req, gw_response_t *resp)
{
    s_call_t call = {.router = self, .req = req};
    bool path_known = false;
    memset(resp, 0, sizeof *resp);
    if (!gw_router_authorized(self, req->authorization))
        return s_error(resp, 401, "E_UNAUTHORIZED",
                       "The request needs the gateway's bearer token (Authorization: Bearer …).");
    if (!req->method || !req->path || strlen(req->path) >= S_PATH_MAX)
        return s_error(resp, 404, "E_NOT_FOUND", "No such resource.");
    if (req->body_too_large)
        return s_error(resp, 413, "E_TOO_LARGE", "The body is larger than the gateway accepts.");
    for (size_t i = 0; i < S_NROUTES; i++) {
        if (!s_match(s_routes[i].pattern, req->path, call.param))
            continue;
        path_known = true;
        if (strcmp(s_routes[i].method, req->method) != 0)
            continue;
        if (!s_routes[i].takes_query && (req->n_query || req->query_overflow))
            return s_error(resp, 400, "E_MALFORMED", "This resource takes no query parameters.");
        return s_routes[i].fn(&call, resp);
    }
    if (path_known)
        return s_error(resp, 405, "E_METHOD_NOT_ALLOWED",
                       "The resource does not allow this method.");
    s_error(resp, 404, "E_NOT_FOUND", "No such resource.");
}
