/* ctl_store: dead letters and consents, read from (and requests filed in)
 * the broker's store. Changes go through the broker's admin queue so the
 * broker performs and audits them. */
#include "ctl_store.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "category.h"
#include "log.h"
#include "pnr.h"
#include "remiss.h"
#include "store.h"

typedef struct {
    const char *db, *pki, *subject;
    bool json;
    const char *pos[4];
    int npos;
} s_opts_t;

static int
s_err(remiss_code_t code, const char *text)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(code), text);
    return code == REMISS_E_USAGE ? 2 : 1;
}

static bool
s_parse(int argc, char **argv, s_opts_t *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        bool has = i + 1 < argc;
        if (!strcmp(argv[i], "--db") && has)
            o->db = argv[++i];
        else if (!strcmp(argv[i], "--pki") && has)
            o->pki = argv[++i];
        else if (!strcmp(argv[i], "--subject") && has)
            o->subject = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            o->json = true;
        else if (!strncmp(argv[i], "--", 2) || o->npos == 4)
            return false;
        else
            o->pos[o->npos++] = argv[i];
    }
    return true;
}

static void
s_iso(int64_t ms, char out[32])
{
    if (!ms) {
        strcpy(out, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *const s_state_names[] = {"?", "queued", "delivered", "acknowledged",
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
s_deadletter_list(const s_opts_t *o, store_t *st)
{
    store_msg_t *rows = calloc(500, sizeof *rows);
    size_t n = 0;
    remiss_err_t err;
    if (!rows || store_dead_letters(st, 500, rows, &n, &err) != REMISS_OK) {
        free(rows);
        return s_err(REMISS_E_STORAGE, rows ? err.text : "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char hex[33], when[32];
        log_hex(hex, rows[i].message_id, STORE_ID_LEN);
        s_iso(rows[i].accepted_at, when);
        const char *state = rows[i].state <= 5 ? s_state_names[rows[i].state] : "?";
        const char *type = msgtype_name(rows[i].type) ? msgtype_name(rows[i].type) : "?";
        if (o->json) {
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
            char reason[sizeof rows[i].reason];
            printf("%s %-8s %s -> %s %s accepted %s attempts %u: %s\n", hex, state,
                   rows[i].sender, rows[i].recipient, type, when, rows[i].attempts,
                   s_term_safe(rows[i].reason, reason, sizeof reason));
        }
        store_msg_clear(&rows[i]);
    }
    if (!o->json)
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
s_deadletter_requeue(const s_opts_t *o, store_t *st)
{
    store_admin_t req;
    remiss_err_t err;
    int64_t id;
    memset(&req, 0, sizeof req);
    if (o->npos != 2 || !remiss_id_from_hex(o->pos[1], req.message_id))
        return s_err(REMISS_E_USAGE, "deadletter requeue --db DB MESSAGE_ID (32 hex digits)");
    snprintf(req.action, sizeof req.action, "requeue");
    s_actor(req.actor, sizeof req.actor);
    if (store_admin_request(st, &req, log_now_ms(), &id, &err) != REMISS_OK)
        return s_err(REMISS_E_STORAGE, err.text);
    /* The broker performs (and audits) the action within a second. */
    for (int i = 0; i < 150; i++) {
        store_admin_t done;
        bool found = false;
        if (store_admin_get(st, id, &done, &found, &err) == REMISS_OK && found && done.done_at) {
            if (strncmp(done.result, "OK", 2) == 0) {
                printf("%s\n", done.result);
                return 0;
            }
            const char *colon = strchr(done.result, ':');
            remiss_code_t code = REMISS_E_INTERNAL;
            char name[32] = "";
            if (colon && (size_t)(colon - done.result) < sizeof name) {
                memcpy(name, done.result, (size_t)(colon - done.result));
                remiss_code_parse(name, &code);
            }
            return s_err(code, colon ? colon + 2 : done.result);
        }
        usleep(100000);
    }
    return s_err(REMISS_E_TIMEOUT, "remissd did not carry out the request within 15 s; is it "
                                   "running on this database?");
}

int
ctl_deadletter_main(int argc, char **argv)
{
    s_opts_t o;
    remiss_err_t err;
    if (!s_parse(argc, argv, &o) || o.npos < 1 || !o.db)
        return s_err(REMISS_E_USAGE, "deadletter list|requeue --db DB [MESSAGE_ID] [--json]");
    store_t *st = store_open(o.db, &err);
    if (!st)
        return s_err(err.code, err.text);
    int rc;
    if (!strcmp(o.pos[0], "list"))
        rc = s_deadletter_list(&o, st);
    else if (!strcmp(o.pos[0], "requeue"))
        rc = s_deadletter_requeue(&o, st);
    else
        rc = s_err(REMISS_E_USAGE, "deadletter list|requeue");
    store_close(&st);
    return rc;
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

int
ctl_consent_main(int argc, char **argv)
{
    s_opts_t o;
    remiss_err_t err;
    pnr_t p;
    uint8_t key[32], pseudo[32];
    unsigned int hl = 32;
    if (!s_parse(argc, argv, &o) || o.npos != 1 || strcmp(o.pos[0], "list") || !o.db || !o.pki ||
        !o.subject)
        return s_err(REMISS_E_USAGE, "consent list --db DB --pki DIR --subject PNR [--json]");
    if (pnr_parse(o.subject, pnr_date_from_ms(log_now_ms()), &p, &err) != REMISS_OK)
        return s_err(err.code, err.text);
    char secret[4200];
    snprintf(secret, sizeof secret, "%s/broker.secret", o.pki);
    if (audit_secret_load(secret, key, &err) != REMISS_OK)
        return s_err(err.code, err.text);
    HMAC(EVP_sha256(), key, 32, (const uint8_t *)p.canonical, strlen(p.canonical), pseudo, &hl);
    OPENSSL_cleanse(key, sizeof key);
    store_t *st = store_open(o.db, &err);
    if (!st)
        return s_err(err.code, err.text);
    /* Grants are sealed at rest: open them with the broker's KEK file. */
    snprintf(secret, sizeof secret, "%s/broker.kek", o.pki);
    if (access(secret, F_OK) == 0 && store_use_keys(st, secret, &err) != REMISS_OK) {
        store_close(&st);
        return s_err(err.code, err.text);
    }
    store_consent_t *rows = calloc(200, sizeof *rows);
    size_t n = 0;
    if (!rows || store_consents_for(st, pseudo, 200, rows, &n, &err) != REMISS_OK) {
        free(rows);
        store_close(&st);
        return s_err(REMISS_E_STORAGE, err.text);
    }
    for (size_t i = 0; i < n; i++) {
        Remiss__Envelope *env = remiss__envelope__unpack(NULL, rows[i].grant_len, rows[i].grant);
        const Remiss__ConsentGrant *g =
            env && env->body_case == REMISS__ENVELOPE__BODY_CONSENT_GRANT ? env->consent_grant
                                                                          : NULL;
        char granted[32], revoked[32];
        s_iso(rows[i].granted_at, granted);
        s_iso(rows[i].revoked_at, revoked);
        if (!g) {
            printf("%s: damaged record\n", rows[i].consent_id);
        } else if (o.json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "consent_id", rows[i].consent_id);
            cJSON_AddStringToObject(j, "granted_by", rows[i].granted_by);
            cJSON_AddStringToObject(j, "granted_at", granted);
            cJSON_AddItemToObject(j, "from_parties", s_array(g->from_parties, g->n_from_parties));
            cJSON_AddItemToObject(j, "to_parties", s_array(g->to_parties, g->n_to_parties));
            cJSON_AddItemToObject(j, "purposes", s_array(g->purposes, g->n_purposes));
            cJSON_AddItemToObject(j, "categories", s_array(g->categories, g->n_categories));
            cJSON_AddStringToObject(j, "valid_from", g->valid_from);
            cJSON_AddStringToObject(j, "valid_until", g->valid_until);
            cJSON_AddStringToObject(j, "given_by", g->given_by == REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN
                                                       ? "subject_and_guardian"
                                                       : "subject");
            cJSON_AddStringToObject(j, "evidence_sha256", g->evidence_sha256);
            cJSON_AddStringToObject(j, "state", rows[i].revoked_at ? "revoked" : "registered");
            if (rows[i].revoked_at)
                cJSON_AddStringToObject(j, "revoked_at", revoked);
            char *line = cJSON_PrintUnformatted(j);
            printf("%s\n", line);
            free(line);
            cJSON_Delete(j);
        } else {
            char from[256], to[256], pur[256], cat[256];
            s_join(from, sizeof from, g->from_parties, g->n_from_parties);
            s_join(to, sizeof to, g->to_parties, g->n_to_parties);
            s_join(pur, sizeof pur, g->purposes, g->n_purposes);
            s_join(cat, sizeof cat, g->categories, g->n_categories);
            printf("%s  %s  %s -> %s  purposes %s  categories %s  valid %s..%s  registered by "
                   "%s %s%s%s\n",
                   rows[i].consent_id, rows[i].revoked_at ? "REVOKED" : "in register", from, to,
                   pur, cat, g->valid_from, g->valid_until, rows[i].granted_by, granted,
                   rows[i].revoked_at ? ", revoked " : "", rows[i].revoked_at ? revoked : "");
        }
        remiss__envelope__free_unpacked(env, NULL);
        store_consent_clear(&rows[i]);
    }
    if (!o.json)
        printf("%zu consent(s)\n", n);
    free(rows);
    store_close(&st);
    return 0;
}
