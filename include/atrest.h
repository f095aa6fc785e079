/* atrest: encryption at rest with crypto-shredding.
 *
 * Every stored body (a message's SignedEnvelope, a consent's grant) is
 * encrypted under a data key of its own: AES-256-GCM with a random 96-bit
 * nonce and the record's id (message id, PARTY/ID of a consent) as
 * associated data, so a body moved to another row does not decrypt. The
 * data key is wrapped (AES-256-GCM) by a key-encryption key (KEK) and
 * travels with the body in one blob:
 *
 *   "RAE1" | kid (4, big-endian) | wrap nonce (12) | wrapped key (32) |
 *   wrap tag (16) | nonce (12) | ciphertext | tag (16)
 *
 * Deleting the blob deletes the only copy of the data key in the store
 * (retention); a copy elsewhere (a backup, a replica, old WAL frames)
 * stays unreadable once the KEK it was wrapped under is destroyed, which
 * `remissctl keys rotate` does after rewrapping every live data key.
 *
 * The KEKs live in PKI_DIR/broker.kek, 0600, one line "KID HEX64" per key;
 * the highest KID wraps new data keys, the others only unwrap. The file is
 * created with one key on first use. It is re-read when it changes (checked
 * at most once a second) and when a blob names a KID not loaded, so a
 * rotation needs no restart. An HSM or a systemd credential
 * (LoadCredentialEncrypted=) can later hold the KEKs: only
 * s_ring_load would change. */
#ifndef ATREST_H
#define ATREST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

typedef struct atrest atrest_t;

#define ATREST_OVERHEAD (4 + 4 + 12 + 32 + 16 + 12 + 16) /* bytes added to a body */

/* Opens (creating with one key if absent) the KEK file at path. NULL with
 * err on failure (unreadable, not 0600, malformed). */
atrest_t *atrest_open(const char *path, remiss_err_t *err);
void atrest_close(atrest_t **self_p);

/* Encrypts len bytes under a new data key with aad; *out (malloc'd) and
 * *out_len. False on failure (out of memory, no randomness). */
bool atrest_seal(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
                 uint8_t **out, size_t *out_len);

/* Decrypts a blob of atrest_seal; *out (malloc'd). False if it is not one,
 * its KEK is gone, or it does not authenticate (with aad). */
bool atrest_open_blob(atrest_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                      size_t len, uint8_t **out, size_t *out_len);

/* True if blob is sealed (starts with the magic). */
bool atrest_is_sealed(const uint8_t *blob, size_t len);

/* The KID a sealed blob's data key is wrapped under (0 if not sealed). */
uint32_t atrest_kid(const uint8_t *blob, size_t len);

/* The KID new data keys are wrapped under. */
uint32_t atrest_current_kid(atrest_t *self);

/* Rewraps the data key of a sealed blob in place under the current KEK
 * (the body is untouched; aad as sealed). False if it cannot be unwrapped. */
bool atrest_rewrap(atrest_t *self, const uint8_t *aad, size_t aad_len, uint8_t *blob, size_t len);

/* Adds a new KEK to the file (it becomes current). */
remiss_code_t atrest_add_key(atrest_t *self, uint32_t *kid, remiss_err_t *err);

/* Removes every KEK but the current one from the file and from memory
 * (after a rewrap of every blob): copies wrapped under them are shredded. */
remiss_code_t atrest_drop_old_keys(atrest_t *self, remiss_err_t *err);

#endif
