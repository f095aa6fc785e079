/* fuzz_consent: consent evaluation with the real config/stockholm.policy.
 *
 * Input: one control byte (the sender: a party of the policy by index, or
 * an unknown one), two bytes of day offset from 2026-11-23 (signed, big
 * endian), then parts separated by FUZZ_SEP: an Envelope to decide, then
 * up to 64 consent records, each a flags byte (bit 0 revoked, bit 1 with a
 * revocation time) and a CONSENT_GRANT Envelope. Records are built as
 * intake builds them from the store: only grants with a valid subject.
 * The envelope goes through decide_envelope, decide_consent_grant and
 * decide_consent_revoke; results must hold together and sentences must
 * not repeat the subject's personnummer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "fuzz_common.h"

#define S_MAX_RECS 64
#define S_BASE_MS  INT64_C(1795392000000) /* 2026-11-23T00:00:00Z */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static policy_t *s_policy;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    remiss_err_t err;
    s_policy = policy_load(fuzz_src_path("config/stockholm.policy"), &err);
    FUZZ_CHECK(s_policy, "cannot load the policy: %s", err.text);
    return 0;
}

/* True if some piece of s is a valid personnummer or samordningsnummer. */
static bool
s_holds_pnr(const char *s, pnr_date_t today)
{
    size_t n = s ? strlen(s) : 0;
    pnr_t p;
    for (size_t i = 0; i < n; i++)
        for (size_t len = 10; len <= 13 && len <= n - i; len++)
            if (pnr_parse_mem(s + i, len, today, &p, NULL) == REMISS_OK)
                return true;
    return false;
}

/* The sentence a person or log sees never holds the subject's number,
 * except inside a consent id, which the grant check below covers. */
static void
s_no_pnr(const Remiss__Envelope *env, const remiss_err_t *err, const consent_rec_t *recs, size_t n)
{
    const char *p = env->subject ? env->subject->personnummer : NULL;
    if (!p || strlen(p) < 10 || !strstr(err->text, p))
        return;
    bool in_id = env->consent_id && strstr(env->consent_id, p);
    for (size_t i = 0; i < n && !in_id; i++)
        in_id = recs[i].consent_id && strstr(recs[i].consent_id, p);
    FUZZ_CHECK(in_id, "sentence repeats the personnummer: %s", err->text);
}

static void
s_decide(const Remiss__Envelope *env, const char *sender, pnr_date_t today,
         const consent_rec_t *recs, size_t n)
{
    decision_t d;
    remiss_err_t err = {0};
    remiss_code_t r = decide_envelope(s_policy, sender, env, today, recs, n, &d, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "decide: %s: %s\n", remiss_code_name(r), err.text);
    FUZZ_CHECK(remiss_code_is_wire((int)r) && r == err.code, "decide_envelope code %d/%d", r,
               err.code);
    FUZZ_CHECK(err.text[0], "no sentence");
    s_no_pnr(env, &err, recs, n);
    FUZZ_CHECK(d.categories == category_of_envelope(env), "categories differ");
    if (r != REMISS_OK)
        return;
    FUZZ_CHECK(d.rule && d.rule->type == env->type, "OK without a matching rule");
    FUZZ_CHECK((d.categories & ~d.rule->categories) == 0, "OK with categories the rule lacks");
    FUZZ_CHECK(d.subject.canonical[0], "OK without a subject");
    FUZZ_CHECK(!(env->subject->protected_identity && (d.categories & (1u << CAT_CONTACT))),
               "contact data of a protected person allowed");
    FUZZ_CHECK(policy_rule_age_ok(d.rule, pnr_age(&d.subject, today)), "OK outside the age scope");
    if (d.rule->basis == POLICY_BASIS_STATUTE)
        return;
    const consent_rec_t *c = d.consent;
    FUZZ_CHECK(c && c >= recs && c < recs + n, "consent basis without a consent");
    FUZZ_CHECK(!c->revoked, "relied on a withdrawn consent");
    FUZZ_CHECK(strcmp(c->subject, d.subject.canonical) == 0, "relied on another person's consent");
    if (env->consent_id && env->consent_id[0])
        FUZZ_CHECK(strcmp(c->consent_id, env->consent_id) == 0, "relied on another consent");
    pnr_date_t from, until;
    FUZZ_CHECK(pnr_date_parse(c->grant->valid_from, &from) &&
                   pnr_date_parse(c->grant->valid_until, &until) &&
                   pnr_date_cmp(from, today) <= 0 && pnr_date_cmp(today, until) <= 0,
               "relied on a consent not in force");
}

static void
s_consent(const Remiss__Envelope *env, const char *sender, pnr_date_t today,
          const consent_rec_t *recs, size_t n)
{
    pnr_t subj;
    remiss_err_t err = {0};
    remiss_code_t r = decide_consent_grant(s_policy, sender, env, today, &subj, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "grant: %s: %s\n", remiss_code_name(r), err.text);
    FUZZ_CHECK(remiss_code_is_wire((int)r) && r == err.code, "grant code %d/%d", r, err.code);
    s_no_pnr(env, &err, recs, n);
    if (r == REMISS_OK) {
        FUZZ_CHECK(env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT && env->consent_grant,
                   "grant OK for a %d", env->type);
        FUZZ_CHECK(strlen(subj.canonical) == 12, "grant OK without a subject");
        /* Consent ids are echoed in sentences and audit entries (decide.h). */
        FUZZ_CHECK(!s_holds_pnr(env->consent_id, today),
                   "a consent id holding a personnummer was accepted: %s", env->consent_id);
    }
    const consent_rec_t *target = NULL;
    memset(&err, 0, sizeof err);
    r = decide_consent_revoke(s_policy, sender, env, today, recs, n, &target, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "revoke: %s: %s\n", remiss_code_name(r), err.text);
    FUZZ_CHECK(remiss_code_is_wire((int)r) && r == err.code, "revoke code %d/%d", r, err.code);
    s_no_pnr(env, &err, recs, n);
    if (r == REMISS_OK)
        FUZZ_CHECK(target && target >= recs && target < recs + n && !target->revoked &&
                       strcmp(target->consent_id, env->consent_id) == 0,
                   "revoke OK without a live target");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t np = policy_party_count(s_policy);
    size_t who = data[0] % (np + 1);
    const char *sender = who < np ? policy_party_at(s_policy, who) : "nobody";
    int16_t off = (int16_t)(data[1] << 8 | data[2]);
    pnr_date_t today = pnr_date_from_ms(S_BASE_MS + (int64_t)off * 86400000);

    fuzz_part_t parts[1 + S_MAX_RECS];
    size_t nparts = fuzz_split(data + 3, size - 3, parts, 1 + S_MAX_RECS);
    Remiss__Envelope *grants[S_MAX_RECS];
    pnr_t subjects[S_MAX_RECS];
    consent_rec_t recs[S_MAX_RECS];
    size_t n = 0;
    for (size_t i = 1; i < nparts; i++) {
        if (parts[i].len < 1)
            continue;
        uint8_t flags = parts[i].data[0];
        Remiss__Envelope *g = remiss__envelope__unpack(NULL, parts[i].len - 1, parts[i].data + 1);
        if (!g || g->body_case != REMISS__ENVELOPE__BODY_CONSENT_GRANT || !g->subject ||
            pnr_parse(g->subject->personnummer, today, &subjects[n], NULL) != REMISS_OK) {
            remiss__envelope__free_unpacked(g, NULL);
            continue;
        }
        grants[n] = g;
        recs[n] = (consent_rec_t){
            .consent_id = g->consent_id,
            .granted_by = g->sender,
            .subject = subjects[n].canonical,
            .grant = g->consent_grant,
            .revoked = flags & 1,
            .revoked_at_ms = (flags & 1) && (flags & 2) ? S_BASE_MS - 86400000 : 0,
        };
        n++;
    }
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, parts[0].len, parts[0].data);
    if (env) {
        s_decide(env, sender, today, recs, n);
        s_consent(env, sender, today, recs, n);
        remiss__envelope__free_unpacked(env, NULL);
    }
    for (size_t i = 0; i < n; i++)
        remiss__envelope__free_unpacked(grants[i], NULL);
    return 0;
}
