/* inbound: what a delivery must prove before the client library hands it
 * to the application. The sender's certificate chains to the federation CA
 * (and is not revoked, or was revoked after signing) and names the
 * envelope's sender; the signature over the envelope verifies; the message
 * is addressed to this party and has a 16-byte id. Pure apart from the
 * certificate cache it fills. */
#ifndef INBOUND_H
#define INBOUND_H

#include <stdbool.h>
#include <stdint.h>

#include "certcache.h"
#include "pki.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"

#define INBOUND_ID_LEN 16

/* What a check needs, all borrowed. */
typedef struct inbound_check {
    pki_trust_t *trust; /* CA (+ CRL) */
    certcache_t *certs; /* verified sender certificates */
    const char *party;  /* this party: the recipient a delivery must name */
    int64_t now;        /* ms, for the cache */
} inbound_check_t;

/* Checks d. On REMISS_OK *env is the decoded envelope (the caller frees it
 * with remiss__envelope__free_unpacked) and sender the verified sender
 * party. On failure *env is NULL, why says what failed, and *refuse tells
 * whether refuse_id holds the message id to refuse the delivery by (false
 * when the envelope does not yield a 16-byte id). */
remiss_code_t inbound_take(inbound_check_t *dc, const Remiss__Delivery *d, Remiss__Envelope **env,
                           char sender[PKI_ID_MAX + 1], uint8_t refuse_id[INBOUND_ID_LEN],
                           bool *refuse, remiss_err_t *why);

#endif
