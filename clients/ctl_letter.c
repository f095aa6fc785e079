/* ctl_letter: the access report as a printable letter (include/ctl_letter.h).
 *
 * The entries come from a database file an attacker may have edited: they
 * are decoded with their size and UTF-8 checked, and every value that
 * reaches the page goes through s_esc. The detail field is never printed:
 * only the rule name and consent id are taken from it, and the rule name
 * is shown only through the policy (its legal basis and citation). */
#include "ctl_letter.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "utf8.h"

/* Longest string an entry may hold and still be shown (the broker writes
 * at most 512 bytes). */
#define S_TEXT_MAX 4096
/* Room for any date s_date prints. */
#define S_DATE_LEN 64
/* Longest rule name or consent id taken from a detail. */
#define S_TOKEN_MAX 128

struct ctl_letter {
    const policy_t *policy;       /* borrowed: legal bases of the rules */
    time_t now;                   /* the letter's date */
    Remiss__AuditEntry **entries; /* owned, in log order */
    size_t n;                     /* entries held */
    size_t cap;                   /* room in entries */
    size_t damaged;               /* entries that could not be read */
};

/* ---------------------------------------------------------------- words */

/* Message types in the language of the letter, by Remiss__MessageType. */
static const char *const s_types[] = {
    [REMISS__MESSAGE_TYPE__REFERRAL] = "Anvisning (remiss)",
    [REMISS__MESSAGE_TYPE__CASE_SUBMISSION] = "Överlämnande av ärende",
    [REMISS__MESSAGE_TYPE__TRANSFER_ACK] = "Beslut om överlämnande",
    [REMISS__MESSAGE_TYPE__INQUIRY] = "Förfrågan",
    [REMISS__MESSAGE_TYPE__INQUIRY_ANSWER] = "Svar på förfrågan",
    [REMISS__MESSAGE_TYPE__CONSENT_GRANT] = "Samtycke",
    [REMISS__MESSAGE_TYPE__CONSENT_REVOKE] = "Återkallat samtycke",
    [REMISS__MESSAGE_TYPE__CONCERN_REPORT] = "Orosanmälan",
};

/* Data categories, by category_t. */
static const char *const s_categories[CAT_COUNT] = {
    [CAT_IDENTITY] = "identitet (namn, personnummer)",
    [CAT_CONTACT] = "kontaktuppgifter",
    [CAT_EDUCATION] = "utbildning",
    [CAT_EMPLOYMENT] = "arbete och arbetssökande",
    [CAT_SOCIAL] = "socialtjänst och ekonomiskt bistånd",
    [CAT_HEALTH] = "hälsa",
    [CAT_CRIMINAL] = "brott",
    [CAT_FREE_TEXT] = "fritext",
};

/* Why a message was stopped, by reason code (remiss_code.h). */
static const char *const s_reasons[] = {
    [REMISS_E_MALFORMED] = "Meddelandet var felaktigt utformat.",
    [REMISS_E_TOO_LARGE] = "Meddelandet var för stort.",
    [REMISS_E_BAD_SIGNATURE] = "Meddelandets elektroniska underskrift gick inte att kontrollera.",
    [REMISS_E_SENDER_MISMATCH] = "Avsändaren var inte den som meddelandet uppgav.",
    [REMISS_E_CERT_REVOKED] = "Avsändarens certifikat var spärrat.",
    [REMISS_E_UNKNOWN_RECIPIENT] = "Mottagaren är inte ansluten.",
    [REMISS_E_INVALID_PERSONNUMMER] = "Personnumret i meddelandet var ogiltigt.",
    [REMISS_E_POLICY_DENIED] = "Reglerna tillåter inte att sådana uppgifter lämnas till den "
                               "mottagaren för det syftet.",
    [REMISS_E_NO_CONSENT] = "Det fanns inget samtycke från dig som omfattade meddelandet.",
    [REMISS_E_CONSENT_EXPIRED] = "Ditt samtycke hade upphört att gälla.",
    [REMISS_E_CONSENT_REVOKED] = "Du hade återkallat ditt samtycke.",
    [REMISS_E_CATEGORY_NOT_COVERED] = "Meddelandet innehöll uppgifter som ditt samtycke inte "
                                      "omfattade.",
    [REMISS_E_PROTECTED_IDENTITY] = "Du har skyddade personuppgifter, så uppgifterna lämnades "
                                    "inte ut.",
    [REMISS_E_AGE_OUT_OF_SCOPE] = "Din ålder låg utanför den ålder reglerna gäller för.",
    [REMISS_E_REPLAY] = "Meddelandet hade redan skickats en gång.",
    [REMISS_E_RATE_LIMITED] = "Avsändaren skickade för många meddelanden på kort tid.",
    [REMISS_E_STORAGE] = "Ett tekniskt fel hindrade att meddelandet togs emot.",
    [REMISS_E_INTERNAL] = "Ett tekniskt fel hindrade att meddelandet togs emot.",
};

static const char *
s_type_sv(Remiss__MessageType type)
{
    size_t i = (size_t)type;
    return i < sizeof s_types / sizeof s_types[0] && s_types[i] ? s_types[i] : "Okänd typ";
}

static const char *
s_category_sv(const char *name)
{
    category_t cat;
    return category_parse(name, &cat) && cat < CAT_COUNT ? s_categories[cat] : "okänd kategori";
}

static const char *
s_reason_sv(uint32_t code)
{
    return code < sizeof s_reasons / sizeof s_reasons[0] && s_reasons[code]
               ? s_reasons[code]
               : "Ett fel som inte kunde fastställas.";
}

/* ---------------------------------------------------------------- output */

/* Writes s with &, <, >, " and ' escaped. */
static void
s_esc(FILE *out, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* A table cell holding s, escaped ("–" when empty). */
static void
s_cell(FILE *out, const char *s)
{
    fputs("<td>", out);
    if (s != NULL && *s != '\0')
        s_esc(out, s);
    else
        fputs("–", out);
    fputs("</td>", out);
}

/* "30 november 2026 kl. 14.05" in local time; the raw number for a time
 * no calendar holds (a damaged or hostile value). */
static void
s_date(int64_t ms, char out[S_DATE_LEN])
{
    static const char *const months[] = {"januari",   "februari", "mars",     "april",
                                         "maj",       "juni",     "juli",     "augusti",
                                         "september", "oktober",  "november", "december"};
    struct tm tm;
    time_t t = (time_t)(ms / 1000);

    if (ms < 0 || ms / 1000 > INT64_C(253402300799) || localtime_r(&t, &tm) == NULL) {
        snprintf(out, S_DATE_LEN, "%" PRId64 " ms", ms);
        return;
    }
    snprintf(out, S_DATE_LEN, "%d %s %d kl. %02d.%02d", tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
}

static const char *
s_or_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "–";
}

static void
s_date_cell(FILE *out, int64_t ms)
{
    char when[S_DATE_LEN];
    s_date(ms, when);
    s_cell(out, when);
}

static void
s_categories_cell(FILE *out, const Remiss__AuditEntry *e)
{
    fputs("<td>", out);
    for (size_t i = 0; i < e->n_categories; i++) {
        fputs(i ? ", " : "", out);
        s_esc(out, s_category_sv(e->categories[i]));
    }
    fputs(e->n_categories ? "</td>" : "–</td>", out);
}

/* The value of "key=" in a detail ("rule=NAME consent=ID"), or "". */
static void
s_detail_token(const char *detail, const char *key, char out[S_TOKEN_MAX])
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *p = detail; p != NULL && *p != '\0'; p += strcspn(p, " "), p += *p == ' ') {
        size_t n = strcspn(p, " ");
        if (n > klen && n - klen < S_TOKEN_MAX && strncmp(p, key, klen) == 0) {
            memcpy(out, p + klen, n - klen);
            out[n - klen] = '\0';
            return;
        }
    }
}

static const policy_rule_t *
s_rule(const policy_t *policy, const char *name)
{
    for (size_t i = 0; policy != NULL && name[0] != '\0' && i < policy_rule_count(policy); i++)
        if (strcmp(policy_rule_at(policy, i)->name, name) == 0)
            return policy_rule_at(policy, i);
    return NULL;
}

/* The legal basis of a message that was let through: the statute and its
 * citation, or the person's consent and its id. */
static void
s_basis_cell(FILE *out, const ctl_letter_t *self, const Remiss__AuditEntry *e)
{
    char rule_name[S_TOKEN_MAX], consent[S_TOKEN_MAX];
    s_detail_token(e->detail, "rule=", rule_name);
    s_detail_token(e->detail, "consent=", consent);
    const policy_rule_t *rule = s_rule(self->policy, rule_name);

    fputs("<td>", out);
    if (rule != NULL && rule->basis == POLICY_BASIS_STATUTE) {
        fputs("Lagstöd: ", out);
        s_esc(out, rule->statute);
    } else if (consent[0] != '\0') {
        fputs("Ditt samtycke (nr ", out);
        s_esc(out, consent);
        fputs(")", out);
    } else {
        fputs("Framgår inte av loggen", out);
    }
    fputs("</td>", out);
}

/* ---------------------------------------------------------------- sections */

static bool
s_is(const Remiss__AuditEntry *e, Remiss__AuditEvent ev)
{
    return e->event == ev;
}

/* When the message of e (an acceptance) reached its recipient; 0 if it
 * has not. */
static int64_t
s_delivered_at(const ctl_letter_t *self, const Remiss__AuditEntry *e)
{
    for (size_t i = 0; i < self->n; i++) {
        const Remiss__AuditEntry *d = self->entries[i];
        if ((s_is(d, REMISS__AUDIT_EVENT__EV_DELIVERED) ||
             s_is(d, REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED)) &&
            d->message_id.len == e->message_id.len && e->message_id.len > 0 &&
            memcmp(d->message_id.data, e->message_id.data, e->message_id.len) == 0)
            return d->time;
    }
    return 0;
}

static size_t
s_count(const ctl_letter_t *self, bool (*want)(const Remiss__AuditEntry *))
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += want(self->entries[i]);
    return n;
}

static bool
s_is_sent(const Remiss__AuditEntry *e)
{
    return s_is(e, REMISS__AUDIT_EVENT__EV_ACCEPTED) &&
           e->type != REMISS__MESSAGE_TYPE__CONSENT_GRANT &&
           e->type != REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
}

static bool
s_is_consent(const Remiss__AuditEntry *e)
{
    return s_is(e, REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED) ||
           s_is(e, REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED);
}

static bool
s_is_stopped(const Remiss__AuditEntry *e)
{
    return s_is(e, REMISS__AUDIT_EVENT__EV_REFUSED) || s_is(e, REMISS__AUDIT_EVENT__EV_WITHHELD) ||
           s_is(e, REMISS__AUDIT_EVENT__EV_DEAD_LETTERED);
}

/* The heading of one event: "DATE: FROM WHAT TYPE till TO". */
static void
s_event_head(FILE *out, const Remiss__AuditEntry *e, const char *what)
{
    char when[S_DATE_LEN];
    s_date(e->time, when);
    fputs("<h3>", out);
    s_esc(out, when);
    fputs(": ", out);
    s_esc(out, s_or_dash(e->sender));
    fprintf(out, " %s ", what);
    s_esc(out, s_type_sv(e->type));
    fputs(" till ", out);
    s_esc(out, s_or_dash(e->recipient));
    fputs("</h3>\n<table class=\"kv\">", out);
}

/* One row of an event's table: a label and its escaped value. */
static void
s_row(FILE *out, const char *label, const char *value)
{
    fprintf(out, "<tr><th>%s</th>", label);
    s_cell(out, value);
    fputs("</tr>", out);
}

static void
s_sent(const ctl_letter_t *self, FILE *out)
{
    char when[S_DATE_LEN];
    fputs("<h2>Uppgifter som har lämnats ut om dig</h2>\n", out);
    if (s_count(self, s_is_sent) == 0)
        fputs("<p>Inga uppgifter om dig har lämnats ut genom förmedlingen.</p>\n", out);
    for (size_t i = 0; i < self->n; i++) {
        const Remiss__AuditEntry *e = self->entries[i];
        if (!s_is_sent(e))
            continue;
        int64_t got = s_delivered_at(self, e);
        s_event_head(out, e, "skickade");
        s_row(out, "Syfte", e->purpose);
        fputs("<tr><th>Uppgifter om dig</th>", out);
        s_categories_cell(out, e);
        fputs("</tr><tr><th>Rättslig grund</th>", out);
        s_basis_cell(out, self, e);
        fputs("</tr>", out);
        s_date(got, when);
        s_row(out, "Mottagaren fick det", got > 0 ? when : "Inte ännu");
        fputs("</table>\n", out);
    }
}

static void
s_consents(const ctl_letter_t *self, FILE *out)
{
    fputs("<h2>Dina samtycken</h2>\n", out);
    if (s_count(self, s_is_consent) == 0) {
        fputs("<p>Inga samtycken från dig har registrerats.</p>\n", out);
        return;
    }
    fputs("<table><thead><tr><th>Datum</th><th>Händelse</th><th>Registrerat av</th>"
          "<th>Samtycke nr</th></tr></thead><tbody>\n",
          out);
    for (size_t i = 0; i < self->n; i++) {
        const Remiss__AuditEntry *e = self->entries[i];
        char consent[S_TOKEN_MAX];
        if (!s_is_consent(e))
            continue;
        s_detail_token(e->detail, "consent=", consent);
        fputs("<tr>", out);
        s_date_cell(out, e->time);
        s_cell(out, s_is(e, REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED) ? "Lämnat" : "Återkallat");
        s_cell(out, e->sender);
        s_cell(out, consent);
        fputs("</tr>\n", out);
    }
    fputs("</tbody></table>\n", out);
}

static const char *
s_stopped_what(const Remiss__AuditEntry *e)
{
    if (s_is(e, REMISS__AUDIT_EVENT__EV_WITHHELD))
        return "Hölls inne innan mottagaren fick det.";
    if (s_is(e, REMISS__AUDIT_EVENT__EV_DEAD_LETTERED))
        return "Mottagaren tog inte emot det.";
    return "Stoppades av förmedlingen.";
}

static void
s_stopped(const ctl_letter_t *self, FILE *out)
{
    fputs("<h2>Meddelanden om dig som stoppades</h2>\n", out);
    if (s_count(self, s_is_stopped) == 0) {
        fputs("<p>Inga meddelanden om dig har stoppats.</p>\n", out);
        return;
    }
    fputs("<p>Dessa meddelanden nådde inte mottagaren; uppgifterna i dem lämnades inte ut.</p>\n",
          out);
    for (size_t i = 0; i < self->n; i++) {
        const Remiss__AuditEntry *e = self->entries[i];
        if (!s_is_stopped(e))
            continue;
        s_event_head(out, e, "försökte skicka");
        s_row(out, "Syfte", e->purpose);
        s_row(out, "Vad hände", s_stopped_what(e));
        s_row(out, "Skäl", s_reason_sv(e->code));
        fputs("</table>\n", out);
    }
}

static void
s_hex(FILE *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", p[i]);
}

static void
s_verify(const ctl_letter_t *self, const audit_tree_head_t *th, FILE *out)
{
    char when[S_DATE_LEN];
    fputs("<h2>Så kan svaret kontrolleras</h2>\n<p>Varje händelse ovan är en post i "
          "förmedlingens granskningslogg. Loggen är ett Merkleträd (RFC 9162) som förmedlingen "
          "undertecknar elektroniskt, så en post kan inte ändras eller tas bort i efterhand utan "
          "att det märks.</p>\n",
          out);
    fputs("<table class=\"kv\">\n", out);
    if (th == NULL) {
        fputs("<tr><th>Undertecknat trädhuvud</th><td>Finns ännu inte</td></tr>\n", out);
    } else {
        s_date(th->timestamp, when);
        fprintf(out, "<tr><th>Undertecknat trädhuvud</th><td>%s</td></tr>\n", when);
        fprintf(out, "<tr><th>Trädets storlek</th><td>%" PRIu64 " poster</td></tr>\n", th->size);
        fputs("<tr><th>Trädets rot (SHA-256)</th><td class=\"hex\">", out);
        s_hex(out, th->root, sizeof th->root);
        fputs("</td></tr>\n", out);
    }
    fputs("<tr><th>Posternas nummer</th><td>", out);
    for (size_t i = 0; i < self->n; i++)
        fprintf(out, "%s%" PRIu64, i ? ", " : "", self->entries[i]->index);
    fputs(self->n ? "</td></tr></table>\n" : "–</td></tr></table>\n", out);
    fputs("<p>Den som har förmedlingens certifikat kan begära ett bevis för att varje post ingår i "
          "trädet (<i>remissctl audit proof</i>) och kontrollera det mot roten ovan. Poster med "
          "högre nummer än trädets storlek tas med i nästa undertecknade trädhuvud.</p>\n",
          out);
}

static const char s_style[] =
    "@page { size: A4; margin: 18mm 16mm; }\n"
    "body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; font-size: 10pt; "
    "color: #111; }\n"
    "h1 { font-size: 16pt; margin-bottom: 2mm; }\n"
    "h2 { font-size: 12pt; margin-top: 7mm; border-bottom: 1px solid #999; }\n"
    "h3 { font-size: 10pt; margin: 4mm 0 0 0; page-break-after: avoid; }\n"
    "table { border-collapse: collapse; width: 100%; margin-top: 2mm; }\n"
    "th, td { border: 1px solid #bbb; padding: 1.5mm; text-align: left; vertical-align: top; "
    "font-size: 8.5pt; }\n"
    "th { background: #eee; }\n"
    "tr, table.kv { page-break-inside: avoid; }\n"
    "table.kv th { width: 28%; }\n"
    ".hex { font-family: 'DejaVu Sans Mono', monospace; word-break: break-all; }\n"
    ".note { color: #900; font-weight: bold; }\n";

static void
s_head(const ctl_letter_t *self, FILE *out)
{
    char today[S_DATE_LEN];
    s_date((int64_t)self->now * 1000, today);
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Registerutdrag – utbyte av uppgifter om dig</title>\n<style>\n%s</style>\n"
            "</head>\n<body>\n<h1>Registerutdrag: utbyte av uppgifter om dig</h1>\n"
            "<p>Utdraget är gjort %s.</p>\n",
            s_style, today);
    fputs("<p>Du har frågat vilka myndigheter som har utbytt uppgifter om dig genom "
          "förmedlingen remiss. Här är svaret, enligt artikel 15 i dataskyddsförordningen "
          "(GDPR). Det visar vem som skickade vilken sorts meddelande om dig till vem, när, för "
          "vilket syfte och vilka slags uppgifter det innehöll, med vilken rätt, vilka meddelanden "
          "som stoppades och varför. Innehållet i meddelandena finns inte i förmedlingens logg; "
          "det kan du begära ut hos den myndighet som skickade eller tog emot dem.</p>\n",
          out);
}

static void
s_foot(const ctl_letter_t *self, FILE *out)
{
    if (self->damaged > 0)
        fprintf(out,
                "<p class=\"note\">%zu poster om dig gick inte att läsa. Förmedlingen utreder "
                "det och återkommer till dig.</p>\n",
                self->damaged);
    fputs("<h2>Om du har frågor</h2>\n<p>Kontakta den myndighet som skickade dig utdraget. Om "
          "du anser att dina uppgifter har hanterats fel kan du också vända dig till "
          "Integritetsskyddsmyndigheten (IMY).</p>\n</body>\n</html>\n",
          out);
}

/* ---------------------------------------------------------------- API */

ctl_letter_t *
ctl_letter_new(const policy_t *policy, time_t now)
{
    ctl_letter_t *self = calloc(1, sizeof *self);
    if (self != NULL) {
        self->policy = policy;
        self->now = now;
    }
    return self;
}

bool
ctl_letter_add(ctl_letter_t *self, Remiss__AuditEntry *e)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        Remiss__AuditEntry **grown =
            cap < SIZE_MAX / sizeof *grown ? realloc(self->entries, cap * sizeof *grown) : NULL;
        if (grown == NULL) {
            remiss__audit_entry__free_unpacked(e, NULL);
            return false;
        }
        self->entries = grown;
        self->cap = cap;
    }
    self->entries[self->n++] = e;
    return true;
}

void
ctl_letter_damaged(ctl_letter_t *self)
{
    self->damaged++;
}

bool
ctl_letter_print(const ctl_letter_t *self, const audit_tree_head_t *th, FILE *out)
{
    s_head(self, out);
    s_sent(self, out);
    s_consents(self, out);
    s_stopped(self, out);
    s_verify(self, th, out);
    s_foot(self, out);
    return fflush(out) == 0 && !ferror(out);
}

void
ctl_letter_free(ctl_letter_t **self_p)
{
    ctl_letter_t *self = self_p ? *self_p : NULL;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->n; i++)
        remiss__audit_entry__free_unpacked(self->entries[i], NULL);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

/* Reads and checks entry index into the letter (damaged: counted). */
static remiss_code_t
s_load(ctl_letter_t *self, store_t *store, uint64_t index, remiss_err_t *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    remiss_code_t r = store_audit_get(store, index, &bytes, &len, err);
    if (r != REMISS_OK)
        return r;
    Remiss__AuditEntry *e = audit_entry_decode(bytes, len);
    free(bytes);
    if (e != NULL && !utf8_message_valid(&e->base, S_TEXT_MAX)) {
        remiss__audit_entry__free_unpacked(e, NULL);
        e = NULL;
    }
    if (e == NULL)
        ctl_letter_damaged(self);
    else if (!ctl_letter_add(self, e))
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    return REMISS_OK;
}

/* The latest signed tree head, verified; *have false if there is none. */
static remiss_code_t
s_tree_head(store_t *store, EVP_PKEY *broker_pub, audit_tree_head_t *th, bool *have,
            remiss_err_t *err)
{
    uint8_t *sth = NULL;
    size_t len = 0;
    remiss_code_t r = store_audit_sth_latest(store, &sth, &len, err);
    *have = r == REMISS_OK && len > 0;
    if (*have)
        r = audit_verify_tree_head_bytes(sth, len, broker_pub, th, err);
    free(sth);
    return r;
}

remiss_code_t
ctl_letter_write(FILE *out, store_t *store, const uint64_t *idx, size_t n, const policy_t *policy,
                 EVP_PKEY *broker_pub, time_t now, remiss_err_t *err)
{
    ctl_letter_t *self = ctl_letter_new(policy, now);
    audit_tree_head_t th;
    bool have = false;
    remiss_code_t r = REMISS_OK;

    if (self == NULL)
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    for (size_t i = 0; i < n && r == REMISS_OK; i++)
        r = s_load(self, store, idx[i], err);
    if (r == REMISS_OK)
        r = s_tree_head(store, broker_pub, &th, &have, err);
    if (r == REMISS_OK && !ctl_letter_print(self, have ? &th : NULL, out))
        r = remiss_err_set(err, REMISS_E_IO, "cannot write the letter");
    if (r == REMISS_OK && self->damaged > 0)
        r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE,
                           "%zu entries about this person are damaged; run remissctl audit verify",
                           self->damaged);
    ctl_letter_free(&self);
    return r;
}
