/* Regression tests of issue 14 ("Security, round two") through a real
 * remissd: who may assert a consent, the consent registry's namespace and
 * caps, a CRL that fails closed, proofs by index, and the smaller findings.
 * Each test failed on the code before its fix. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "pki_admin.h"

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

/* ------------------------------------------------------------ finding 1 */

Test(security, a_consent_the_recipient_registered_counts_only_when_the_sender_names_it,
     .timeout = 120)
{
    harness_t h;
    char why[512], args[512], out[65536];
    harness_init(&h, s_parties);
    /* The example policy has recipient_consent_forbidden = health, criminal. */
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
    snprintf(args, sizeof args, "audit export --db %s", h.db);
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

/* ------------------------------------------------------------ finding 4 */

/* GET http://127.0.0.1:port/path; the malloc'd response. */
static char *
s_http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0, "metrics listener");
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 14, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    while (len < cap && (r = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

/* How many times needle occurs in the broker log. */
static int
s_log_count(harness_t *h, const char *needle)
{
    FILE *f = fopen(h->log, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Sends SIGHUP and waits for the n-th log line with needle. */
static void
s_reload_until(harness_t *h, const char *needle, int n)
{
    harness_signal(h, SIGHUP);
    for (int i = 0; i < 200 && s_log_count(h, needle) < n; i++)
        usleep(50000);
    cr_assert_geq(s_log_count(h, needle), n, "no %s in the log", needle);
}

static remiss_code_t
s_send_plain(remiss_client_t *c)
{
    char why[512];
    return s_referral(c, false, NULL, why, sizeof why);
}

Test(security, a_missing_or_broken_crl_keeps_the_old_revocations_in_force, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    char path[256], away[256];
    const char *const extra[] = {"--metrics", "@metrics", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *bad = harness_client(&h, "sdf-sodermalm", false);
    cr_assert_eq(
        harness_grant(bad, "c-sod-1", "sdf-sodermalm", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_send_plain(bad), REMISS_OK);

    cr_assert_eq(pki_revoke(h.pki, "sdf-sodermalm", &err), REMISS_OK);
    s_reload_until(&h, "revoked=1", 1);
    cr_assert_eq(s_send_plain(bad), REMISS_E_CERT_REVOKED);

    /* The CRL moved away: the reload is refused and the revocation stays. */
    snprintf(path, sizeof path, "%.200s/crl.pem", h.pki);
    snprintf(away, sizeof away, "%.200s/crl.away", h.pki);
    cr_assert_eq(rename(path, away), 0);
    s_reload_until(&h, "reload_failed", 1);
    cr_assert_eq(s_send_plain(bad), REMISS_E_CERT_REVOKED);
    char *health = s_http_get(h.port + 1, "/healthz");
    cr_assert(strstr(health, "degraded") && strstr(health, "crl=refused"), "%s", health);
    free(health);

    /* A file that is not a CRL signed by the CA: the same. */
    FILE *f = fopen(path, "w");
    fputs("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", f);
    fclose(f);
    s_reload_until(&h, "reload_failed", 2);
    cr_assert_eq(s_send_plain(bad), REMISS_E_CERT_REVOKED);

    /* The good CRL back: healthy again. */
    cr_assert_eq(rename(away, path), 0);
    s_reload_until(&h, "certificates_reloaded", 2);
    health = s_http_get(h.port + 1, "/healthz");
    cr_assert(strstr(health, "200") && strstr(health, "ok ") && strstr(health, "crl=current"), "%s",
              health);
    free(health);
    remiss_close(&bad);

    /* Without a CRL the broker does not start. */
    harness_stop_broker(&h);
    cr_assert_eq(rename(path, away), 0);
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd,
             "timeout 20 %s --pki %s --db %s --policy %s --listen tcp://127.0.0.1:%d >%s/nocrl.log "
             "2>&1",
             harness_bin("remissd", bin, sizeof bin), h.pki, h.db, h.policy, h.port, h.dir);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 124,
              "remissd started without a CRL (status %d)", st);
    harness_stop(&h);
}

/* Signs a CRL for the harness CA whose nextUpdate is in_s seconds away. */
static void
s_short_crl(harness_t *h, long in_s)
{
    char path[256];
    snprintf(path, sizeof path, "%.200s/ca.crt", h->pki);
    FILE *f = fopen(path, "r");
    X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof path, "%.200s/ca.key", h->pki);
    f = fopen(path, "r");
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert(ca && key);
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = ASN1_TIME_adj(NULL, time(NULL), 0, -60);
    ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL), 0, in_s);
    cr_assert(X509_CRL_set_version(crl, 1) &&
              X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
              X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next) &&
              X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    snprintf(path, sizeof path, "%.200s/crl.pem", h->pki);
    f = fopen(path, "w");
    PEM_write_X509_CRL(f, crl);
    fclose(f);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
    X509_free(ca);
}

Test(security, a_crl_not_replaced_after_its_next_update_fails_closed_after_the_grace,
     .timeout = 120)
{
    harness_t h;
    harness_init(&h, s_parties);
    s_short_crl(&h, 3);
    const char *const extra[] = {"--metrics", "@metrics", "--crl-grace", "2", NULL};
    harness_start(&h, extra);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    /* nextUpdate (3 s) plus the grace (2 s) pass without a new CRL. */
    sleep(6);
    cr_assert_eq(s_send_plain(sdf), REMISS_E_CERT_REVOKED);
    char *health = s_http_get(h.port + 1, "/healthz");
    cr_assert(strstr(health, "503") && strstr(health, "crl=expired"), "%s", health);
    free(health);
    /* The stale CRL itself is refused at a reload and at start. */
    s_reload_until(&h, "reload_failed", 1);
    cr_assert(harness_log_has(&h, "past its nextUpdate"));
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 3 */

/* Asks for the proof of entry index as c; the decoded entry if granted. */
static Remiss__AuditEntry *
s_entry_by_index(remiss_client_t *c, uint64_t index)
{
    Remiss__ClientFrame cf = REMISS__CLIENT_FRAME__INIT;
    Remiss__ProofQuery pq = REMISS__PROOF_QUERY__INIT;
    remiss_err_t err;
    uint8_t frame[64], *reply = NULL;
    size_t rlen = 0;
    pq.index = index;
    cf.request_id = 1000 + index;
    cf.kind_case = REMISS__CLIENT_FRAME__KIND_PROOF;
    cf.proof = &pq;
    size_t n = remiss__client_frame__pack(&cf, frame);
    cr_assert_eq(remiss_raw_request(c, frame, n, &reply, &rlen, &err), REMISS_OK, "%s", err.text);
    Remiss__BrokerFrame *bf = remiss__broker_frame__unpack(NULL, rlen, reply);
    free(reply);
    cr_assert(bf && bf->kind_case == REMISS__BROKER_FRAME__KIND_PROOF, "kind %d",
              bf ? (int)bf->kind_case : -1);
    Remiss__AuditEntry *e = NULL;
    if (bf->proof->code == REMISS__REASON_CODE__OK)
        e = remiss__audit_entry__unpack(NULL, bf->proof->leaf_entry.len,
                                        bf->proof->leaf_entry.data);
    remiss__broker_frame__free_unpacked(bf, NULL);
    return e;
}

Test(security, a_recipient_sees_only_entries_of_messages_delivered_to_it, .timeout = 180)
{
    harness_t h;
    char why[512];
    remiss_err_t err;
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);

    /* Withheld: queued while Jobbtorg is away, then the consent withdrawn. */
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    Remiss__Envelope *rv = calloc(1, sizeof *rv);
    remiss__envelope__init(rv);
    rv->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rv->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rv->consent_revoke = calloc(1, sizeof *rv->consent_revoke);
    remiss__consent_revoke__init(rv->consent_revoke);
    rv->recipient = strdup("broker");
    rv->consent_id = strdup("c-1");
    cr_assert_eq(s_send(sdf, rv, why, sizeof why), REMISS_OK, "%s", why);
    remiss__envelope__free_unpacked(rv, NULL);

    /* Delivered and acknowledged. */
    cr_assert_eq(
        harness_grant(sdf, "c-2", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_ack(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    /* A fresh connection for the walk: no deliveries or answers pending. */
    remiss_close(&jt);
    jt = harness_client(&h, "jobbtorg", false);

    /* Refused: health data under a consent for social data only. */
    cr_assert_eq(s_referral(sdf, true, NULL, why, sizeof why), REMISS_E_CATEGORY_NOT_COVERED, "%s",
                 why);

    /* Jobbtorg walks the log by index. */
    int seen_accepted = 0, sender_refused = 0;
    for (uint64_t i = 0; i < 60; i++) {
        Remiss__AuditEntry *e = s_entry_by_index(jt, i);
        if (e) {
            cr_assert_neq(e->event, REMISS__AUDIT_EVENT__EV_REFUSED, "entry %lu refused", i);
            cr_assert_neq(e->event, REMISS__AUDIT_EVENT__EV_WITHHELD, "entry %lu withheld", i);
            seen_accepted += e->event == REMISS__AUDIT_EVENT__EV_ACCEPTED;
            remiss__audit_entry__free_unpacked(e, NULL);
        }
        e = s_entry_by_index(sdf, i);
        if (e) {
            sender_refused += e->event == REMISS__AUDIT_EVENT__EV_REFUSED;
            remiss__audit_entry__free_unpacked(e, NULL);
        }
    }
    /* Only the delivered message's acceptance; the withheld one's is not. */
    cr_assert_eq(seen_accepted, 1);
    /* The sender still sees its own refusal. */
    cr_assert_eq(sender_refused, 1);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 8 */

Test(security, a_redelivered_message_takes_one_place_in_the_window, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    char why[512];
    const char *const extra[] = {"--window", "2", "--redeliver-ms", "300", "--max-attempts",
                                 "4",        NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    /* The first message is never acknowledged: redelivered, then dead. */
    remiss_message_t *m = NULL;
    uint8_t first[REMISS_ID_LEN];
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    memcpy(first, remiss_message_id(m), REMISS_ID_LEN);
    remiss_message_free(&m);
    /* Wait until it was redelivered up to --max-attempts and dead-lettered
     * (the client passes each message to the application once). */
    char hex[33], args[512], out[8192];
    remiss_id_to_hex(first, hex);
    snprintf(args, sizeof args, "deadletter list --db %s", h.db);
    for (int i = 0; i < 200 && !(s_ctl(args, out, sizeof out) == 0 && strstr(out, hex)); i++)
        usleep(100000);
    cr_assert(strstr(out, hex) && strstr(out, "after 4 deliveries"), "%s", out);
    /* The second one still gets through: the first holds one place. */
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    bool second = false;
    for (int i = 0; i < 60 && !second; i++) {
        if (remiss_recv(jt, 500, &m, &err) == REMISS_OK) {
            second = memcmp(remiss_message_id(m), first, REMISS_ID_LEN) != 0;
            remiss_message_free(&m);
        }
    }
    cr_assert(second, "the second message was held back by the unacknowledged first");
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(security, deadletter_list_prints_no_terminal_controls_from_the_recipient, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    char why[512], args[512], out[65536];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_refuse(jt, remiss_message_id(m),
                               "\x1b]0;owned\x07\x1b[2J\xc2\x9b"
                               "31m\xe2\x80\xae"
                               "fel mottagare",
                               &err),
                 REMISS_OK, "%s", err.text);
    remiss_message_free(&m);
    for (int i = 0; i < 100; i++) {
        snprintf(args, sizeof args, "deadletter list --db %s", h.db);
        cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
        if (strstr(out, "fel mottagare"))
            break;
        usleep(100000);
    }
    cr_assert(strstr(out, "fel mottagare"), "%s", out);
    cr_assert_null(strchr(out, '\x1b'), "ESC on the terminal");
    cr_assert_null(strchr(out, '\x07'), "BEL on the terminal");
    cr_assert_null(strstr(out, "\xc2\x9b"), "CSI on the terminal");
    cr_assert_null(strstr(out, "\xe2\x80\xae"), "bidi override on the terminal");

    /* The actor of a requeue comes from the OS, not from the environment. */
    char hex[33];
    memcpy(hex, out, 32);
    hex[32] = '\0';
    /* Without broker.kek the lister still tells a sealed body from a
     * purged one. */
    snprintf(args, sizeof args, "deadletter list --db %s --json", h.db);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"requeueable\":true"), "%s", out);
    snprintf(args, sizeof args, "deadletter requeue --db %s %s", h.db, hex);
    setenv("USER", "mallory", 1);
    setenv("SUDO_USER", "mallory", 1);
    int st = s_ctl(args, out, sizeof out);
    unsetenv("SUDO_USER");
    cr_assert_eq(st, 0, "%s", out);
    snprintf(args, sizeof args, "audit export --db %s", h.db);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "requeued by "), "%s", out);
    cr_assert_null(strstr(out, "mallory"), "%s", out);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(security, pki_issue_refuses_the_broker_role, .timeout = 60)
{
    harness_t h;
    char args[512], out[4096];
    harness_init(&h, s_parties);
    snprintf(args, sizeof args, "pki issue %s mallory broker", h.pki);
    cr_assert_neq(s_ctl(args, out, sizeof out), 0, "%s", out);
    char crt[256];
    snprintf(crt, sizeof crt, "%.200s/parties/mallory.crt", h.pki);
    cr_assert_neq(access(crt, F_OK), 0, "a certificate was issued");
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 2 */

Test(security, free_text_from_a_refused_message_never_enters_the_audit_log, .timeout = 120)
{
    harness_t h;
    char why[512], args[512], out[65536];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);

    /* Personal data in the recipient and in the purpose. */
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    free(env->recipient);
    env->recipient = strdup("Kim Andersson 20060115-2382");
    cr_assert_eq(s_send(sdf, env, why, sizeof why), REMISS_E_UNKNOWN_RECIPIENT, "%s", why);
    harness_envelope_free(env);
    env = harness_referral("jobbtorg", "hiv-positiv / missbruk / psykos");
    cr_assert_neq(s_send(sdf, env, why, sizeof why), REMISS_OK, "%s", why);
    harness_envelope_free(env);
    /* And in a consent grant's purpose field, which is refused too. */
    Remiss__Envelope *g = calloc(1, sizeof *g);
    remiss__envelope__init(g);
    g->type = REMISS__MESSAGE_TYPE__CONSENT_GRANT;
    g->body_case = REMISS__ENVELOPE__BODY_CONSENT_GRANT;
    g->consent_grant = calloc(1, sizeof *g->consent_grant);
    remiss__consent_grant__init(g->consent_grant);
    g->recipient = strdup("broker");
    g->consent_id = strdup("c-1");
    g->purpose = strdup("Kim Andersson hiv-positiv");
    cr_assert_neq(s_send(sdf, g, why, sizeof why), REMISS_OK, "%s", why);
    remiss__envelope__free_unpacked(g, NULL);

    snprintf(args, sizeof args, "audit export --db %s", h.db);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "unlisted:"), "%s", out);
    cr_assert_null(strstr(out, "Andersson"), "%s", out);
    cr_assert_null(strstr(out, "20060115"), "%s", out);
    cr_assert_null(strstr(out, "hiv"), "%s", out);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 5 */

Test(security, the_store_files_are_0600_whatever_the_umask, .timeout = 120)
{
    harness_t h;
    char why[512], path[256];
    harness_init(&h, s_parties);
    mode_t old = umask(022);
    harness_start(&h, NULL);
    umask(old);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%.200s%s", h.db, suffix[i]);
        cr_assert_eq(stat(path, &st), 0, "%s", path);
        cr_assert_eq(st.st_mode & 0777, 0600, "%s is %o", path, st.st_mode & 0777);
    }
    remiss_close(&sdf);
    harness_stop(&h);
}

/* True if any file remissd writes holds needle (a plain byte search). */
static bool
s_files_hold(harness_t *h, const char *needle)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char path[256];
    size_t nl = strlen(needle);
    for (size_t i = 0; i < 4; i++) {
        if (i < 3)
            snprintf(path, sizeof path, "%.200s%s", h->db, suffix[i]);
        else
            snprintf(path, sizeof path, "%.200s", h->log);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc(n > 0 ? (size_t)n : 1);
        size_t got = fread(buf, 1, n > 0 ? (size_t)n : 0, f);
        fclose(f);
        bool hit = got >= nl && memmem(buf, got, needle, nl) != NULL;
        free(buf);
        if (hit)
            return true;
    }
    return false;
}

Test(security, personal_data_is_only_ever_written_encrypted, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    char why[512];
    const char *const extra[] = {"--retention", "1", NULL};
    const char *const needles[] = {HARNESS_PNR, "200802294728", "Testperson", "Testsson"};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    /* While running and queued, and delivered intact. */
    for (size_t i = 0; i < 4; i++)
        cr_assert_not(s_files_hold(&h, needles[i]), "%s in clear on disk", needles[i]);
    remiss_message_t *m = NULL;
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_ack(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    for (size_t i = 0; i < 4; i++)
        cr_assert_not(s_files_hold(&h, needles[i]), "%s in clear on disk", needles[i]);
    remiss_close(&jt);
    remiss_close(&sdf);
    /* After retention and a clean stop. */
    sleep(3);
    harness_stop_broker(&h);
    for (size_t i = 0; i < 4; i++)
        cr_assert_not(s_files_hold(&h, needles[i]), "%s in clear on disk", needles[i]);
    struct stat st;
    char kek[256];
    snprintf(kek, sizeof kek, "%.200s/broker.kek", h.pki);
    cr_assert_eq(stat(kek, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    harness_stop(&h);
}

Test(security, keys_rotate_rewraps_every_data_key_while_remissd_runs, .timeout = 180)
{
    harness_t h;
    remiss_err_t err;
    char why[512], args[512], out[4096], kek[256];
    harness_init(&h, s_parties);
    harness_start(&h, NULL);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    /* Queued under the first key. */
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    snprintf(args, sizeof args, "keys rotate --db %s --pki %s", h.db, h.pki);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "key 2 is current") && strstr(out, "3 data key(s) rewrapped"), "%s", out);
    /* Only the new key is left. */
    snprintf(kek, sizeof kek, "%.200s/broker.kek", h.pki);
    FILE *f = fopen(kek, "r");
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        cr_assert_eq(strncmp(line, "2 ", 2), 0, "%s", line);
    }
    fclose(f);
    cr_assert_eq(lines, 1);
    /* The same remissd decides on the rewrapped consent and delivers the
     * rewrapped and a new message. */
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    for (int i = 0; i < 2; i++) {
        remiss_message_t *m = NULL;
        cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK, "%s", err.text);
        cr_assert_eq(remiss_ack(jt, remiss_message_id(m), &err), REMISS_OK);
        remiss_message_free(&m);
    }
    /* And after a restart, with only the new key. */
    cr_assert_eq(harness_stop_broker(&h), 0);
    harness_restart(&h, NULL);
    remiss_close(&sdf);
    sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(s_referral(sdf, false, NULL, why, sizeof why), REMISS_OK, "%s", why);
    remiss_close(&jt);
    remiss_close(&sdf);
    harness_stop(&h);
}

Test(security, a_withdrawn_consent_is_shredded_after_retention, .timeout = 120)
{
    harness_t h;
    char why[512], args[512], out[8192];
    const char *const extra[] = {"--retention", "1", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *sdf = harness_client(&h, "sdf-rinkeby-kista", false);
    cr_assert_eq(
        harness_grant(sdf, "c-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning", "identity,social"),
        REMISS_OK);
    snprintf(args, sizeof args, "consent list --db %s --pki %s --subject %s", h.db, h.pki,
             HARNESS_PNR);
    cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "c-1") && !strstr(out, "damaged"), "%s", out);
    Remiss__Envelope *rv = calloc(1, sizeof *rv);
    remiss__envelope__init(rv);
    rv->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    rv->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    rv->consent_revoke = calloc(1, sizeof *rv->consent_revoke);
    remiss__consent_revoke__init(rv->consent_revoke);
    rv->recipient = strdup("broker");
    rv->consent_id = strdup("c-1");
    cr_assert_eq(s_send(sdf, rv, why, sizeof why), REMISS_OK, "%s", why);
    remiss__envelope__free_unpacked(rv, NULL);
    /* Retention (1 s) and a purge (every second) later the grant is gone. */
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(s_ctl(args, out, sizeof out), 0, "%s", out);
        if (strstr(out, "damaged"))
            break;
        usleep(100000);
    }
    cr_assert(strstr(out, "damaged"), "%s", out);
    remiss_close(&sdf);
    harness_stop(&h);
}

/* ------------------------------------------------------------ finding 6 */

/* Lines of the audit export that contain all of the needles. */
static int
s_export_count(harness_t *h, const char *a, const char *b)
{
    char cmd[1024], bin[256], line[4096];
    int n = 0;
    snprintf(cmd, sizeof cmd, "%s audit export --db %s 2>&1",
             harness_bin("remissctl", bin, sizeof bin), h->db);
    FILE *p = popen(cmd, "r");
    while (p && fgets(line, sizeof line, p))
        n += strstr(line, a) && (!b || strstr(line, b));
    if (p)
        pclose(p);
    return n;
}

Test(security, garbage_frames_cannot_grow_the_log_faster_than_the_bound, .timeout = 180)
{
    harness_t h;
    remiss_err_t err;
    const char *const extra[] = {"--rate", "5", "--rate-burst", "5", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *bad = harness_client(&h, "sdf-sodermalm", false);
    uint8_t junk[64];
    int limited = 0;
    for (int i = 0; i < 2000; i++) {
        uint8_t *reply = NULL;
        size_t rlen = 0;
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)(i * 31 + k * 7 + 0x80);
        if (remiss_raw_request(bad, junk, sizeof junk, &reply, &rlen, &err) == REMISS_OK) {
            Remiss__BrokerFrame *bf = remiss__broker_frame__unpack(NULL, rlen, reply);
            limited += bf && bf->kind_case == REMISS__BROKER_FRAME__KIND_RECEIPT;
            remiss__broker_frame__free_unpacked(bf, NULL);
        }
        free(reply);
    }
    cr_assert_gt(limited, 0);
    /* Individual entries: at most FLOOD_INDIVIDUAL (20) per 10 s interval. */
    int individual = s_export_count(&h, "\"sdf-sodermalm\"", NULL);
    cr_assert_gt(individual, 0);
    cr_assert_leq(individual, 3 * 21, "%d entries for one party's garbage", individual);
    /* The rest is one aggregated entry when the interval ends. */
    for (int i = 0; i < 150 && s_export_count(&h, "aggregated", "sdf-sodermalm") == 0; i++)
        usleep(100000);
    cr_assert_geq(s_export_count(&h, "aggregated", "sdf-sodermalm"), 1);
    remiss_close(&bad);
    harness_stop(&h);
}

Test(security, one_party_cannot_take_every_receiving_connection, .timeout = 120)
{
    harness_t h;
    remiss_err_t err;
    const char *const extra[] = {"--max-connections", "3", "--max-party-connections", "2", NULL};
    harness_init(&h, s_parties);
    harness_start(&h, extra);
    remiss_client_t *hog[3];
    for (int i = 0; i < 3; i++)
        hog[i] = harness_client(&h, "sdf-sodermalm", false);
    cr_assert_eq(remiss_subscribe(hog[0], 0, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_subscribe(hog[1], 0, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(remiss_subscribe(hog[2], 0, &err), REMISS_E_RATE_LIMITED);
    remiss_client_t *jt = harness_client(&h, "jobbtorg", false);
    cr_assert_eq(remiss_subscribe(jt, 0, &err), REMISS_OK, "%s", err.text);
    remiss_close(&jt);
    for (int i = 0; i < 3; i++)
        remiss_close(&hog[i]);
    harness_stop(&h);
}
