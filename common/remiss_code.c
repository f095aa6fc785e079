/* remiss_code: names and sentences of the reason codes. */
#include "remiss_code.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "remiss.pb-c.h"

/* The enum mirrors the proto; a renumbering breaks the build, not a client. */
_Static_assert((int)REMISS_E_MALFORMED == (int)REMISS__REASON_CODE__E_MALFORMED, "proto drift");
_Static_assert((int)REMISS_E_CATEGORY_NOT_COVERED == (int)REMISS__REASON_CODE__E_CATEGORY_NOT_COVERED,
               "proto drift");
_Static_assert((int)REMISS_E_INTERNAL == (int)REMISS__REASON_CODE__E_INTERNAL, "proto drift");

typedef struct {
    remiss_code_t code;
    const char *name;
    const char *sentence;
} s_code_info_t;

static const s_code_info_t s_codes[] = {
    {REMISS_OK, "OK", "The message was accepted."},
    {REMISS_E_MALFORMED, "E_MALFORMED", "The message could not be read: it is not a complete, "
                                        "well-formed remiss message."},
    {REMISS_E_TOO_LARGE, "E_TOO_LARGE", "The message is larger than the broker accepts."},
    {REMISS_E_BAD_SIGNATURE, "E_BAD_SIGNATURE",
     "The signature does not match the message and the sender's certificate."},
    {REMISS_E_SENDER_MISMATCH, "E_SENDER_MISMATCH",
     "The sender named in the message is not the party that is connected."},
    {REMISS_E_CERT_REVOKED, "E_CERT_REVOKED", "The sender's certificate has been revoked."},
    {REMISS_E_UNKNOWN_RECIPIENT, "E_UNKNOWN_RECIPIENT",
     "The recipient is not a party of the federation."},
    {REMISS_E_INVALID_PERSONNUMMER, "E_INVALID_PERSONNUMMER",
     "The personnummer or samordningsnummer is not valid."},
    {REMISS_E_POLICY_DENIED, "E_POLICY_DENIED",
     "No rule in the secrecy policy allows this message between these parties."},
    {REMISS_E_NO_CONSENT, "E_NO_CONSENT",
     "No registered consent covers this person, these parties and this purpose."},
    {REMISS_E_CONSENT_EXPIRED, "E_CONSENT_EXPIRED", "The consent is not in force on this date."},
    {REMISS_E_CONSENT_REVOKED, "E_CONSENT_REVOKED", "The consent has been withdrawn."},
    {REMISS_E_CATEGORY_NOT_COVERED, "E_CATEGORY_NOT_COVERED",
     "The message carries a kind of data that the consent or rule does not cover."},
    {REMISS_E_PROTECTED_IDENTITY, "E_PROTECTED_IDENTITY",
     "The person has protected identity; contact data must not be sent."},
    {REMISS_E_AGE_OUT_OF_SCOPE, "E_AGE_OUT_OF_SCOPE",
     "The person's age is outside what the rule for this flow allows."},
    {REMISS_E_REPLAY, "E_REPLAY",
     "The message id was already used for another message, or the message is too old."},
    {REMISS_E_RATE_LIMITED, "E_RATE_LIMITED",
     "Too many messages: the sender's rate or the recipient's queue limit is reached."},
    {REMISS_E_STORAGE, "E_STORAGE",
     "The broker could not store the message; nothing was kept, please send again later."},
    {REMISS_E_INTERNAL, "E_INTERNAL",
     "The broker failed unexpectedly; nothing was kept, please send again later."},
    {REMISS_E_USAGE, "E_USAGE", "The command or call was used wrongly."},
    {REMISS_E_IO, "E_IO", "A file could not be read or written."},
    {REMISS_E_CONFIG, "E_CONFIG", "The configuration, PKI or policy is not valid."},
    {REMISS_E_TIMEOUT, "E_TIMEOUT", "The broker did not answer in time."},
    {REMISS_E_UNKNOWN_MESSAGE, "E_UNKNOWN_MESSAGE",
     "No message with this id is known to this party (or it was never accepted)."},
};

static const s_code_info_t *
s_find(remiss_code_t code)
{
    for (size_t i = 0; i < sizeof s_codes / sizeof s_codes[0]; i++)
        if (s_codes[i].code == code)
            return &s_codes[i];
    return NULL;
}

const char *
remiss_code_name(remiss_code_t code)
{
    const s_code_info_t *info = s_find(code);
    return info ? info->name : "E_UNKNOWN_CODE";
}

const char *
remiss_code_sentence(remiss_code_t code)
{
    const s_code_info_t *info = s_find(code);
    return info ? info->sentence : "Unknown error code.";
}

bool
remiss_code_parse(const char *name, remiss_code_t *out)
{
    for (size_t i = 0; name && i < sizeof s_codes / sizeof s_codes[0]; i++)
        if (strcmp(s_codes[i].name, name) == 0) {
            *out = s_codes[i].code;
            return true;
        }
    return false;
}

bool
remiss_code_is_wire(int value)
{
    return value >= 0 && value <= REMISS_WIRE_CODE_MAX;
}

remiss_code_t
remiss_err_set(remiss_err_t *err, remiss_code_t code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    if (!fmt) {
        snprintf(err->text, sizeof err->text, "%s", remiss_code_sentence(code));
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return code;
}
