/* mkcorpus: writes the seed corpus of the fuzz targets from the example
 * messages (docs/examples) and the example policy (config/stockholm.policy).
 * Deterministic: fixed ids and times, marker signatures ("SIGN") instead
 * of real ones, no keys. `make fuzz-corpus` runs it from the repository
 * root: mkcorpus OUTDIR. */
#include <errno.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evidence.h"
#include "fuzz_common.h"
#include "merkle.h"
#include "note.h"
#include "pki.h"
#include "msgjson.h"
#include "pnr.h"
#include "policy.h"

#define S_T0 INT64_C(1795392000000) /* 2026-11-23T00:00:00Z */

static const char *s_out;

static const struct {
    const char *name;
    const char *sender;
} s_examples[] = {
    {"referral", "sdf-rinkeby-kista"},       {"case_submission", "jobbtorg"},
    {"transfer_ack", "af-kommunhubb"},       {"inquiry", "jobbtorg"},
    {"inquiry_answer", "af-kommunhubb"},     {"consent_grant", "sdf-rinkeby-kista"},
    {"consent_revoke", "sdf-rinkeby-kista"}, {"concern_report", "jobbtorg"},
};
#define S_NEX (sizeof s_examples / sizeof s_examples[0])

static void
s_write(const char *target, const char *name, const void *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_out, target);
    FUZZ_CHECK(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s", path);
    snprintf(path, sizeof path, "%s/%s/%s", s_out, target, name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
}

static void
s_write_msg(const char *target, const char *name, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *buf = fuzz_pack(m, &len);
    s_write(target, name, buf, len);
    free(buf);
}

/* A file's bytes (caller frees). */
static char *
s_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f, "cannot open %s (run from the repository root)", path);
    char *buf = malloc(1 << 20);
    FUZZ_CHECK(buf, "out of memory");
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* Example i as an envelope with id, sender and time filled in. */
static Remiss__Envelope *
s_example(size_t i, char **json, size_t *json_len)
{
    char path[256];
    snprintf(path, sizeof path, "docs/examples/%s.json", s_examples[i].name);
    *json = s_read(path, json_len);
    Remiss__Envelope *env = NULL;
    remiss_err_t err;
    FUZZ_CHECK(msgjson_parse(*json, *json_len, &env, &err) == REMISS_OK, "%s: %s", path, err.text);
    env->message_id.data = malloc(16);
    FUZZ_CHECK(env->message_id.data, "out of memory");
    for (int k = 0; k < 16; k++)
        env->message_id.data[k] = (uint8_t)(0x10 * i + (size_t)k);
    env->message_id.len = 16;
    env->sender = strdup(s_examples[i].sender);
    env->created_at = S_T0 + (int64_t)i;
    return env;
}

static ProtobufCBinaryData
s_bin(const void *data, size_t len)
{
    return (ProtobufCBinaryData){len, (uint8_t *)data};
}

/* ------------------------------------------------------------ per target */

static void
s_envelope_seeds(size_t i, const Remiss__Envelope *env, const uint8_t *bytes, size_t len)
{
    char name[64];
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    se.envelope = s_bin(bytes, len);
    se.signature = s_bin(FUZZ_SIGN, FUZZ_SIGN_LEN);
    cf.request_id = i + 1;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_SUBMIT;
    cf.submit = &se;
    snprintf(name, sizeof name, "%s.frame", s_examples[i].name);
    s_write_msg("envelope", name, &cf.base);
    snprintf(name, sizeof name, "%s.signed", s_examples[i].name);
    s_write_msg("envelope", name, &se.base);
    snprintf(name, sizeof name, "%s.envelope", s_examples[i].name);
    s_write_msg("envelope", name, &env->base);
    if (i == 0) {
        uint8_t bad[72];
        memset(bad, 0x30, sizeof bad);
        se.signature = s_bin(bad, sizeof bad);
        s_write_msg("envelope", "referral.badsig", &se.base);
    }
}

static void
s_body_seed(uint8_t index, const char *name, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *buf = fuzz_pack(m, &len), *seed = malloc(len + 1);
    FUZZ_CHECK(seed, "out of memory");
    seed[0] = index;
    memcpy(seed + 1, buf, len);
    s_write("bodies", name, seed, len + 1);
    free(buf);
    free(seed);
}

/* Indexes as in fuzz_bodies.c's table. */
static void
s_bodies_seeds(size_t i, const Remiss__Envelope *env)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(
        &remiss__envelope__descriptor, (unsigned)env->body_case);
    const ProtobufCMessage *body = *(ProtobufCMessage *const *)((const char *)env + f->offset);
    s_body_seed((uint8_t)(env->type - 1), s_examples[i].name, body);
    if (i != 0 && i != 7)
        return;
    const char *tag = i == 0 ? "referral" : "concern";
    char name[64];
    const ProtobufCMessage *blocks[] = {
        &env->subject->base, env->subject->contact ? &env->subject->contact->base : NULL,
        env->education ? &env->education->base : NULL,
        env->employment ? &env->employment->base : NULL, env->social ? &env->social->base : NULL};
    for (uint8_t k = 0; k < 5; k++) {
        if (!blocks[k])
            continue;
        snprintf(name, sizeof name, "%s.block%u", tag, (unsigned)(8 + k));
        s_body_seed((uint8_t)(8 + k), name, blocks[k]);
    }
}

static void
s_bodies_extra(void)
{
    static uint8_t id[16] = {0xa1, 0xa2, 0xa3};
    static uint8_t hash[32] = {0xee};
    Remiss__Health h = REMISS__HEALTH__INIT;
    Remiss__Criminal c = REMISS__CRIMINAL__INIT;
    Remiss__Receipt rc = REMISS__RECEIPT__INIT;
    Remiss__Ack ack = REMISS__ACK__INIT;
    Remiss__StatusReply st = REMISS__STATUS_REPLY__INIT;
    h.notes = "Kontakt med socialpsykiatrin.";
    h.social_psychiatry = 1;
    h.work_capacity = "deltid";
    c.notes = "Frivårdspåföljd.";
    c.probation = 1;
    s_body_seed(13, "health", &h.base);
    s_body_seed(14, "criminal", &c.base);
    rc.message_id = s_bin(id, 16);
    rc.code = REMISS__REASON_CODE__E_NO_CONSENT;
    rc.sentence = "No registered consent covers this.";
    rc.audit_index = 17;
    rc.envelope_sha256 = s_bin(hash, 32);
    rc.broker_time = S_T0;
    rc.sender = "jobbtorg";
    s_body_seed(15, "receipt", &rc.base);
    ack.message_id = s_bin(id, 16);
    ack.kind = REMISS__ACK_KIND__REFUSE;
    ack.reason = "not for us";
    s_body_seed(21, "ack", &ack.base);
    st.message_id = s_bin(id, 16);
    st.state = REMISS__MESSAGE_STATE__DONE;
    st.recipient = "af-kommunhubb";
    st.transfer_decision = REMISS__TRANSFER_DECISION__ACCEPTED;
    st.transfer_ack_id = s_bin(id, 16);
    s_body_seed(26, "status_reply", &st.base);
}

/* Index of party in the policy, as fuzz_consent's control byte. */
static uint8_t
s_party_index(const policy_t *p, const char *party)
{
    for (size_t i = 0; i < policy_party_count(p); i++)
        if (strcmp(policy_party_at(p, i), party) == 0)
            return (uint8_t)i;
    FUZZ_CHECK(0, "party %s is not in the policy", party);
}

static void
s_consent_seed(const char *name, uint8_t sender, int16_t days, const uint8_t *env, size_t len,
               const uint8_t *grant, size_t glen, uint8_t flags)
{
    uint8_t *buf = malloc(3 + len + FUZZ_SEP_LEN + 1 + glen);
    FUZZ_CHECK(buf, "out of memory");
    size_t n = 0;
    buf[n++] = sender;
    buf[n++] = (uint8_t)((uint16_t)days >> 8);
    buf[n++] = (uint8_t)days;
    memcpy(buf + n, env, len);
    n += len;
    if (grant) {
        memcpy(buf + n, FUZZ_SEP, FUZZ_SEP_LEN);
        n += FUZZ_SEP_LEN;
        buf[n++] = flags;
        memcpy(buf + n, grant, glen);
        n += glen;
    }
    fuzz_part_t parts[3];
    FUZZ_CHECK(fuzz_split(buf + 3, n - 3, parts, 3) == (grant ? 2u : 1u),
               "the separator occurs inside seed %s", name);
    s_write("consent", name, buf, n);
    free(buf);
}

static void
s_client_seeds(size_t i, const uint8_t *bytes, size_t len)
{
    char name[64];
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    Remiss__Delivery d = REMISS__DELIVERY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    se.envelope = s_bin(bytes, len);
    se.signature = s_bin(FUZZ_SIGN, FUZZ_SIGN_LEN);
    d.envelope = &se;
    d.sender_cert = s_bin("CERT", 4);
    d.accepted_at = S_T0 + 1000;
    d.attempt = 1;
    d.audit_index = 40 + i;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_DELIVERY;
    bf.delivery = &d;
    snprintf(name, sizeof name, "delivery.%s", s_examples[i].name);
    s_write_msg("client", name, &bf.base);
}

/* A delivery from the party fuzz_client revokes ("RVKD"). */
static void
s_client_revoked(Remiss__Envelope *env)
{
    char *sender = env->sender;
    size_t len;
    env->sender = "sdf-spanga-tensta";
    uint8_t *bytes = fuzz_pack(&env->base, &len);
    env->sender = sender;
    Remiss__SignedEnvelope se = REMISS__SIGNED_ENVELOPE__INIT;
    Remiss__Delivery d = REMISS__DELIVERY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    se.envelope = s_bin(bytes, len);
    se.signature = s_bin(FUZZ_SIGN, FUZZ_SIGN_LEN);
    d.envelope = &se;
    d.sender_cert = s_bin("RVKD", 4);
    d.accepted_at = S_T0 + 1000;
    d.attempt = 2;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_DELIVERY;
    bf.delivery = &d;
    s_write_msg("client", "delivery.revoked", &bf.base);
    free(bytes);
}

static void
s_client_replies(void)
{
    static uint8_t id[16] = {0x01, 0x11, 0x21};
    static uint8_t hash[32] = {0x5a};
    Remiss__Receipt rc = REMISS__RECEIPT__INIT;
    Remiss__SignedReceipt sr = REMISS__SIGNED_RECEIPT__INIT;
    Remiss__Result res = REMISS__RESULT__INIT;
    Remiss__StatusReply st = REMISS__STATUS_REPLY__INIT;
    Remiss__BrokerFrame bf = REMISS__BROKER_FRAME__INIT;
    rc.message_id = s_bin(id, 16);
    rc.sentence = "The message is stored for delivery.";
    rc.audit_index = 17;
    rc.envelope_sha256 = s_bin(hash, 32);
    rc.broker_time = S_T0 + 5;
    rc.sender = "jobbtorg";
    size_t len;
    uint8_t *packed = fuzz_pack(&rc.base, &len);
    sr.receipt = s_bin(packed, len);
    sr.signature = s_bin(FUZZ_SIGN, FUZZ_SIGN_LEN);
    bf.request_id = 3;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_RECEIPT;
    bf.receipt = &sr;
    s_write_msg("client", "receipt.ok", &bf.base);
    free(packed);
    rc.code = REMISS__REASON_CODE__E_NO_CONSENT;
    rc.sentence = "No registered consent covers sender jobbtorg.";
    packed = fuzz_pack(&rc.base, &len);
    sr.receipt = s_bin(packed, len);
    s_write_msg("client", "receipt.refused", &bf.base);
    /* Signed in a batch of one: the root is the receipt's leaf hash. */
    Remiss__ReceiptBatch head = REMISS__RECEIPT_BATCH__INIT;
    uint8_t root[MERKLE_HASH_LEN];
    size_t hlen;
    merkle_leaf_hash(packed, len, root);
    head.root_hash = s_bin(root, sizeof root);
    head.size = 1;
    head.broker_time = S_T0 + 5;
    uint8_t *hpacked = fuzz_pack(&head.base, &hlen);
    sr.batch = s_bin(hpacked, hlen);
    s_write_msg("client", "receipt.batch", &bf.base);
    sr.batch = s_bin(NULL, 0);
    free(hpacked);
    free(packed);
    res.message_id = s_bin(id, 16);
    res.code = REMISS__REASON_CODE__E_RATE_LIMITED;
    res.sentence = "Slow down.";
    bf.kind_case = REMISS__BROKER_FRAME__KIND_RESULT;
    bf.result = &res;
    s_write_msg("client", "result", &bf.base);
    st.message_id = s_bin(id, 16);
    st.state = REMISS__MESSAGE_STATE__HELD;
    st.code = REMISS__REASON_CODE__E_CONSENT_REVOKED;
    bf.kind_case = REMISS__BROKER_FRAME__KIND_STATUS;
    bf.status = &st;
    s_write_msg("client", "status", &bf.base);
}

/* fuzz_text: a time, an id in mixed case, and hostile text. */
static void
s_text_seeds(void)
{
    static const char *const seeds[][2] = {
        {"time", "2026-11-23T10:15:00.123Z"},
        {"hex", "00112233445566778899AABBccddeeff"},
        {"hostile", "Enhet \"Kista\" \\ avd\t2\nerror: x\x1b[2J\xc2\x9b"},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
        s_write("text", seeds[i][0], seeds[i][1], strlen(seeds[i][1]));
}

static void
s_pnr_seeds(void)
{
    /* Byte 0 picks the reference date in fuzz_pnr.c (0: 2026-11-23). */
    static const char *const nums[] = {
        "\x00"
        "20060115-2382",
        "\x00"
        "200601152382",
        "\x00"
        "060115-2382",
        "\x00"
        "0601152382",
        "\x00"
        "20090514-2386",
        "\x00"
        "060175-2389",
        "\x00"
        "19120101+0194",
        "\x00"
        "120101+0194",
        "\x01"
        "000229-2381",
        "\x06"
        "20000229-2381",
        "\x00"
        "2006-01-15",
        "\x08"
        "19991231-1231",
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "pnr%02zu", i);
        s_write("pnr", name, nums[i], 1 + strlen(nums[i] + 1));
    }
}

static const char s_small_policy[] = "[general]\n"
                                     "roles = a, b\n"
                                     "purposes = p, q\n"
                                     "minor_age = 18\n"
                                     "minor_consent = subject\n"
                                     "\n"
                                     "[party one]\n"
                                     "role = a\n"
                                     "\n"
                                     "[party two]\n"
                                     "role = b\n"
                                     "\n"
                                     "[rule r1]\n"
                                     "type = referral\n"
                                     "from = a\n"
                                     "to = b\n"
                                     "purposes = p\n"
                                     "categories = identity, contact ; comment\n"
                                     "basis = consent\n"
                                     "min_age = 16\n"
                                     "max_age = 29\n"
                                     "\n"
                                     "[rule r2]\n"
                                     "type = concern_report\n"
                                     "from = b\n"
                                     "to = a\n"
                                     "purposes = q\n"
                                     "categories = identity\n"
                                     "basis = statute\n"
                                     "statute = \"SoL 14 kap. 1 §\"\n";

/* The letter: an acceptance with its consent, a delivery of it, a statute
 * message and a refusal, as the broker logs them (fuzz_letter). */
static void
s_letter_seeds(void)
{
    static uint8_t id[16] = {1, 2, 3};
    static char *cats[] = {"identity", "social"};
    Remiss__AuditEntry e[4];
    uint8_t *buf[4], seed[4096];
    size_t len[4], used = 0;
    for (size_t i = 0; i < 4; i++) {
        remiss__audit_entry__init(&e[i]);
        e[i].index = i;
        e[i].time = S_T0 + (int64_t)i * 60000;
        e[i].sender = "sdf-rinkeby-kista";
        e[i].recipient = "jobbtorg";
        e[i].type = REMISS__MESSAGE_TYPE__REFERRAL;
        e[i].purpose = "anvisning";
        e[i].n_categories = 2;
        e[i].categories = cats;
        e[i].message_id.data = id;
        e[i].message_id.len = sizeof id;
    }
    e[0].event = REMISS__AUDIT_EVENT__EV_ACCEPTED;
    e[0].detail = "rule=referral-anvisning consent=c-1";
    e[1].event = REMISS__AUDIT_EVENT__EV_DELIVERED;
    e[2].event = REMISS__AUDIT_EVENT__EV_ACCEPTED;
    e[2].type = REMISS__MESSAGE_TYPE__CONCERN_REPORT;
    e[2].sender = "jobbtorg";
    e[2].recipient = "sdf-rinkeby-kista";
    e[2].purpose = "oro";
    e[2].detail = "rule=oro-jobbtorg";
    e[3].event = REMISS__AUDIT_EVENT__EV_REFUSED;
    e[3].code = REMISS__REASON_CODE__E_NO_CONSENT;
    for (size_t i = 0; i < 4; i++) {
        buf[i] = fuzz_pack(&e[i].base, &len[i]);
        FUZZ_CHECK(used + len[i] + FUZZ_SEP_LEN <= sizeof seed, "letter seed too long");
        memcpy(seed + used, buf[i], len[i]);
        used += len[i];
        if (i < 3) {
            memcpy(seed + used, FUZZ_SEP, FUZZ_SEP_LEN);
            used += FUZZ_SEP_LEN;
        }
        free(buf[i]);
    }
    s_write("letter", "four-entries", seed, used);
}

/* ---------------------------------------------------------------- evidence */

/* fuzz_evidence: bundles that verify against docs/test-vectors/ca.crt,
 * around the vectors' signed receipt 0 (audit index 40): an audit log of
 * 41 entries, the last the message's intake, and a tree head signed with
 * the vectors' broker key. ECDSA signatures differ on every run, so the
 * tree head's signature is this constant (remade, and printed, when the
 * vectors change: mkcorpus then stops with the new value to paste). */
#define S_EV_TIME INT64_C(1798761600000) /* 2027-01-01, inside the vectors' certificates */
#define S_EV_MAX  64
static const char s_ev_sig_hex[] =
    "304402202bb942622ea7a7f1eda8906599d649cd770894425098f603c7bf2fba2caa0d4d0220077610c61f7852ee"
    "8e74c45d9dd477a965a8bc75f085794a6d39e0b73ee223fc";

static uint8_t s_ev_leaf[S_EV_MAX][MERKLE_HASH_LEN];

/* A perfect subtree's hash from the leaves (merkle_get_fn). */
static remiss_code_t
s_ev_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t l[MERKLE_HASH_LEN], r[MERKLE_HASH_LEN];
    if (level == 0) {
        FUZZ_CHECK(index < S_EV_MAX, "leaf %llu", (unsigned long long)index);
        memcpy(out, s_ev_leaf[index], MERKLE_HASH_LEN);
        return REMISS_OK;
    }
    s_ev_get(ctx, level - 1, 2 * index, l);
    s_ev_get(ctx, level - 1, 2 * index + 1, r);
    return merkle_node_hash(l, r, out);
}

/* Entry i of the log: the message's intake for the last, else a start. */
static uint8_t *
s_ev_entry(uint64_t i, const Remiss__Receipt *rc, size_t *len)
{
    Remiss__AuditEntry e = REMISS__AUDIT_ENTRY__INIT;
    e.index = i;
    e.time = S_EV_TIME - 1000;
    e.event = REMISS__AUDIT_EVENT__EV_BROKER_STARTED;
    if (i == rc->audit_index) {
        e.event = REMISS__AUDIT_EVENT__EV_ACCEPTED;
        e.sender = (char *)"sdf-rinkeby-kista";
        e.recipient = (char *)"jobbtorg";
        e.type = REMISS__MESSAGE_TYPE__REFERRAL;
        e.message_id = rc->message_id;
        e.envelope_sha256 = rc->envelope_sha256;
        e.purpose = (char *)"anvisning";
    }
    return fuzz_pack(&e.base, len);
}

/* The signed tree head over the leaves: the constant signature if it
 * still verifies, else stops with a fresh one. */
static void
s_ev_sign(Remiss__SignedTreeHead *sth, uint64_t size, const uint8_t root[MERKLE_HASH_LEN])
{
    static uint8_t head[128], sig[PKI_SIG_MAX];
    size_t siglen = strlen(s_ev_sig_hex) / 2;
    Remiss__TreeHead th = REMISS__TREE_HEAD__INIT;
    th.tree_size = size;
    th.root_hash = s_bin(root, MERKLE_HASH_LEN);
    th.timestamp = S_EV_TIME;
    size_t len = remiss__tree_head__pack(&th, head);
    /* Read directly: pki_key_load refuses the vector's published (0644) key. */
    FILE *f = fopen("docs/test-vectors/broker.key", "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    FUZZ_CHECK(key, "cannot read docs/test-vectors/broker.key");
    fclose(f);
    for (size_t i = 0; i < siglen && siglen <= sizeof sig; i++)
        sscanf(s_ev_sig_hex + 2 * i, "%2hhx", &sig[i]);
    if (!pki_verify(key, PKI_CTX_TREEHEAD, head, len, sig, siglen)) {
        FUZZ_CHECK(pki_sign(key, PKI_CTX_TREEHEAD, head, len, sig, &siglen), "cannot sign");
        fprintf(stderr, "mkcorpus: the test vectors changed; set s_ev_sig_hex to\n");
        for (size_t i = 0; i < siglen; i++)
            fprintf(stderr, "%02x", sig[i]);
        fprintf(stderr, "\n");
        FUZZ_CHECK(false, "and run make fuzz-corpus again");
    }
    EVP_PKEY_free(key);
    sth->tree_head = s_bin(head, len);
    sth->signature = s_bin(sig, siglen);
}

/* The checkpoint of the tree head with a placeholder signature line (no
 * witness list is given, so only its form is read). */
static void
s_ev_checkpoint(char *buf, size_t cap, uint64_t size, const uint8_t root[MERKLE_HASH_LEN])
{
    uint8_t raw[68] = {0x01, 0x02, 0x03, 0x04};
    char b64[100];
    size_t n = checkpoint_format("remiss.fuzz/audit", size, root, buf, cap);
    FUZZ_CHECK(n > 0 && note_b64_encode(raw, sizeof raw, b64, sizeof b64) > 0, "checkpoint");
    snprintf(buf + n, cap - n, "\n\xe2\x80\x94 remiss.fuzz/audit %s\n", b64);
}

static void
s_ev_write(const char *name, const uint8_t id[16], const Remiss__ProofReply *pr,
           const uint8_t *receipt, size_t rlen)
{
    remiss_err_t err;
    char *bundle = evidence_build(id, pr, "docs/test-vectors/broker.crt", receipt, rlen, &err);
    FUZZ_CHECK(bundle, "%s", err.text);
    FUZZ_CHECK(evidence_verify(bundle, strlen(bundle), "docs/test-vectors/ca.crt", NULL, NULL,
                               &err) == REMISS_OK,
               "the %s seed does not verify: %s", name, err.text);
    s_write("evidence", name, bundle, strlen(bundle));
    free(bundle);
}

static void
s_evidence_seeds(void)
{
    static uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    ProtobufCBinaryData pb[MERKLE_MAX_PROOF];
    size_t rlen, elen = 0, plen;
    char *raw = s_read("docs/test-vectors/receipts/signed-receipt-0.bin", &rlen), cp[512];
    Remiss__SignedReceipt *sr = remiss__signed_receipt__unpack(NULL, rlen, (uint8_t *)raw);
    Remiss__Receipt *rc =
        sr ? remiss__receipt__unpack(NULL, sr->receipt.len, sr->receipt.data) : NULL;
    FUZZ_CHECK(rc && rc->audit_index < S_EV_MAX && rc->message_id.len == 16, "receipt vector");
    uint64_t size = rc->audit_index + 1;
    uint8_t root[MERKLE_HASH_LEN], *entry = NULL;
    for (uint64_t i = 0; i < size; i++) {
        free(entry);
        entry = s_ev_entry(i, rc, &elen);
        merkle_leaf_hash(entry, elen, s_ev_leaf[i]);
    }
    FUZZ_CHECK(merkle_root(size, s_ev_get, NULL, root) == REMISS_OK &&
                   merkle_inclusion_proof(rc->audit_index, size, s_ev_get, NULL, path,
                                          MERKLE_MAX_PROOF, &plen) == REMISS_OK,
               "tree");
    Remiss__SignedTreeHead sth = REMISS__SIGNED_TREE_HEAD__INIT;
    Remiss__ProofReply pr = REMISS__PROOF_REPLY__INIT;
    s_ev_sign(&sth, size, root);
    s_ev_checkpoint(cp, sizeof cp, size, root);
    for (size_t i = 0; i < plen; i++)
        pb[i] = s_bin(path[i], MERKLE_HASH_LEN);
    pr.leaf_index = rc->audit_index;
    pr.leaf_entry = s_bin(entry, elen);
    pr.n_inclusion_path = plen;
    pr.inclusion_path = pb;
    pr.tree_head = &sth;
    pr.checkpoint = cp;
    s_ev_write("plain", rc->message_id.data, &pr, NULL, 0);
    s_ev_write("receipt", rc->message_id.data, &pr, (const uint8_t *)raw, rlen);
    free(entry);
    remiss__receipt__free_unpacked(rc, NULL);
    remiss__signed_receipt__free_unpacked(sr, NULL);
    free(raw);
}

/* Hand-made seeds of fuzz_gateway (requests as gw_http hands them over),
 * fuzz_note (the C2SP spec's cosigned checkpoint, a Go sumdb vkey) and
 * fuzz_witness (add-checkpoint bodies): written here so that make
 * fuzz-corpus, which starts from an empty directory, keeps them. */
static const struct {
    const char *target, *name;
    size_t len; /* bytes, checked against strlen: no seed holds a NUL */
    const char *data;
} s_hand[] = {
    {"gateway", "consent", 686,
     "POST /v1/consents\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "Content-Type: application/json\n"
     "\n"
     "{\n"
     "  \"type\": \"consent_grant\",\n"
     "  \"to\": \"broker\",\n"
     "  \"consent_id\": \"c-2026-0001\",\n"
     "  \"subject\": {\n"
     "    \"personnummer\": \"20060115-2382\"\n"
     "  },\n"
     "  \"from_parties\": [\"sdf-rinkeby-kista\", \"jobbtorg\", \"af-kommunhubb\"],\n"
     "  \"to_parties\": [\"jobbtorg\", \"af-kommunhubb\"],\n"
     "  \"purposes\": [\"anvisning\", \"arendedragning\", \"overforing\", \"forfragan\"],\n"
     "  \"categories\": [\"identity\", \"contact\", \"education\", \"employment\", \"social\", "
     "\"free_text\"],\n"
     "  \"valid_from\": \"2026-11-01\",\n"
     "  \"valid_until\": \"2027-05-01\",\n"
     "  \"given_by\": \"subject\",\n"
     "  \"evidence_sha256\": \"7bb2d5ecea50bd1a53b9fb2e14ec2bf8f1ecab16d1b9796e950f1858f40c626a\"\n"
     "}\n"},
    {"gateway", "inbox", 72,
     "GET /v1/inbox?wait=0&max=5\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "\n"},
    {"gateway", "proof", 101,
     "GET /v1/messages/00112233445566778899aabbccddeeff/proof\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "\n"},
    {"gateway", "refuse", 160,
     "POST /v1/messages/00112233445566778899aabbccddeeff/refuse\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "Content-Type: application/json\n"
     "\n"
     "{\"reason\":\"fel mottagare\"}"},
    {"gateway", "revoke", 122,
     "DELETE /v1/consents/c-2026-0001\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "Content-Type: application/json\n"
     "\n"
     "{\"reason\":\"x\"}"},
    {"gateway", "send", 1294,
     "POST /v1/messages\n"
     "Authorization: Bearer fuzz-token-0123456789\n"
     "Content-Type: application/json\n"
     "Idempotency-Key: k1\n"
     "\n"
     "{\n"
     "  \"type\": \"referral\",\n"
     "  \"to\": \"jobbtorg\",\n"
     "  \"purpose\": \"anvisning\",\n"
     "  \"consent_id\": \"c-2026-0001\",\n"
     "  \"subject\": {\n"
     "    \"personnummer\": \"20060115-2382\",\n"
     "    \"name\": \"Kim Andersson\",\n"
     "    \"protected_identity\": false,\n"
     "    \"contact\": {\n"
     "      \"address\": \"Exempelgatan 1, 164 99 Kista\",\n"
     "      \"phone\": \"070-174 06 05\",\n"
     "      \"email\": \"kim.andersson@example.org\"\n"
     "    }\n"
     "  },\n"
     "  \"education\": {\n"
     "    \"highest_level\": \"gymnasium_ej_fullfoljd\",\n"
     "    \"ongoing_studies\": false,\n"
     "    \"notes\": \"Avbr\xc3\xb6t gymnasiet i \xc3\xa5rskurs 2.\"\n"
     "  },\n"
     "  \"employment\": {\n"
     "    \"registered_at_af\": false,\n"
     "    \"unemployed_since\": \"2025-06-15\",\n"
     "    \"notes\": \"Har s\xc3\xb6kt sommarjobb men inte haft anst\xc3\xa4llning.\"\n"
     "  },\n"
     "  \"social\": {\n"
     "    \"income_support\": true,\n"
     "    \"decision_ref\": \"EB-2026-000123\",\n"
     "    \"housing\": \"Bor hos f\xc3\xb6r\xc3\xa4lder\",\n"
     "    \"notes\": \"Ekonomiskt bist\xc3\xa5nd sedan augusti 2026.\"\n"
     "  },\n"
     "  \"free_text\": \"Kim vill komma ut i arbete och \xc3\xa4r motiverad till st\xc3\xb6"
     "d fr\xc3\xa5n Jobbtorg.\",\n"
     "  \"reason\": \"Ung person med f\xc3\xb6rs\xc3\xb6rjningsst\xc3\xb6"
     "d som beh\xc3\xb6ver st\xc3\xb6"
     "d mot arbete eller studier.\",\n"
     "  \"requested_support\": \"Kartl\xc3\xa4ggning och st\xc3\xb6"
     "d mot arbete\",\n"
     "  \"caseworker\": \"Handl\xc3\xa4ggare Testa Testsson, socialtj\xc3\xa4nsten Rinkeby-Kista "
     "(fiktiv)\"\n"
     "}\n"},
    {"gateway", "unauth", 42,
     "GET /healthz\n"
     "Authorization: Bearer wrong\n"
     "\n"},
    {"note", "go-vkey", 66, "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"},
    {"note", "spec-cosigned", 340,
     "example.com/behind-the-sofa\n"
     "20852163\n"
     "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
     "\n"
     "\xe2\x80\x94 example.com/behind-the-sofa "
     "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
     "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
     "\xe2\x80\x94 witness.example.com/w1 "
     "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/"
     "zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"},
    {"witness", "first", 76,
     "old 0\n"
     "\n"
     "\xfe\xfe\xfe\xferemiss.fuzz/audit\n"
     "5\n"
     "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"},
    {"witness", "proof", 121,
     "old 5\n"
     "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
     "\n"
     "\xfe\xfe\xfe\xferemiss.fuzz/audit\n"
     "9\n"
     "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"},
};

static void
s_hand_seeds(void)
{
    for (size_t i = 0; i < sizeof s_hand / sizeof s_hand[0]; i++) {
        FUZZ_CHECK(strlen(s_hand[i].data) == s_hand[i].len, "seed %s/%s", s_hand[i].target,
                   s_hand[i].name);
        s_write(s_hand[i].target, s_hand[i].name, s_hand[i].data, s_hand[i].len);
    }
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkcorpus OUTDIR (from the repository root)\n");
        return 2;
    }
    s_out = argv[1];
    remiss_err_t err;
    policy_t *policy = policy_load("config/stockholm.policy", &err);
    FUZZ_CHECK(policy, "%s", err.text);

    uint8_t *grant = NULL;
    size_t grant_len = 0;
    for (size_t i = 0; i < S_NEX; i++) {
        char *json;
        size_t json_len, len;
        Remiss__Envelope *env = s_example(i, &json, &json_len);
        uint8_t *bytes = fuzz_pack(&env->base, &len);
        char name[64];
        s_envelope_seeds(i, env, bytes, len);
        s_bodies_seeds(i, env);
        snprintf(name, sizeof name, "%s.json", s_examples[i].name);
        s_write("msgjson", name, json, json_len);
        if (i == 0) {
            msgjson_meta_t meta = {.from = s_examples[i].sender, .received_at = S_T0 + 2000};
            char *recv = msgjson_format(env, &meta);
            FUZZ_CHECK(recv, "cannot format the referral");
            s_write("msgjson", "referral.recv.json", recv, strlen(recv));
            free(recv);
        }
        s_client_seeds(i, bytes, len);
        if (i == 0)
            s_client_revoked(env);
        if (env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT) {
            grant = bytes;
            grant_len = len;
            bytes = NULL;
        }
        free(bytes);
        free(json);
        msgjson_free(&env);
    }
    FUZZ_CHECK(grant, "no consent grant among the examples");
    /* Consent seeds need the grant, so a second pass. */
    for (size_t i = 0; i < S_NEX; i++) {
        char *json, name[64];
        size_t json_len, len;
        Remiss__Envelope *env = s_example(i, &json, &json_len);
        uint8_t *bytes = fuzz_pack(&env->base, &len);
        uint8_t who = s_party_index(policy, s_examples[i].sender);
        snprintf(name, sizeof name, "%s", s_examples[i].name);
        s_consent_seed(name, who, 0, bytes, len, grant, grant_len, 0);
        if (i == 0) {
            s_consent_seed("referral.revoked", who, 0, bytes, len, grant, grant_len, 3);
            s_consent_seed("referral.expired", who, 200, bytes, len, grant, grant_len, 0);
            s_consent_seed("referral.none", who, 0, bytes, len, NULL, 0, 0);
        }
        free(bytes);
        free(json);
        msgjson_free(&env);
    }
    free(grant);
    s_bodies_extra();
    s_client_replies();
    s_pnr_seeds();
    s_letter_seeds();
    s_text_seeds();
    s_hand_seeds();
    s_evidence_seeds();
    size_t plen;
    char *text = s_read("config/stockholm.policy", &plen);
    s_write("policy", "stockholm.policy", text, plen);
    free(text);
    s_write("policy", "small.policy", s_small_policy, sizeof s_small_policy - 1);
    policy_free(&policy);
    return 0;
}
