/* msgjson: the JSON form of an envelope, as case-management systems write
 * it for `remiss send` and read it from `remiss recv --json` (DESIGN.md
 * section 4).
 *
 * Field names are the proto field names of proto/remiss.proto. The mapping
 * is derived from the protobuf-c descriptors, so a field added to the proto
 * appears in the JSON without a change here. Envelope-level exceptions:
 *   - "to" and "from" stand for Envelope.recipient and Envelope.sender;
 *   - "type" is the message type name ("referral", "transfer_ack", ...) and
 *     also selects the body; the body's fields sit at the top level next to
 *     the envelope fields (e.g. "decision" of a transfer_ack);
 *   - "created_at" (and "received_at", which recv adds) are times: read as
 *     milliseconds since 1970 (a JSON integer) or an ISO 8601 UTC string
 *     "2026-11-23T10:15:00Z" / "2026-11-23T10:15:00.123Z" (1 to 9 fraction
 *     digits, cut to milliseconds); written as the string with milliseconds.
 *     "received_at" is checked on input and otherwise ignored, so recv's
 *     output can be read back.
 * Value conventions everywhere:
 *   - string: a JSON string of valid UTF-8 without NUL characters;
 *   - bool: true or false; integers: JSON integers within the field's range
 *     (64-bit fields within +-2^53, which a JSON number holds exactly);
 *   - enum: the lowercase proto value name without the enum's own prefix,
 *     e.g. TransferDecision NEEDS_INFO -> "needs_info", GivenBy
 *     SUBJECT_AND_GUARDIAN -> "subject_and_guardian"; the zero
 *     ("unspecified") value is written by leaving the field out;
 *   - bytes: every bytes field of an envelope is a 16-byte message id, as
 *     32 hexadecimal digits (either case on input, lowercase on output);
 *   - message: a JSON object; repeated: a JSON array.
 * Empty strings, false, zero, unset enums and empty objects are left out on
 * output; an empty object on input is the same as no object. */
#ifndef MSGJSON_H
#define MSGJSON_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "remiss.h"
#include "remiss.pb-c.h"
#include "remiss_code.h"
#include "rfc3339.h"

/* Largest JSON text msgjson_parse accepts, in bytes. */
#define MSGJSON_MAX_INPUT (1024 * 1024)

/* Bytes in a message id; its JSON form has twice as many hex digits. */
#define MSGJSON_ID_LEN 16

/* Buffer size for a time as "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL. */
#define MSGJSON_TIME_LEN RFC3339_LEN

/* What recv knows besides the envelope: remiss_json_meta_t of remiss.h. */
typedef remiss_json_meta_t msgjson_meta_t;

/* The functions below are exported as remiss_json_* (remiss.h); the msgjson_
 * names stay for the tree's own callers. */
#define msgjson_parse         remiss_json_parse
#define msgjson_free          remiss_json_free
#define msgjson_format        remiss_json_format
#define msgjson_format_pretty remiss_json_format_pretty

/* Parses len bytes of JSON (need not be NUL-terminated) into a new
 * envelope. On success returns REMISS_OK and *out is the caller's, to be
 * freed with msgjson_free; it is built with malloc throughout, so
 * protobuf_c_message_free_unpacked(&env->base, NULL) frees it as well.
 * The body case matches "type". The envelope is not yet a valid message to
 * send: sender, message_id and created_at may be unset, and nothing beyond
 * the JSON form (personnummer, purposes, party ids) has been checked.
 *
 * Errors (*out stays NULL, nothing is left allocated; err gets a sentence
 * that names the field path, e.g. `field "subject.contact.phone" must be a
 * string`, and never a value):
 *   REMISS_E_TOO_LARGE  len > MSGJSON_MAX_INPUT;
 *   REMISS_E_MALFORMED  not JSON, not an object, unknown or duplicate key
 *                       at any level (a body field of another type is
 *                       unknown), wrong JSON type, integer out of range,
 *                       bad id, invalid UTF-8 or NUL in a string, missing
 *                       "type" or "to";
 *   REMISS_E_USAGE      json or out is NULL;
 *   REMISS_E_INTERNAL   out of memory.
 * err (may be NULL) is written only on failure. */
remiss_code_t msgjson_parse(const char *json, size_t len, Remiss__Envelope **out,
                            remiss_err_t *err);

/* Frees an envelope from msgjson_parse (or protobuf-c unpacking) and sets
 * *env_p to NULL. Accepts NULL and a pointer to NULL. */
void msgjson_free(Remiss__Envelope **env_p);

/* The JSON form of env, with meta's fields added (meta may be NULL), as
 * one line without a trailing newline. The caller frees it with free().
 * NULL when env cannot be shown faithfully (unknown type, body not the
 * type's, no recipient, a string that is not valid UTF-8, an id that is not
 * 16 bytes, a time before 1970 or after 9999) or on allocation failure. What it returns
 * parses back with msgjson_parse to an envelope that packs to the same
 * bytes (for an envelope without unknown fields). */
char *msgjson_format(const Remiss__Envelope *env, const msgjson_meta_t *meta);

/* The same, indented over several lines for a person to read. */
char *msgjson_format_pretty(const Remiss__Envelope *env, const msgjson_meta_t *meta);

/* The time helpers moved to rfc3339.h; the old names stay for callers. */
#define msgjson_time_parse  rfc3339_parse
#define msgjson_time_format rfc3339_format

#endif
