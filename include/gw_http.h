/* gw_http: the HTTP listener of remiss-gateway (libmicrohttpd).
 *
 * Collects each request (headers, query parameters, a body up to max_body
 * bytes) into a gw_request_t and sends back what gw_route answers. A
 * request without the bearer token is answered 401 before its body is
 * read; a body over the limit is dropped unread (413). One thread per
 * connection, so long polls do not hold up other requests. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include "gw_router.h"
#include "gw_tls.h"

typedef struct gw_http gw_http_t;

/* Listens on "HOST:PORT" (an IPv4 address, "[IPv6]" or "localhost") or
 * "unix:PATH" (the socket is made mode 0660); gw_config_validate decides
 * which hosts are allowed. With tls (may be NULL), only TLS, and every
 * request without a client certificate the client CA verifies is answered
 * 403 E_CLIENT_CERT before the token is looked at. router and tls are
 * borrowed and must outlive the listener. NULL with err on failure. */
gw_http_t *gw_http_start(const gw_router_t *router, const char *listen, const gw_tls_t *tls,
                         size_t max_body, unsigned max_connections, remiss_err_t *err);

/* Stops listening and waits for the connection threads. */
void gw_http_stop(gw_http_t **self_p);

#endif
