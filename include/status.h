/* status: what `remissctl status` asks a running remissd, over a Unix
 * socket in the state directory that only the broker's operators reach.
 *
 * The broker thread renders a JSON snapshot (status_update, once a second
 * and after every reload) and publishes it under a mutex; the status
 * thread answers every connection with the latest snapshot and closes it.
 * It reads nothing from the client, so there is no request to parse and
 * nothing on the socket can change state. The socket is made 0660 (the
 * broker's user and group) and replaced at start if a stale one is left.
 *
 * The snapshot: version, node (hostname:pid; this node only, also in a
 * cluster), uptime, store engine, policy (path, SHA-256, when loaded), the
 * last reload (ok or refused and why), counters, per party: connected,
 * queue depth, oldest message age and certificate days left; dead
 * letters, last commit latency, the audit tree size and last signed tree
 * head, days left on the broker's and the CA's certificate and the CRL. */
#ifndef STATUS_H
#define STATUS_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker_env.h"
#include "config.h"
#include "delivery.h"
#include "remiss_code.h"

#define STATUS_SOCKET_NAME "remissd.sock"

typedef struct status status_t;

/* The socket path cfg asks for into out: --status-socket, or
 * STATUS_SOCKET_NAME next to a SQLite store; "" when off ("off", or a
 * PostgreSQL store without --status-socket). False if it does not fit a
 * Unix socket address. */
bool status_socket_path(const broker_config_t *cfg, char *out, size_t size);

/* Binds the socket (if cfg names one) and starts its thread. Returns a
 * status object (also when the socket is off: reloads are still tracked
 * for /healthz and remiss_reload_success through metrics, which it
 * borrows); NULL with err if the socket cannot be made. */
status_t *status_start(const broker_config_t *cfg, const char *store_engine, metrics_t *metrics,
                       remiss_err_t *err);
void status_stop(status_t **self_p);

/* The policy at path was loaded (ok) or refused (why: a sentence with
 * file:line). Hashes the file on success. */
void status_policy(status_t *self, const char *path, bool ok, const char *why);
/* The certificates and CRL were reloaded (ok) or the reload was refused. */
void status_certificates(status_t *self, bool ok, const char *why);

/* Renders and publishes a snapshot (broker thread, inside the cycle's
 * transaction) with the queues store_queues read; sets the expiry,
 * dead-letter and oldest-message gauges of env->metrics on the way. */
void status_update(status_t *self, const broker_env_t *env, delivery_t *delivery, X509 *broker_cert,
                   const store_queue_t *queues, size_t nqueues);

/* The latest snapshot (malloc'd JSON; caller frees), NULL before the first. */
char *status_snapshot(status_t *self);

#endif
