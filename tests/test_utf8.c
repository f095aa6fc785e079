/* Tests for utf8: strict validation of text and of whole protobuf-c messages. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "remiss.pb-c.h"
#include "utf8.h"

/* utf8_valid over a string literal (which may hold NULs), without the
 * literal's terminator. */
#define VALID(lit) utf8_valid((lit), sizeof(lit) - 1)

/* Reference encoder, independent of the validator: every code point
 * including surrogates, in the shortest form. */
static size_t
s_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

Test(utf8, ascii_and_empty)
{
    cr_assert(utf8_valid("", 0));
    cr_assert(utf8_valid(NULL, 0));
    cr_assert_not(utf8_valid(NULL, 1));
    cr_assert(VALID("Kim Andersson, 070-174 06 05\t\n"));
    cr_assert(VALID("\x7f"));
}

Test(utf8, multibyte_and_boundaries)
{
    cr_assert(VALID("Förberedande åtgärd, Göteborg"));
    cr_assert(VALID("\xC2\x80"));         /* U+0080, smallest 2-byte */
    cr_assert(VALID("\xDF\xBF"));         /* U+07FF */
    cr_assert(VALID("\xE0\xA0\x80"));     /* U+0800, smallest 3-byte */
    cr_assert(VALID("\xE2\x82\xAC"));     /* euro sign */
    cr_assert(VALID("\xED\x9F\xBF"));     /* U+D7FF, just below surrogates */
    cr_assert(VALID("\xEE\x80\x80"));     /* U+E000, just above */
    cr_assert(VALID("\xEF\xBF\xBF"));     /* U+FFFF */
    cr_assert(VALID("\xF0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    cr_assert(VALID("\xF0\x9F\x98\x80")); /* U+1F600 emoji */
    cr_assert(VALID("\xF4\x8F\xBF\xBF")); /* U+10FFFF, the last code point */
}

Test(utf8, overlong_forms)
{
    cr_assert_not(VALID("\xC0\x80")); /* NUL, the classic overlong */
    cr_assert_not(VALID("\xC0\xAF")); /* '/' */
    cr_assert_not(VALID("\xC1\xBF"));
    cr_assert_not(VALID("\xE0\x80\x80"));
    cr_assert_not(VALID("\xE0\x80\xAF"));
    cr_assert_not(VALID("\xE0\x9F\xBF")); /* U+07FF in three bytes */
    cr_assert_not(VALID("\xF0\x80\x80\x80"));
    cr_assert_not(VALID("\xF0\x8F\xBF\xBF")); /* U+FFFF in four bytes */
}

Test(utf8, surrogates)
{
    cr_assert_not(VALID("\xED\xA0\x80")); /* U+D800 */
    cr_assert_not(VALID("\xED\xAD\xBF")); /* U+DB7F */
    cr_assert_not(VALID("\xED\xB0\x80")); /* U+DC00 */
    cr_assert_not(VALID("\xED\xBF\xBF")); /* U+DFFF */
    /* A surrogate pair encoded separately (CESU-8) is not UTF-8. */
    cr_assert_not(VALID("\xED\xA0\xBD\xED\xB8\x80"));
}

Test(utf8, beyond_unicode_and_bad_leads)
{
    cr_assert_not(VALID("\xF4\x90\x80\x80")); /* U+110000 */
    cr_assert_not(VALID("\xF5\x80\x80\x80"));
    cr_assert_not(VALID("\xF7\xBF\xBF\xBF"));
    cr_assert_not(VALID("\xF8\x88\x80\x80\x80")); /* old 5-byte form */
    cr_assert_not(VALID("\xFC\x84\x80\x80\x80\x80"));
    cr_assert_not(VALID("\xFE"));
    cr_assert_not(VALID("\xFF"));
    cr_assert_not(VALID("\x80")); /* lone continuation */
    cr_assert_not(VALID("a\xBF"
                        "b"));
    cr_assert_not(VALID("\xC3\x28"));     /* lead then ASCII */
    cr_assert_not(VALID("\xE2\x28\xA1")); /* bad second byte */
    cr_assert_not(VALID("\xE2\x82\x28")); /* bad third byte */
    cr_assert_not(VALID("\xF0\x9F\x98\x28"));
}

Test(utf8, truncated_sequences)
{
    static const char *const seqs[] = {"\xC3\xA5", "\xE2\x82\xAC", "\xF0\x9F\x98\x80",
                                       "\xF4\x8F\xBF\xBF"};
    for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
        size_t n = strlen(seqs[i]);
        cr_assert(utf8_valid(seqs[i], n));
        for (size_t k = 1; k < n; k++) {
            char buf[8] = "";
            cr_assert_not(utf8_valid(seqs[i], k), "sequence %zu cut to %zu bytes", i, k);
            /* Cut and followed by more text. */
            memcpy(buf, seqs[i], k);
            buf[k] = 'x';
            cr_assert_not(utf8_valid(buf, k + 1));
        }
    }
    /* The length bounds the scan: a valid sequence past n is not read. */
    cr_assert_not(utf8_valid("ab\xE2\x82\xAC", 4));
    cr_assert(utf8_valid("ab\xE2\x82\xAC", 2));
}

Test(utf8, nul_is_rejected)
{
    cr_assert_not(VALID("a\0b"));
    cr_assert_not(VALID("\0"));
    cr_assert(utf8_valid("a\0b", 1));
}

Test(utf8, every_code_point)
{
    unsigned char buf[4];
    for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
        size_t n = s_encode(cp, buf);
        bool want = cp < 0xD800 || cp > 0xDFFF;
        if (utf8_valid((const char *)buf, n) != want)
            cr_assert_fail("U+%04X: expected %s", (unsigned)cp, want ? "valid" : "invalid");
    }
}

/* Counts every 1-, 2- and 3-byte string the validator accepts and compares
 * with the number of ways to write them from valid characters. */
Test(utf8, exhaustive_short_strings)
{
    const uint64_t c1 = 127;                       /* U+0001..U+007F */
    const uint64_t c2 = 0x800 - 0x80;              /* two-byte code points */
    const uint64_t c3 = (0x10000 - 0x800) - 0x800; /* three-byte minus surrogates */
    uint64_t n1 = 0, n2 = 0, n3 = 0;
    unsigned char b[3];

    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        n1 += utf8_valid((const char *)b, 1);
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            n2 += utf8_valid((const char *)b, 2);
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                n3 += utf8_valid((const char *)b, 3);
            }
        }
    }
    cr_assert_eq(n1, c1);
    cr_assert_eq(n2, c1 * c1 + c2);
    cr_assert_eq(n3, c1 * c1 * c1 + 2 * c1 * c2 + c3);
}

Test(utf8, message_walks_nested_fields)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Person subj = REMISS__PERSON__INIT;
    Remiss__Contact contact = REMISS__CONTACT__INIT;

    env.recipient = "jobbtorg";
    env.subject = &subj;
    subj.name = "Kim Andersson";
    subj.contact = &contact;
    contact.email = "kim@example.org";
    cr_assert(utf8_message_valid(&env.base, 1024));

    contact.email = "kim\xC0\xAE@example.org";
    cr_assert_not(utf8_message_valid(&env.base, 1024));
    contact.email = NULL; /* NULL counts as empty */
    cr_assert(utf8_message_valid(&env.base, 1024));

    env.free_text = "\xED\xA0\x80";
    cr_assert_not(utf8_message_valid(&env.base, 1024));
    env.free_text = "ok";
    cr_assert(utf8_message_valid(NULL, 0));
}

Test(utf8, message_repeated_and_oneof)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__ConsentGrant grant = REMISS__CONSENT_GRANT__INIT;
    Remiss__Referral bad = REMISS__REFERRAL__INIT;
    char *purposes[] = {"anvisning", "kaa", "ips"};

    env.body_case = REMISS__ENVELOPE__BODY_CONSENT_GRANT;
    env.consent_grant = &grant;
    grant.n_purposes = 3;
    grant.purposes = purposes;
    cr_assert(utf8_message_valid(&env.base, 64));
    purposes[2] = "ip\xFFs";
    cr_assert_not(utf8_message_valid(&env.base, 64));
    grant.n_purposes = 2; /* only the counted elements are read */
    cr_assert(utf8_message_valid(&env.base, 64));

    /* The set member is checked... */
    bad.reason = "\xF4\x90\x80\x80";
    env.body_case = REMISS__ENVELOPE__BODY_REFERRAL;
    env.referral = &bad;
    cr_assert_not(utf8_message_valid(&env.base, 64));
    /* ...and a union slot with no member selected is not read at all. */
    env.body_case = REMISS__ENVELOPE__BODY__NOT_SET;
    cr_assert(utf8_message_valid(&env.base, 64));
}

Test(utf8, message_length_limit)
{
    Remiss__AuditEntry e = REMISS__AUDIT_ENTRY__INIT;
    char *cats[] = {"identity", "social"};
    e.detail = "0123456789";
    e.n_categories = 2;
    e.categories = cats;
    cr_assert(utf8_message_valid(&e.base, 10));
    cr_assert_not(utf8_message_valid(&e.base, 9));
    e.detail = "";
    cr_assert(utf8_message_valid(&e.base, 8));
    cr_assert_not(utf8_message_valid(&e.base, 7)); /* "identity" in the repeated field */
    cr_assert(utf8_message_valid(&e.base, SIZE_MAX));
}
