/* fuzz_bodies: every body decoder. The first input byte picks a message
 * type of remiss.proto (the eight bodies, the subject and category blocks,
 * and the other messages that cross the wire); the rest is its encoding.
 * A decoded body or block is also placed in an otherwise fixed envelope
 * and taken through category_of_envelope and the JSON form. */
#include <string.h>

#include "category.h"
#include "fuzz_common.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where a decoded message goes in the envelope. */
typedef enum { S_NONE, S_BODY, S_SUBJECT, S_CONTACT, S_BLOCK } s_place_t;

static const struct {
    const ProtobufCMessageDescriptor *desc;
    s_place_t place;
    Remiss__MessageType type; /* S_BODY: the type it is the body of */
    size_t offset;            /* S_BLOCK: the envelope member */
} s_msgs[] = {
    {&remiss__referral__descriptor, S_BODY, REMISS__MESSAGE_TYPE__REFERRAL, 0},
    {&remiss__case_submission__descriptor, S_BODY, REMISS__MESSAGE_TYPE__CASE_SUBMISSION, 0},
    {&remiss__transfer_ack__descriptor, S_BODY, REMISS__MESSAGE_TYPE__TRANSFER_ACK, 0},
    {&remiss__inquiry__descriptor, S_BODY, REMISS__MESSAGE_TYPE__INQUIRY, 0},
    {&remiss__inquiry_answer__descriptor, S_BODY, REMISS__MESSAGE_TYPE__INQUIRY_ANSWER, 0},
    {&remiss__consent_grant__descriptor, S_BODY, REMISS__MESSAGE_TYPE__CONSENT_GRANT, 0},
    {&remiss__consent_revoke__descriptor, S_BODY, REMISS__MESSAGE_TYPE__CONSENT_REVOKE, 0},
    {&remiss__concern_report__descriptor, S_BODY, REMISS__MESSAGE_TYPE__CONCERN_REPORT, 0},
    {&remiss__person__descriptor, S_SUBJECT, 0, 0},
    {&remiss__contact__descriptor, S_CONTACT, 0, 0},
    {&remiss__education__descriptor, S_BLOCK, 0, offsetof(Remiss__Envelope, education)},
    {&remiss__employment__descriptor, S_BLOCK, 0, offsetof(Remiss__Envelope, employment)},
    {&remiss__social__descriptor, S_BLOCK, 0, offsetof(Remiss__Envelope, social)},
    {&remiss__health__descriptor, S_BLOCK, 0, offsetof(Remiss__Envelope, health)},
    {&remiss__criminal__descriptor, S_BLOCK, 0, offsetof(Remiss__Envelope, criminal)},
    {&remiss__receipt__descriptor, S_NONE, 0, 0},
    {&remiss__signed_receipt__descriptor, S_NONE, 0, 0},
    {&remiss__audit_entry__descriptor, S_NONE, 0, 0},
    {&remiss__tree_head__descriptor, S_NONE, 0, 0},
    {&remiss__signed_tree_head__descriptor, S_NONE, 0, 0},
    {&remiss__subscribe__descriptor, S_NONE, 0, 0},
    {&remiss__ack__descriptor, S_NONE, 0, 0},
    {&remiss__status_query__descriptor, S_NONE, 0, 0},
    {&remiss__proof_query__descriptor, S_NONE, 0, 0},
    {&remiss__delivery__descriptor, S_NONE, 0, 0},
    {&remiss__result__descriptor, S_NONE, 0, 0},
    {&remiss__status_reply__descriptor, S_NONE, 0, 0},
    {&remiss__proof_reply__descriptor, S_NONE, 0, 0},
};
#define S_NMSGS (sizeof s_msgs / sizeof s_msgs[0])

/* Sets the body member of env that type selects to body. */
static void
s_set_body(Remiss__Envelope *env, Remiss__MessageType type, ProtobufCMessage *body)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &remiss__envelope__descriptor, (unsigned)msgtype_body_case(type));
    FUZZ_CHECK(f && f->type == PROTOBUF_C_TYPE_MESSAGE, "type %d has no body", (int)type);
    env->type = type;
    *(ProtobufCMessage **)((char *)env + f->offset) = body;
    *(uint32_t *)((char *)env + f->quantifier_offset) = f->id;
}

static void
s_in_envelope(size_t i, ProtobufCMessage *m)
{
    static uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Referral ref = REMISS__REFERRAL__INIT;
    Remiss__Person subject = REMISS__PERSON__INIT;
    env.message_id.data = id;
    env.message_id.len = sizeof id;
    env.sender = "sdf-rinkeby-kista";
    env.recipient = "jobbtorg";
    env.created_at = INT64_C(1795000000000);
    env.purpose = "anvisning";
    subject.personnummer = "20060115-2382";
    env.subject = &subject;
    s_set_body(&env, REMISS__MESSAGE_TYPE__REFERRAL, &ref.base);

    switch (s_msgs[i].place) {
    case S_BODY:
        s_set_body(&env, s_msgs[i].type, m);
        break;
    case S_SUBJECT:
        env.subject = (Remiss__Person *)m;
        break;
    case S_CONTACT:
        subject.contact = (Remiss__Contact *)m;
        break;
    case S_BLOCK:
        *(ProtobufCMessage **)((char *)&env + s_msgs[i].offset) = m;
        break;
    case S_NONE:
        return;
    }
    catset_t cats = category_of_envelope(&env);
    /* A category present means the block has bytes; an empty nested block
     * or unknown fields give bytes without data (category.c). */
    bool bytes = protobuf_c_message_get_packed_size(m) > 0;
    if (s_msgs[i].place == S_CONTACT)
        FUZZ_CHECK(!(cats & (1u << CAT_CONTACT)) || bytes, "contact category without bytes");
    if (s_msgs[i].place == S_BLOCK)
        FUZZ_CHECK(__builtin_popcount(cats) == 1 || bytes, "block category without bytes");
    if (utf8_message_valid(&env.base, SIZE_MAX))
        fuzz_check_json(&env);
    if (s_msgs[i].place == S_SUBJECT)
        env.subject = NULL; /* m is freed by the caller */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t i = data[0] % S_NMSGS;
    ProtobufCMessage *m = protobuf_c_message_unpack(s_msgs[i].desc, NULL, size - 1, data + 1);
    if (!m)
        return 0;
    (void)utf8_message_valid(m, 4096);
    fuzz_check_repack(m);
    s_in_envelope(i, m);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
