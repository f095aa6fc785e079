/* utf8: strict UTF-8 validation of text and of decoded protobuf messages.
 *
 * protobuf-c copies string fields byte for byte without checking that they
 * are UTF-8, so the broker runs utf8_message_valid on every decoded envelope
 * before a person or a policy rule reads its text. */
#ifndef UTF8_H
#define UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* True if the n bytes at s are well-formed UTF-8 (RFC 3629): no overlong
 * forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no
 * truncated sequence and no NUL byte. s may be NULL when n is 0. */
bool utf8_valid(const char *s, size_t n);

/* True if every string field of m, including repeated fields, nested
 * messages and the set member of each oneof, is valid UTF-8 per utf8_valid
 * and at most max_string_len bytes long. NULL strings and messages count as
 * empty. Also false for messages nested deeper than 32 levels.
 *
 * It sees each string as protobuf-c stored it: up to the first NUL byte,
 * because protobuf-c keeps strings as char *. A string with an embedded NUL
 * on the wire therefore looks shorter here; the caller that must exclude
 * those compares protobuf_c_message_pack(m) with the bytes received. */
bool utf8_message_valid(const ProtobufCMessage *m, size_t max_string_len);

#endif
