/* Integration tests of the broker's limits: per-party message rate and
 * per-recipient queue depth, each refused with E_RATE_LIMITED and a clear
 * sentence, never silently dropped, without affecting other parties. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "sdf-sodermalm:sdf",
                                        "jobbtorg:jobbtorg", NULL};

static remiss_client_t *
s_sender(harness_t *h, const char *party)
{
    remiss_client_t *c = harness_client(h, party, false);
    cr_assert_eq(harness_grant(c, strcmp(party, "sdf-sodermalm") ? "c-test-1" : "c-test-2",
                               party, "jobbtorg", "anvisning", "identity,social"),
                 REMISS_OK);
    return c;
}

static remiss_code_t
s_send(remiss_client_t *c, const char *consent, char *why, size_t size)
{
    remiss_receipt_t rc;
    remiss_err_t err;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    free(env->consent_id);
    env->consent_id = strdup(consent);
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    snprintf(why, size, "%s", rc.sentence);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    return r;
}

Test(limits, a_party_over_its_rate_is_refused_and_others_are_not, .timeout = 120)
{
    harness_t h;
    char why[400];
    /* 2 per second with a burst of 4: sending 30 back to back must hit it. */
    const char *const extra[] = {"--rate", "2", "--rate-burst", "4", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *a = s_sender(&h, "sdf-rinkeby-kista");
    remiss_client_t *b = s_sender(&h, "sdf-sodermalm");
    int ok = 0, limited = 0;
    for (int i = 0; i < 30; i++) {
        remiss_code_t r = s_send(a, "c-test-1", why, sizeof why);
        if (r == REMISS_OK)
            ok++;
        else if (r == REMISS_E_RATE_LIMITED) {
            limited++;
            cr_assert(strstr(why, "per second") != NULL, "%s", why);
        } else
            cr_assert_fail("unexpected %s: %s", remiss_code_name(r), why);
    }
    cr_assert_gt(limited, 0, "30 messages at once never hit a limit of 2/s");
    cr_assert_gt(ok, 0);
    /* Another party still has its own allowance. */
    cr_assert_eq(s_send(b, "c-test-2", why, sizeof why), REMISS_OK, "%s", why);
    /* And what got OK was all kept: the recipient receives exactly that. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_err_t err;
    int got = 0;
    remiss_message_t *m = NULL;
    while (remiss_recv(jt, 3000, &m, &err) == REMISS_OK) {
        got++;
        remiss_ack_sync(jt, remiss_message_id(m), &err);
        remiss_message_free(&m);
    }
    cr_assert_eq(got, ok + 1);
    remiss_close(&jt);
    remiss_close(&b);
    remiss_close(&a);
    harness_stop(&h);
}

Test(limits, a_full_queue_refuses_with_a_clear_sentence, .timeout = 120)
{
    harness_t h;
    char why[400];
    const char *const extra[] = {"--max-queue", "3", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *a = s_sender(&h, "sdf-rinkeby-kista");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s_send(a, "c-test-1", why, sizeof why), REMISS_OK, "%s", why);
    cr_assert_eq(s_send(a, "c-test-1", why, sizeof why), REMISS_E_RATE_LIMITED);
    cr_assert(strstr(why, "queue is full") != NULL, "%s", why);
    /* Once the recipient collects, there is room again. */
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_err_t err;
    for (int i = 0; i < 3; i++) {
        remiss_message_t *m = NULL;
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
        cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    bool accepted = false;
    for (int i = 0; i < 30 && !accepted; i++) { /* the depth cache refreshes each second */
        accepted = s_send(a, "c-test-1", why, sizeof why) == REMISS_OK;
        if (!accepted)
            usleep(200000);
    }
    cr_assert(accepted, "%s", why);
    remiss_close(&jt);
    remiss_close(&a);
    harness_stop(&h);
}
