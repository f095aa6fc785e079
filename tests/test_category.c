/* Tests for category: derivation from filled fields, names, formatting. */
#include <criterion/criterion.h>
#include <string.h>

#include "category.h"

Test(category, names_round_trip)
{
    for (unsigned i = 0; i < CAT_COUNT; i++) {
        category_t c;
        cr_assert(category_parse(category_name((category_t)i), &c));
        cr_assert_eq(c, (category_t)i);
    }
    category_t c;
    cr_assert_not(category_parse("Health", &c));
    cr_assert_not(category_parse("", &c));
    cr_assert_null(category_name(CAT_COUNT));
}

Test(category, derived_from_filled_fields_only)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Person subj = REMISS__PERSON__INIT;
    Remiss__Contact contact = REMISS__CONTACT__INIT;
    Remiss__Health health = REMISS__HEALTH__INIT;
    Remiss__Social social = REMISS__SOCIAL__INIT;
    cr_assert_eq(category_of_envelope(&env), 0);

    subj.personnummer = "20060115-2382";
    env.subject = &subj;
    subj.contact = &contact; /* present but empty: not contact data */
    env.health = &health;    /* present but empty: not health data */
    cr_assert_eq(category_of_envelope(&env), 1u << CAT_IDENTITY);

    contact.phone = "070-1234567";
    health.disability = true;
    social.notes = "x";
    env.social = &social;
    env.free_text = "hello";
    cr_assert_eq(category_of_envelope(&env), (1u << CAT_IDENTITY) | (1u << CAT_CONTACT) |
                                                 (1u << CAT_HEALTH) | (1u << CAT_SOCIAL) |
                                                 (1u << CAT_FREE_TEXT));
}

Test(category, format_and_truncation)
{
    char buf[64];
    catset_t s = (1u << CAT_IDENTITY) | (1u << CAT_SOCIAL) | (1u << CAT_CRIMINAL);
    cr_assert_eq(category_format(s, buf, sizeof buf), strlen("identity,social,criminal"));
    cr_assert_str_eq(buf, "identity,social,criminal");
    char small[6];
    size_t need = category_format(s, small, sizeof small);
    cr_assert_eq(need, strlen("identity,social,criminal"));
    cr_assert_str_eq(small, "ident");
    cr_assert_eq(category_format(0, buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "");
}

Test(category, message_types)
{
    Remiss__MessageType t;
    cr_assert(msgtype_parse("case_submission", &t));
    cr_assert_eq(t, REMISS__MESSAGE_TYPE__CASE_SUBMISSION);
    cr_assert_str_eq(msgtype_name(REMISS__MESSAGE_TYPE__CONCERN_REPORT), "concern_report");
    cr_assert_eq(msgtype_body_case(REMISS__MESSAGE_TYPE__TRANSFER_ACK),
                 REMISS__ENVELOPE__BODY_TRANSFER_ACK);
    cr_assert_not(msgtype_parse("REFERRAL", &t));
    cr_assert_null(msgtype_name(REMISS__MESSAGE_TYPE__MESSAGE_TYPE_UNSPECIFIED));
}

/* Found by fuzzing: a subject whose only content is an empty contact block
 * is not identity data (its JSON form has no subject at all). */
Test(category, an_empty_nested_block_is_not_data)
{
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Person subj = REMISS__PERSON__INIT;
    Remiss__Contact contact = REMISS__CONTACT__INIT;
    subj.contact = &contact;
    env.subject = &subj;
    cr_assert_gt(remiss__person__get_packed_size(&subj), 0, "present in binary");
    cr_assert_eq(category_of_envelope(&env), 0, "but holds nothing");
    contact.email = "a@example.org";
    cr_assert_eq(category_of_envelope(&env), (1u << CAT_IDENTITY) | (1u << CAT_CONTACT));
}
