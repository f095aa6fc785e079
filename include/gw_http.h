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

typedef struct gw_http gw_http_t;

/* Listens on "127.0.0.1:PORT", "localhost:PORT", "[::1]:PORT" or
 * "unix:PATH" (the socket is made mode 0660). router is borrowed and must
 * outlive the listener. NULL with err on failure. */
gw_http_t *gw_http_start(const gw_router_t *router, const char *listen, size_t max_body,
                         unsigned max_connections, remiss_err_t *err);

/* Stops listening and waits for the connection threads. */
void gw_http_stop(gw_http_t **self_p);

#endif
