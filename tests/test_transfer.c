/* Integration test of the ärendedragning loop with the example messages of
 * docs/examples: Jobbtorg presents a case to Arbetsförmedlingen's
 * kommunhubb, which accepts the transfer and names a local unit; Jobbtorg
 * sees the decision linked to its case submission. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "msgjson.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg",
                                        "af-kommunhubb:kommunhubb", NULL};

static Remiss__Envelope *
s_example(const char *name)
{
    char path[256], buf[65536];
    remiss_err_t err;
    snprintf(path, sizeof path, "docs/examples/%s.json", name);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    Remiss__Envelope *env = NULL;
    cr_assert_eq(msgjson_parse(buf, n, &env, &err), REMISS_OK, "%s: %s", path, err.text);
    return env;
}

static void
s_day(int offset, char out[16])
{
    time_t t = time(NULL) + (time_t)offset * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

Test(transfer, a_transfer_decision_closes_the_loop, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    remiss_receipt_t rc;
    char from[16], until[16];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_client_t *af = harness_client(&h, "af-kommunhubb", false);

    /* The example consent, in force from yesterday for half a year. */
    Remiss__Envelope *grant = s_example("consent_grant");
    s_day(-1, from);
    s_day(180, until);
    free(grant->consent_grant->valid_from);
    free(grant->consent_grant->valid_until);
    grant->consent_grant->valid_from = strdup(from);
    grant->consent_grant->valid_until = strdup(until);
    cr_assert_eq(remiss_send(sdf, grant, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);

    Remiss__Envelope *sub = s_example("case_submission");
    cr_assert_eq(remiss_send(jt, sub, &rc, &err), REMISS_OK, "%s", err.text);
    uint8_t case_id[REMISS_ID_LEN];
    memcpy(case_id, rc.message_id, sizeof case_id);
    remiss_receipt_clear(&rc);

    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(af, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_message_envelope(m)->type, REMISS__MESSAGE_TYPE__CASE_SUBMISSION);
    cr_assert_str_eq(remiss_message_sender(m), "jobbtorg");
    cr_assert_eq(remiss_ack_sync(af, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);

    Remiss__Envelope *ack = s_example("transfer_ack");
    cr_assert_eq(ack->transfer_ack->decision, REMISS__TRANSFER_DECISION__ACCEPTED);
    memcpy(ack->transfer_ack->original_message_id.data, case_id, REMISS_ID_LEN);
    cr_assert_eq(remiss_send(af, ack, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);

    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    const Remiss__Envelope *got = remiss_message_envelope(m);
    cr_assert_eq(got->type, REMISS__MESSAGE_TYPE__TRANSFER_ACK);
    cr_assert_arr_eq(got->transfer_ack->original_message_id.data, case_id, REMISS_ID_LEN);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);

    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(jt, case_id, &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    cr_assert_eq(st->transfer_decision, REMISS__TRANSFER_DECISION__ACCEPTED);
    cr_assert_str_eq(st->receiving_unit, ack->transfer_ack->receiving_unit);
    remiss__status_reply__free_unpacked(st, NULL);

    /* Only the parties to a message may ask about it. */
    cr_assert_eq(remiss_status(sdf, case_id, &st, &err), REMISS_OK);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__UNKNOWN);
    remiss__status_reply__free_unpacked(st, NULL);

    msgjson_free(&grant);
    msgjson_free(&sub);
    msgjson_free(&ack);
    remiss_close(&af);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}
