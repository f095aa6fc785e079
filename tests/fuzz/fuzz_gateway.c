/* fuzz_gateway: remiss-gateway's request handling (gw_route) without
 * sockets. The input is a request as the HTTP layer hands it over:
 *   METHOD SP PATH[?QUERY] LF (HEADER-NAME: VALUE LF)* LF BODY
 * The backend is a stand-in that records that it was called. Invariants:
 * every answer is a status of 200..599 with a body; every error body is
 * JSON {"error":{"code","sentence"}}; without the token nothing reaches
 * the backend; a message reaches the backend only as an envelope that
 * msgjson formats (checked, not malformed); an id reaches it only as 16
 * bytes parsed from 32 hex digits. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "gw_router.h"
#include "msgjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_calls;

static remiss_code_t
s_send(void *ctx, Remiss__Envelope *env, const char *key, const uint8_t sha[32], cJSON **out,
       remiss_err_t *err)
{
    (void)ctx, (void)sha;
    s_calls++;
    FUZZ_CHECK(env->type != 0 && env->recipient && env->recipient[0], "unchecked envelope");
    FUZZ_CHECK(!key || strlen(key) <= GW_KEY_MAX + 40, "key too long");
    *out = cJSON_CreateObject();
    return env->type == REMISS__MESSAGE_TYPE__INQUIRY
               ? remiss_err_set(err, REMISS_E_NO_CONSENT, NULL)
               : REMISS_OK;
}

static remiss_code_t
s_inbox(void *ctx, int wait_ms, int max, cJSON **out, remiss_err_t *err)
{
    (void)ctx, (void)err;
    s_calls++;
    FUZZ_CHECK(wait_ms >= 0 && wait_ms <= GW_MAX_WAIT_S * 1000 && max >= 1 && max <= GW_MAX_BATCH,
               "inbox parameters out of range");
    *out = cJSON_CreateObject();
    return REMISS_OK;
}

static remiss_code_t
s_ack(void *ctx, const uint8_t id[REMISS_ID_LEN], const char *reason, remiss_err_t *err)
{
    (void)ctx, (void)id;
    s_calls++;
    FUZZ_CHECK(!reason || (strlen(reason) >= 1 && strlen(reason) <= GW_REASON_MAX), "reason");
    return id[0] & 1 ? remiss_err_set(err, GW_E_NOT_FOUND, "no") : REMISS_OK;
}

static remiss_code_t
s_query(void *ctx, const uint8_t id[REMISS_ID_LEN], cJSON **out, remiss_err_t *err)
{
    (void)ctx, (void)err, (void)id;
    s_calls++;
    *out = cJSON_CreateObject();
    return REMISS_OK;
}

static remiss_code_t
s_health(void *ctx, cJSON **out, remiss_err_t *err)
{
    (void)ctx, (void)err;
    s_calls++;
    *out = cJSON_CreateObject();
    return REMISS_OK;
}

static char *
s_metrics(void *ctx)
{
    (void)ctx;
    s_calls++;
    return strdup("x 1\n");
}

/* Splits "name=value&..." in place into req->query. */
static void
s_query_split(char *q, gw_request_t *req)
{
    for (char *save = NULL, *p = strtok_r(q, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
        if (req->n_query >= GW_MAX_QUERY) {
            req->query_overflow = true;
            return;
        }
        char *eq = strchr(p, '=');
        if (eq)
            *eq++ = '\0';
        req->query[req->n_query][0] = p;
        req->query[req->n_query][1] = eq;
        req->n_query++;
    }
}

/* Parses the request line and headers of text (NUL-terminated copy). */
static void
s_parse(char *text, size_t size, gw_request_t *req)
{
    char *line = text, *nl = strchr(line, '\n');
    if (!nl)
        return;
    *nl = '\0';
    char *sp = strchr(line, ' ');
    if (sp) {
        *sp = '\0';
        req->path = sp + 1;
        char *q = strchr(req->path, '?');
        if (q) {
            *q++ = '\0';
            s_query_split(q, req);
        }
    }
    req->method = line;
    for (line = nl + 1; (nl = strchr(line, '\n')) && nl != line; line = nl + 1) {
        *nl = '\0';
        char *colon = strstr(line, ": ");
        if (!colon)
            continue;
        *colon = '\0';
        const char **slot = !strcasecmp(line, "authorization")     ? &req->authorization
                            : !strcasecmp(line, "idempotency-key") ? &req->idempotency_key
                            : !strcasecmp(line, "content-type")    ? &req->content_type
                                                                   : NULL;
        if (slot)
            *slot = colon + 2;
    }
    if (nl) {
        req->body = nl + 1;
        req->body_len = size - (size_t)(nl + 1 - text);
    }
}

static void
s_check_response(const gw_response_t *resp)
{
    FUZZ_CHECK(resp->status >= 200 && resp->status <= 599 && resp->body, "status %u", resp->status);
    if (resp->status < 400 || resp->status == 503)
        return;
    cJSON *o = cJSON_Parse(resp->body), *e = cJSON_GetObjectItem(o, "error");
    FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItem(e, "code")) &&
                   cJSON_IsString(cJSON_GetObjectItem(e, "sentence")),
               "error body without code and sentence: %s", resp->body);
    cJSON_Delete(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char token[] = "fuzz-token-0123456789";
    gw_router_t router = {.token = token,
                          .ops = {.send = s_send,
                                  .inbox = s_inbox,
                                  .ack = s_ack,
                                  .status = s_query,
                                  .proof = s_query,
                                  .health = s_health,
                                  .metrics = s_metrics}};
    gw_request_t req = {.body = "", .body_len = 0};
    gw_response_t resp;
    if (size > MSGJSON_MAX_INPUT)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    s_parse(text, size, &req);
    /* The first byte decides whether the body counts as cut off. */
    req.body_too_large = size > 0 && data[0] == 0x7f;
    s_calls = 0;
    gw_route(&router, &req, &resp);
    s_check_response(&resp);
    if (!gw_router_authorized(&router, req.authorization))
        FUZZ_CHECK(resp.status == 401 && s_calls == 0, "unauthorized request went through");
    free(resp.body);
    free(text);
    return 0;
}
