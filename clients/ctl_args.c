/* ctl_args: see ctl_args.h. */
#include "ctl_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum {
    S_DB = 256,
    S_PKI,
    S_SUBJECT,
    S_SINCE,
    S_KEY_TYPE,
    S_DAYS,
    S_JSON,
    S_HELP,
    S_FORMAT,
    S_POLICY,
    S_CA,
    S_WITNESSES,
    S_FROM,
    S_TO,
    S_SOCKET
};

static const struct option s_longopts[] = {
    {"db", required_argument, NULL, S_DB},
    {"pki", required_argument, NULL, S_PKI},
    {"subject", required_argument, NULL, S_SUBJECT},
    {"since", required_argument, NULL, S_SINCE},
    {"key-type", required_argument, NULL, S_KEY_TYPE},
    {"days", required_argument, NULL, S_DAYS},
    {"json", no_argument, NULL, S_JSON},
    {"format", required_argument, NULL, S_FORMAT},
    {"policy", required_argument, NULL, S_POLICY},
    {"ca", required_argument, NULL, S_CA},
    {"witnesses", required_argument, NULL, S_WITNESSES},
    {"from", required_argument, NULL, S_FROM},
    {"to", required_argument, NULL, S_TO},
    {"socket", required_argument, NULL, S_SOCKET},
    {"help", no_argument, NULL, S_HELP},
    {NULL, 0, NULL, 0},
};

static bool
s_option(ctl_args_t *a, int c, char **argv)
{
    switch (c) {
    case S_DB:
        a->db = optarg;
        a->given |= CTL_O_DB;
        return true;
    case S_PKI:
        a->pki = optarg;
        a->given |= CTL_O_PKI;
        return true;
    case S_SUBJECT:
        a->subject = optarg;
        a->given |= CTL_O_SUBJECT;
        return true;
    case S_SINCE:
        a->since = optarg;
        a->given |= CTL_O_SINCE;
        return true;
    case S_KEY_TYPE:
        a->key_type = optarg;
        a->given |= CTL_O_KEY_TYPE;
        return true;
    case S_FORMAT:
        a->format = optarg;
        a->given |= CTL_O_FORMAT;
        return true;
    case S_POLICY:
        a->policy = optarg;
        a->given |= CTL_O_POLICY;
        return true;
    case S_CA:
        a->ca = optarg;
        a->given |= CTL_O_CA;
        return true;
    case S_FROM:
        a->from = optarg;
        a->given |= CTL_O_FROM;
        return true;
    case S_TO:
        a->to = optarg;
        a->given |= CTL_O_TO;
        return true;
    case S_SOCKET:
        a->socket = optarg;
        a->given |= CTL_O_SOCKET;
        return true;
    case S_WITNESSES:
        a->witnesses = optarg;
        a->given |= CTL_O_WITNESSES;
        return true;
    case S_JSON:
        a->cli.json = true;
        a->given |= CTL_O_JSON;
        return true;
    case S_HELP:
        a->help = true;
        return true;
    case S_DAYS:
        a->given |= CTL_O_DAYS;
        if (cli_parse_long(optarg, 1, 36500, &a->days))
            return true;
        cli_usage_error(&a->cli, "--days takes a whole number from 1 to 36500");
        return false;
    case ':':
        cli_usage_error(&a->cli, "%s needs a value", argv[optind - 1]);
        return false;
    default:
        cli_usage_error(&a->cli, "unknown option %s", argv[optind - 1]);
        return false;
    }
}

bool
ctl_args_parse(int argc, char **argv, ctl_args_t *a)
{
    /* getopt_long starts at argv[1]: hand it the words with one in front. */
    char *words[64];
    if (argc < 0 || argc >= (int)(sizeof words / sizeof words[0])) {
        cli_usage_error(&a->cli, "too many arguments");
        return false;
    }
    words[0] = (char *)a->cli.prog;
    memcpy(words + 1, argv, (size_t)argc * sizeof *argv);
    /* --json anywhere makes even an error before it JSON. */
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        a->cli.json = a->cli.json || strcmp(argv[i], "--json") == 0;
    opterr = 0;
    optind = 0; /* glibc: 0 also resets its internal state */
    for (int c; (c = getopt_long(argc + 1, words, ":", s_longopts, NULL)) != -1;)
        if (!s_option(a, c, words))
            return false;
    for (int i = optind; i < argc + 1; i++) {
        if (a->npos == CTL_MAX_POS) {
            cli_usage_error(&a->cli, "too many operands (from \"%.40s\")", words[i]);
            return false;
        }
        a->pos[a->npos++] = words[i];
    }
    return true;
}

store_t *
ctl_args_open_db(const ctl_args_t *a, remiss_err_t *err)
{
    struct stat st;
    if (!a->db) {
        remiss_err_set(err, REMISS_E_USAGE, "--db FILE names the broker's database");
        return NULL;
    }
    /* A postgresql:// URI names a server, not a file (store_file gives NULL). */
    const char *file = store_file(a->db);
    if (file && (stat(file, &st) != 0 || !S_ISREG(st.st_mode))) {
        const char *why = S_ISDIR(st.st_mode) ? "a directory" : strerror(errno);
        remiss_err_set(err, REMISS_E_IO, "no broker database at %s: %s (check --db)", a->db, why);
        return NULL;
    }
    return store_open(a->db, err);
}
