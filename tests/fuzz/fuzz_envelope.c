/* fuzz_envelope: the signed-envelope decoder and verifier, as the broker
 * meets a submit: ClientFrame -> SignedEnvelope -> Envelope, the signature
 * (pki_verify with a P-256 key made at start), utf8_message_valid,
 * category_of_envelope, and the envelope's JSON form.
 *
 * The input is read three ways: as a ClientFrame (its submit), as a
 * SignedEnvelope and as an Envelope. A signature of exactly "SIGN" is
 * replaced by a real one, so any envelope can reach the accepted path. */
#include <openssl/evp.h>
#include <string.h>

#include "category.h"
#include "fuzz_common.h"
#include "pki.h"
#include "utf8.h"

/* The broker's limit on one string is the frame size; 4096 is a tighter
 * limit to compare against. */
#define S_SHORT 4096

static EVP_PKEY *s_key;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s_key = EVP_EC_gen("P-256");
    FUZZ_CHECK(s_key, "cannot make a P-256 key");
    return 0;
}

static void
s_envelope(const Remiss__Envelope *env)
{
    bool short_ok = utf8_message_valid(&env->base, S_SHORT);
    bool any_ok = utf8_message_valid(&env->base, SIZE_MAX);
    FUZZ_CHECK(!short_ok || any_ok, "valid under a limit but not without one");
    catset_t cats = category_of_envelope(env);
    FUZZ_CHECK((cats & ~CATSET_ALL) == 0, "category set %#x out of range", cats);
    /* Identity means the subject holds data, so something is in its bytes
     * (the converse need not hold: an empty nested block, unknown fields). */
    FUZZ_CHECK(!(cats & (1u << CAT_IDENTITY)) ||
                   (env->subject && protobuf_c_message_get_packed_size(&env->subject->base) > 0),
               "identity without any subject bytes");
    char buf[128];
    size_t need = category_format(cats, buf, sizeof buf);
    FUZZ_CHECK(need < sizeof buf && strlen(buf) == need, "category_format is inconsistent");
    const char *tname = msgtype_name(env->type);
    Remiss__Envelope__BodyCase body = msgtype_body_case(env->type);
    FUZZ_CHECK((tname == NULL) == (body == REMISS__ENVELOPE__BODY__NOT_SET),
               "type name and body case disagree for type %d", (int)env->type);
    fuzz_check_repack(&env->base);
    if (any_ok)
        fuzz_check_json(env);
}

static void
s_signed(const Remiss__SignedEnvelope *se)
{
    const uint8_t *sig = se->signature.data;
    size_t siglen = se->signature.len;
    uint8_t mine[PKI_SIG_MAX];
    bool made = siglen == FUZZ_SIGN_LEN && memcmp(sig, FUZZ_SIGN, FUZZ_SIGN_LEN) == 0;
    if (made) {
        FUZZ_CHECK(
            pki_sign(s_key, PKI_CTX_ENVELOPE, se->envelope.data, se->envelope.len, mine, &siglen),
            "pki_sign failed");
        sig = mine;
    }
    bool good =
        pki_verify(s_key, PKI_CTX_ENVELOPE, se->envelope.data, se->envelope.len, sig, siglen);
    FUZZ_CHECK(!made || good, "a fresh signature does not verify");
    if (good)
        FUZZ_CHECK(
            !pki_verify(s_key, PKI_CTX_RECEIPT, se->envelope.data, se->envelope.len, sig, siglen),
            "an envelope signature verifies as a receipt signature");
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, se->envelope.len, se->envelope.data);
    if (env)
        s_envelope(env);
    remiss__envelope__free_unpacked(env, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Remiss__ClientFrame *cf = remiss__client_frame__unpack(NULL, size, data);
    if (cf) {
        if (cf->kind_case == REMISS__CLIENT_FRAME__KIND_SUBMIT && cf->submit)
            s_signed(cf->submit);
        fuzz_check_repack(&cf->base);
        remiss__client_frame__free_unpacked(cf, NULL);
    }
    Remiss__SignedEnvelope *se = remiss__signed_envelope__unpack(NULL, size, data);
    if (se)
        s_signed(se);
    remiss__signed_envelope__free_unpacked(se, NULL);
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, size, data);
    if (env)
        s_envelope(env);
    remiss__envelope__free_unpacked(env, NULL);
    return 0;
}
