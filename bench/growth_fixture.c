/* growth_fixture: fills a fresh remiss store with N earlier messages, as a
 * store looks after a long time in service, for the benchmark's growth rows
 * (bench/README.md).
 *
 *   growth_fixture --pki DIR --db PATH --count N
 *
 * Goes through the store and audit APIs the broker uses, in transactions of
 * 20,000 messages: per message the ACCEPTED entry (named by the message's
 * row), the row itself, the DELIVERED and ACKNOWLEDGED entries and the
 * state DONE; a signed tree head every 100,000 entries and at the end.
 * The rows are stored without their bodies, the state retention
 * (store_purge) leaves them in once they are done; store_purge runs at the
 * end all the same. Messages go from bench-s<i%8> to bench-r<i%8> over the
 * year before now, one subject per 50 messages; receipts are 200 bytes,
 * about what a real one takes. The message ids count up (a real broker's
 * are random: the same index depth, pages a little fuller). */
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "pki.h"
#include "pseudonym.h"
#include "store.h"

#define GF_BATCH      20000
#define GF_HEAD_EVERY 100000
#define GF_SPAN_MS    (365LL * 86400 * 1000)

typedef struct {
    store_t *store;
    audit_t *audit;
    pseudonym_t *ps;
    uint64_t count;
    int64_t now;
} gf_t;

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static remiss_code_t
s_event(gf_t *g, const store_msg_t *m, Remiss__AuditEvent ev, int64_t t, bool in_row,
        uint64_t *index, remiss_err_t *err)
{
    audit_event_t e = {.event = ev,
                       .time = t,
                       .sender = m->sender,
                       .recipient = m->recipient,
                       .type = (Remiss__MessageType)m->type,
                       .message_id = m->message_id,
                       .purpose = m->purpose,
                       .code = REMISS_OK,
                       .envelope_sha256 = m->envelope_sha256,
                       .subject_pseudonym = m->subject,
                       .in_row = in_row};
    return audit_append(g->audit, &e, index, err);
}

/* One earlier message, accepted, delivered and acknowledged. */
static remiss_code_t
s_message(gf_t *g, uint64_t i, remiss_err_t *err)
{
    static uint8_t receipt[200];
    store_msg_t m = {.type = REMISS__MESSAGE_TYPE__REFERRAL, .has_subject = true};
    int64_t t = g->now - GF_SPAN_MS + (int64_t)(i * (uint64_t)GF_SPAN_MS / (g->count + 1));
    char pnr[24];
    bool changed = false;
    remiss_code_t r;

    memcpy(m.message_id, "growthfx", 8);
    for (int k = 0; k < 8; k++) /* big-endian: each id sorts after the last */
        m.message_id[8 + k] = (uint8_t)(i >> (56 - 8 * k));
    snprintf(m.sender, sizeof m.sender, "bench-s%d", (int)(i % 8));
    snprintf(m.recipient, sizeof m.recipient, "bench-r%d", (int)(i % 8));
    snprintf(m.purpose, sizeof m.purpose, "anvisning");
    snprintf(m.consent_id, sizeof m.consent_id, "fixture-%" PRIu64, i / 50);
    /* Subjects: a synthetic 12-digit number per 50 messages (not a valid
     * personnummer; the pseudonym is all the store sees). */
    snprintf(pnr, sizeof pnr, "19%010" PRIu64, i / 50);
    pseudonym_of(g->ps, pnr, m.subject);
    SHA256((const uint8_t *)&i, sizeof i, m.envelope_sha256);
    m.receipt = receipt;
    m.receipt_len = sizeof receipt;
    m.created_at = t - 5;
    m.accepted_at = t;
    if ((r = s_event(g, &m, REMISS__AUDIT_EVENT__EV_ACCEPTED, t, true, &m.audit_index, err)) ||
        (r = store_insert(g->store, &m, err)) ||
        (r = s_event(g, &m, REMISS__AUDIT_EVENT__EV_DELIVERED, t + 1, false, NULL, err)) ||
        (r = s_event(g, &m, REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED, t + 2, false, NULL, err)))
        return r;
    return store_finish(g->store, m.message_id, m.recipient, STORE_DONE, REMISS_OK, "", t + 2,
                        &changed, err);
}

static remiss_code_t
s_fill(gf_t *g, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    uint64_t purged = 0;

    for (uint64_t i = 0; i < g->count && r == REMISS_OK; i++) {
        if (i % GF_BATCH == 0 && (r = store_begin(g->store, err)) != REMISS_OK)
            break;
        r = s_message(g, i, err);
        if (r == REMISS_OK && (i + 1) % GF_HEAD_EVERY == 0)
            r = audit_sign_head(g->audit, true, 0, 0, err);
        if (r == REMISS_OK && ((i + 1) % GF_BATCH == 0 || i + 1 == g->count))
            r = store_commit(g->store, err);
    }
    if (r != REMISS_OK)
        return r;
    if ((r = store_begin(g->store, err)) == REMISS_OK &&
        (r = audit_sign_head(g->audit, true, 0, 0, err)) == REMISS_OK &&
        (r = store_purge(g->store, g->now, &purged, err)) == REMISS_OK)
        r = store_commit(g->store, err);
    if (r == REMISS_OK)
        fprintf(stderr,
                "growth_fixture: %" PRIu64 " messages, %" PRIu64 " audit entries, %" PRIu64
                " bodies purged\n",
                g->count, audit_size(g->audit), purged);
    return r;
}

static int
s_args(int argc, char **argv, const char **pki, const char **db, uint64_t *count)
{
    static const struct option lo[] = {{"pki", required_argument, NULL, 'k'},
                                       {"db", required_argument, NULL, 'd'},
                                       {"count", required_argument, NULL, 'n'},
                                       {NULL, 0, NULL, 0}};
    int c;
    char *end;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 'k')
            *pki = optarg;
        else if (c == 'd')
            *db = optarg;
        else if (c == 'n')
            *count = strtoull(optarg, &end, 10);
        else
            return -1;
    }
    return *pki && *db && *count > 0 && *count <= 100000000 && optind == argc ? 0 : -1;
}

int
main(int argc, char **argv)
{
    const char *pki = NULL, *db = NULL;
    char path[4096];
    gf_t g = {.now = s_now_ms()};
    EVP_PKEY *key = NULL;
    remiss_err_t err = {0};
    int rc = 1;

    /* Keep freed heap: glibc would otherwise give it back and take it again
     * twice per message (brk), as remissd avoids too. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    if (s_args(argc, argv, &pki, &db, &g.count) != 0) {
        fprintf(stderr, "usage: growth_fixture --pki DIR --db PATH --count N\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/broker.key", pki);
    if ((key = pki_key_load(path, &err)) != NULL) {
        snprintf(path, sizeof path, "%s/broker.secret", pki);
        g.ps = pseudonym_load(path, &err);
    }
    if (g.ps != NULL && (g.store = store_open(db, &err)) != NULL &&
        (g.audit = audit_open_with(g.store, key, g.ps, &err)) != NULL &&
        s_fill(&g, &err) == REMISS_OK)
        rc = 0;
    if (rc != 0)
        fprintf(stderr, "error: growth_fixture: %s\n", err.text);
    audit_close(&g.audit);
    store_close(&g.store);
    pseudonym_free(&g.ps);
    EVP_PKEY_free(key);
    return rc;
}
