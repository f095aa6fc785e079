/* Tests for intake: decisions against the consent registry in the store.
 * Run from the repository root (it reads config/stockholm.policy and
 * docs/examples). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_store.h"
#include "intake.h"
#include "msgjson.h"

#define S_NOW_MS INT64_C(1795392000000) /* 2026-11-23T00:00:00Z */
#define S_PNR    "20060115-2382"        /* the subject of docs/examples */

static char s_dir[64];
static uint8_t s_key[32];

static void
s_setup(void)
{
    strcpy(s_dir, "/tmp/remiss-intake-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    for (int i = 0; i < 32; i++)
        s_key[i] = (uint8_t)(0x40 + i);
}

static void
s_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

static Remiss__Envelope *
s_example(const char *name)
{
    char path[128], buf[8192];
    snprintf(path, sizeof path, "docs/examples/%s.json", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the repository root)", path);
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Remiss__Envelope *env = NULL;
    remiss_err_t err;
    cr_assert_eq(msgjson_parse(buf, len, &env, &err), REMISS_OK, "%s", err.text);
    return env;
}

/* broker.secret holding s_key, as audit_secret_load wants it. */
static void
s_write_secret(void)
{
    char path[128], hex[65];
    snprintf(path, sizeof path, "%s/broker.secret", s_dir);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", s_key[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, hex, 64), 64);
    close(fd);
}

TestSuite(intake, .init = s_setup, .fini = s_teardown);

/* The Stockholm policy, a store in the test directory (its path into db)
 * and an intake over both. */
static intake_t *
s_intake(char *db, size_t dbsize, policy_t **policy, store_t **st)
{
    remiss_err_t err;
    snprintf(db, dbsize, "%s/remiss.db", s_dir);
    *policy = policy_load("config/stockholm.policy", &err);
    cr_assert_not_null(*policy, "%s", err.text);
    *st = store_open(db, &err);
    cr_assert_not_null(*st, "%s", err.text);
    intake_t *in = intake_new(*st, *policy, s_key);
    cr_assert_not_null(in);
    return in;
}

/* Found by fuzz_consent: a stored consent row whose bytes decode to an
 * envelope with another body (here a revocation) was read through the
 * consent_grant member of the body union, and decide then read a
 * ConsentGrant past the end of the smaller ConsentRevoke. A damaged row
 * must be dropped, by the broker and by `remissctl consent list`. */
Test(intake, damaged_consent_row_is_dropped)
{
    remiss_err_t err;
    char db[128];
    policy_t *policy;
    store_t *st;
    intake_t *in = s_intake(db, sizeof db, &policy, &st);

    Remiss__Envelope *revoke = s_example("consent_revoke");
    size_t len = remiss__envelope__get_packed_size(revoke);
    uint8_t *bytes = malloc(len);
    cr_assert_not_null(bytes);
    remiss__envelope__pack(revoke, bytes);
    store_consent_t row;
    memset(&row, 0, sizeof row);
    snprintf(row.consent_id, sizeof row.consent_id, "%s", revoke->consent_id);
    snprintf(row.granted_by, sizeof row.granted_by, "sdf-rinkeby-kista");
    intake_pseudonym(in, "200601152382", row.subject);
    row.grant = bytes;
    row.grant_len = len;
    row.granted_at = S_NOW_MS - 1000;
    bool exists = true;
    cr_assert_eq(store_consent_put(st, &row, &exists, &err), REMISS_OK, "%s", err.text);
    cr_assert_not(exists);

    /* The referral names that consent: without a readable grant there is none. */
    Remiss__Envelope *referral = s_example("referral");
    intake_result_t out;
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out),
                 REMISS_E_NO_CONSENT, "%s", out.sentence);
    cr_assert_eq(intake_consent(in, "sdf-rinkeby-kista", revoke, bytes, len, S_NOW_MS, &out),
                 REMISS_E_NO_CONSENT, "%s", out.sentence);

    s_write_secret();
    char *argv[] = {"list", "--db", db, "--pki", s_dir, "--subject", S_PNR, NULL};
    fflush(stdout);
    cr_assert_eq(ctl_consent_main(7, argv), 0);

    msgjson_free(&referral);
    msgjson_free(&revoke);
    free(bytes);
    intake_free(&in);
    store_close(&st);
    policy_free(&policy);
}

/* intake keeps a subject's consents decoded between decisions: a grant or
 * revocation through intake_consent shows at once, a grant whose
 * transaction is undone is gone after intake_forget, and the day is part of
 * what is kept (a consent expires at midnight). */
Test(intake, kept_consents_follow_the_registry)
{
    remiss_err_t err;
    char db[128];
    intake_result_t out;
    policy_t *policy;
    store_t *st;
    intake_t *in = s_intake(db, sizeof db, &policy, &st);
    Remiss__Envelope *referral = s_example("referral");
    Remiss__Envelope *grant = s_example("consent_grant");
    Remiss__Envelope *revoke = s_example("consent_revoke");
    size_t glen = remiss__envelope__get_packed_size(grant);
    uint8_t *gbytes = malloc(glen);
    remiss__envelope__pack(grant, gbytes);

    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out),
                 REMISS_E_NO_CONSENT, "%s", out.sentence);

    /* Granted in a transaction that is then undone. */
    cr_assert_eq(store_begin(st, &err), REMISS_OK);
    cr_assert_eq(intake_consent(in, "sdf-rinkeby-kista", grant, gbytes, glen, S_NOW_MS, &out),
                 REMISS_OK, "%s", out.sentence);
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out), REMISS_OK, "%s",
                 out.sentence);
    store_rollback(st);
    /* Kept until told: that is what intake_forget is for. */
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out), REMISS_OK);
    intake_forget(in);
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out),
                 REMISS_E_NO_CONSENT, "%s", out.sentence);

    /* Granted for good, then used past its end date, then withdrawn. */
    cr_assert_eq(intake_consent(in, "sdf-rinkeby-kista", grant, gbytes, glen, S_NOW_MS, &out),
                 REMISS_OK, "%s", out.sentence);
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out), REMISS_OK, "%s",
                 out.sentence);
    const int64_t day = 86400000;
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS + 200 * day, &out),
                 REMISS_E_CONSENT_EXPIRED, "%s", out.sentence);
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out), REMISS_OK, "%s",
                 out.sentence);
    cr_assert_eq(intake_consent(in, "sdf-rinkeby-kista", revoke, NULL, 0, S_NOW_MS, &out),
                 REMISS_OK, "%s", out.sentence);
    cr_assert_eq(intake_decide(in, "sdf-rinkeby-kista", referral, S_NOW_MS, &out),
                 REMISS_E_CONSENT_REVOKED, "%s", out.sentence);

    free(gbytes);
    msgjson_free(&referral);
    msgjson_free(&grant);
    msgjson_free(&revoke);
    intake_free(&in);
    store_close(&st);
    policy_free(&policy);
}
