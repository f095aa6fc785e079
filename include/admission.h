/* admission: whether a submitted message is accepted, and accepting it.
 *
 * Admission runs one way: decide, then write. The decision is made before
 * anything is written: the frame's shape, the sender's rate, the message
 * id (a resend gets its original receipt again), the envelope (shape,
 * time, signature, sender, recipient), the recipient's queue, and the
 * policy: intake_decide for a routed message, intake_consent_check for a
 * consent. Only then does one savepoint write the message, its audit entry
 * and its stored receipt, and for a consent the registry entry (and the
 * withholding of queued messages a revocation stops). Every refusal leaves
 * by one exit: an audit entry and a receipt naming it. */
#ifndef ADMISSION_H
#define ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#include "broker_env.h"
#include "cycle.h"
#include "delivery.h"
#include "remiss.pb-c.h"

#define ADMISSION_FUTURE_SKEW 300000      /* ms an envelope may be dated ahead of our clock */
#define ADMISSION_TEXT_MAX    (64 * 1024) /* longest text field */

typedef struct admission admission_t;

/* All borrowed. NULL on out of memory. */
admission_t *admission_new(const broker_env_t *env, cycle_t *cycle, delivery_t *delivery);
void admission_destroy(admission_t **self_p);

/* The SUBMIT handler of the dispatch table. */
void admission_on_submit(admission_t *self, const broker_req_t *q, const Remiss__ClientFrame *cf);

/* The message id a SUBMIT frame's envelope names, for store_prefetch ahead
 * of admission_on_submit; false for any other frame or no valid id (the
 * submission is then refused by admission as before). Decides nothing. */
bool admission_peek_id(const Remiss__ClientFrame *cf, uint8_t id[STORE_ID_LEN]);

/* ---- the decisions, each without writing (tests use them directly) */

/* True if party may send one more message now (token bucket of
 * cfg->rate_per_s, burst cfg->rate_burst); takes the token. */
bool admission_rate_ok(admission_t *self, const char *party, int64_t now);
/* True if recipient's queue has room for one more (cfg->max_queue; the
 * depth is read from the store at most once a second). */
bool admission_queue_ok(admission_t *self, const char *recipient, int64_t now);
/* Checks what needs no store: shape, time, the signature against from's
 * certificate, the sender and the recipient. *why gets a sentence or NULL
 * (the code's own). */
remiss_code_t admission_check_envelope(admission_t *self, const party_t *from,
                                       const Remiss__SignedEnvelope *se,
                                       const Remiss__Envelope *env, int64_t now, const char **why);

#endif
