/* Several remissd nodes on one PostgreSQL store (issue 15): real brokers
 * on a server of the test's own (tests/helpers/pgtest), clients given the
 * list of nodes.
 *
 *  - cross-node: delivery, acknowledgement, transfer decision linking,
 *    consent revocation and proofs work when the two ends are on
 *    different nodes;
 *  - two nodes, one killed: during a steady stream a node is SIGKILLed
 *    and restarted five times; every message that got an OK receipt
 *    arrives exactly once at its application and the audit log verifies;
 *  - primary lost: the database primary is SIGKILLed during a stream and
 *    its synchronous standby promoted; the nodes go on through the
 *    multi-host URI and no message with an OK receipt is lost. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "msgjson.h"
#include "pgtest.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "sdf-bromma:sdf",
                                        "jobbtorg:jobbtorg", "af-kommunhubb:kommunhubb", NULL};

typedef struct {
    pgtest_t pg;
    harness_t n[2];    /* the nodes: one PKI (broker identity), one store */
    char list[2][160]; /* the endpoints, node 0 first / node 1 first */
} s_cluster_t;

/* Starts node i on the cluster's store (n[0] made the directory). */
static const char *s_redeliver_ms = "3000";

static void
s_node_start(s_cluster_t *c, int i)
{
    const char *extra[] = {"--redeliver-ms", s_redeliver_ms, "--metrics", "@metrics", NULL};
    if (i == 1) {
        c->n[1] = c->n[0];
        c->n[1].pid = 0;
        snprintf(c->n[1].log, sizeof c->n[1].log, "%s/remissd-1.log", c->n[0].dir);
    }
    harness_start(&c->n[i], extra);
}

static void
s_up(s_cluster_t *c, const char *uri)
{
    harness_init(&c->n[0], s_parties);
    snprintf(c->n[0].db, sizeof c->n[0].db, "%s", uri);
    s_node_start(c, 0);
    s_node_start(c, 1);
    snprintf(c->list[0], sizeof c->list[0], "%s,%s", c->n[0].endpoint, c->n[1].endpoint);
    snprintf(c->list[1], sizeof c->list[1], "%s,%s", c->n[1].endpoint, c->n[0].endpoint);
}

/* Stops both nodes (they must exit cleanly). */
static void
s_stop_nodes(s_cluster_t *c)
{
    cr_expect_eq(harness_stop_broker(&c->n[1]), 0, "node 1 did not exit cleanly");
    cr_expect_eq(harness_stop_broker(&c->n[0]), 0, "node 0 did not exit cleanly");
}

/* A client of party on the cluster, node first (NULL on failure: usable
 * in a child process too). */
static remiss_client_t *
s_client(s_cluster_t *c, const char *party, int node, const char *state)
{
    remiss_err_t err;
    remiss_opts_t o = {.pki_dir = c->n[0].pki,
                       .party = party,
                       .endpoint = c->list[node],
                       .timeout_ms = 20000,
                       .state_path = state};
    remiss_client_t *cl = remiss_connect(&o, &err);
    if (!cl)
        fprintf(stderr, "connect %s: %s\n", party, err.text);
    return cl;
}

/* remissctl audit verify on the store at uri: its exit status. */
static int
s_verify(s_cluster_t *c, const char *uri)
{
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s audit verify --pki %s --db '%s' >&2",
             harness_bin("remissctl", bin, sizeof bin), c->n[0].pki, uri);
    return WEXITSTATUS(system(cmd));
}

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

static remiss_code_t
s_send_referral(remiss_client_t *cl, uint8_t id[REMISS_ID_LEN], remiss_err_t *err)
{
    remiss_receipt_t rc;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_code_t r = remiss_send(cl, env, &rc, err);
    if (id)
        memcpy(id, rc.message_id, REMISS_ID_LEN);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    return r;
}

/* ------------------------------------------------------------ cross-node */

/* A case submission from Jobbtorg on node 0 reaches af-kommunhubb on node
 * 1, which acknowledges it and answers with a transfer decision that is
 * linked to the case (status on node 0); both ends get proofs. */
static void
s_transfer_across(s_cluster_t *c)
{
    remiss_err_t err;
    remiss_receipt_t rc;
    remiss_message_t *m = NULL;
    remiss_client_t *jt = s_client(c, "jobbtorg", 0, NULL);
    remiss_client_t *af = s_client(c, "af-kommunhubb", 1, NULL);
    cr_assert(jt && af);
    cr_assert_eq(remiss_subscribe(af, 0, &err), REMISS_OK, "%s", err.text);
    Remiss__Envelope *sub = s_example("case_submission");
    cr_assert_eq(remiss_send(jt, sub, &rc, &err), REMISS_OK, "%s", err.text);
    uint8_t case_id[REMISS_ID_LEN];
    memcpy(case_id, rc.message_id, sizeof case_id);
    remiss_receipt_clear(&rc);
    int64_t t0 = log_now_ms();
    cr_assert_eq(remiss_recv(af, 20000, &m, &err), REMISS_OK, "%s", err.text);
    fprintf(stderr, "cluster: cross-node delivery of an idle queue took %lld ms\n",
            (long long)(log_now_ms() - t0));
    cr_assert_arr_eq(remiss_message_id(m), case_id, REMISS_ID_LEN);
    cr_assert_eq(remiss_ack_sync(af, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);

    Remiss__Envelope *ack = s_example("transfer_ack");
    memcpy(ack->transfer_ack->original_message_id.data, case_id, REMISS_ID_LEN);
    cr_assert_eq(remiss_send(af, ack, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_message_envelope(m)->type, REMISS__MESSAGE_TYPE__TRANSFER_ACK);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);

    Remiss__StatusReply *st = NULL;
    cr_assert_eq(remiss_status(jt, case_id, &st, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(st->state, REMISS__MESSAGE_STATE__DONE);
    cr_assert_eq(st->transfer_decision, REMISS__TRANSFER_DECISION__ACCEPTED);
    remiss__status_reply__free_unpacked(st, NULL);

    /* Proofs from either node, against one tree. */
    Remiss__ProofReply *pr = NULL;
    cr_assert_eq(remiss_proof(jt, case_id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    remiss__proof_reply__free_unpacked(pr, NULL);
    cr_assert_eq(remiss_proof(af, case_id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    remiss__proof_reply__free_unpacked(pr, NULL);
    msgjson_free(&sub);
    msgjson_free(&ack);
    remiss_close(&af);
    remiss_close(&jt);
}

static Remiss__Envelope *
s_revocation(const char *consent_id)
{
    Remiss__Envelope *rev = calloc(1, sizeof *rev);
    remiss__envelope__init(rev);
    rev->recipient = strdup("broker");
    rev->consent_id = strdup(consent_id);
    rev->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rev->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rev->consent_revoke = calloc(1, sizeof *rev->consent_revoke);
    remiss__consent_revoke__init(rev->consent_revoke);
    rev->consent_revoke->revoke_reason = strdup("withdrawn by the person");
    return rev;
}

/* Node 1 decides (and so keeps the subject's consents decoded), the
 * consent is withdrawn through node 0, and node 1 refuses the next
 * referral: it did not decide from what it kept. */
static void
s_revoke_across(s_cluster_t *c)
{
    remiss_err_t err;
    remiss_receipt_t rc;
    remiss_message_t *m = NULL;
    remiss_client_t *on0 = s_client(c, "sdf-rinkeby-kista", 0, NULL);
    remiss_client_t *on1 = s_client(c, "sdf-rinkeby-kista", 1, NULL);
    remiss_client_t *jt = s_client(c, "jobbtorg", 1, NULL);
    cr_assert(on0 && on1 && jt);
    cr_assert_eq(harness_grant(on0, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    uint8_t id[REMISS_ID_LEN];
    cr_assert_eq(s_send_referral(on1, id, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK, "%s", err.text);
    remiss_message_free(&m);

    Remiss__Envelope *rev = s_revocation("c-test-1");
    cr_assert_eq(remiss_send(on0, rev, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);
    cr_assert_eq(s_send_referral(on1, NULL, &err), REMISS_E_CONSENT_REVOKED,
                 "node 1 accepted a referral on a consent withdrawn through node 0");
    harness_envelope_free(rev);
    remiss_close(&jt);
    remiss_close(&on1);
    remiss_close(&on0);
}

Test(cluster, the_two_ends_on_different_nodes, .timeout = 240)
{
    s_cluster_t c;
    char from[16], until[16];
    remiss_err_t err;
    remiss_receipt_t rc;
    pgtest_start(&c.pg);
    s_up(&c, c.pg.uri);
    /* The example consent of the transfer loop, in force from yesterday. */
    remiss_client_t *sdf = s_client(&c, "sdf-rinkeby-kista", 1, NULL);
    cr_assert_not_null(sdf);
    Remiss__Envelope *grant = s_example("consent_grant");
    s_day(-1, from);
    s_day(180, until);
    free(grant->consent_grant->valid_from);
    free(grant->consent_grant->valid_until);
    grant->consent_grant->valid_from = strdup(from);
    grant->consent_grant->valid_until = strdup(until);
    cr_assert_eq(remiss_send(sdf, grant, &rc, &err), REMISS_OK, "%s", err.text);
    remiss_receipt_clear(&rc);
    msgjson_free(&grant);
    remiss_close(&sdf);

    s_transfer_across(&c);
    s_revoke_across(&c);
    s_stop_nodes(&c);
    cr_assert_eq(s_verify(&c, c.pg.uri), 0, "audit verify failed on the shared store");
    harness_stop(&c.n[0]);
    pgtest_stop(&c.pg);
}

/* Receives on cl for up to ms; the message (caller frees) or NULL. */
static remiss_message_t *
s_recv_within(remiss_client_t *cl, int ms)
{
    remiss_message_t *m = NULL;
    remiss_err_t err;
    return remiss_recv(cl, ms, &m, &err) == REMISS_OK ? m : NULL;
}

/* Jobbtorg has a connection on each node. The node that hands a referral
 * out dies (SIGKILL) before the acknowledgement: the other node hands it
 * to Jobbtorg's connection there within seconds (the redelivery lease),
 * not after --redeliver-ms (10 minutes here). Before the lease it waited
 * the whole timer: the surviving connection was not new, so nothing made
 * the message due. */
Test(cluster, a_dead_nodes_deliveries_are_handed_out_again_at_once, .timeout = 240)
{
    s_cluster_t c;
    remiss_err_t err;
    remiss_message_t *m = NULL;
    uint8_t id[REMISS_ID_LEN];
    s_redeliver_ms = "600000";
    pgtest_start(&c.pg);
    s_up(&c, c.pg.uri);
    remiss_client_t *jt[2] = {s_client(&c, "jobbtorg", 0, NULL), s_client(&c, "jobbtorg", 1, NULL)};
    remiss_client_t *sdf = s_client(&c, "sdf-rinkeby-kista", 0, NULL);
    cr_assert(jt[0] && jt[1] && sdf);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    cr_assert_eq(s_send_referral(sdf, id, &err), REMISS_OK, "%s", err.text);
    int got = -1;
    for (int i = 0; i < 40 && got < 0; i++)
        for (int k = 0; k < 2 && got < 0; k++)
            if ((m = s_recv_within(jt[k], 250)) != NULL)
                got = k;
    cr_assert_geq(got, 0, "the referral was not delivered");
    cr_assert_eq(memcmp(remiss_message_id(m), id, REMISS_ID_LEN), 0);
    remiss_message_free(&m);
    /* jt[1] subscribes only now (at its first receive): a second
     * connection of the party, on another node, while the first is working
     * on the referral. It made the first node's delivery due again at once
     * (a copy on each node), as if the first connection were gone. */
    m = s_recv_within(jt[1 - got], 1500);
    cr_assert_null(m, "handed out on both nodes while both were alive");
    /* Not acknowledged: the node that handed it out dies, with its client. */
    harness_kill(&c.n[got]);
    remiss_close(&jt[got]);
    m = s_recv_within(jt[1 - got], 60000);
    cr_assert_not_null(m, "node %d did not hand out what node %d had in flight", 1 - got, got);
    cr_assert_eq(memcmp(remiss_message_id(m), id, REMISS_ID_LEN), 0);
    cr_assert_eq(remiss_ack_sync(jt[1 - got], remiss_message_id(m), &err), REMISS_OK, "%s",
                 err.text);
    remiss_message_free(&m);
    cr_assert(harness_log_has(&c.n[1 - got], "event=redelivery_reclaimed messages=1"));
    remiss_close(&jt[1 - got]);
    remiss_close(&sdf);
    cr_expect_eq(harness_stop_broker(&c.n[1 - got]), 0, "node %d did not exit cleanly", 1 - got);
    cr_assert_eq(s_verify(&c, c.pg.uri), 0, "audit verify failed");
    harness_stop(&c.n[0]);
    pgtest_stop(&c.pg);
}

/* ------------------------------------------------------------ streams under failure */

#define S_SENDERS  2
#define S_MAX_SEND 600 /* per sender: bounds the run */
#define S_PACE_US  25000
#define S_DRAIN_MS 90000 /* how long the recipient may take to catch up */

/* Appends a line to path (the children's reports). */
static void
s_line(const char *path, const char *line)
{
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

static bool
s_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Sender k (a child): referrals through node k first until dir/stop,
 * each id with an OK receipt to dir/ok-K, the others counted in
 * dir/fail-K. */
static void
s_sender(s_cluster_t *c, int k, const char *dir)
{
    char ok[256], fail[256], stop[256], hex[33];
    remiss_err_t err;
    int failed = 0;
    snprintf(ok, sizeof ok, "%s/ok-%d", dir, k);
    snprintf(fail, sizeof fail, "%s/fail-%d", dir, k);
    snprintf(stop, sizeof stop, "%s/stop", dir);
    remiss_client_t *cl = s_client(c, "sdf-rinkeby-kista", k % 2, NULL);
    for (int i = 0; cl && i < S_MAX_SEND && !s_exists(stop); i++) {
        uint8_t id[REMISS_ID_LEN];
        remiss_code_t r = s_send_referral(cl, id, &err);
        remiss_id_to_hex(id, hex);
        if (r != REMISS_OK && failed++ < 3)
            fprintf(stderr, "cluster: sender %d: %s: %s\n", k, remiss_code_name(r), err.text);
        s_line(r == REMISS_OK ? ok : fail, r == REMISS_OK ? hex : remiss_code_name(r));
        usleep(S_PACE_US);
    }
    int code = cl ? 0 : 1;
    remiss_close(&cl);
    _exit(code);
}

/* The recipient (a child) on node 1 first: every message the library
 * hands out to dir/got, acknowledged; until dir/done and 3 s of quiet. */
static void
s_recipient(s_cluster_t *c, const char *dir)
{
    char got[256], done[256], hex[33];
    remiss_err_t err;
    snprintf(got, sizeof got, "%s/got", dir);
    snprintf(done, sizeof done, "%s/done", dir);
    remiss_client_t *cl = s_client(c, "jobbtorg", 1, NULL);
    int64_t quiet_since = log_now_ms();
    while (cl && (!s_exists(done) || log_now_ms() - quiet_since < 3000)) {
        remiss_message_t *m = NULL;
        if (remiss_recv(cl, 500, &m, &err) != REMISS_OK)
            continue;
        remiss_id_to_hex(remiss_message_id(m), hex);
        s_line(got, hex);
        remiss_ack(cl, remiss_message_id(m), &err);
        remiss_message_free(&m);
        quiet_since = log_now_ms();
    }
    int code = cl ? 0 : 1;
    remiss_close(&cl);
    _exit(code);
}

static pid_t
s_fork(void)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    return pid;
}

/* Lines of path, sorted, into a malloc'd array. */
static size_t
s_read_ids(const char *path, char (**out)[33])
{
    char line[64];
    size_t n = 0, cap = 0;
    *out = NULL;
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        if (strlen(line) < 32)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *out = realloc(*out, cap * sizeof **out);
            cr_assert_not_null(*out);
        }
        memcpy((*out)[n], line, 32);
        (*out)[n++][32] = '\0';
    }
    if (f)
        fclose(f);
    qsort(*out, n, sizeof **out, (int (*)(const void *, const void *))strcmp);
    return n;
}

static bool
s_has(char (*ids)[33], size_t n, const char *id)
{
    return n && bsearch(id, ids, n, sizeof *ids, (int (*)(const void *, const void *))strcmp);
}

/* How many of the OK ids (files ok-*) the recipient has; its duplicates. */
static size_t
s_tally(const char *dir, size_t *nok, size_t *dups, size_t *unknown)
{
    char path[256];
    char(*got)[33], (*ok)[33] = NULL;
    size_t ngot, arrived = 0;
    snprintf(path, sizeof path, "%s/got", dir);
    ngot = s_read_ids(path, &got);
    *nok = *dups = *unknown = 0;
    for (size_t i = 1; i < ngot; i++)
        *dups += strcmp(got[i - 1], got[i]) == 0;
    for (int k = 0; k < S_SENDERS; k++) {
        snprintf(path, sizeof path, "%s/ok-%d", dir, k);
        size_t n = s_read_ids(path, &ok);
        for (size_t i = 0; i < n; i++)
            arrived += s_has(got, ngot, ok[i]);
        *nok += n;
        free(ok);
    }
    free(got);
    (void)unknown;
    return arrived;
}

/* Starts the recipient and the senders; returns the directory of their
 * reports in dir. */
static void
s_stream_start(s_cluster_t *c, char dir[200], pid_t kids[S_SENDERS + 1])
{
    snprintf(dir, 200, "%s/stream", c->n[0].dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    remiss_client_t *sdf = s_client(c, "sdf-rinkeby-kista", 0, NULL);
    cr_assert_not_null(sdf);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    remiss_close(&sdf);
    if ((kids[S_SENDERS] = s_fork()) == 0)
        s_recipient(c, dir);
    for (int k = 0; k < S_SENDERS; k++)
        if ((kids[k] = s_fork()) == 0)
            s_sender(c, k, dir);
}

/* Stops the senders, lets the recipient catch up and checks that every
 * OK message arrived exactly once. */
static void
s_stream_check(const char *dir, pid_t kids[S_SENDERS + 1])
{
    char path[256];
    size_t nok = 0, dups = 0, unknown = 0, arrived = 0, failed = 0;
    int status;
    snprintf(path, sizeof path, "%s/stop", dir);
    s_line(path, "stop");
    for (int k = 0; k < S_SENDERS; k++) {
        cr_assert_eq(waitpid(kids[k], &status, 0), kids[k]);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender %d failed", k);
        char(*f)[33];
        snprintf(path, sizeof path, "%s/fail-%d", dir, k);
        FILE *ff = fopen(path, "r");
        for (char line[64]; ff && fgets(line, sizeof line, ff);)
            failed++;
        if (ff)
            fclose(ff);
        (void)f;
    }
    for (int64_t t0 = log_now_ms(); log_now_ms() - t0 < S_DRAIN_MS; usleep(200000))
        if ((arrived = s_tally(dir, &nok, &dups, &unknown)) == nok)
            break;
    snprintf(path, sizeof path, "%s/done", dir);
    s_line(path, "done");
    cr_assert_eq(waitpid(kids[S_SENDERS], &status, 0), kids[S_SENDERS]);
    arrived = s_tally(dir, &nok, &dups, &unknown);
    fprintf(stderr,
            "cluster: %zu messages with an OK receipt, %zu arrived, %zu lost, %zu duplicates "
            "handed to the application, %zu sends without OK (not counted)\n",
            nok, arrived, nok - arrived, dups, failed);
    cr_assert_gt(nok, 50, "too few messages went through to test anything");
    cr_assert_eq(arrived, nok, "%zu messages with an OK receipt were lost", nok - arrived);
    cr_assert_eq(dups, 0, "%zu messages reached the application twice", dups);
}

/* Appends node's log to DIR/nodes.log (a restart truncates it). */
static void
s_keep_log(const harness_t *node)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cat %s >> %s/nodes.log", node->log, node->dir);
    (void)system(cmd);
}

/* node's /metrics into out (curl). */
static void
s_metrics(const harness_t *node, char *out, size_t size)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "curl -sf http://127.0.0.1:%d/metrics", node->port + 1);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    if (p)
        pclose(p);
}

/* Each duty is held by exactly one node (after the kills: taken over). */
static void
s_check_leases(s_cluster_t *c)
{
    static const char *const duties[] = {"purge", "heads", "admin"};
    static char m[2][65536];
    char want[64];
    /* A node takes a free lease at its next tick (1 s). */
    usleep(2500000);
    for (int i = 0; i < 2; i++) {
        s_metrics(&c->n[i], m[i], sizeof m[i]);
        cr_assert(strstr(m[i], "remiss_db_round_trips_total"), "node %d: no cluster metrics", i);
        cr_assert(strstr(m[i], "remiss_cluster_notifications_total"));
    }
    for (size_t d = 0; d < 3; d++) {
        int held = 0;
        snprintf(want, sizeof want, "remiss_lease_held{duty=\"%s\"} 1", duties[d]);
        for (int i = 0; i < 2; i++)
            held += strstr(m[i], want) != NULL;
        cr_assert_eq(held, 1, "duty %s is held by %d nodes", duties[d], held);
    }
}

Test(cluster, two_nodes_one_killed_five_times, .timeout = 600)
{
    s_cluster_t c;
    char dir[200];
    pid_t kids[S_SENDERS + 1];
    const char *extra[] = {"--redeliver-ms", "3000", "--metrics", "@metrics", NULL};
    pgtest_start(&c.pg);
    s_up(&c, c.pg.uri);
    s_stream_start(&c, dir, kids);
    for (int round = 0; round < 5; round++) {
        usleep(1500000);
        int i = round % 2;
        harness_kill(&c.n[i]);
        fprintf(stderr, "cluster: node %d killed (round %d)\n", i, round + 1);
        usleep(500000);
        s_keep_log(&c.n[i]);
        harness_restart(&c.n[i], extra);
    }
    usleep(1500000);
    s_stream_check(dir, kids);
    s_check_leases(&c);
    s_stop_nodes(&c);
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "grep -h 'failed' %s/remissd*.log %s/nodes.log | cut -c1-400 | head -20 >&2",
             c.n[0].dir, c.n[0].dir);
    (void)system(cmd);
    snprintf(cmd, sizeof cmd, "grep -A8 'deadlock detected' %s | head -40 >&2", c.pg.log);
    (void)system(cmd);
    cr_assert_eq(s_verify(&c, c.pg.uri), 0, "audit verify failed after the kills");
    harness_stop(&c.n[0]);
    pgtest_stop(&c.pg);
}

Test(cluster, the_primary_lost_and_the_standby_promoted, .timeout = 600)
{
    s_cluster_t c;
    pgtest_t standby;
    char dir[200], uri[300];
    pid_t kids[S_SENDERS + 1];
    pgtest_start(&c.pg);
    pgtest_standby(&c.pg, &standby);
    /* The nodes find the writable server of the two. */
    snprintf(uri, sizeof uri,
             "postgresql://postgres@127.0.0.1:%d,127.0.0.1:%d/remiss"
             "?target_session_attrs=read-write",
             c.pg.port, standby.port);
    s_up(&c, uri);
    s_stream_start(&c, dir, kids);
    usleep(3000000);
    pgtest_kill(&c.pg);
    fprintf(stderr, "cluster: primary killed\n");
    usleep(500000);
    pgtest_promote(&standby);
    fprintf(stderr, "cluster: standby promoted\n");
    usleep(5000000);
    s_stream_check(dir, kids);
    s_stop_nodes(&c);
    cr_assert_eq(s_verify(&c, standby.uri), 0, "audit verify failed on the promoted database");
    harness_stop(&c.n[0]);
    pgtest_stop(&standby);
    pgtest_stop(&c.pg);
}
