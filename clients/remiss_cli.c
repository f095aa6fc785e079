/* remiss: the agency command line client on libremiss. Commands dispatch by
 * table; options are parsed once with getopt_long (before or after the
 * command, --opt=value or --opt value) and each command declares which of
 * them it takes. JSON in and out is the one of DESIGN.md section 4; every
 * JSON output, errors included, is built with cJSON, and text from another
 * party goes through cli_plain before it reaches a terminal. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "evidence.h"
#include "hex.h"
#include "msgjson.h"
#include "remiss.h"
#include "rfc3339.h"

/* Options a command may take, beyond the connection options every
 * command that talks to the broker takes. */
enum {
    S_O_WAIT = 1 << 0,
    S_O_MAX = 1 << 1,
    S_O_ACK = 1 << 2,
    S_O_SAVE = 1 << 3,
    S_O_SAVE_RECEIPT = 1 << 4,
    S_O_WITNESSES = 1 << 5,
    S_O_RECEIPT = 1 << 6,
};

typedef struct s_args {
    cli_t cli;
    const char *pki, *as, *broker, *state_dir;
    char state[4200];         /* the state file: STATE_DIR/PARTY.db */
    long wait_s;              /* recv: seconds to wait for the next message */
    long max;                 /* recv: messages at most, 0 = all that arrive */
    long timeout_s;           /* how long to wait for the broker's answer */
    bool ack;                 /* recv: acknowledge what was printed */
    const char *save_dir;     /* recv: keep each signed envelope here */
    const char *save_receipt; /* send, consent: keep the signed receipt here */
    const char *witnesses;    /* proof: witness list whose quorum must cosign */
    const char *receipt;      /* evidence: the signed receipt --save-receipt kept */
    unsigned used;            /* S_O_* options given */
    bool help, version;
    int argc; /* command operands (after the command's name) */
    char **argv;
} s_args_t;

typedef int (*s_cmd_fn)(s_args_t *);

typedef struct s_cmd {
    const char *name;
    s_cmd_fn fn;
    unsigned opts; /* S_O_* it takes */
    const char *usage;
    const char *help;
} s_cmd_t;

static const s_cmd_t *s_find_cmd(const char *name);

/* ------------------------------------------------------------ output */

/* Prints err; the exit status. libremiss answers E_USAGE only for what
 * came from the command line (--as, --broker), so that is a usage error. */
static int
s_fail(const s_args_t *a, const remiss_err_t *err)
{
    int status = cli_fail(&a->cli, err);
    return err->code == REMISS_E_USAGE ? CLI_EXIT_USAGE : status;
}

static void
s_add_time(cJSON *o, const char *key, int64_t ms)
{
    char buf[RFC3339_LEN];
    if (ms > 0 && rfc3339_format(ms, buf, sizeof buf))
        cJSON_AddStringToObject(o, key, buf);
    else
        cJSON_AddNullToObject(o, key);
}

static void
s_print_receipt(const s_args_t *a, const remiss_receipt_t *rc)
{
    char hex[33], safe[1024];
    hex_encode(hex, rc->message_id, REMISS_ID_LEN);
    if (a->cli.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "message_id", hex);
        cJSON_AddStringToObject(o, "code", remiss_code_name(rc->code));
        cJSON_AddStringToObject(o, "sentence", rc->sentence);
        cJSON_AddNumberToObject(o, "audit_index", (double)rc->audit_index);
        s_add_time(o, "broker_time", rc->broker_time);
        cJSON_AddBoolToObject(o, "signed", rc->signed_receipt != NULL);
        if (a->save_receipt)
            cJSON_AddStringToObject(o, "saved_to", a->save_receipt);
        cli_print_json(o);
        return;
    }
    printf("message_id %s\n%s: %s\naudit_index %llu\n", hex, remiss_code_name(rc->code),
           cli_plain(safe, sizeof safe, rc->sentence), (unsigned long long)rc->audit_index);
    printf("signed by the broker%s%s\n", a->save_receipt ? "; saved to " : "",
           a->save_receipt ? cli_plain(safe, sizeof safe, a->save_receipt) : "");
}

/* Prints a receipt (a refusal comes with one too), keeps it if asked, and
 * returns the exit status for r. */
static int
s_receipt_done(const s_args_t *a, remiss_receipt_t *rc, remiss_code_t r, const remiss_err_t *err)
{
    remiss_err_t serr;
    remiss_code_t saved = REMISS_OK;
    if (rc->signed_receipt && a->save_receipt)
        saved = remiss_receipt_save(rc, a->save_receipt, &serr);
    if (rc->signed_receipt && saved == REMISS_OK)
        s_print_receipt(a, rc);
    remiss_receipt_clear(rc);
    if (r != REMISS_OK)
        return s_fail(a, err);
    return saved == REMISS_OK ? CLI_EXIT_OK : s_fail(a, &serr);
}

/* ------------------------------------------------------------ input */

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
    for (size_t n = 1; n > 0; *len += n) {
        if (*len == cap) {
            char *grown = cap >= (2u << 20) ? NULL : realloc(buf, (cap = cap ? cap * 2 : 4096) + 1);
            if (!grown) {
                remiss_err_set(err, REMISS_E_TOO_LARGE, "%s is larger than 2 MiB", path);
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
        }
        n = fread(buf + *len, 1, cap - *len, f);
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
    remiss_opts_t o = {.pki_dir = a->pki,
                       .party = a->as,
                       .endpoint = a->broker,
                       .timeout_ms = (int)(a->timeout_s * 1000),
                       .state_path = a->state};
    return remiss_connect(&o, err);
}

/* ------------------------------------------------------------ commands */

static int
s_send_env(s_args_t *a, Remiss__Envelope *env)
{
    remiss_err_t err;
    remiss_receipt_t rc = {0};
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    remiss_code_t r = remiss_send(c, env, &rc, &err);
    remiss_close(&c);
    return s_receipt_done(a, &rc, r, &err);
}

static int
s_cmd_send(s_args_t *a)
{
    remiss_err_t err;
    Remiss__Envelope *env = NULL;
    size_t len;
    if (a->argc != 1)
        return cli_usage_error(&a->cli, "send takes one FILE.json (- for standard input)");
    char *json = s_read_file(a->argv[0], &len, &err);
    if (!json)
        return s_fail(a, &err);
    remiss_code_t r = msgjson_parse(json, len, &env, &err);
    free(json);
    if (r != REMISS_OK)
        return s_fail(a, &err);
    if (env->sender && env->sender[0] && strcmp(env->sender, a->as) != 0) {
        msgjson_free(&env);
        remiss_err_set(&err, REMISS_E_SENDER_MISMATCH,
                       "The file says it is from another party than --as.");
        return s_fail(a, &err);
    }
    int status = s_send_env(a, env);
    msgjson_free(&env);
    return status;
}

/* Prints one received message and keeps or acknowledges it as asked. */
static remiss_code_t
s_take(s_args_t *a, remiss_client_t *c, const remiss_message_t *m, remiss_err_t *err)
{
    msgjson_meta_t meta = {.message_id = remiss_message_id(m),
                           .from = remiss_message_sender(m),
                           .received_at = remiss_message_accepted_at(m)};
    char *out = a->cli.json ? msgjson_format(remiss_message_envelope(m), &meta)
                            : msgjson_format_pretty(remiss_message_envelope(m), &meta);
    if (!out)
        return remiss_err_set(
            err, REMISS_E_MALFORMED,
            "a received message cannot be shown as JSON; it stays unacknowledged");
    remiss_code_t r = a->save_dir ? remiss_message_save(m, a->save_dir, err) : REMISS_OK;
    if (r == REMISS_OK) {
        printf("%s\n", out);
        fflush(stdout);
    }
    free(out);
    if (r == REMISS_OK && a->ack)
        r = remiss_ack_sync(c, remiss_message_id(m), err);
    return r;
}

static int
s_cmd_recv(s_args_t *a)
{
    remiss_err_t err;
    if (a->argc != 0)
        return cli_usage_error(&a->cli, "recv takes no operands");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    /* Subscribing first tells an unreachable broker (E_TIMEOUT naming it)
     * from an empty inbox (remiss_recv's E_TIMEOUT after --wait). */
    remiss_code_t r = remiss_subscribe(c, 0, &err);
    for (long got = 0; r == REMISS_OK && (a->max == 0 || got < a->max); got++) {
        remiss_message_t *m = NULL;
        r = remiss_recv(c, (int)(a->wait_s * 1000), &m, &err);
        if (r == REMISS_E_TIMEOUT) {
            r = REMISS_OK;
            break;
        }
        if (r == REMISS_OK)
            r = s_take(a, c, m, &err);
        remiss_message_free(&m);
    }
    remiss_close(&c);
    return r == REMISS_OK ? CLI_EXIT_OK : s_fail(a, &err);
}

static int
s_answered(const s_args_t *a, const char *hex, bool refuse)
{
    if (a->cli.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "message_id", hex);
        cJSON_AddStringToObject(o, "code", "OK");
        cJSON_AddStringToObject(o, "state", refuse ? "refused" : "acknowledged");
        cli_print_json(o);
    } else {
        printf("%s %s\n", refuse ? "refused" : "acknowledged", hex);
    }
    return CLI_EXIT_OK;
}

static int
s_ack_or_refuse(s_args_t *a, bool refuse)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    int n = refuse ? 1 : a->argc;
    if (refuse ? a->argc != 2 : a->argc < 1)
        return cli_usage_error(&a->cli, refuse ? "refuse takes MESSAGE_ID REASON"
                                               : "ack takes one or more MESSAGE_IDs");
    for (int i = 0; i < n; i++)
        if (!remiss_id_from_hex(a->argv[i], id))
            return cli_usage_error(&a->cli, "a message id is 32 hex digits");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    int status = CLI_EXIT_OK;
    for (int i = 0; i < n && status == CLI_EXIT_OK; i++) {
        remiss_id_from_hex(a->argv[i], id);
        remiss_code_t r =
            refuse ? remiss_refuse(c, id, a->argv[1], &err) : remiss_ack_sync(c, id, &err);
        status = r == REMISS_OK ? s_answered(a, a->argv[i], refuse) : s_fail(a, &err);
    }
    remiss_close(&c);
    return status;
}

static int
s_cmd_ack(s_args_t *a)
{
    return s_ack_or_refuse(a, false);
}

static int
s_cmd_refuse(s_args_t *a)
{
    return s_ack_or_refuse(a, true);
}

static const char *const s_states[] = {"unspecified", "queued",   "delivered", "acknowledged",
                                       "refused",     "withheld", "unknown"};
static const char *const s_decisions[] = {"", "accepted", "rejected", "needs_info"};

static void
s_status_json(const char *hex, const Remiss__StatusReply *st)
{
    unsigned s = st->state < 7 ? (unsigned)st->state : 0;
    unsigned d = st->transfer_decision < 4 ? (unsigned)st->transfer_decision : 0;
    char ack[33] = "";
    if (st->transfer_ack_id.len == REMISS_ID_LEN)
        hex_encode(ack, st->transfer_ack_id.data, REMISS_ID_LEN);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message_id", hex);
    cJSON_AddStringToObject(o, "state", s_states[s]);
    cJSON_AddStringToObject(o, "code", remiss_code_name((remiss_code_t)st->code));
    cJSON_AddStringToObject(o, "sentence", st->sentence ? st->sentence : "");
    cJSON_AddStringToObject(o, "recipient", st->recipient ? st->recipient : "");
    cJSON_AddNumberToObject(o, "attempts", st->attempts);
    s_add_time(o, "accepted_at", st->accepted_at);
    s_add_time(o, "delivered_at", st->delivered_at);
    s_add_time(o, "acked_at", st->acked_at);
    cJSON_AddStringToObject(o, "refuse_reason", st->refuse_reason ? st->refuse_reason : "");
    cJSON_AddStringToObject(o, "transfer_decision", s_decisions[d]);
    cJSON_AddStringToObject(o, "receiving_unit", st->receiving_unit ? st->receiving_unit : "");
    cJSON_AddStringToObject(o, "transfer_ack_id", ack);
    cli_print_json(o);
}

static void
s_status_plain(const char *hex, const Remiss__StatusReply *st)
{
    char a[512], b[1024];
    unsigned s = st->state < 7 ? (unsigned)st->state : 0;
    unsigned d = st->transfer_decision < 4 ? (unsigned)st->transfer_decision : 0;
    printf("message %s to %s: %s", hex, cli_plain(a, sizeof a, st->recipient), s_states[s]);
    if (st->code)
        printf(" (%s: %s)", remiss_code_name((remiss_code_t)st->code),
               cli_plain(b, sizeof b, st->sentence));
    if (st->refuse_reason && st->refuse_reason[0])
        printf(", reason: %s", cli_plain(b, sizeof b, st->refuse_reason));
    printf("\n");
    if (d)
        printf("transfer %s%s%s\n", s_decisions[d], st->receiving_unit[0] ? " by " : "",
               cli_plain(b, sizeof b, st->receiving_unit));
}

static int
s_cmd_status(s_args_t *a)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    Remiss__StatusReply *st = NULL;
    if (a->argc != 1 || !remiss_id_from_hex(a->argv[0], id))
        return cli_usage_error(&a->cli, "status takes one MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    remiss_code_t r = remiss_status(c, id, &st, &err);
    remiss_close(&c);
    if (r == REMISS_OK && st->state == REMISS__MESSAGE_STATE__UNKNOWN)
        r = remiss_err_set(&err, REMISS_E_UNKNOWN_MESSAGE,
                           "No message with this id was sent by or to %s (a message refused at "
                           "intake is not kept).",
                           a->as);
    if (r == REMISS_OK && a->cli.json)
        s_status_json(a->argv[0], st);
    else if (r == REMISS_OK)
        s_status_plain(a->argv[0], st);
    remiss__status_reply__free_unpacked(st, NULL);
    return r == REMISS_OK ? CLI_EXIT_OK : s_fail(a, &err);
}

static Remiss__Envelope *
s_revoke_env(const char *consent_id, const char *reason)
{
    Remiss__Envelope *env = calloc(1, sizeof *env);
    Remiss__ConsentRevoke *rv = calloc(1, sizeof *rv);
    if (!env || !rv) {
        free(env);
        free(rv);
        return NULL;
    }
    remiss__envelope__init(env);
    remiss__consent_revoke__init(rv);
    env->type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    env->body_case = REMISS__ENVELOPE__BODY_CONSENT_REVOKE;
    env->consent_revoke = rv;
    env->recipient = strdup("broker");
    env->consent_id = strdup(consent_id);
    rv->revoke_reason = strdup(reason ? reason : "withdrawn by the person");
    return env;
}

/* consent grant FILE.json | consent revoke CONSENT_ID [REASON] */
static int
s_cmd_consent(s_args_t *a)
{
    remiss_err_t err;
    Remiss__Envelope *env = NULL;
    bool grant = a->argc == 2 && strcmp(a->argv[0], "grant") == 0;
    bool revoke = a->argc >= 2 && a->argc <= 3 && strcmp(a->argv[0], "revoke") == 0;
    if (!grant && !revoke)
        return cli_usage_error(&a->cli,
                               "consent grant FILE.json | consent revoke CONSENT_ID [REASON]");
    if (revoke && !(env = s_revoke_env(a->argv[1], a->argc == 3 ? a->argv[2] : NULL))) {
        remiss_err_set(&err, REMISS_E_INTERNAL, "out of memory");
        return s_fail(a, &err);
    }
    if (grant) {
        size_t len;
        char *json = s_read_file(a->argv[1], &len, &err);
        remiss_code_t r = json ? msgjson_parse(json, len, &env, &err) : err.code;
        free(json);
        if (r != REMISS_OK)
            return s_fail(a, &err);
        if (env->type != REMISS__MESSAGE_TYPE__CONSENT_GRANT) {
            msgjson_free(&env);
            return cli_usage_error(&a->cli, "consent grant needs a file of type consent_grant");
        }
    }
    int status = s_send_env(a, env);
    msgjson_free(&env);
    return status;
}

static void
s_proof_print(const s_args_t *a, const char *hex, const Remiss__ProofReply *pr,
              const char *witnesses_json)
{
    /* remiss_proof verified the signed tree head and the inclusion path. */
    Remiss__TreeHead *th = pr->tree_head
                               ? remiss__tree_head__unpack(NULL, pr->tree_head->tree_head.len,
                                                           pr->tree_head->tree_head.data)
                               : NULL;
    char root[65] = "";
    if (th && th->root_hash.len == 32)
        hex_encode(root, th->root_hash.data, 32);
    unsigned long long size = th ? th->tree_size : 0;
    if (a->cli.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "message_id", hex);
        cJSON_AddNumberToObject(o, "audit_index", (double)pr->leaf_index);
        cJSON_AddNumberToObject(o, "tree_size", (double)size);
        cJSON_AddStringToObject(o, "root_hash", root);
        s_add_time(o, "tree_head_time", th ? th->timestamp : 0);
        cJSON_AddNumberToObject(o, "path_length", (double)pr->n_inclusion_path);
        cJSON_AddBoolToObject(o, "verified", true);
        cJSON *w = witnesses_json ? cJSON_Parse(witnesses_json) : NULL;
        if (w)
            cJSON_AddItemToObject(o, "witnesses", w);
        cli_print_json(o);
    } else {
        printf("message %s is entry %llu of the audit log; the broker-signed tree head of size "
               "%llu (root %s) includes it (%zu hashes), verified with the broker certificate\n",
               hex, (unsigned long long)pr->leaf_index, size, root, pr->n_inclusion_path);
        if (witnesses_json)
            evidence_print_witnesses(witnesses_json, stdout);
    }
    remiss__tree_head__free_unpacked(th, NULL);
}

static int
s_cmd_proof(s_args_t *a)
{
    remiss_err_t err;
    uint8_t id[REMISS_ID_LEN];
    Remiss__ProofReply *pr = NULL;
    if (a->argc != 1 || !remiss_id_from_hex(a->argv[0], id))
        return cli_usage_error(&a->cli, "proof takes one MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    remiss_code_t r = remiss_proof(c, id, 0, &pr, &err);
    remiss_close(&c);
    if (r != REMISS_OK)
        return s_fail(a, &err);
    /* With --witnesses the checkpoint must carry the list's quorum of
     * cosignatures; the proof is printed either way, then the failure. */
    char *wj = NULL;
    remiss_err_t werr = {0};
    if (a->witnesses)
        r = evidence_proof_witnesses(pr, a->witnesses, &wj, &werr);
    s_proof_print(a, a->argv[0], pr, wj);
    free(wj);
    remiss__proof_reply__free_unpacked(pr, NULL);
    return r == REMISS_OK ? CLI_EXIT_OK : s_fail(a, &werr);
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
        return cli_usage_error(&a->cli, "evidence takes one MESSAGE_ID (32 hex digits)");
    remiss_client_t *c = s_connect(a, &err);
    if (!c)
        return s_fail(a, &err);
    size_t rlen = 0;
    char *receipt = NULL;
    remiss_code_t r = remiss_proof(c, id, 0, &pr, &err);
    remiss_close(&c);
    snprintf(cert, sizeof cert, "%s/broker.crt", a->pki);
    if (r == REMISS_OK && a->receipt && !(receipt = s_read_file(a->receipt, &rlen, &err)))
        r = err.code;
    if (r == REMISS_OK &&
        !(out = evidence_build(id, pr, cert, (const uint8_t *)receipt, rlen, &err)))
        r = err.code;
    if (r == REMISS_OK)
        printf("%s\n", out);
    free(receipt);
    free(out);
    remiss__proof_reply__free_unpacked(pr, NULL);
    return r == REMISS_OK ? CLI_EXIT_OK : s_fail(a, &err);
}

static const s_cmd_t s_cmds[] = {
    {"send", s_cmd_send, S_O_SAVE_RECEIPT, "send [--save-receipt FILE] FILE.json",
     "sign and send a message (- reads stdin); prints the signed receipt"},
    {"recv", s_cmd_recv, S_O_WAIT | S_O_MAX | S_O_ACK | S_O_SAVE,
     "recv [--wait S] [--max N] [--ack] [--save DIR]",
     "print messages for this party (one JSON line each with --json)"},
    {"ack", s_cmd_ack, 0, "ack MESSAGE_ID ...", "acknowledge processed messages"},
    {"refuse", s_cmd_refuse, 0, "refuse MESSAGE_ID REASON",
     "refuse a message permanently (dead-letter list)"},
    {"status", s_cmd_status, 0, "status MESSAGE_ID",
     "state of a message this party sent or received"},
    {"consent", s_cmd_consent, S_O_SAVE_RECEIPT,
     "consent grant [--save-receipt FILE] FILE.json | consent revoke CONSENT_ID [REASON]",
     "register or withdraw a person's consent"},
    {"proof", s_cmd_proof, S_O_WITNESSES, "proof [--witnesses FILE] MESSAGE_ID",
     "prove from the audit log that the broker recorded the message"},
    {"evidence", s_cmd_evidence, S_O_RECEIPT, "evidence [--receipt FILE] MESSAGE_ID",
     "write the proof, cosigned checkpoint, broker certificate (and the signed receipt) as one "
     "file"},
};

#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static const s_cmd_t *
s_find_cmd(const char *name)
{
    for (size_t i = 0; name && i < S_NCMDS; i++)
        if (strcmp(name, s_cmds[i].name) == 0)
            return &s_cmds[i];
    return NULL;
}

/* ------------------------------------------------------------ usage */

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: remiss --pki DIR --as PARTY --broker ENDPOINT [--json] COMMAND ...\n"
                 "       remiss COMMAND --help | --help | --version\n\n"
                 "The remiss agency client: sends signed referrals and other messages to the\n"
                 "broker and receives the ones addressed to this party.\n\n"
                 "options:\n"
                 "  --pki DIR          ca.crt, broker.crt, crl.pem, parties/PARTY.{crt,key,curve}\n"
                 "  --as PARTY         this party's id (lower case)\n"
                 "  --broker ENDPOINT  e.g. tcp://127.0.0.1:7400, or the nodes of a cluster:\n"
                 "                     tcp://a:7400,tcp://b:7400 (or $REMISS_BROKER)\n"
                 "  --state DIR        remembers processed ids [$XDG_STATE_HOME/remiss]\n"
                 "  --timeout S        seconds to wait for the broker's answer [10]\n"
                 "  --json             machine-readable output, errors too\n"
                 "  --help             this text; COMMAND --help: that command's\n"
                 "  --version          print the version\n\ncommands:\n");
    for (size_t i = 0; i < S_NCMDS; i++)
        fprintf(out, "  %s\n      %s\n", s_cmds[i].usage, s_cmds[i].help);
    fprintf(out, "\ncommand options:\n"
                 "  --wait S           recv: stop when no message arrives for S seconds [5]\n"
                 "  --max N            recv: stop after N messages, 0 = no limit [0]\n"
                 "  --ack              recv: acknowledge each message once printed\n"
                 "  --save DIR         recv: keep each signed envelope as DIR/ID.env and ID.crt\n"
                 "  --save-receipt FILE\n"
                 "                     send, consent: keep the signed receipt in FILE\n"
                 "  --witnesses FILE   proof: witness list; fail unless its quorum cosigned\n"
                 "  --receipt FILE     evidence: include the signed receipt --save-receipt kept\n"
                 "\nExit 0 on success, 1 on failure, 2 on a usage error; then "
                 "\"error: CODE: sentence\"\non stderr (with --json "
                 "{\"error\":{\"code\":...,\"sentence\":...}}).\n");
}

static void
s_cmd_usage(const s_cmd_t *c)
{
    printf("usage: remiss --pki DIR --as PARTY --broker ENDPOINT [--json] [--timeout S] %s\n\n"
           "%s.\nSee remiss(1), COMMANDS.\n",
           c->usage, c->help);
}

/* ------------------------------------------------------------ options */

enum {
    S_PKI = 256,
    S_AS,
    S_BROKER,
    S_STATE,
    S_TIMEOUT,
    S_JSON,
    S_WAIT,
    S_MAX,
    S_ACK,
    S_SAVE,
    S_SAVE_RECEIPT,
    S_WITNESSES,
    S_RECEIPT,
    S_HELP,
    S_VERSION
};

static const struct option s_longopts[] = {
    {"pki", required_argument, NULL, S_PKI},
    {"as", required_argument, NULL, S_AS},
    {"broker", required_argument, NULL, S_BROKER},
    {"state", required_argument, NULL, S_STATE},
    {"timeout", required_argument, NULL, S_TIMEOUT},
    {"json", no_argument, NULL, S_JSON},
    {"wait", required_argument, NULL, S_WAIT},
    {"max", required_argument, NULL, S_MAX},
    {"ack", no_argument, NULL, S_ACK},
    {"save", required_argument, NULL, S_SAVE},
    {"save-receipt", required_argument, NULL, S_SAVE_RECEIPT},
    {"witnesses", required_argument, NULL, S_WITNESSES},
    {"receipt", required_argument, NULL, S_RECEIPT},
    {"help", no_argument, NULL, S_HELP},
    {"version", no_argument, NULL, S_VERSION},
    {NULL, 0, NULL, 0},
};

/* A number option: a whole number of seconds or messages. */
static bool
s_number(s_args_t *a, const char *name, long min, long max, long *out)
{
    if (cli_parse_long(optarg, min, max, out))
        return true;
    cli_usage_error(&a->cli, "--%s takes a whole number from %ld to %ld, not \"%.40s\"", name, min,
                    max, optarg);
    return false;
}

/* Applies one option; false after printing a usage error. */
static bool
s_option(s_args_t *a, int c)
{
    switch (c) {
    case S_PKI:
        a->pki = optarg;
        return true;
    case S_AS:
        a->as = optarg;
        return true;
    case S_BROKER:
        a->broker = optarg;
        return true;
    case S_STATE:
        a->state_dir = optarg;
        return true;
    case S_TIMEOUT:
        return s_number(a, "timeout", 1, 86400, &a->timeout_s);
    case S_JSON:
        a->cli.json = true;
        return true;
    case S_WAIT:
        a->used |= S_O_WAIT;
        return s_number(a, "wait", 0, 86400, &a->wait_s);
    case S_MAX:
        a->used |= S_O_MAX;
        return s_number(a, "max", 0, 1000000000, &a->max);
    case S_ACK:
        a->used |= S_O_ACK;
        a->ack = true;
        return true;
    case S_SAVE:
        a->used |= S_O_SAVE;
        a->save_dir = optarg;
        return true;
    case S_SAVE_RECEIPT:
        a->used |= S_O_SAVE_RECEIPT;
        a->save_receipt = optarg;
        return true;
    case S_WITNESSES:
        a->used |= S_O_WITNESSES;
        a->witnesses = optarg;
        return true;
    case S_RECEIPT:
        a->used |= S_O_RECEIPT;
        a->receipt = optarg;
        return true;
    case S_HELP:
        a->help = true;
        return true;
    case S_VERSION:
        a->version = true;
        return true;
    case ':':
        cli_usage_error(&a->cli, "%s needs a value", optind > 0 ? a->argv[optind - 1] : "option");
        return false;
    default:
        cli_usage_error(&a->cli, "unknown option %s", optind > 0 ? a->argv[optind - 1] : "");
        return false;
    }
}

/* Parses argv into a; operands (the command first) end up in a->argv. */
static bool
s_parse(int argc, char **argv, s_args_t *a)
{
    a->argv = argv;
    /* --json anywhere makes even an error before it JSON. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        a->cli.json = a->cli.json || strcmp(argv[i], "--json") == 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":", s_longopts, NULL)) != -1;)
        if (!s_option(a, c))
            return false;
    a->argc = argc - optind;
    a->argv = argv + optind;
    return true;
}

/* STATE_DIR/PARTY.db, making STATE_DIR (0700) if needed. */
static bool
s_state_path(s_args_t *a)
{
    char dir[4096];
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (a->state_dir)
        snprintf(dir, sizeof dir, "%s", a->state_dir);
    else if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/remiss", xdg);
    else
        snprintf(dir, sizeof dir, "%s/.local/state/remiss", home && home[0] ? home : ".");
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        (void)mkdir(dir, 0700); /* the parents; the last one is checked below */
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        remiss_err_t err;
        remiss_err_set(&err, REMISS_E_IO,
                       "cannot create the state directory %s: %s (choose "
                       "another with --state DIR)",
                       dir, strerror(errno));
        cli_fail(&a->cli, &err);
        return false;
    }
    snprintf(a->state, sizeof a->state, "%s/%s.db", dir, a->as);
    return true;
}

/* What is left after parsing: the command, its options and operands. */
static int
s_run(s_args_t *a)
{
    const s_cmd_t *cmd = a->argc > 0 ? s_find_cmd(a->argv[0]) : NULL;
    if (a->argc > 0 && !cmd)
        return cli_usage_error(&a->cli, "unknown command %.40s", a->argv[0]);
    if (a->help && cmd) {
        s_cmd_usage(cmd);
        return CLI_EXIT_OK;
    }
    if (!cmd)
        return cli_usage_error(&a->cli, "no command");
    if (a->used & ~cmd->opts)
        return cli_usage_error(&a->cli, "an option given is not one of %s's", cmd->name);
    if (!a->pki || !a->as || !a->broker)
        return cli_usage_error(&a->cli, "--pki, --as and --broker are required");
    a->argc--;
    a->argv++;
    if (!s_state_path(a))
        return CLI_EXIT_FAIL;
    return cmd->fn(a);
}

int
main(int argc, char **argv)
{
    s_args_t a = {
        .cli = {"remiss", false}, .wait_s = 5, .timeout_s = 10, .broker = getenv("REMISS_BROKER")};
    if (!s_parse(argc, argv, &a))
        return CLI_EXIT_USAGE;
    if (a.version) {
        printf("remiss %s\n", remiss_version());
        return CLI_EXIT_OK;
    }
    if (a.help && a.argc == 0) {
        s_usage(stdout);
        return CLI_EXIT_OK;
    }
    return s_run(&a);
}
