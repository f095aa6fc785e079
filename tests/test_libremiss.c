/* libremiss against a real remissd: the client library's own promises
 * (de-duplication, refusals, timeouts, keeping the evidence). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* A consent and one referral from sdf-rinkeby-kista to jobbtorg; id gets
 * the referral's message id. */
static void
s_send_referral(harness_t *h, uint8_t id[REMISS_ID_LEN])
{
    remiss_err_t err;
    remiss_receipt_t rc;
    remiss_client_t *sdf = harness_client(h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    cr_assert_eq(remiss_send(sdf, env, &rc, &err), REMISS_OK, "%s", err.text);
    memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&sdf);
}

/* Runs remissctl with args; returns its exit status. */
static int
s_ctl(const char *args)
{
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>&1", harness_bin("remissctl", bin, sizeof bin),
             args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Issue 12, bug 1: a refusal recorded the id as processed, so after an
 * operator requeued the message the client acknowledged the redelivery as
 * a duplicate and the application never saw it. */
Test(libremiss, a_refused_then_requeued_message_reaches_the_application, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    char hex[33], args[512];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    s_send_referral(&h, id);
    remiss_id_to_hex(id, hex);

    remiss_client_t *jt = harness_client(&h, "jobbtorg", true);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_refuse(jt, remiss_message_id(m), "fel mottagare", &err), REMISS_OK, "%s",
                 err.text);
    remiss_message_free(&m);

    snprintf(args, sizeof args, "deadletter requeue --db %s %s", h.db, hex);
    cr_assert_eq(s_ctl(args), 0);

    /* The same connection and a later run with the same state both see it. */
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(remiss_message_id(m), id, REMISS_ID_LEN);
    remiss_message_free(&m);
    remiss_close(&jt);
    jt = harness_client(&h, "jobbtorg", true);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_arr_eq(remiss_message_id(m), id, REMISS_ID_LEN);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);
    remiss_close(&jt);

    /* Acknowledged, it is never handed out again by a client with that state. */
    jt = harness_client(&h, "jobbtorg", true);
    cr_assert_eq(remiss_recv(jt, 1500, &m, &err), REMISS_E_TIMEOUT);
    remiss_close(&jt);
    harness_stop(&h);
}
