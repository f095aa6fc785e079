/* note: C2SP signed notes, checkpoints and cosignatures.
 *
 * A signed note (c2sp.org/signed-note) is a text ending in a newline, a
 * blank line, and signature lines "— NAME BASE64(KEYID || SIG)\n". The key
 * ID is the first four bytes of SHA-256(NAME || 0x0A || TYPE || PUBKEY),
 * big-endian. Two signature types are supported, both Ed25519 through
 * OpenSSL 3:
 *   NOTE_TYPE_ED25519 (0x01): a log's signature over the note text;
 *   NOTE_TYPE_COSIG (0x04): a witness cosignature (c2sp.org/tlog-cosignature),
 *     SIG = u64 timestamp (big-endian) || Ed25519 over
 *     "cosignature/v1\ntime T\n" || note text.
 * A checkpoint (c2sp.org/tlog-checkpoint) is a note whose text is the
 * origin, the tree size in decimal and the base64 root hash, one a line,
 * then optional non-empty extension lines.
 *
 * Verifier keys travel as vkey strings "NAME+HHHHHHHH+BASE64(TYPE||PUBKEY)"
 * (8 lowercase hex digits of the key ID), the format Go's sumdb/note reads.
 *
 * The parsers read untrusted bytes: every length is bounded below, the text
 * must be valid UTF-8 without control characters other than newline, and
 * nothing is allocated. Functions return REMISS_OK, REMISS_E_MALFORMED for
 * input outside the format, REMISS_E_TOO_LARGE past a bound,
 * REMISS_E_BAD_SIGNATURE, REMISS_E_CONFIG for key files, or
 * REMISS_E_INTERNAL when OpenSSL fails. */
#ifndef NOTE_H
#define NOTE_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define NOTE_TYPE_ED25519 0x01
#define NOTE_TYPE_COSIG   0x04

#define NOTE_NAME_MAX 256                   /* key name or origin line, with its NUL */
#define NOTE_TEXT_MAX 4096                  /* note text, newline included */
#define NOTE_MAX      16384                 /* a whole signed note */
#define NOTE_SIGS_MAX 32                    /* signature lines kept (the spec asks for >= 16) */
#define NOTE_SIG_MAX  72                    /* signature bytes after the key ID that we keep */
#define NOTE_LINE_MAX (NOTE_NAME_MAX + 128) /* one signature line */
#define NOTE_VKEY_MAX (NOTE_NAME_MAX + 64)
#define NOTE_HASH_LEN 32

/* A public key a verifier trusts. */
typedef struct note_verifier {
    char name[NOTE_NAME_MAX]; /* key name (log origin or witness name) */
    uint8_t type;             /* NOTE_TYPE_ED25519 or NOTE_TYPE_COSIG */
    uint32_t id;              /* key ID */
    uint8_t pub[32];          /* Ed25519 public key */
} note_verifier_t;

/* One signature line as parsed (not yet verified). */
typedef struct note_sig {
    char name[NOTE_NAME_MAX];
    uint32_t id;
    uint8_t sig[NOTE_SIG_MAX]; /* bytes after the key ID */
    size_t sig_len;            /* 0 if longer than NOTE_SIG_MAX (a type we never verify) */
} note_sig_t;

/* A parsed signed note; a plain value (about 12 KiB) that owns nothing. */
typedef struct note {
    char text[NOTE_TEXT_MAX + 1]; /* the note text, NUL-terminated */
    size_t text_len;
    note_sig_t sigs[NOTE_SIGS_MAX];
    size_t n_sigs;
} note_t;

/* A checkpoint's text, parsed. */
typedef struct checkpoint {
    char origin[NOTE_NAME_MAX];
    uint64_t size;
    uint8_t root[NOTE_HASH_LEN];
    size_t n_extensions; /* extension lines present (not kept) */
} checkpoint_t;

/* A private key that signs notes under a name. */
typedef struct note_signer {
    note_verifier_t pub; /* the matching verifier key */
    EVP_PKEY *key;       /* Ed25519 private key, owned */
} note_signer_t;

/* ---------------------------------------------------------------- keys */

/* The key ID of (name, type, pub). */
uint32_t note_key_id(const char *name, uint8_t type, const uint8_t pub[32]);

/* Parses a vkey string (NUL-terminated) into v. REMISS_E_MALFORMED if the
 * name is empty or has spaces or '+', the hex ID does not match the key,
 * the type is not one of ours or the key is not 32 bytes. */
remiss_code_t note_vkey_parse(const char *vkey, note_verifier_t *v);

/* Writes v as a vkey string; false if buf is too small. */
bool note_vkey_format(const note_verifier_t *v, char *buf, size_t size);

/* True if name is a valid key name: 1..NOTE_NAME_MAX-1 bytes of printable
 * ASCII or UTF-8 without spaces and '+'. */
bool note_name_valid(const char *name);

/* Creates an Ed25519 private key file (PEM PKCS#8, mode 0600, never
 * overwriting: REMISS_E_CONFIG if path exists). */
remiss_code_t note_key_generate(const char *path, remiss_err_t *err);

/* Loads an Ed25519 PEM key (refusing a file group or others can read) as a
 * signer of the given type under name. note_signer_clear frees it. */
remiss_code_t note_signer_load(const char *path, const char *name, uint8_t type, note_signer_t *out,
                               remiss_err_t *err);
void note_signer_clear(note_signer_t *s);

/* ---------------------------------------------------------------- notes */

/* Parses a signed note of len bytes (no NUL needed). */
remiss_code_t note_parse(const char *buf, size_t len, note_t *out);

/* Signs text (len bytes, ending in a newline) and writes the signature
 * line, NUL-terminated, to line. For a NOTE_TYPE_COSIG signer, timestamp is
 * the cosignature's time in seconds (< 2^63); ignored otherwise. */
remiss_code_t note_sign(const note_signer_t *s, const char *text, size_t len, uint64_t timestamp,
                        char line[NOTE_LINE_MAX]);

/* True if sig is a valid signature by v over n's text (name and key ID
 * must match); a cosignature's timestamp goes to *timestamp (may be NULL). */
bool note_sig_verify(const note_t *n, const note_sig_t *sig, const note_verifier_t *v,
                     uint64_t *timestamp);

/* Checks n against the nv trusted keys: ok[i] (may be NULL) says whether
 * key i signed. Unknown signatures are ignored. REMISS_E_BAD_SIGNATURE if a
 * signature by a known key (same name and ID) fails: then the note must be
 * rejected whole. *n_ok gets the number of keys that signed. */
remiss_code_t note_verify(const note_t *n, const note_verifier_t *v, size_t nv, bool *ok,
                          size_t *n_ok);

/* ---------------------------------------------------------------- checkpoints */

/* Parses a checkpoint's note text (text_len bytes). */
remiss_code_t checkpoint_parse(const char *text, size_t text_len, checkpoint_t *out);

/* Writes the note text of (origin, size, root), NUL-terminated; returns its
 * length, 0 if the origin is invalid or buf too small. */
size_t checkpoint_format(const char *origin, uint64_t size, const uint8_t root[NOTE_HASH_LEN],
                         char *buf, size_t cap);

/* ---------------------------------------------------------------- base64 */

/* Strict standard base64 (RFC 4648 section 4, padded, canonical). Decodes
 * len characters into out (cap bytes); REMISS_E_MALFORMED or
 * REMISS_E_TOO_LARGE. */
remiss_code_t note_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap,
                              size_t *out_len);
/* Encodes len bytes; returns the characters written (NUL-terminated), 0 if
 * cap is too small. */
size_t note_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
