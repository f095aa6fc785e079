/* ctl_store: dead letters and consents, read from (and requests filed in)
 * the broker's store. Changes go through the broker's admin queue so the
 * broker performs and audits them. */
#include "ctl_store.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "category.h"
#include "hex.h"
#include "log.h"
#include "pnr.h"
#include "pseudonym.h"
#include "remiss.h"
#include "rfc3339.h"
#include "store.h"

/* An error as remissctl prints it (JSON under --json); the exit status. */
static int
s_err(const ctl_args_t *a, remiss_code_t code, const char *text)
{
    remiss_err_t err;
    remiss_err_set(&err, code, "%s", text);
    return cli_fail(&a->cli, &err);
}

/* RFC 3339, or "-" for a time never set. */
static void
s_iso(int64_t ms, char out[32])
{
    if (!ms || !rfc3339_format(ms, out, 32))
        snprintf(out, 32, "-");
}

static const char *const s_state_names[] = {"?",    "queued",  "delivered", "acknowledged",
                                            "dead", "withheld"};

/* The recipient's refusal reason is its text: on a terminal it must not
 * carry control characters, C1 controls (U+0080-U+009F, CSI among them) or
 * bidirectional overrides (U+202A-U+202E, U+2066-U+2069). Each becomes '?'. */
static const char *
s_term_safe(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)in;
    while (*p && o + 1 < size) {
        if (*p < 0x20 || *p == 0x7f) {
            p++;
        } else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            p += 2;
        } else if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                                    (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9))) {
            p += 3;
        } else {
            out[o++] = (char)*p++;
            continue;
        }
        out[o++] = '?';
    }
    out[o] = '\0';
    return out;
}

static int
s_deadletter_rows(const ctl_args_t *a, store_t *st)
{
    store_msg_t *rows = calloc(500, sizeof *rows);
    size_t n = 0;
    remiss_err_t err;
    if (!rows || store_dead_letters(st, 500, rows, &n, &err) != REMISS_OK) {
        free(rows);
        return s_err(a, REMISS_E_STORAGE, rows ? err.text : "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char hex[33], when[32];
        hex_encode(hex, rows[i].message_id, STORE_ID_LEN);
        s_iso(rows[i].accepted_at, when);
        const char *state = rows[i].state <= 5 ? s_state_names[rows[i].state] : "?";
        const char *type = msgtype_name(rows[i].type) ? msgtype_name(rows[i].type) : "?";
        if (a->cli.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "message_id", hex);
            cJSON_AddStringToObject(j, "state", state);
            cJSON_AddStringToObject(j, "from", rows[i].sender);
            cJSON_AddStringToObject(j, "to", rows[i].recipient);
            cJSON_AddStringToObject(j, "type", type);
            cJSON_AddStringToObject(j, "accepted_at", when);
            cJSON_AddNumberToObject(j, "attempts", rows[i].attempts);
            cJSON_AddStringToObject(j, "code", remiss_code_name((remiss_code_t)rows[i].code));
            cJSON_AddStringToObject(j, "reason", rows[i].reason);
            cJSON_AddBoolToObject(j, "requeueable", rows[i].envelope != NULL);
            char *line = cJSON_PrintUnformatted(j);
            printf("%s\n", line);
            free(line);
            cJSON_Delete(j);
        } else {
            char plain[1024], reason[1024];
            printf(
                "%s %-8s %s -> %s %s accepted %s attempts %u: %s\n", hex, state, rows[i].sender,
                rows[i].recipient, type, when, rows[i].attempts,
                s_term_safe(cli_plain(plain, sizeof plain, rows[i].reason), reason, sizeof reason));
        }
        store_msg_clear(&rows[i]);
    }
    if (!a->cli.json)
        printf("%zu message(s) on the dead-letter list\n", n);
    free(rows);
    return 0;
}

/* Who asks: the user of the process's real uid, from the OS (the
 * environment, $USER or $SUDO_USER, is the caller's to set). Under sudo
 * that is root; the sudo caller is added as "root (sudo uid N)", with the
 * uid sudo recorded, still only as a hint. */
static void
s_actor(char *out, size_t size)
{
    struct passwd *pw = getpwuid(getuid());
    const char *sudo_uid = getenv("SUDO_UID");
    char *end = NULL;
    long uid = sudo_uid ? strtol(sudo_uid, &end, 10) : -1;
    if (!pw)
        snprintf(out, size, "uid %ld", (long)getuid());
    else if (getuid() == 0 && end && !*end && uid > 0)
        snprintf(out, size, "%.64s (sudo uid %ld)", pw->pw_name, uid);
    else
        snprintf(out, size, "%.64s", pw->pw_name);
}

static int
s_requeued(const ctl_args_t *a, const store_admin_t *done)
{
    if (a->cli.json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "message_id", a->pos[0]);
        cJSON_AddStringToObject(j, "code", "OK");
        cJSON_AddStringToObject(j, "result", done->result);
        return cli_print_json(j) ? 0 : 1;
    }
    char safe[512];
    printf("%s\n", cli_plain(safe, sizeof safe, done->result));
    return 0;
}

static int
s_requeue(const ctl_args_t *a, store_t *st)
{
    store_admin_t req;
    remiss_err_t err;
    int64_t id;
    memset(&req, 0, sizeof req);
    if (a->npos != 1 || !remiss_id_from_hex(a->pos[0], req.message_id))
        return s_err(a, REMISS_E_USAGE, "deadletter requeue --db DB MESSAGE_ID (32 hex digits)");
    snprintf(req.action, sizeof req.action, "requeue");
    s_actor(req.actor, sizeof req.actor);
    if (store_admin_request(st, &req, log_now_ms(), &id, &err) != REMISS_OK)
        return s_err(a, REMISS_E_STORAGE, err.text);
    /* The broker performs (and audits) the action within a second. */
    for (int i = 0; i < 150; i++) {
        store_admin_t done;
        bool found = false;
        if (store_admin_get(st, id, &done, &found, &err) == REMISS_OK && found && done.done_at) {
            if (strncmp(done.result, "OK", 2) == 0)
                return s_requeued(a, &done);
            const char *colon = strchr(done.result, ':');
            remiss_code_t code = REMISS_E_INTERNAL;
            char name[32] = "";
            if (colon && (size_t)(colon - done.result) < sizeof name) {
                memcpy(name, done.result, (size_t)(colon - done.result));
                remiss_code_parse(name, &code);
            }
            return s_err(a, code, colon ? colon + 2 : done.result);
        }
        usleep(100000);
    }
    return s_err(a, REMISS_E_TIMEOUT,
                 "remissd did not carry out the request within 15 s; is it "
                 "running on this database?");
}

/* The store of a->db for a command taking only opts and nops operands. */
static store_t *
s_open(const ctl_args_t *a, unsigned opts, int nops, const char *usage, int *status)
{
    remiss_err_t err;
    store_t *st = NULL;
    if ((a->given & ~opts) || a->npos != nops || !a->db)
        *status = cli_usage_error(&a->cli, "%s", usage);
    else if (!(st = ctl_args_open_db(a, &err)))
        *status = cli_fail(&a->cli, &err);
    return st;
}

int
ctl_deadletter_list(const ctl_args_t *a)
{
    int status;
    store_t *st = s_open(a, CTL_O_DB | CTL_O_JSON, 0, "deadletter list --db DB [--json]", &status);
    if (!st)
        return status;
    status = s_deadletter_rows(a, st);
    store_close(&st);
    return status;
}

int
ctl_deadletter_requeue(const ctl_args_t *a)
{
    int status;
    store_t *st = s_open(a, CTL_O_DB | CTL_O_JSON, 1,
                         "deadletter requeue --db DB MESSAGE_ID (32 hex digits)", &status);
    if (!st)
        return status;
    status = s_requeue(a, st);
    store_close(&st);
    return status;
}

static void
s_join(char *out, size_t size, char **items, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s", i ? "," : "", items[i]);
}

static cJSON *
s_array(char **items, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

/* The pseudonym of the personnummer subject, keyed with PKI_DIR/broker.secret;
 * the number in clear is wiped once it is made. */
static remiss_code_t
s_subject_pseudonym(const char *pki, const char *subject, uint8_t out[32], remiss_err_t *err)
{
    char secret[4200];
    pnr_t p;
    if (pnr_parse(subject, pnr_date_from_ms(log_now_ms()), &p, err) != REMISS_OK)
        return err->code;
    snprintf(secret, sizeof secret, "%s/broker.secret", pki);
    pseudonym_t *ps = pseudonym_load(secret, err);
    bool made = ps && pseudonym_of(ps, p.canonical, out);
    OPENSSL_cleanse(&p, sizeof p);
    if (ps && !made)
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot compute the pseudonym");
    pseudonym_free(&ps);
    return made ? REMISS_OK : err->code;
}

static void
s_consent_json(const store_consent_t *row, const Remiss__ConsentGrant *g)
{
    char when[32];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "consent_id", row->consent_id);
    if (!g) {
        cJSON_AddBoolToObject(j, "damaged", true);
        cli_print_json(j);
        return;
    }
    cJSON_AddStringToObject(j, "granted_by", row->granted_by);
    s_iso(row->granted_at, when);
    cJSON_AddStringToObject(j, "granted_at", when);
    cJSON_AddItemToObject(j, "from_parties", s_array(g->from_parties, g->n_from_parties));
    cJSON_AddItemToObject(j, "to_parties", s_array(g->to_parties, g->n_to_parties));
    cJSON_AddItemToObject(j, "purposes", s_array(g->purposes, g->n_purposes));
    cJSON_AddItemToObject(j, "categories", s_array(g->categories, g->n_categories));
    cJSON_AddStringToObject(j, "valid_from", g->valid_from);
    cJSON_AddStringToObject(j, "valid_until", g->valid_until);
    cJSON_AddStringToObject(
        j, "given_by",
        g->given_by == REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN ? "subject_and_guardian" : "subject");
    cJSON_AddStringToObject(j, "evidence_sha256", g->evidence_sha256);
    cJSON_AddStringToObject(j, "state", row->revoked_at ? "revoked" : "registered");
    s_iso(row->revoked_at, when);
    if (row->revoked_at)
        cJSON_AddStringToObject(j, "revoked_at", when);
    cli_print_json(j);
}

static void
s_consent_plain(const store_consent_t *row, const Remiss__ConsentGrant *g)
{
    char granted[32], revoked[32], from[256], to[256], pur[256], cat[256];
    if (!g) {
        printf("%s: damaged record\n", row->consent_id);
        return;
    }
    s_iso(row->granted_at, granted);
    s_iso(row->revoked_at, revoked);
    s_join(from, sizeof from, g->from_parties, g->n_from_parties);
    s_join(to, sizeof to, g->to_parties, g->n_to_parties);
    s_join(pur, sizeof pur, g->purposes, g->n_purposes);
    s_join(cat, sizeof cat, g->categories, g->n_categories);
    printf("%s  %s  %s -> %s  purposes %s  categories %s  valid %s..%s  registered by "
           "%s %s%s%s\n",
           row->consent_id, row->revoked_at ? "REVOKED" : "in register", from, to, pur, cat,
           g->valid_from, g->valid_until, row->granted_by, granted,
           row->revoked_at ? ", revoked " : "", row->revoked_at ? revoked : "");
}

/* One stored consent, decoded from its signed grant. */
static void
s_consent_print(const ctl_args_t *a, const store_consent_t *row)
{
    Remiss__Envelope *env = remiss__envelope__unpack(NULL, row->grant_len, row->grant);
    const Remiss__ConsentGrant *g =
        env && env->body_case == REMISS__ENVELOPE__BODY_CONSENT_GRANT ? env->consent_grant : NULL;
    if (a->cli.json)
        s_consent_json(row, g);
    else
        s_consent_plain(row, g);
    remiss__envelope__free_unpacked(env, NULL);
}

int
ctl_consent_list(const ctl_args_t *a)
{
    remiss_err_t err;
    uint8_t pseudo[32];
    if (a->npos != 0 || !a->db || !a->pki || !a->subject ||
        (a->given & ~(CTL_O_DB | CTL_O_PKI | CTL_O_SUBJECT | CTL_O_JSON)))
        return cli_usage_error(&a->cli, "consent list --db DB --pki DIR --subject PNR [--json]");
    if (s_subject_pseudonym(a->pki, a->subject, pseudo, &err) != REMISS_OK)
        return s_err(a, err.code, err.text);
    store_t *st = ctl_args_open_db(a, &err);
    if (!st)
        return cli_fail(&a->cli, &err);
    /* Grants are sealed at rest: open them with the broker's KEK file. */
    char kek[4200];
    snprintf(kek, sizeof kek, "%s/broker.kek", a->pki);
    if (access(kek, F_OK) == 0 && store_use_keys(st, kek, &err) != REMISS_OK) {
        store_close(&st);
        return cli_fail(&a->cli, &err);
    }
    store_consent_t *rows = calloc(200, sizeof *rows);
    size_t n = 0;
    if (!rows || store_consents_for(st, pseudo, 200, rows, &n, &err) != REMISS_OK) {
        free(rows);
        store_close(&st);
        return s_err(a, REMISS_E_STORAGE, err.text);
    }
    for (size_t i = 0; i < n; i++) {
        s_consent_print(a, &rows[i]);
        store_consent_clear(&rows[i]);
    }
    if (!a->cli.json)
        printf("%zu consent(s)\n", n);
    free(rows);
    store_close(&st);
    return 0;
}

int
ctl_consent_main(int argc, char **argv)
{
    ctl_args_t a = {.cli = {"remissctl", false}};
    if (argc < 1 || strcmp(argv[0], "list") != 0)
        return cli_usage_error(&a.cli, "consent list --db DB --pki DIR --subject PNR [--json]");
    return ctl_args_parse(argc - 1, argv + 1, &a) ? ctl_consent_list(&a) : CLI_EXIT_USAGE;
}
