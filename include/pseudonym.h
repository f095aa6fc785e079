/* pseudonym: the subject pseudonym, HMAC-SHA256(broker secret, canonical
 * 12-digit personnummer).
 *
 * The one place that reads PKI_DIR/broker.secret (64 hex digits, mode 0600)
 * and keys the MAC. The store, the consent registry and the audit log know
 * a person only by this pseudonym; the personnummer in clear stays in the
 * module that parsed it and is turned into a pseudonym here. */
#ifndef PSEUDONYM_H
#define PSEUDONYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define PSEUDONYM_LEN 32

typedef struct pseudonym pseudonym_t;

/* Reads the secret file at path and keys the MAC with it; the key bytes
 * are wiped at once (the keyed context is the only copy; OpenSSL wipes it
 * on free). Refuses a file that group or others can read, or that does
 * not hold 64 hex digits (REMISS_E_CONFIG). NULL with err on failure. */
pseudonym_t *pseudonym_load(const char *path, remiss_err_t *err);

/* Keys the MAC with key (copied into the context; the caller wipes its
 * copy). NULL on failure. */
pseudonym_t *pseudonym_new(const uint8_t key[PSEUDONYM_LEN]);
void pseudonym_free(pseudonym_t **self_p);

/* The pseudonym of canonical into out. False (out zeroed) if canonical is
 * not 12 digits or OpenSSL fails. */
bool pseudonym_of(const pseudonym_t *self, const char *canonical, uint8_t out[PSEUDONYM_LEN]);

/* A keyed hash of any bytes (the audit log's marker for text outside the
 * policy's vocabularies); callers prefix a domain of their own ("x:") so
 * a marker is never a subject's pseudonym. False (out zeroed) on failure. */
bool pseudonym_mark(const pseudonym_t *self, const uint8_t *data, size_t len,
                    uint8_t out[PSEUDONYM_LEN]);

/* Reads the secret file into key (for callers that need the bytes: tests,
 * key rotation). Same checks as pseudonym_load; the caller wipes key. */
remiss_code_t pseudonym_secret_load(const char *path, uint8_t key[PSEUDONYM_LEN],
                                    remiss_err_t *err);

#endif
