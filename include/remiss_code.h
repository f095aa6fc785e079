/* remiss_code: the one error enum of remiss and its strings.
 *
 * Codes 0..18 are the broker's stable reason codes (DESIGN.md section 2) and
 * equal the ReasonCode numbers in proto/remiss.proto. Codes from 100 on are
 * local to a client or tool (bad command line, unreadable file, no answer)
 * and never travel on the wire. */
#ifndef REMISS_CODE_H
#define REMISS_CODE_H

#include <stdbool.h>

typedef enum remiss_code {
    REMISS_OK = 0,
    REMISS_E_MALFORMED = 1,
    REMISS_E_TOO_LARGE = 2,
    REMISS_E_BAD_SIGNATURE = 3,
    REMISS_E_SENDER_MISMATCH = 4,
    REMISS_E_CERT_REVOKED = 5,
    REMISS_E_UNKNOWN_RECIPIENT = 6,
    REMISS_E_INVALID_PERSONNUMMER = 7,
    REMISS_E_POLICY_DENIED = 8,
    REMISS_E_NO_CONSENT = 9,
    REMISS_E_CONSENT_EXPIRED = 10,
    REMISS_E_CONSENT_REVOKED = 11,
    REMISS_E_CATEGORY_NOT_COVERED = 12,
    REMISS_E_PROTECTED_IDENTITY = 13,
    REMISS_E_AGE_OUT_OF_SCOPE = 14,
    REMISS_E_REPLAY = 15,
    REMISS_E_RATE_LIMITED = 16,
    REMISS_E_STORAGE = 17,
    REMISS_E_INTERNAL = 18,
    REMISS_WIRE_CODE_MAX = 18,
    /* Local codes: never on the wire. */
    REMISS_E_USAGE = 100,           /* bad command line or API argument */
    REMISS_E_IO = 101,              /* a file could not be read or written */
    REMISS_E_CONFIG = 102,          /* PKI, policy or configuration is invalid */
    REMISS_E_TIMEOUT = 103,         /* the broker did not answer in time */
    REMISS_E_UNKNOWN_MESSAGE = 104, /* no message with this id is known to this party */
} remiss_code_t;

/* An error: the code plus one sentence for a person. The sentence is the
 * code's standard sentence unless something more specific was known. */
typedef struct remiss_err {
    remiss_code_t code;
    char text[320];
} remiss_err_t;

/* "E_MALFORMED" etc.; "E_UNKNOWN_CODE" for a value outside the enum. Static. */
const char *remiss_code_name(remiss_code_t code);

/* The standard sentence for a code. Static string. */
const char *remiss_code_sentence(remiss_code_t code);

/* Parses a name such as "E_NO_CONSENT"; false if unknown. */
bool remiss_code_parse(const char *name, remiss_code_t *out);

/* True for the codes that may travel on the wire. */
bool remiss_code_is_wire(int value);

/* Sets err (if not NULL) to code and a printf-formatted sentence; a NULL
 * fmt uses the standard sentence. Returns code, so callers can write
 * `return remiss_err_set(err, REMISS_E_IO, "cannot read %s", path);`. */
remiss_code_t remiss_err_set(remiss_err_t *err, remiss_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
