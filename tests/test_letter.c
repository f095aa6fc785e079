/* ctl_letter: the person's access report as a letter. A real remissd
 * carries a refused referral, a consent and a delivered referral about one
 * person; `remissctl audit subject PNR --format html` writes the letter,
 * headless Chromium prints it to PDF and pdftotext reads it back: the
 * exchanges, the legal basis, the refusal and its reason, and the signed
 * tree head are there, the personnummer and the case text are not. A
 * letter built from hand-made entries shows a statute's citation from the
 * policy and escapes every value. Run from the top of the tree. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ctl_letter.h"
#include "harness.h"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

static int
s_run(const char *cmd)
{
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f);
    fclose(f);
    cr_assert(n >= 0, "%s is empty", path);
    return text;
}

static void
s_send(remiss_client_t *c, remiss_code_t want)
{
    remiss_receipt_t rc;
    remiss_err_t err;
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_code_t got = remiss_send(c, env, &rc, &err);
    cr_assert_eq(got, want, "send: %s %s", remiss_code_name(got), err.text);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
}

/* The traffic of the letter: a refusal, a consent, a delivered referral. */
static void
s_traffic(harness_t *h)
{
    remiss_err_t err;
    remiss_message_t *m = NULL;
    harness_init(h, s_parties);
    harness_start(h, NULL);
    remiss_client_t *sdf = harness_client(h, "sdf-rinkeby-kista", false);
    s_send(sdf, REMISS_E_NO_CONSENT);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    s_send(sdf, REMISS_OK);
    remiss_client_t *jt = harness_client(h, "jobbtorg", false);
    cr_assert_eq(remiss_recv(jt, 20000, &m, &err), REMISS_OK);
    cr_assert_eq(remiss_ack_sync(jt, remiss_message_id(m), &err), REMISS_OK);
    remiss_message_free(&m);
    remiss_close(&jt);
    remiss_close(&sdf);
    /* A stopped broker has signed the tree head over everything. */
    cr_assert_eq(harness_stop_broker(h), 0);
}

static int
s_letter(harness_t *h, const char *format, const char *out)
{
    char bin[256], cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s audit subject %s --db '%s' --pki '%s' --format %s --policy '%s' >'%s' "
             "2>'%s.err'",
             harness_bin("remissctl", bin, sizeof bin), HARNESS_PNR, h->db, h->pki, format,
             h->policy, out, out);
    return s_run(cmd);
}

/* Prints html to dir/letter.pdf with headless Chromium and returns the
 * PDF's text, malloc'd. */
static char *
s_pdf_text(const char *dir, const char *html)
{
    char cmd[2048], path[256];
    snprintf(cmd, sizeof cmd,
             "chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
             "--disable-background-networking --disable-component-update --disable-sync "
             "--disable-dev-shm-usage --no-pdf-header-footer --user-data-dir='%s/chromium' "
             "--print-to-pdf='%s/letter.pdf' 'file://%s' >'%s/chromium.log' 2>&1",
             dir, dir, html, dir);
    int rc = s_run(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s/chromium.log' >&2", dir);
        (void)s_run(cmd);
    }
    cr_assert_eq(rc, 0, "chromium could not print the letter");
    /* The text in reading order, every run of white space one blank. */
    snprintf(cmd, sizeof cmd,
             "pdftotext '%s/letter.pdf' - | tr -s ' \\n\\t\\f' '    ' >'%s/letter.txt'", dir, dir);
    cr_assert_eq(s_run(cmd), 0, "pdftotext failed");
    snprintf(path, sizeof path, "%s/letter.txt", dir);
    return s_slurp(path);
}

Test(letter, a_real_log_printed_by_chromium_reads_as_a_letter, .timeout = 180)
{
    harness_t h;
    char html[256];
    s_traffic(&h);
    snprintf(html, sizeof html, "%s/letter.html", h.dir);
    cr_assert_eq(s_letter(&h, "html", html), 0, "remissctl audit subject --format html failed");
    char *text = s_pdf_text(h.dir, html);
    const char *const want[] = {
        "Registerutdrag",
        "Uppgifter som har lämnats ut om dig",
        "sdf-rinkeby-kista skickade Anvisning (remiss) till jobbtorg",
        "sdf-rinkeby-kista försökte skicka Anvisning (remiss) till jobbtorg",
        "Syfte anvisning",
        "socialtjänst och ekonomiskt bistånd",
        "Ditt samtycke (nr c-test-1)",
        "Lämnat",
        "Meddelanden om dig som stoppades",
        "Det fanns inget samtycke från dig som omfattade meddelandet.",
        "Trädets storlek",
        "Trädets rot (SHA-256)",
        "artikel 15",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect_not_null(strstr(text, want[i]), "the letter lacks \"%s\":\n%s", want[i], text);
    /* Neither the number the person gave, in any form, nor the case text. */
    const char *const never[] = {
        "20080229", "080229", "4728", "Testperson", "Ekonomiskt bistånd sedan", "Behöver stöd"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        cr_expect_null(strstr(text, never[i]), "the letter shows \"%s\"", never[i]);
    free(text);
    /* Keep one for a person to look at. */
    if (getenv("REMISS_KEEP_LETTER") != NULL) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "cp '%s/letter.pdf' '%s'", h.dir, getenv("REMISS_KEEP_LETTER"));
        (void)s_run(cmd);
    }
    harness_stop(&h);
}

Test(letter, a_wrong_command_line_is_a_usage_error, .timeout = 60)
{
    harness_t h;
    char out[256], bin[256], cmd[1024];
    harness_init(&h, s_parties);
    snprintf(out, sizeof out, "%s/out", h.dir);
    cr_expect_eq(s_letter(&h, "pdf", out), 2, "--format pdf was accepted");
    snprintf(cmd, sizeof cmd,
             "%s audit subject %s --db '%s' --pki '%s' --format html >/dev/null 2>&1",
             harness_bin("remissctl", bin, sizeof bin), HARNESS_PNR, h.db, h.pki);
    cr_expect_eq(s_run(cmd), 2, "--format html without --policy was accepted");
    harness_stop(&h);
}

/* An entry as the broker would log it, with hostile text where the log
 * could have been edited. */
static Remiss__AuditEntry *
s_entry(uint64_t index, Remiss__AuditEvent ev, const char *sender, const char *purpose,
        const char *detail)
{
    Remiss__AuditEntry *e = calloc(1, sizeof *e);
    remiss__audit_entry__init(e);
    e->index = index;
    e->time = INT64_C(1780000000000) + (int64_t)index * 60000;
    e->event = ev;
    e->sender = strdup(sender);
    e->recipient = strdup("sdf-rinkeby-kista");
    e->type = REMISS__MESSAGE_TYPE__CONCERN_REPORT;
    e->purpose = strdup(purpose);
    e->detail = strdup(detail);
    e->code = (Remiss__ReasonCode)(ev == REMISS__AUDIT_EVENT__EV_REFUSED ? REMISS_E_AGE_OUT_OF_SCOPE
                                                                         : REMISS_OK);
    return e;
}

Test(letter, shows_the_statute_and_escapes_every_value)
{
    remiss_err_t err;
    policy_t *policy = policy_load("config/stockholm.policy", &err);
    cr_assert_not_null(policy, "%s", err.text);
    ctl_letter_t *letter = ctl_letter_new(policy, (time_t)1780000000);
    cr_assert_not_null(letter);
    cr_assert(ctl_letter_add(letter, s_entry(0, REMISS__AUDIT_EVENT__EV_ACCEPTED, "jobbtorg", "oro",
                                             "rule=oro-jobbtorg")));
    cr_assert(ctl_letter_add(letter, s_entry(1, REMISS__AUDIT_EVENT__EV_REFUSED,
                                             "<script>alert(1)</script>", "a&b\"c'd",
                                             "rule=<b>x</b> consent=<i>")));
    audit_tree_head_t th = {.size = 2, .timestamp = INT64_C(1780000200000)};
    memset(th.root, 0xab, sizeof th.root);
    char *html = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&html, &len);
    cr_assert(ctl_letter_print(letter, &th, out));
    fclose(out);
    ctl_letter_free(&letter);
    cr_assert_null(letter);
    policy_free(&policy);

    cr_expect_not_null(
        strstr(html, "Lagstöd: SoL 14 kap. 1 § (anmälningsskyldighet), OSL 10 kap. 28 §"), "%s",
        html);
    cr_expect_not_null(strstr(html, "Orosanmälan"));
    cr_expect_not_null(strstr(html, "Din ålder låg utanför"));
    cr_expect_not_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    cr_expect_not_null(strstr(html, "a&amp;b&quot;c&#39;d"));
    cr_expect_null(strstr(html, "<script"), "raw markup from an entry");
    cr_expect_null(strstr(html, "<b>x"), "raw markup from an entry");
    cr_expect_not_null(strstr(html, "<td>2 poster</td>"));
    cr_expect_not_null(strstr(html, "abababababababababababababababab"));
    free(html);
}
