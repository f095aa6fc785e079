/* ctl_audit: `remissctl audit ...` (include/ctl_audit.h).
 *
 * Everything read here comes from a database file an attacker may have
 * edited, so entries are decoded with their size checked and their text
 * checked as UTF-8 before it is printed; a damaged entry is reported, never
 * printed raw. No output ever carries a personnummer: the subject command
 * turns the number it is given into the pseudonym at once and wipes it. */
#include "ctl_audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "category.h"
#include "pki.h"
#include "pnr.h"
#include "store.h"
#include "utf8.h"

/* Longest string an entry may hold and still be printed (the broker writes
 * at most 512 bytes). */
#define S_TEXT_MAX 4096
/* Room for any time s_iso_time prints, also from a hostile int64. */
#define S_TIME_LEN 80

/* Lower-case names of Remiss__AuditEvent, as printed. */
static const char *const s_events[] = {
    [REMISS__AUDIT_EVENT__EV_ACCEPTED] = "accepted",
    [REMISS__AUDIT_EVENT__EV_DELIVERED] = "delivered",
    [REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED] = "acknowledged",
    [REMISS__AUDIT_EVENT__EV_REFUSED] = "refused",
    [REMISS__AUDIT_EVENT__EV_WITHHELD] = "withheld",
    [REMISS__AUDIT_EVENT__EV_DEAD_LETTERED] = "dead_lettered",
    [REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED] = "consent_granted",
    [REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED] = "consent_revoked",
    [REMISS__AUDIT_EVENT__EV_AUTH_REFUSED] = "auth_refused",
    [REMISS__AUDIT_EVENT__EV_CERT_REVOKED] = "cert_revoked",
    [REMISS__AUDIT_EVENT__EV_POLICY_RELOADED] = "policy_reloaded",
    [REMISS__AUDIT_EVENT__EV_BROKER_STARTED] = "broker_started",
    [REMISS__AUDIT_EVENT__EV_BROKER_STOPPED] = "broker_stopped",
    [REMISS__AUDIT_EVENT__EV_ADMIN_ACTION] = "admin_action",
    [REMISS__AUDIT_EVENT__EV_REQUEUED] = "requeued",
};

/* Options of every subcommand; each takes what it needs. */
typedef struct s_args {
    const char *pos[3]; /* positional arguments */
    int npos;
    const char *pki;   /* --pki DIR */
    const char *db;    /* --db FILE */
    const char *since; /* --since INDEX */
    bool json;         /* --json */
} s_args_t;

typedef int (*s_cmd_fn)(const s_args_t *a);

/* ---------------------------------------------------------------- helpers */

static int
s_fail(const remiss_err_t *err)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(err->code), err->text);
    return 1;
}

static int
s_usage_error(const char *what)
{
    fprintf(stderr, "error: E_USAGE: %s (see remissctl --help)\n", what);
    return 2;
}

static bool
s_parse(int argc, char **argv, s_args_t *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char **opt = NULL;
        if (strcmp(argv[i], "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strcmp(argv[i], "--pki") == 0)
            opt = &a->pki;
        else if (strcmp(argv[i], "--db") == 0)
            opt = &a->db;
        else if (strcmp(argv[i], "--since") == 0)
            opt = &a->since;
        if (opt != NULL) {
            if (i + 1 >= argc)
                return false;
            *opt = argv[++i];
        } else if (argv[i][0] == '-' || a->npos == 3) {
            return false;
        } else {
            a->pos[a->npos++] = argv[i];
        }
    }
    return true;
}

/* Parses a decimal index; false unless all digits and in range. */
static bool
s_index(const char *s, uint64_t *out)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (uint64_t)v;
    return true;
}

static void
s_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Adds bytes as lower-case hex (nothing for empty bytes). */
static void
s_add_hex(cJSON *o, const char *name, const ProtobufCBinaryData *b)
{
    char hex[2 * 64 + 1];
    if (b->len == 0 || b->len > 64)
        return;
    s_hex(b->data, b->len, hex);
    cJSON_AddStringToObject(o, name, hex);
}

/* ISO 8601 UTC with milliseconds; the raw number for times no calendar
 * holds (a damaged or hostile value). */
static void
s_iso_time(int64_t ms, char out[S_TIME_LEN])
{
    struct tm tm;
    time_t t;

    if (ms < 0 || ms / 1000 > INT64_C(253402300799)) {
        snprintf(out, S_TIME_LEN, "%" PRId64 "ms", ms);
        return;
    }
    t = (time_t)(ms / 1000);
    if (gmtime_r(&t, &tm) == NULL) {
        snprintf(out, S_TIME_LEN, "%" PRId64 "ms", ms);
        return;
    }
    snprintf(out, S_TIME_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *
s_event_name(Remiss__AuditEvent ev)
{
    size_t i = (size_t)ev;
    return i < sizeof s_events / sizeof s_events[0] && s_events[i] ? s_events[i] : "unknown";
}

static const char *
s_type_name(Remiss__MessageType type)
{
    const char *n = msgtype_name(type);
    return n != NULL ? n : "-";
}

static const char *
s_or_dash(const char *s)
{
    return s != NULL && *s != '\0' ? s : "-";
}

/* Decodes a stored entry; NULL if it is damaged or holds text that is not
 * UTF-8 (it would not be safe to print). */
static Remiss__AuditEntry *
s_decode(const uint8_t *bytes, size_t len)
{
    Remiss__AuditEntry *e = audit_entry_decode(bytes, len);
    if (e != NULL && !utf8_message_valid(&e->base, S_TEXT_MAX)) {
        remiss__audit_entry__free_unpacked(e, NULL);
        e = NULL;
    }
    return e;
}

static cJSON *
s_entry_json(const Remiss__AuditEntry *e)
{
    char when[S_TIME_LEN];
    cJSON *o = cJSON_CreateObject(), *cats;

    if (o == NULL)
        return NULL;
    s_iso_time(e->time, when);
    cJSON_AddNumberToObject(o, "index", (double)e->index);
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddNumberToObject(o, "time_ms", (double)e->time);
    cJSON_AddStringToObject(o, "event", s_event_name(e->event));
    cJSON_AddStringToObject(o, "from", e->sender);
    cJSON_AddStringToObject(o, "to", e->recipient);
    cJSON_AddStringToObject(o, "type", s_type_name(e->type));
    s_add_hex(o, "message_id", &e->message_id);
    cJSON_AddStringToObject(o, "purpose", e->purpose);
    if ((cats = cJSON_AddArrayToObject(o, "categories")) != NULL)
        for (size_t i = 0; i < e->n_categories; i++)
            cJSON_AddItemToArray(cats, cJSON_CreateString(e->categories[i]));
    cJSON_AddStringToObject(o, "code", remiss_code_name((remiss_code_t)e->code));
    s_add_hex(o, "envelope_sha256", &e->envelope_sha256);
    s_add_hex(o, "subject_pseudonym", &e->subject_pseudonym);
    if (e->detail != NULL && *e->detail != '\0')
        cJSON_AddStringToObject(o, "detail", e->detail);
    return o;
}

/* Prints o on one line and frees it. */
static bool
s_print_json(cJSON *o)
{
    char *text = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    bool ok = text != NULL && puts(text) >= 0;
    free(text);
    cJSON_Delete(o);
    return ok;
}

static store_t *
s_open_db(const char *path, remiss_err_t *err)
{
    struct stat st;
    const char *file = store_file(path); /* NULL: a postgresql:// URI */
    /* store_open would create a missing database and report it empty. */
    if (file && (stat(file, &st) != 0 || !S_ISREG(st.st_mode))) {
        remiss_err_set(err, REMISS_E_IO, "no audit database at %s", path);
        return NULL;
    }
    return store_open(path, err);
}

/* Loads DIR/broker.crt after checking that the federation CA in DIR issued
 * it to the broker: a log checked with a key anyone could swap in proves
 * nothing. The key belongs to the returned certificate. */
static X509 *
s_broker_cert(const char *dir, remiss_err_t *err)
{
    char ca[4096], crl[4096], path[4096];
    pki_trust_t *trust = NULL;
    pki_identity_t id;
    remiss_err_t why;
    X509 *cert = NULL;

    if (!pki_path(ca, sizeof ca, dir, "ca.crt") || !pki_path(crl, sizeof crl, dir, "crl.pem") ||
        !pki_path(path, sizeof path, dir, "broker.crt")) {
        remiss_err_set(err, REMISS_E_USAGE, "the PKI directory path is too long");
        return NULL;
    }
    if ((trust = pki_trust_load(ca, crl, err)) == NULL || (cert = pki_cert_load(path, err)) == NULL)
        goto out;
    if (pki_verify_cert(trust, cert, 0, &id, &why) != REMISS_OK || strcmp(id.role, "broker") != 0 ||
        strcmp(id.party, "broker") != 0) {
        remiss_err_set(err, REMISS_E_CONFIG,
                       "broker.crt is not a broker certificate of this federation CA (%s)",
                       why.text);
        X509_free(cert);
        cert = NULL;
    }
out:
    pki_trust_free(&trust);
    return cert;
}

/* ---------------------------------------------------------------- verify */

static int
s_verify(const s_args_t *a)
{
    uint64_t entries = 0, heads = 0, bad = 0;
    store_t *store = NULL;
    X509 *cert = NULL;
    remiss_err_t err;
    int rc = 1;

    if (a->npos != 1 || a->pki == NULL || a->since != NULL || a->db != NULL)
        return s_usage_error("audit verify DB --pki DIR");
    if ((cert = s_broker_cert(a->pki, &err)) == NULL ||
        (store = s_open_db(a->pos[0], &err)) == NULL) {
        rc = s_fail(&err);
        goto out;
    }
    if (audit_verify_store(store, X509_get0_pubkey(cert), &entries, &heads, &bad, &err) ==
        REMISS_OK) {
        printf("OK: %" PRIu64 " entries, %" PRIu64 " signed tree heads\n", entries, heads);
        rc = 0;
    } else if (err.code == REMISS_E_BAD_SIGNATURE) {
        fprintf(stderr, "error: %s: first bad index %" PRIu64 ": %s\n", remiss_code_name(err.code),
                bad, err.text);
    } else {
        rc = s_fail(&err);
    }
out:
    store_close(&store);
    X509_free(cert);
    return rc;
}

/* ---------------------------------------------------------------- subject */

/* Indexes of the entries about subject, ascending; *out is malloc'd. */
static remiss_code_t
s_find_subject(store_t *store, const uint8_t subject[32], uint64_t **out, size_t *n,
               remiss_err_t *err)
{
    size_t cap = 256;
    uint64_t *idx = NULL;
    remiss_code_t r;

    /* store_audit_find has no offset: ask again with room to spare until
     * the answer is not cut off. */
    for (;;) {
        uint64_t *grown = realloc(idx, cap * sizeof *idx);
        if (grown == NULL) {
            free(idx);
            return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        }
        idx = grown;
        if ((r = store_audit_find(store, subject, NULL, idx, cap, n, err)) != REMISS_OK) {
            free(idx);
            return r;
        }
        if (*n < cap || cap > SIZE_MAX / 2 / sizeof *idx)
            break;
        cap *= 2;
    }
    *out = idx;
    return REMISS_OK;
}

static void
s_subject_line(const Remiss__AuditEntry *e)
{
    char when[S_TIME_LEN], cats[128] = "";
    size_t used = 0;

    s_iso_time(e->time, when);
    for (size_t i = 0; i < e->n_categories && used < sizeof cats; i++)
        used += (size_t)snprintf(cats + used, sizeof cats - used, "%s%s", i ? "," : "",
                                 e->categories[i]);
    printf("%-8" PRIu64 " %-24s %-16s %-20s %-20s %-16s %-14s %-32s %s\n", e->index, when,
           s_event_name(e->event), s_or_dash(e->sender), s_or_dash(e->recipient),
           s_type_name(e->type), s_or_dash(e->purpose), s_or_dash(cats),
           remiss_code_name((remiss_code_t)e->code));
}

/* Prints the entries at idx[0..n): a table, or one JSON document. */
static int
s_subject_print(store_t *store, const uint64_t *idx, size_t n, const char *pseudonym, bool json)
{
    cJSON *doc = NULL, *list = NULL;
    remiss_err_t err;
    size_t damaged = 0;

    if (json) {
        doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "subject_pseudonym", pseudonym);
        cJSON_AddNumberToObject(doc, "count", (double)n);
        list = cJSON_AddArrayToObject(doc, "entries");
    } else {
        printf("%zu audit entries about this person (pseudonym %s)\n", n, pseudonym);
        if (n > 0)
            printf("%-8s %-24s %-16s %-20s %-20s %-16s %-14s %-32s %s\n", "INDEX", "TIME (UTC)",
                   "EVENT", "FROM", "TO", "TYPE", "PURPOSE", "CATEGORIES", "DECISION");
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        Remiss__AuditEntry *e;

        if (store_audit_get(store, idx[i], &bytes, &len, &err) != REMISS_OK) {
            cJSON_Delete(doc);
            return s_fail(&err);
        }
        e = s_decode(bytes, len);
        free(bytes);
        if (e == NULL) {
            fprintf(stderr, "warning: audit entry %" PRIu64 " is damaged\n", idx[i]);
            damaged++;
            continue;
        }
        if (json)
            cJSON_AddItemToArray(list, s_entry_json(e));
        else
            s_subject_line(e);
        remiss__audit_entry__free_unpacked(e, NULL);
    }
    if (json && !s_print_json(doc))
        return 1;
    if (damaged > 0) {
        fprintf(stderr,
                "error: E_BAD_SIGNATURE: %zu entries about this person are damaged; run "
                "remissctl audit verify\n",
                damaged);
        return 1;
    }
    return 0;
}

static int
s_subject(const s_args_t *a)
{
    uint8_t key[32], pseudonym[32];
    char path[4096], hex[65];
    int64_t now = (int64_t)time(NULL) * 1000;
    uint64_t *idx = NULL;
    store_t *store = NULL;
    remiss_err_t err;
    size_t n = 0;
    pnr_t pnr;
    int rc;

    if (a->npos != 1 || a->db == NULL || a->pki == NULL || a->since != NULL)
        return s_usage_error("audit subject PNR --db DB --pki DIR [--json]");
    if (!pki_path(path, sizeof path, a->pki, "broker.secret"))
        return s_usage_error("the PKI directory path is too long");
    if (pnr_parse(a->pos[0], pnr_date_from_ms(now), &pnr, &err) != REMISS_OK)
        return s_fail(&err);
    if (audit_secret_load(path, key, &err) != REMISS_OK) {
        OPENSSL_cleanse(&pnr, sizeof pnr);
        return s_fail(&err);
    }
    bool ok = audit_pseudonym_key(key, pnr.canonical, pseudonym);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(&pnr, sizeof pnr);
    if (!ok) {
        remiss_err_set(&err, REMISS_E_INTERNAL, "cannot compute the pseudonym");
        return s_fail(&err);
    }
    s_hex(pseudonym, sizeof pseudonym, hex);
    if ((store = s_open_db(a->db, &err)) == NULL ||
        s_find_subject(store, pseudonym, &idx, &n, &err) != REMISS_OK)
        rc = s_fail(&err);
    else
        rc = s_subject_print(store, idx, n, hex, a->json);
    free(idx);
    store_close(&store);
    return rc;
}

/* ---------------------------------------------------------------- export */

typedef struct s_export {
    uint64_t next;    /* index the next row should have */
    uint64_t damaged; /* entries that could not be exported */
    bool out_failed;  /* stdout could not be written */
} s_export_t;

static int
s_export_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t len)
{
    s_export_t *x = ctx;
    Remiss__AuditEntry *e = s_decode(entry, len);
    cJSON *o;

    if (index != x->next)
        x->damaged++; /* a gap; verify says which */
    x->next = index + 1;
    if (e == NULL) {
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", (double)index);
        cJSON_AddBoolToObject(o, "damaged", true);
        x->damaged++;
    } else {
        o = s_entry_json(e);
        remiss__audit_entry__free_unpacked(e, NULL);
    }
    if (!s_print_json(o)) {
        x->out_failed = true;
        return 1;
    }
    return 0;
}

static int
s_export(const s_args_t *a)
{
    s_export_t x = {0, 0, false};
    store_t *store = NULL;
    remiss_err_t err;
    int rc = 1;

    if (a->npos != 1 || a->pki != NULL || a->db != NULL ||
        (a->since != NULL && !s_index(a->since, &x.next)))
        return s_usage_error("audit export DB [--since INDEX]");
    if ((store = s_open_db(a->pos[0], &err)) == NULL ||
        store_audit_each(store, x.next, s_export_entry, &x, &err) != REMISS_OK) {
        rc = s_fail(&err);
    } else if (x.out_failed || fflush(stdout) != 0) {
        fprintf(stderr, "error: E_IO: cannot write the export: %s\n", strerror(errno));
    } else if (x.damaged > 0) {
        fprintf(stderr,
                "error: E_BAD_SIGNATURE: %" PRIu64 " entries are missing or damaged; run "
                "remissctl audit verify\n",
                x.damaged);
    } else {
        rc = 0;
    }
    store_close(&store);
    return rc;
}

/* ---------------------------------------------------------------- proof */

static int
s_proof_print(const Remiss__ProofReply *p, const audit_tree_head_t *th, bool json)
{
    uint8_t leaf[MERKLE_HASH_LEN];
    char hex[2 * MERKLE_HASH_LEN + 1], when[S_TIME_LEN];
    cJSON *doc, *path;

    merkle_leaf_hash(p->leaf_entry.data, p->leaf_entry.len, leaf);
    s_iso_time(th->timestamp, when);
    if (!json) {
        printf("entry %" PRIu64 " in the signed tree of %" PRIu64 " entries (signed %s)\n",
               p->leaf_index, th->size, when);
        s_hex(th->root, sizeof th->root, hex);
        printf("root  %s\n", hex);
        s_hex(leaf, sizeof leaf, hex);
        printf("leaf  %s\n", hex);
        for (size_t i = 0; i < p->n_inclusion_path; i++) {
            s_hex(p->inclusion_path[i].data, MERKLE_HASH_LEN, hex);
            printf("path  %s\n", hex);
        }
        printf("verified: the entry is in the log the broker signed\n");
        return 0;
    }
    Remiss__AuditEntry *e = s_decode(p->leaf_entry.data, p->leaf_entry.len);
    doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "index", (double)p->leaf_index);
    cJSON_AddNumberToObject(doc, "tree_size", (double)th->size);
    cJSON_AddStringToObject(doc, "signed_at", when);
    s_hex(th->root, sizeof th->root, hex);
    cJSON_AddStringToObject(doc, "root", hex);
    s_hex(leaf, sizeof leaf, hex);
    cJSON_AddStringToObject(doc, "leaf_hash", hex);
    if ((path = cJSON_AddArrayToObject(doc, "inclusion_path")) != NULL)
        for (size_t i = 0; i < p->n_inclusion_path; i++) {
            s_hex(p->inclusion_path[i].data, MERKLE_HASH_LEN, hex);
            cJSON_AddItemToArray(path, cJSON_CreateString(hex));
        }
    if (e != NULL) {
        cJSON_AddItemToObject(doc, "entry", s_entry_json(e));
        remiss__audit_entry__free_unpacked(e, NULL);
    }
    cJSON_AddBoolToObject(doc, "verified", true);
    return s_print_json(doc) ? 0 : 1;
}

static int
s_proof(const s_args_t *a)
{
    Remiss__ProofReply reply = REMISS__PROOF_REPLY__INIT;
    audit_tree_head_t th;
    store_t *store = NULL;
    X509 *cert = NULL;
    remiss_err_t err;
    uint64_t index;
    int rc;

    if (a->npos != 2 || a->pki == NULL || a->db != NULL || a->since != NULL)
        return s_usage_error("audit proof DB INDEX --pki DIR [--json]");
    if (!s_index(a->pos[1], &index))
        return s_usage_error("INDEX is a number");
    /* The proof is checked exactly as a party would check it: with the
     * broker's certificate, by the offline verifier. */
    if ((cert = s_broker_cert(a->pki, &err)) == NULL ||
        (store = s_open_db(a->pos[0], &err)) == NULL ||
        audit_proof_stored(store, index, 0, &reply, &err) != REMISS_OK ||
        audit_verify_proof(&reply, X509_get0_pubkey(cert), NULL, NULL, &err) != REMISS_OK ||
        audit_verify_tree_head(reply.tree_head, X509_get0_pubkey(cert), &th, &err) != REMISS_OK)
        rc = s_fail(&err);
    else
        rc = s_proof_print(&reply, &th, a->json);
    audit_proof_clear(&reply);
    store_close(&store);
    X509_free(cert);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

static const struct {
    const char *name;
    s_cmd_fn fn;
    const char *usage; /* for a wrong command line */
    const char *help;  /* for --help */
} s_cmds[] = {
    {"verify", s_verify, "audit verify DB --pki DIR",
     "audit verify DB --pki DIR     recompute and check the whole audit log"},
    {"subject", s_subject, "audit subject PNR --db DB --pki DIR [--json]",
     "audit subject PNR --db DB --pki DIR [--json]\n"
     "                               every audit entry about a person (access request)"},
    {"export", s_export, "audit export DB [--since INDEX]",
     "audit export DB [--since INDEX]\n"
     "                               the audit entries as JSON lines"},
    {"proof", s_proof, "audit proof DB INDEX --pki DIR [--json]",
     "audit proof DB INDEX --pki DIR [--json]\n"
     "                               inclusion proof of an entry against the latest signed head"},
};

void
ctl_audit_usage(FILE *out)
{
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %s\n", s_cmds[i].help);
}

int
ctl_audit_main(int argc, char **argv)
{
    s_args_t a;

    if (argc < 1)
        return s_usage_error("audit needs a subcommand: verify, subject, export or proof");
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        printf("usage:\n");
        ctl_audit_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++) {
        if (strcmp(argv[0], s_cmds[i].name) != 0)
            continue;
        if (!s_parse(argc - 1, argv + 1, &a))
            return s_usage_error(s_cmds[i].usage);
        return s_cmds[i].fn(&a);
    }
    return s_usage_error("unknown audit subcommand");
}
