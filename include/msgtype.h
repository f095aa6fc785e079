/* msgtype: message type names as in the JSON, and the body each type
 * carries. */
#ifndef MSGTYPE_H
#define MSGTYPE_H

#include <stdbool.h>

#include "remiss.pb-c.h"

/* Message type names as in the JSON: "referral", "case_submission", ...
 * NULL for an unknown value. Static string. */
const char *msgtype_name(Remiss__MessageType type);

/* Parses a type name; false if unknown (and for "unspecified"). */
bool msgtype_parse(const char *name, Remiss__MessageType *out);

/* The body case that must be set for a type (0 if none). */
Remiss__Envelope__BodyCase msgtype_body_case(Remiss__MessageType type);

#endif
