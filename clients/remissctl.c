/* remissctl: administration of a remiss federation (PKI, audit, consents,
 * dead letters). Commands dispatch by table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_audit.h"
#include "ctl_keys.h"
#include "ctl_store.h"
#include "pki_admin.h"
#include "remiss_code.h"

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

static int
s_pki_init(int argc, char **argv)
{
    remiss_err_t err;
    if (argc != 1)
        return s_usage_error("pki init DIR");
    if (pki_init(argv[0], &err) != REMISS_OK)
        return s_fail(&err);
    printf("created federation CA, broker certificate and empty CRL in %s\n", argv[0]);
    return 0;
}

static int
s_pki_issue(int argc, char **argv)
{
    remiss_err_t err;
    pki_keytype_t type = PKI_KEY_P256;
    int days = 730;
    const char *pos[3] = {0};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key-type") == 0 && i + 1 < argc) {
            if (!pki_keytype_parse(argv[++i], &type))
                return s_usage_error("--key-type is p256, rsa or ed25519");
        } else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
            days = atoi(argv[++i]);
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            return s_usage_error("pki issue DIR PARTY_ID ROLE [--key-type T] [--days N]");
        }
    }
    if (npos != 3)
        return s_usage_error("pki issue DIR PARTY_ID ROLE [--key-type T] [--days N]");
    if (pki_issue(pos[0], pos[1], pos[2], type, days, &err) != REMISS_OK)
        return s_fail(&err);
    printf("issued %s (role %s): %s/parties/%s.{crt,key,curve}\n", pos[1], pos[2], pos[0],
           pos[1]);
    return 0;
}

static int
s_pki_revoke(int argc, char **argv)
{
    remiss_err_t err;
    if (argc != 2)
        return s_usage_error("pki revoke DIR PARTY_ID");
    if (pki_revoke(argv[0], argv[1], &err) != REMISS_OK)
        return s_fail(&err);
    printf("revoked %s; send SIGHUP to remissd (or wait for its CRL check)\n", argv[1]);
    return 0;
}

static int
s_deadletter(int argc, char **argv)
{
    return ctl_deadletter_main(argc, argv);
}

static int
s_audit(int argc, char **argv)
{
    return ctl_audit_main(argc, argv);
}

static int
s_consent(int argc, char **argv)
{
    return ctl_consent_main(argc, argv);
}

static int
s_keys(int argc, char **argv)
{
    return ctl_keys_main(argc, argv);
}

typedef int (*s_cmd_fn)(int argc, char **argv);

static const struct {
    const char *group, *name;
    s_cmd_fn fn;
    const char *help;
} s_cmds[] = {
    {"pki", "init", s_pki_init, "pki init DIR                 create CA, broker certificate, CRL"},
    {"pki", "issue", s_pki_issue,
     "pki issue DIR PARTY_ID ROLE [--key-type p256|rsa|ed25519] [--days N]\n"
     "                               issue a party certificate, key and CURVE key"},
    {"pki", "revoke", s_pki_revoke, "pki revoke DIR PARTY_ID      put a party on the CRL"},
    {"deadletter", NULL, s_deadletter,
     "deadletter list --db DB [--json]\n"
     "                               messages refused by recipients or undeliverable\n"
     "  deadletter requeue --db DB MESSAGE_ID\n"
     "                               queue one again (remissd performs and audits it)"},
    {"audit", NULL, s_audit,
     "audit verify DB --pki DIR   recompute the log, check every signed tree head\n"
     "  audit subject PNR --db DB --pki DIR [--json]\n"
     "                               every exchange about a person (access request)\n"
     "  audit export DB [--since INDEX]\n"
     "                               the log as JSON lines (pseudonyms, never personnummer)\n"
     "  audit proof DB INDEX --pki DIR\n"
     "                               inclusion proof of one entry, verified"},
    {"consent", NULL, s_consent,
     "consent list --db DB --pki DIR --subject PNR [--json]\n"
     "                               consents registered for a person"},
    {"keys", NULL, s_keys,
     "keys rotate --db DB --pki DIR\n"
     "                               new key-encryption key, rewrap, destroy the old"},
};

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: remissctl COMMAND ...\n\n"
                 "Administration of a remiss federation.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %s\n", s_cmds[i].help);
    fprintf(out, "\nExit 0 on success; otherwise \"error: CODE: sentence\" on stderr.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (strcmp(argv[1], s_cmds[i].group) == 0 && !s_cmds[i].name)
            return s_cmds[i].fn(argc - 2, argv + 2);
        else if (strcmp(argv[1], s_cmds[i].group) == 0 && argc >= 3 &&
                 strcmp(argv[2], s_cmds[i].name) == 0)
            return s_cmds[i].fn(argc - 3, argv + 3);
    return s_usage_error("unknown command");
}
