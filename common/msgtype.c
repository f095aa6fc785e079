/* msgtype: message type names and their bodies (include/msgtype.h). */
#include "msgtype.h"

#include <string.h>

typedef struct {
    Remiss__MessageType type;
    const char *name;
    Remiss__Envelope__BodyCase body;
} s_type_info_t;

static const s_type_info_t s_types[] = {
    {REMISS__MESSAGE_TYPE__REFERRAL, "referral", REMISS__ENVELOPE__BODY_REFERRAL},
    {REMISS__MESSAGE_TYPE__CASE_SUBMISSION, "case_submission",
     REMISS__ENVELOPE__BODY_CASE_SUBMISSION},
    {REMISS__MESSAGE_TYPE__TRANSFER_ACK, "transfer_ack", REMISS__ENVELOPE__BODY_TRANSFER_ACK},
    {REMISS__MESSAGE_TYPE__INQUIRY, "inquiry", REMISS__ENVELOPE__BODY_INQUIRY},
    {REMISS__MESSAGE_TYPE__INQUIRY_ANSWER, "inquiry_answer", REMISS__ENVELOPE__BODY_INQUIRY_ANSWER},
    {REMISS__MESSAGE_TYPE__CONSENT_GRANT, "consent_grant", REMISS__ENVELOPE__BODY_CONSENT_GRANT},
    {REMISS__MESSAGE_TYPE__CONSENT_REVOKE, "consent_revoke", REMISS__ENVELOPE__BODY_CONSENT_REVOKE},
    {REMISS__MESSAGE_TYPE__CONCERN_REPORT, "concern_report", REMISS__ENVELOPE__BODY_CONCERN_REPORT},
};
#define S_NTYPES (sizeof s_types / sizeof s_types[0])

const char *
msgtype_name(Remiss__MessageType type)
{
    for (size_t i = 0; i < S_NTYPES; i++)
        if (s_types[i].type == type)
            return s_types[i].name;
    return NULL;
}

bool
msgtype_parse(const char *name, Remiss__MessageType *out)
{
    for (size_t i = 0; name && i < S_NTYPES; i++)
        if (strcmp(name, s_types[i].name) == 0) {
            *out = s_types[i].type;
            return true;
        }
    return false;
}

Remiss__Envelope__BodyCase
msgtype_body_case(Remiss__MessageType type)
{
    for (size_t i = 0; i < S_NTYPES; i++)
        if (s_types[i].type == type)
            return s_types[i].body;
    return REMISS__ENVELOPE__BODY__NOT_SET;
}
