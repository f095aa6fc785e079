/* Integration tests of the secrecy policy and consent registry through a
 * real remissd: refusals with their reason codes, a statute flow without
 * consent, a withdrawal that stops a queued message, and a policy reload. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

static remiss_code_t
s_send(remiss_client_t *c, Remiss__Envelope *env, char *sentence, size_t size)
{
    remiss_receipt_t rc;
    remiss_err_t err;
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    if (sentence)
        snprintf(sentence, size, "%s", rc.sentence);
    remiss_receipt_clear(&rc);
    return r;
}

Test(consent_flow, refusals_carry_their_reason, .timeout = 90)
{
    harness_t h;
    char why[400];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);

    /* No consent registered yet. */
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_NO_CONSENT, "%s", why);
    harness_envelope_free(env);

    /* A consent for social data does not cover health data. */
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    env = harness_referral("jobbtorg", "anvisning");
    env->health = calloc(1, sizeof *env->health);
    remiss__health__init(env->health);
    env->health->social_psychiatry = true;
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_CATEGORY_NOT_COVERED, "%s", why);
    cr_assert_null(strstr(why, HARNESS_PNR), "a sentence must not carry the personnummer");
    harness_envelope_free(env);

    /* No rule lets a district send a case submission to Jobbtorg. */
    env = harness_referral("jobbtorg", "arendedragning");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_POLICY_DENIED, "%s", why);
    harness_envelope_free(env);

    /* A bad check digit. */
    env = harness_referral("jobbtorg", "anvisning");
    free(env->subject->personnummer);
    env->subject->personnummer = strdup("20080229-4727");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_INVALID_PERSONNUMMER, "%s", why);
    harness_envelope_free(env);

    /* Protected identity with contact data. */
    env = harness_referral("jobbtorg", "anvisning");
    env->subject->protected_identity = true;
    env->subject->contact = calloc(1, sizeof *env->subject->contact);
    remiss__contact__init(env->subject->contact);
    env->subject->contact->address = strdup("Testgatan 1");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_PROTECTED_IDENTITY, "%s", why);
    harness_envelope_free(env);

    /* And with the consent and only covered data, it passes. */
    env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_OK, "%s", why);
    harness_envelope_free(env);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* A concern report about a child rests on SoL 14 kap. 1 §, not consent. */
static Remiss__Envelope *
s_concern(const char *pnr)
{
    Remiss__Envelope *env = harness_referral("sdf-rinkeby-kista", "oro");
    free(env->subject->personnummer);
    env->subject->personnummer = strdup(pnr);
    remiss__social__free_unpacked(env->social, NULL);
    env->social = NULL;
    free(env->consent_id);
    env->consent_id = strdup("");
    remiss__referral__free_unpacked(env->referral, NULL);
    env->type = REMISS__MESSAGE_TYPE__CONCERN_REPORT;
    env->body_case = REMISS__ENVELOPE__BODY_CONCERN_REPORT;
    env->concern_report = calloc(1, sizeof *env->concern_report);
    remiss__concern_report__init(env->concern_report);
    env->concern_report->concern = strdup("Har inte varit i skolan på två månader.");
    return env;
}

Test(consent_flow, concern_report_for_a_minor_needs_no_consent, .timeout = 90)
{
    harness_t h;
    char why[400];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    Remiss__Envelope *env = s_concern("20090514-2386"); /* 17 in November 2026 */
    cr_assert_eq(s_send(jt, env, why, sizeof why), REMISS_OK, "%s", why);
    harness_envelope_free(env);
    env = s_concern(HARNESS_PNR); /* 18: no longer a child */
    cr_assert_eq(s_send(jt, env, why, sizeof why), REMISS_E_AGE_OUT_OF_SCOPE, "%s", why);
    harness_envelope_free(env);
    remiss_close(&jt);
    harness_stop(&h);
}

Test(consent_flow, a_withdrawn_consent_stops_a_queued_referral, .timeout = 90)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t rc;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    /* Jobbtorg is offline: the referral waits in the queue. */
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK, "%s", err.text);
    uint8_t id[REMISS_ID_LEN];
    memcpy(id, rc.message_id, sizeof id);
    remiss_receipt_clear(&rc);

    /* The young person withdraws the consent at the district. */
    Remiss__Envelope *rev = calloc(1, sizeof *rev);
    remiss__envelope__init(rev);
    rev->recipient = strdup("broker");
    rev->consent_id = strdup("c-test-1");
    rev->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rev->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rev->consent_revoke = calloc(1, sizeof *rev->consent_revoke);
    remiss__consent_revoke__init(rev->consent_revoke);
    rev->consent_revoke->revoke_reason = strdup("withdrawn by the person");
    cr_assert_eq(remiss_send(sdf, rev, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);

    /* Jobbtorg connects and never receives it. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 3000, &m, &err), REMISS_E_TIMEOUT,
                 "a message resting on a withdrawn consent was delivered");

    /* The sender sees why. */
    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(sdf, id, &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__HELD);
    cr_assert_eq(st->code, REMISS__REASON_CODE__E_CONSENT_REVOKED);
    remiss__status_reply__free_unpacked(st, NULL);

    /* A referral sent now is refused at once. */
    harness_envelope_free(env);
    env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_E_CONSENT_REVOKED, "%s", err.text);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    harness_envelope_free(rev);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(consent_flow, an_invalid_policy_is_refused_and_the_old_one_stays, .timeout = 90)
{
    harness_t h;
    char cmd[512], why[400];
    harness_init(&h, s_parties);
    snprintf(h.policy, sizeof h.policy, "%s/policy", h.dir);
    snprintf(cmd, sizeof cmd, "cp config/stockholm.policy %s", h.policy);
    cr_assert_eq(system(cmd), 0);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    FILE *f = fopen(h.policy, "a");
    fputs("\n[rule broken]\ntype = referral\nfrom = nosuchrole\n", f);
    fclose(f);
    harness_signal(&h, SIGHUP);
    for (int i = 0; i < 100 && !harness_log_has(&h, "event=policy_refused"); i++)
        usleep(100000);
    cr_assert(harness_log_has(&h, "event=policy_refused"));
    snprintf(cmd, sizeof cmd, "%s:", h.policy);
    cr_assert(harness_log_has(&h, cmd), "the refusal names file:line");
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_OK, "old policy in force: %s", why);
    harness_envelope_free(env);
    remiss_close(&sdf);
    harness_stop(&h);
}
