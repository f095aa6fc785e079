/* remissctl: administration of a remiss federation (PKI, audit, consents,
 * dead letters). Commands dispatch by table on their two words; the rest of
 * the command line is parsed once by ctl_args (getopt_long). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl_args.h"
#include "ctl_audit.h"
#include "ctl_evidence.h"
#include "ctl_keys.h"
#include "ctl_migrate.h"
#include "ctl_status.h"
#include "ctl_store.h"
#include "pki_admin.h"
#include "remiss.h"

/* The result of a pki command: a sentence, or with --json an object. */
static int
s_done(const ctl_args_t *a, const char *key, const char *value, const char *sentence)
{
    if (!a->cli.json) {
        printf("%s\n", sentence);
        return CLI_EXIT_OK;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", "OK");
    cJSON_AddStringToObject(o, key, value);
    return cli_print_json(o) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
s_pki_init(const ctl_args_t *a)
{
    remiss_err_t err;
    if (a->npos != 1 || (a->given & ~CTL_O_JSON))
        return cli_usage_error(&a->cli, "pki init DIR");
    if (pki_init(a->pos[0], &err) != REMISS_OK)
        return cli_fail(&a->cli, &err);
    char line[4200];
    snprintf(line, sizeof line, "created federation CA, broker certificate and empty CRL in %s",
             a->pos[0]);
    return s_done(a, "pki", a->pos[0], line);
}

static int
s_pki_issue(const ctl_args_t *a)
{
    remiss_err_t err;
    pki_keytype_t type = PKI_KEY_P256;
    if (a->npos != 3 || (a->given & ~(CTL_O_KEY_TYPE | CTL_O_DAYS | CTL_O_JSON)))
        return cli_usage_error(&a->cli, "pki issue DIR PARTY_ID ROLE [--key-type T] [--days N]");
    if (a->key_type && !pki_keytype_parse(a->key_type, &type))
        return cli_usage_error(&a->cli, "--key-type is p256, rsa or ed25519");
    if (pki_issue(a->pos[0], a->pos[1], a->pos[2], type, a->days ? (int)a->days : 730, &err) !=
        REMISS_OK)
        return cli_fail(&a->cli, &err);
    char line[4200];
    snprintf(line, sizeof line, "issued %s (role %s): %s/parties/%s.{crt,key,curve}", a->pos[1],
             a->pos[2], a->pos[0], a->pos[1]);
    return s_done(a, "issued", a->pos[1], line);
}

static int
s_pki_revoke(const ctl_args_t *a)
{
    remiss_err_t err;
    if (a->npos != 2 || (a->given & ~CTL_O_JSON))
        return cli_usage_error(&a->cli, "pki revoke DIR PARTY_ID");
    if (pki_revoke(a->pos[0], a->pos[1], &err) != REMISS_OK)
        return cli_fail(&a->cli, &err);
    char line[512];
    snprintf(line, sizeof line, "revoked %s; send SIGHUP to remissd (or wait for its CRL check)",
             a->pos[1]);
    return s_done(a, "revoked", a->pos[1], line);
}

typedef int (*s_cmd_fn)(const ctl_args_t *a);

static const struct {
    const char *group, *name;
    s_cmd_fn fn;
    const char *usage, *help;
} s_cmds[] = {
    {"pki", "init", s_pki_init, "pki init DIR", "create CA, broker certificate, CRL"},
    {"pki", "issue", s_pki_issue,
     "pki issue DIR PARTY_ID ROLE [--key-type p256|rsa|ed25519] [--days N]",
     "issue a party certificate, key and CURVE key (--days [730])"},
    {"pki", "revoke", s_pki_revoke, "pki revoke DIR PARTY_ID", "put a party on the CRL"},
    {"deadletter", "list", ctl_deadletter_list, "deadletter list --db DB [--json]",
     "messages refused by recipients or undeliverable"},
    {"deadletter", "requeue", ctl_deadletter_requeue, "deadletter requeue --db DB MESSAGE_ID",
     "queue one again (remissd performs and audits it)"},
    {"audit", "verify", ctl_audit_verify, "audit verify --db DB --pki DIR",
     "recompute the log, check every signed tree head"},
    {"audit", "subject", ctl_audit_subject,
     "audit subject PNR --db DB --pki DIR [--json | --format html --policy FILE]",
     "every exchange about a person (access request); html: a printable letter to the person, "
     "in Swedish"},
    {"audit", "export", ctl_audit_export, "audit export --db DB [--since INDEX]",
     "the log as JSON lines (pseudonyms, never personnummer)"},
    {"audit", "proof", ctl_audit_proof, "audit proof --db DB INDEX --pki DIR [--json]",
     "inclusion proof of one entry, verified"},
    {"verify-evidence", NULL, ctl_verify_evidence,
     "verify-evidence FILE --ca CA.crt [--witnesses FILE] [--json]",
     "check a `remiss evidence` file offline"},
    {"consent", "list", ctl_consent_list, "consent list --db DB --pki DIR --subject PNR [--json]",
     "consents registered for a person"},
    {"status", NULL, ctl_status, "status [--socket PATH | --db STORE] [--json]",
     "ask the running remissd: version, uptime, policy, last reload, queues, parties, "
     "certificate days left (read-only; its socket is next to the SQLite store)"},
    {"store", "migrate", ctl_migrate, "store migrate --from PATH --to URI",
     "move a SQLite store to PostgreSQL (the target must be empty)"},
    {"keys", "rotate", ctl_keys_rotate, "keys rotate --db DB --pki DIR [--json]",
     "new key-encryption key in DIR/broker.kek, rewrap every data key while remissd runs, "
     "destroy the old keys"},
};

#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: remissctl COMMAND ... [--json]\n"
                 "       remissctl COMMAND --help | --help | --version\n\n"
                 "Administration of a remiss federation. Every command that reads the broker's\n"
                 "database names it with --db, and refuses a file that does not exist.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < S_NCMDS; i++)
        fprintf(out, "  %s\n      %s\n", s_cmds[i].usage, s_cmds[i].help);
    fprintf(out, "\noptions:\n"
                 "  --json             machine-readable output, errors too\n"
                 "  --help             this text; COMMAND --help: that command's\n"
                 "  --version          print the version\n"
                 "\nExit 0 on success, 1 on failure, 2 on a usage error; then "
                 "\"error: CODE: sentence\"\non stderr (with --json "
                 "{\"error\":{\"code\":...,\"sentence\":...}}).\n");
}

int
main(int argc, char **argv)
{
    ctl_args_t a = {.cli = {"remissctl", false}};
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("remissctl %s\n", remiss_version());
        return CLI_EXIT_OK;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    for (size_t i = 0; i < S_NCMDS; i++) {
        /* A command is one word (name NULL) or two. */
        int words = s_cmds[i].name ? 2 : 1;
        if (strcmp(argv[1], s_cmds[i].group) != 0 ||
            (words == 2 && (argc < 3 || strcmp(argv[2], s_cmds[i].name) != 0)))
            continue;
        if (!ctl_args_parse(argc - 1 - words, argv + 1 + words, &a))
            return CLI_EXIT_USAGE;
        if (a.help) {
            printf("usage: remissctl %s\n\n%s.\nSee remissctl(8), COMMANDS.\n", s_cmds[i].usage,
                   s_cmds[i].help);
            return CLI_EXIT_OK;
        }
        return s_cmds[i].fn(&a);
    }
    for (int i = 1; i < argc; i++)
        a.cli.json = a.cli.json || strcmp(argv[i], "--json") == 0;
    return cli_usage_error(&a.cli, "unknown command %.40s%s%.40s", argv[1], argc > 2 ? " " : "",
                           argc > 2 ? argv[2] : "");
}
