/* witnesses: the audit log as C2SP checkpoints, cosigned by witnesses that
 * other authorities run (c2sp.org/tlog-checkpoint, tlog-cosignature,
 * tlog-witness).
 *
 * Every signed tree head the audit module commits is also published as a
 * checkpoint: origin (config audit-origin), size and base64 root, signed as a
 * note by the broker's Ed25519 log key (PKI_DIR/broker.logkey, created 0600
 * on first start; its vkey is written to PKI_DIR/broker.vkey and logged).
 * Ed25519 is deterministic and tree heads only ever extend one another, so
 * the checkpoints of one log are consistent by construction: the checkpoint
 * of size n is a function of the tree head of size n.
 *
 * A background thread, with its own store connection and its own SQLite
 * connection for the cosignatures table, submits each new committed head to
 * every listed witness (POST add-checkpoint over libcurl), answers a 409 by
 * resending with a consistency proof from the witness's size, verifies and
 * stores each cosignature (table witness_cosignatures of the broker's
 * database). A witness that is down or refuses is retried with back-off;
 * the broker goes on without its cosignature and counts it in metrics and
 * /healthz. */
#ifndef WITNESSES_H
#define WITNESSES_H

#include "config.h"
#include "metrics.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

typedef struct witnesses witnesses_t;

/* Loads (or creates) the log key and the witness list of cfg and starts
 * the submitting thread if witnesses are listed. metrics may be NULL. */
witnesses_t *witnesses_start(const broker_config_t *cfg, metrics_t *metrics, remiss_err_t *err);
void witnesses_stop(witnesses_t **self_p);

/* Sets reply->checkpoint to the checkpoint of reply's tree head with the
 * cosignatures held for that size (malloc'd; witnesses_detach frees it).
 * Leaves the field empty if self is NULL or anything fails: a proof is
 * still worth sending without it. Main thread. */
void witnesses_attach(witnesses_t *self, Remiss__ProofReply *reply);
void witnesses_detach(Remiss__ProofReply *reply);

#endif
