/* inbound: see inbound.h. */
#include "inbound.h"

#include <stdio.h>
#include <string.h>

/* Checks a delivery end to end: the sender's certificate chains to the CA
 * and names the envelope's sender, the signature verifies, it is for us. */
static remiss_code_t
s_verify(inbound_check_t *dc, const Remiss__Delivery *d, Remiss__Envelope **env_out,
         char sender[PKI_ID_MAX + 1], remiss_err_t *err)
{
    *env_out = NULL;
    if (!d->envelope || d->envelope->envelope.len == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the delivery carries no envelope");
    const certcache_entry_t *ce = NULL;
    remiss_code_t r = certcache_get(dc->certs, dc->trust, d->sender_cert.data, d->sender_cert.len,
                                    dc->now, &ce, err);
    if (r != REMISS_OK)
        return r;
    const pki_identity_t id = ce->id;
    X509 *cert = ce->cert; /* belongs to the cache */
    Remiss__Envelope *env = NULL;
    if (r == REMISS_OK && !(env = remiss__envelope__unpack(NULL, d->envelope->envelope.len,
                                                           d->envelope->envelope.data)))
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the envelope could not be decoded");
    if (r == REMISS_OK && !pki_verify(X509_get0_pubkey(cert), PKI_CTX_ENVELOPE,
                                      d->envelope->envelope.data, d->envelope->envelope.len,
                                      d->envelope->signature.data, d->envelope->signature.len))
        r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE, NULL);
    if (r == REMISS_OK && (!env->sender || strcmp(env->sender, id.party) != 0))
        r = remiss_err_set(err, REMISS_E_SENDER_MISMATCH, NULL);
    if (r == REMISS_OK && (!env->recipient || strcmp(env->recipient, dc->party) != 0))
        r = remiss_err_set(err, REMISS_E_UNKNOWN_RECIPIENT, "the message is not addressed to us");
    if (r == REMISS_OK && env->message_id.len != INBOUND_ID_LEN)
        r = remiss_err_set(err, REMISS_E_MALFORMED, "the message id is not 16 bytes");
    if (r != REMISS_OK) {
        remiss__envelope__free_unpacked(env, NULL);
        return r;
    }
    snprintf(sender, PKI_ID_MAX + 1, "%s", id.party);
    *env_out = env;
    return REMISS_OK;
}

/* What remiss_recv does with a delivery before it answers the broker:
 * verify it and, when that fails, find the id to refuse it by (*refuse is
 * false when the envelope does not yield a 16-byte id). On REMISS_OK *env
 * and sender are set as by s_verify_delivery. */
remiss_code_t
inbound_take(inbound_check_t *dc, const Remiss__Delivery *d, Remiss__Envelope **env,
              char sender[PKI_ID_MAX + 1], uint8_t refuse_id[INBOUND_ID_LEN], bool *refuse,
              remiss_err_t *why)
{
    *refuse = false;
    remiss_code_t r = s_verify(dc, d, env, sender, why);
    if (r != REMISS_OK && d->envelope && d->envelope->envelope.len) {
        Remiss__Envelope *peek =
            remiss__envelope__unpack(NULL, d->envelope->envelope.len, d->envelope->envelope.data);
        if (peek && peek->message_id.len == INBOUND_ID_LEN) {
            memcpy(refuse_id, peek->message_id.data, INBOUND_ID_LEN);
            *refuse = true;
        }
        remiss__envelope__free_unpacked(peek, NULL);
    }
    return r;
}
