/* gw_http: libmicrohttpd in front of gw_route. */
#include "gw_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "gw_tls.h"
#include "log.h"

#define S_CONN_TIMEOUT_S 90 /* longer than the longest long poll */

struct gw_http {
    const gw_router_t *router;
    struct MHD_Daemon *daemon;
    size_t max_body;
    bool tls;            /* TLS with a client certificate: checked on every request */
    int unix_fd;         /* our listening Unix socket, or -1 */
    char unix_path[108]; /* removed on stop */
};

/* One request in progress. */
typedef struct s_conn {
    char *body;
    size_t len, cap;
    bool too_large;
    bool answered; /* refused before the body was read */
} s_conn_t;

static enum MHD_Result
s_send(struct MHD_Connection *conn, gw_response_t *r)
{
    struct MHD_Response *resp =
        r->body ? MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE)
                : MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (r->status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"remiss-gateway\"");
    enum MHD_Result res = MHD_queue_response(conn, r->body ? r->status : 500, resp);
    MHD_destroy_response(resp);
    return res;
}

static enum MHD_Result
s_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *sentence)
{
    gw_response_t r = {.status = status,
                       .body = gw_router_error_json(code, sentence),
                       .content_type = "application/json"};
    return s_send(conn, &r);
}

static enum MHD_Result
s_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    gw_request_t *req = cls;
    if (req->n_query >= GW_MAX_QUERY) {
        req->query_overflow = true;
        return MHD_NO;
    }
    req->query[req->n_query][0] = key;
    req->query[req->n_query][1] = value;
    req->n_query++;
    return MHD_YES;
}

/* Keeps up to max_body bytes; beyond that only notes the excess. */
static bool
s_append(s_conn_t *c, const char *data, size_t n, size_t max)
{
    if (c->too_large || n > max - c->len) {
        c->too_large = true;
        return true;
    }
    if (n > c->cap - c->len) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap - c->len < n)
            cap = cap > max / 2 ? max : cap * 2;
        char *grown = realloc(c->body, cap);
        if (!grown)
            return false;
        c->body = grown;
        c->cap = cap;
    }
    memcpy(c->body + c->len, data, n);
    c->len += n;
    return true;
}

static bool
s_peer_verified(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return ci && gw_tls_peer_verified(ci->tls_session);
}

/* First call of a request: token and declared size, before any body. */
static enum MHD_Result
s_begin(gw_http_t *self, struct MHD_Connection *conn, void **con_cls)
{
    s_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return MHD_NO;
    *con_cls = c;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (self->tls && !s_peer_verified(conn)) {
        c->answered = true;
        return s_error(conn, 403, "E_CLIENT_CERT",
                       "The request needs a client certificate issued by the gateway's "
                       "tls-client-ca.");
    }
    if (!gw_router_authorized(self->router, auth)) {
        c->answered = true;
        return s_error(conn, 401, "E_UNAUTHORIZED",
                       "The request needs the gateway's bearer token (Authorization: Bearer …).");
    }
    if (cl && strtoull(cl, NULL, 10) > self->max_body) {
        c->answered = true;
        return s_error(conn, 413, "E_TOO_LARGE", "The body is larger than the gateway accepts.");
    }
    return MHD_YES;
}

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    gw_http_t *self = cls;
    s_conn_t *c = *con_cls;
    if (!c)
        return s_begin(self, conn, con_cls);
    if (*upload_data_size) {
        bool ok = c->answered || s_append(c, upload_data, *upload_data_size, self->max_body);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    if (c->answered)
        return MHD_YES;
    gw_request_t req = {
        .method = method,
        .path = url,
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
        .idempotency_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key"),
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
        .body = c->body ? c->body : "",
        .body_len = c->len,
        .body_too_large = c->too_large};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, s_query_arg, &req);
    gw_response_t resp;
    gw_route(self->router, &req, &resp);
    log_emit(LOG_DEBUG, "gateway.request", "method=%s status=%u", method, resp.status);
    c->answered = true;
    return s_send(conn, &resp);
}

static void
s_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
            enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    s_conn_t *c = *con_cls;
    if (c)
        free(c->body);
    free(c);
    *con_cls = NULL;
}

/* A listening Unix socket at path, mode 0660 (a stale socket is replaced). */
static int
s_unix_listen(gw_http_t *self, const char *path, remiss_err_t *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path) {
        remiss_err_set(err, REMISS_E_CONFIG, "the socket path is too long");
        return -1;
    }
    strcpy(sun.sun_path, path);
    snprintf(self->unix_path, sizeof self->unix_path, "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117);
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof sun) == 0 &&
              chmod(path, 0660) == 0 && listen(fd, 64) == 0;
    umask(old);
    if (!ok) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot listen on %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The host part of HOST:PORT (brackets of [V6] removed) into addr. */
static bool
s_host_addr(const char *host, size_t n, struct sockaddr_storage *ss, socklen_t *len)
{
    char buf[INET6_ADDRSTRLEN];
    bool v6 = n >= 2 && host[0] == '[' && host[n - 1] == ']';
    if (v6)
        host++, n -= 2;
    if (n >= sizeof buf)
        return false;
    memcpy(buf, host, n);
    buf[n] = '\0';
    if (!v6 && strcmp(buf, "localhost") == 0)
        strcpy(buf, "127.0.0.1");
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        *len = sizeof *s6;
        return inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    *len = sizeof *s4;
    return inet_pton(AF_INET, buf, &s4->sin_addr) == 1;
}

/* HOST:PORT (an IPv4 address, [IPv6] or localhost) into an address; which
 * hosts are allowed is gw_config_validate's decision. */
static bool
s_tcp_addr(const char *listen, struct sockaddr_storage *ss, socklen_t *len, bool *v6)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || *end || port < 1 || port > 65535 ||
        !s_host_addr(listen, (size_t)(colon - listen), ss, len))
        return false;
    *v6 = ss->ss_family == AF_INET6;
    if (*v6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    return true;
}

/* The TLS options for MHD_OPTION_ARRAY (only the end marker without TLS). */
static void
s_tls_options(const gw_tls_t *tls, struct MHD_OptionItem ops[5], unsigned *flags)
{
    size_t n = 0;
    if (tls) {
        *flags |= MHD_USE_TLS;
        ops[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)gw_tls_cert_pem(tls)};
        ops[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)gw_tls_key_pem(tls)};
        ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                           (void *)gw_tls_client_ca_pem(tls)};
        ops[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)gw_tls_priorities()};
    }
    ops[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

static struct MHD_Daemon *
s_daemon(gw_http_t *self, const char *listen, const gw_tls_t *tls, unsigned max_conn,
         remiss_err_t *err)
{
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    struct sockaddr_storage ss;
    socklen_t sslen;
    bool v6 = false;
    /* libmicrohttpd copies what it needs from the array while it starts. */
    struct MHD_OptionItem tls_ops[5];
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        remiss_err_set(err, REMISS_E_CONFIG, "this libmicrohttpd was built without TLS");
        return NULL;
    }
    s_tls_options(tls, tls_ops, &flags);
    if (strncmp(listen, "unix:", 5) == 0) {
        if ((self->unix_fd = s_unix_listen(self, listen + 5, err)) < 0)
            return NULL;
        return MHD_start_daemon(flags, 0, NULL, NULL, s_answer, self, MHD_OPTION_LISTEN_SOCKET,
                                self->unix_fd, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                                MHD_OPTION_CONNECTION_LIMIT, max_conn,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)S_CONN_TIMEOUT_S,
                                MHD_OPTION_ARRAY, tls_ops, MHD_OPTION_END);
    }
    if (!s_tcp_addr(listen, &ss, &sslen, &v6)) {
        remiss_err_set(err, REMISS_E_CONFIG, "cannot understand listen = %s", listen);
        return NULL;
    }
    return MHD_start_daemon(flags | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL, s_answer, self,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
                            MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)S_CONN_TIMEOUT_S, MHD_OPTION_ARRAY, tls_ops, MHD_OPTION_END);
}

gw_http_t *
gw_http_start(const gw_router_t *router, const char *listen, const gw_tls_t *tls, size_t max_body,
              unsigned max_connections, remiss_err_t *err)
{
    gw_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    self->router = router;
    self->max_body = max_body;
    self->unix_fd = -1;
    self->tls = tls != NULL;
    err->code = REMISS_OK;
    if (!(self->daemon = s_daemon(self, listen, tls, max_connections, err))) {
        if (err->code == REMISS_OK)
            remiss_err_set(err, REMISS_E_CONFIG, "cannot listen on %s (in use?)", listen);
        gw_http_stop(&self);
    }
    return self;
}

void
gw_http_stop(gw_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_http_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon(self->daemon);
    if (self->unix_fd >= 0) {
        close(self->unix_fd);
        unlink(self->unix_path);
    }
    free(self);
    *self_p = NULL;
}
