/* Regression tests of issue 14 ("Security, round two") through a real
 * remissd: who may assert a consent, the consent registry's namespace and
 * caps, a CRL that fails closed, proofs by index, and the smaller findings.
 * Each test failed on the code before its fix. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "sdf-sodermalm:sdf",
                                        "jobbtorg:jobbtorg", NULL};

/* Sends env; the receipt sentence into why. */
static remiss_code_t
s_send(remiss_client_t *c, Remiss__Envelope *env, char *why, size_t size)
{
    remiss_receipt_t rc;
    remiss_err_t err;
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    snprintf(why, size, "%s", r == REMISS_OK ? rc.sentence : err.text);
    remiss_receipt_clear(&rc);
    return r;
}

/* A referral to Jobbtorg for anvisning, with health data if health and
 * naming consent_id if not NULL; sent, then freed. */
static remiss_code_t
s_referral(remiss_client_t *c, bool health, const char *consent_id, char *why, size_t size)
{
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    if (health) {
        env->health = calloc(1, sizeof *env->health);
        remiss__health__init(env->health);
        env->health->social_psychiatry = true;
    }
    free(env->consent_id);
    env->consent_id = strdup(consent_id ? consent_id : "");
    remiss_code_t r = s_send(c, env, why, size);
    harness_envelope_free(env);
    return r;
}

/* Runs remissctl with args; its whole output into out; the exit status. */
static int
s_ctl(const char *args, char *out, size_t size)
{
    char bin[256], cmd[1024];
    size_t used = 0;
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", harness_bin("remissctl", bin, sizeof bin), args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    out[0] = '\0';
    char line[2048];
    while (fgets(line, sizeof line, p)) {
        size_t n = strlen(line);
        if (used + n < size) {
            memcpy(out + used, line, n + 1);
            used += n;
        }
    }
    return WEXITSTATUS(pclose(p));
}

/* Writes the example policy with extra lines after [general] to path. */
static void
s_policy_with(harness_t *h, const char *extra)
{
    char path[sizeof h->policy], line[1024];
    FILE *in = fopen("config/stockholm.policy", "r");
    snprintf(path, sizeof path, "%.128s/test.policy", h->dir);
    FILE *out = fopen(path, "w");
    cr_assert(in && out);
    while (fgets(line, sizeof line, in)) {
        fputs(line, out);
        if (strncmp(line, "[general]", 9) == 0)
            fputs(extra, out);
    }
    fclose(in);
    fclose(out);
    snprintf(h->policy, sizeof h->policy, "%s", path);
}

/* ------------------------------------------------------------ finding 1 */

Test(security, a_consent_the_recipient_registered_counts_only_when_the_sender_names_it,
     .timeout = 120)
{
    harness_t h;
    char why[512], args[512], out[65536];
    harness_init(&h, s_parties);
    s_policy_with(&h, "recipient_consent_forbidden = health, criminal\n");
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);

    /* Jobbtorg, the recipient, registers a consent for the districts'
     * referrals to itself, health included. */
    cr_assert_eq(
        harness_grant(jt, "c-jt-1", "role:sdf", "jobbtorg", "anvisning", "identity,social,health"),
        REMISS_OK);
    /* A referral that does not name it is not covered by it. */
    cr_assert_eq(s_referral(sdf, true, NULL, why, sizeof why), REMISS_E_NO_CONSENT, "%s", why);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_E_NO_CONSENT, "%s", why);
    /* Named by the sender, it lifts secrecy, but not for health. */
    cr_assert_eq(s_referral(sdf, false, "c-jt-1", why, sizeof why), REMISS_OK, "%s", why);
    cr_assert(strstr(why, "c-jt-1") && strstr(why, "registered by jobbtorg"), "%s", why);
    cr_assert_eq(s_referral(sdf, true, "c-jt-1", why, sizeof why), REMISS_E_NO_CONSENT, "%s", why);
    cr_assert(strstr(why, "health"), "%s", why);

    /* The district's own consent covers health without being named. */
    cr_assert_eq(harness_grant(sdf, "c-sdf-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social,health"),
                 REMISS_OK);
    cr_assert_eq(s_referral(sdf, true, NULL, why, sizeof why), REMISS_OK, "%s", why);
    cr_assert(strstr(why, "registered by sdf-rinkeby-kista"), "%s", why);

    /* The audit log says which consent and who registered it. */
    snprintf(args, sizeof args, "audit export %s", h.db);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "consent=c-jt-1 registered_by=jobbtorg"), "%s", out);
    cr_assert(strstr(out, "consent=c-sdf-1 registered_by=sdf-rinkeby-kista"), "%s", out);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 7 */

Test(security, one_party_cannot_squat_consent_ids_or_crowd_out_another_partys_consents,
     .timeout = 300)
{
    harness_t h;
    char why[512], id[32];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);

    /* Jobbtorg takes the district's next id and fills its own quota of
     * consents for the person. */
    cr_assert_eq(
        harness_grant(jt, "c-2026-0001", "role:sdf", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    for (int i = 2; i <= 64; i++) {
        snprintf(id, sizeof id, "c-jt-%03d", i);
        cr_assert_eq(harness_grant(jt, id, "role:sdf", "jobbtorg", "anvisning", "identity"),
                     REMISS_OK, "%s", id);
    }
    /* The 65th is refused with a clear code, not silently ignored later. */
    cr_assert_eq(harness_grant(jt, "c-jt-065", "role:sdf", "jobbtorg", "anvisning", "identity"),
                 REMISS_E_RATE_LIMITED);

    /* The district's own consent with the same id is its own. */
    cr_assert_eq(harness_grant(sdf, "c-2026-0001", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    /* And it is found, however many consents others registered. */
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    cr_assert(strstr(why, "registered by sdf-rinkeby-kista"), "%s", why);
    cr_assert_eq(s_referral(sdf, false, "c-2026-0001", why, sizeof why), REMISS_OK, "%s", why);
    cr_assert(strstr(why, "registered by sdf-rinkeby-kista"), "%s", why);
    cr_assert_eq(s_referral(sdf, false, "jobbtorg/c-2026-0001", why, sizeof why), REMISS_OK, "%s",
                 why);
    cr_assert(strstr(why, "registered by jobbtorg"), "%s", why);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}
