/* remiss: the agency command line client on libremiss. Commands dispatch by
 * table; JSON in and out is the one of DESIGN.md section 4. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "msgjson.h"
#include "remiss.h"
#include "witnesspolicy.h"

typedef struct s_args {
    const char *pki, *as, *broker, *state;
    const char *witnesses; /* proof: witness list whose quorum must cosign */
    bool json;
    int wait_s;     /* recv: seconds to wait */
    int max;        /* recv: messages at most, 0 = all that arrive */
    bool ack;       /* recv: acknowledge what was printed */
    int argc;       /* command operands */
    char **argv;
} s_args_t;

static int
s_fail(const remiss_err_t *err)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(err->code), err->text);
    return 1;
}

static int
s_usage_error(const char *what)
{
    fprintf(stderr, "error: E_USAGE: %s (see remiss --help)\n", what);
    return 2;
}

static char *
s_read_file(const char *path, size_t *len, remiss_err_t *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    if (!f) {
        remiss_err_set(err, REMISS_E_IO, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (*len == cap) {
            if (cap >= (2u << 20)) { /* msgjson refuses over 1 MiB anyway */
                remiss_err_set(err, REMISS_E_TOO_LARGE, "%s is larger than 2 MiB", path);
                free(buf);
                buf = NULL;
                break;
            }
            cap = cap ? cap * 2 : 4096;
            char *grown = realloc(buf, cap + 1);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

static remiss_client_t *
s_connect(const s_args_t *a, remiss_err_t *err)
{
    remiss_opts_t o = {.pki_dir = a->pki, .party = a->as, .endpoint = a->broker,
                       .state_path = a->state};
    return remiss_connect(&o, err);
}

static void
s_print_receipt(const s_args_t *a, const remiss_receipt_t *rc)
{
    char hex[33];
    remiss_id_to_hex(rc->message_id, hex);
    if (a->json) {
        char quoted[600];
        size_t o = 0;
        for (const char *p = rc->sentence; *p && o + 3 < sizeof quoted; p++) {
            if (*p == '"' || *p == '\\')
                quoted[o++] = '\\';
            quoted[o++] = *p;
        }
        quoted[o] = '\0';
        printf("{\"message_id\":\"%s\",\"code\":\"%s\",\"sentence\":\"%s\",\"audit_index\":%llu}\n",
               hex, remiss_code_name(rc->code), quoted, (unsigned long long)rc->audit_index);
    } else {
        printf("message_id %s\n%s: %s\naudit_index %llu\n", hex, remiss_code_name(rc->code),
               rc->sentence, (unsigned long long)rc->audit_index);
    }
}

static int
s_cmd_send(s_args_t *a)
{
    remiss_err_t err;
    remiss_receipt_t rc;
    size_t len;
    if (a->argc != 1)
        return s_usage_error("send FILE.json");
    char *json = s_read_file(a->argv[0], &len, &err);
    if (!json)
        return s_fail(&err);
    remiss_client_t *c = s_connect(a, &err);
    if (!c) {
        free(json);
        return s_fail(&err);
    }
    remiss_code_t r = remiss_send_json(c, json, len, &rc, &err);
    free(json);
    /* A refusal still comes with a signed receipt worth printing. */
    if (rc.signed_receipt)
        s_print_receipt(a, &rc);
    remiss_receipt_clear(&rc);
    remiss_close(&c);
    return r == REMISS_OK ? 0 : s_fail(&err);
}

static int
s_cmd_recv(s_args_t *a)
{
    remiss_err_t err;
    int got = 0;
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(&err);
    for (;;) {
        remiss_message_t *m = NULL;
        remiss_code_t r = remiss_recv(c, a->wait_s * 1000, &m, &err);
        if (r == REMISS_E_TIMEOUT)
            break;
        if (r != REMISS_OK) {
            remiss_close(&c);
            return s_fail(&err);
        }
        msgjson_meta_t meta = {.message_id = remiss_message_id(m),
                               .from = remiss_message_sender(m),
                               .received_at = remiss_message_accepted_at(m)};
        char *out = a->json ? msgjson_format(remiss_message_envelope(m), &meta)
                            : msgjson_format_pretty(remiss_message_envelope(m), &meta);
        if (out) {
            printf("%s\n", out);
            fflush(stdout);
            free(out);
        }
        if (a->ack && remiss_ack_sync(c, remiss_message_id(m), &err) != REMISS_OK) {
            remiss_message_free(&m);
            remiss_close(&c);
            return s_fail(&err);
        }
        remiss_message_free(&m);
        if (a->max > 0 && ++got >= a->max)
            break;
    }
    remiss_close(&c);
    return 0;
}

static int
s_cmd_ack_or_refuse(s_args_t *a, bool refuse)
{
    remiss_err_t err;
    if (a->argc < 1)
        return s_usage_error(refuse ? "refuse MESSAGE_ID REASON" : "ack MESSAGE_ID ...");
    if (refuse && a->argc != 2)
        return s_usage_error("refuse MESSAGE_ID REASON");
    int n = refuse ? 1 : a->argc;
    for (int i = 0; i < n; i++) {
        uint8_t id[REMISS_ID_LEN];
        if (!remiss_id_from_hex(a->argv[i], id))
            return s_usage_error("a message id is 32 hex digits");
    }
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(&err);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        uint8_t id[REMISS_ID_LEN];
        remiss_id_from_hex(a->argv[i], id);
        remiss_code_t r =
            refuse ? remiss_refuse(c, id, a->argv[1], &err) : remiss_ack_sync(c, id, &err);
        if (r != REMISS_OK)
            rc = s_fail(&err);
        else if (a->json)
            printf("{\"message_id\":\"%s\",\"code\":\"OK\"}\n", a->argv[i]);
        else
            printf("%s %s\n", refuse ? "refused" : "acknowledged", a->argv[i]);
    }
    remiss_close(&c);
    return rc;
}

static int
s_cmd_ack(s_args_t *a)
{
    return s_cmd_ack_or_refuse(a, false);
}

static int
s_cmd_refuse(s_args_t *a)
{
    return s_cmd_ack_or_refuse(a, true);
}

static const char *const s_states[] = {"unspecified", "queued", "delivered", "acknowledged",
                                       "refused", "withheld", "unknown"};
static const char *const s_decisions[] = {"", "accepted", "rejected", "needs_info"};

static int
s_cmd_status(s_args_t *a)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    Remiss__StatusReply *st = NULL;
    if (a->argc != 1 || !remiss_id_from_hex(a->argv[0], id))
        return s_usage_error("status MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(&err);
    remiss_code_t r = remiss_status(c, id, &st, &err);
    remiss_close(&c);
    if (r != REMISS_OK)
        return s_fail(&err);
    unsigned s = st->state < 7 ? (unsigned)st->state : 0;
    unsigned d = st->transfer_decision < 4 ? (unsigned)st->transfer_decision : 0;
    char ack[33] = "";
    if (st->transfer_ack_id.len == REMISS_ID_LEN)
        remiss_id_to_hex(st->transfer_ack_id.data, ack);
    if (a->json)
        printf("{\"message_id\":\"%s\",\"state\":\"%s\",\"code\":\"%s\",\"recipient\":\"%s\","
               "\"attempts\":%u,\"accepted_at\":%lld,\"delivered_at\":%lld,\"acked_at\":%lld,"
               "\"transfer_decision\":\"%s\",\"receiving_unit\":\"%s\",\"transfer_ack_id\":\"%s\"}\n",
               a->argv[0], s_states[s], remiss_code_name((remiss_code_t)st->code), st->recipient,
               st->attempts, (long long)st->accepted_at, (long long)st->delivered_at,
               (long long)st->acked_at, s_decisions[d], st->receiving_unit, ack);
    else {
        printf("message %s to %s: %s", a->argv[0], st->recipient, s_states[s]);
        if (st->code)
            printf(" (%s: %s)", remiss_code_name((remiss_code_t)st->code), st->sentence);
        printf("\n");
        if (d)
            printf("transfer %s%s%s\n", s_decisions[d], st->receiving_unit[0] ? " by " : "",
                   st->receiving_unit);
    }
    bool unknown = st->state == REMISS__MESSAGE_STATE__UNKNOWN;
    remiss__status_reply__free_unpacked(st, NULL);
    if (unknown) {
        remiss_err_set(&err, REMISS_E_USAGE, "no message with this id from or to %s", a->as);
        return s_fail(&err);
    }
    return 0;
}

/* consent grant FILE.json | consent revoke CONSENT_ID [REASON] */
static int
s_cmd_consent(s_args_t *a)
{
    remiss_err_t err;
    remiss_receipt_t rc;
    Remiss__Envelope *env = NULL;
    if (a->argc >= 2 && strcmp(a->argv[0], "grant") == 0 && a->argc == 2) {
        size_t len;
        char *json = s_read_file(a->argv[1], &len, &err);
        if (!json)
            return s_fail(&err);
        remiss_code_t r = msgjson_parse(json, len, &env, &err);
        free(json);
        if (r != REMISS_OK)
            return s_fail(&err);
        if (env->type != REMISS__MESSAGE_TYPE__CONSENT_GRANT) {
            msgjson_free(&env);
            return s_usage_error("consent grant needs a file of type consent_grant");
        }
    } else if (a->argc >= 2 && strcmp(a->argv[0], "revoke") == 0 && a->argc <= 3) {
        env = calloc(1, sizeof *env);
        Remiss__ConsentRevoke *rv = calloc(1, sizeof *rv);
        if (!env || !rv) {
            free(env);
            free(rv);
            remiss_err_set(&err, REMISS_E_INTERNAL, "out of memory");
            return s_fail(&err);
        }
        remiss__envelope__init(env);
        remiss__consent_revoke__init(rv);
        env->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
        env->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
        env->consent_revoke = rv;
        env->recipient = strdup("broker");
        env->consent_id = strdup(a->argv[1]);
        rv->revoke_reason = strdup(a->argc == 3 ? a->argv[2] : "withdrawn by the person");
    } else {
        return s_usage_error("consent grant FILE.json | consent revoke CONSENT_ID [REASON]");
    }
    remiss_client_t *c = s_connect(a, &err);
    if (!c) {
        msgjson_free(&env);
        return s_fail(&err);
    }
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    if (rc.signed_receipt)
        s_print_receipt(a, &rc);
    remiss_receipt_clear(&rc);
    remiss_close(&c);
    msgjson_free(&env);
    return r == REMISS_OK ? 0 : s_fail(&err);
}

static int
s_cmd_proof(s_args_t *a)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    Remiss__ProofReply *pr = NULL;
    if (a->argc != 1 || !remiss_id_from_hex(a->argv[0], id))
        return s_usage_error("proof MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(&err);
    remiss_code_t r = remiss_proof(c, id, 0, &pr, &err);
    remiss_close(&c);
    if (r != REMISS_OK)
        return s_fail(&err);
    /* remiss_proof verified the signed tree head and the inclusion path. */
    char *wj = NULL;
    if (a->witnesses && (r = evidence_proof_witnesses(pr, a->witnesses, &wj, &err)) != REMISS_OK)
        s_fail(&err);
    Remiss__TreeHead *th = pr->tree_head ? remiss__tree_head__unpack(
                                               NULL, pr->tree_head->tree_head.len,
                                               pr->tree_head->tree_head.data)
                                         : NULL;
    char root[65] = "";
    for (size_t i = 0; th && i < th->root_hash.len && i < 32; i++)
        snprintf(root + 2 * i, 3, "%02x", th->root_hash.data[i]);
    if (a->json)
        printf("{\"message_id\":\"%s\",\"audit_index\":%llu,\"tree_size\":%llu,"
               "\"root_hash\":\"%s\",\"path_length\":%zu,\"verified\":true%s%s}\n",
               a->argv[0], (unsigned long long)pr->leaf_index,
               (unsigned long long)(th ? th->tree_size : 0), root, pr->n_inclusion_path,
               wj ? ",\"witnesses\":" : "", wj ? wj : "");
    else
        printf("message %s is entry %llu of the audit log; the broker-signed tree head of size "
               "%llu (root %s) includes it (%zu hashes), verified with the broker certificate\n",
               a->argv[0], (unsigned long long)pr->leaf_index,
               (unsigned long long)(th ? th->tree_size : 0), root, pr->n_inclusion_path);
    if (wj && !a->json)
        evidence_print_witnesses(wj, stdout);
    free(wj);
    remiss__tree_head__free_unpacked(th, NULL);
    remiss__proof_reply__free_unpacked(pr, NULL);
    return r == REMISS_OK ? 0 : 1;
}

/* remiss evidence: the proof, cosigned checkpoint and broker certificate
 * as one file (common/evidence.c) for verify-evidence or a court. */
static int
s_cmd_evidence(s_args_t *a)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    Remiss__ProofReply *pr = NULL;
    char cert[4200], *out = NULL;
    if (a->argc != 1 || !remiss_id_from_hex(a->argv[0], id))
        return s_usage_error("evidence MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(&err);
    remiss_code_t r = remiss_proof(c, id, 0, &pr, &err);
    remiss_close(&c);
    snprintf(cert, sizeof cert, "%s/broker.crt", a->pki);
    if (r == REMISS_OK && (out = evidence_build(id, pr, cert, &err)) == NULL)
        r = err.code;
    if (r == REMISS_OK)
        printf("%s\n", out);
    free(out);
    remiss__proof_reply__free_unpacked(pr, NULL);
    return r == REMISS_OK ? 0 : s_fail(&err);
}

typedef int (*s_cmd_fn)(s_args_t *);

static const struct {
    const char *name;
    s_cmd_fn fn;
    const char *help;
} s_cmds[] = {
    {"send", s_cmd_send, "send FILE.json        sign and send a message (- reads stdin); prints the receipt"},
    {"recv", s_cmd_recv, "recv [--wait S] [--max N] [--ack]\n"
                         "                        print messages for this party (one JSON line each with --json)"},
    {"ack", s_cmd_ack, "ack MESSAGE_ID ...    acknowledge processed messages"},
    {"refuse", s_cmd_refuse, "refuse MESSAGE_ID REASON\n"
                             "                        refuse a message permanently (dead-letter list)"},
    {"status", s_cmd_status, "status MESSAGE_ID     state of a message this party sent or received"},
    {"consent", s_cmd_consent, "consent grant FILE.json | consent revoke CONSENT_ID [REASON]\n"
                               "                        register or withdraw a person's consent"},
    {"proof", s_cmd_proof, "proof MESSAGE_ID      prove from the audit log that the broker recorded the message"},
    {"evidence", s_cmd_evidence, "evidence MESSAGE_ID   write the proof, cosigned checkpoint and broker certificate as one file"},
};

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: remiss --pki DIR --as PARTY --broker ENDPOINT [--json] COMMAND ...\n\n"
            "The remiss agency client: sends signed referrals and other messages to the\n"
            "broker and receives the ones addressed to this party.\n\n"
            "options:\n"
            "  --pki DIR          ca.crt, broker.crt, crl.pem, parties/PARTY.{crt,key,curve}\n"
            "  --as PARTY         this party's id\n"
            "  --broker ENDPOINT  e.g. tcp://127.0.0.1:7400 (or $REMISS_BROKER)\n"
            "  --state FILE       remembers acknowledged ids [DIR/parties/PARTY.seen]\n"
            "  --witnesses FILE   proof: witness list; fail unless its quorum cosigned\n"
            "  --json             machine-readable output\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %s\n", s_cmds[i].help);
    fprintf(out, "\nExit 0 on success; otherwise \"error: CODE: sentence\" on stderr.\n");
}

int
main(int argc, char **argv)
{
    s_args_t a = {.wait_s = 5, .broker = getenv("REMISS_BROKER")};
    const char *cmd = NULL;
    char *operands[64];
    int nops = 0;
    static char state[4200];
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(o, "--pki") && has)
            a.pki = argv[++i];
        else if (!strcmp(o, "--as") && has)
            a.as = argv[++i];
        else if (!strcmp(o, "--broker") && has)
            a.broker = argv[++i];
        else if (!strcmp(o, "--state") && has)
            a.state = argv[++i];
        else if (!strcmp(o, "--wait") && has)
            a.wait_s = atoi(argv[++i]);
        else if (!strcmp(o, "--max") && has)
            a.max = atoi(argv[++i]);
        else if (!strcmp(o, "--witnesses") && has)
            a.witnesses = argv[++i];
        else if (!strcmp(o, "--json"))
            a.json = true;
        else if (!strcmp(o, "--ack"))
            a.ack = true;
        else if (!strncmp(o, "--", 2))
            return s_usage_error("unknown option");
        else if (!cmd)
            cmd = o;
        else if (nops < 64)
            operands[nops++] = argv[i];
    }
    if (!cmd)
        return s_usage_error("no command");
    if (!a.pki || !a.as || !a.broker)
        return s_usage_error("--pki, --as and --broker are required");
    if (!a.state) {
        snprintf(state, sizeof state, "%s/parties/%s.seen", a.pki, a.as);
        a.state = state;
    }
    a.argc = nops;
    a.argv = operands;
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (!strcmp(cmd, s_cmds[i].name))
            return s_cmds[i].fn(&a);
    return s_usage_error("unknown command");
}
