/* ctl_args: the command line of every remissctl command, parsed once with
 * getopt_long (--opt value and --opt=value, options before or after the
 * operands), and the database every command names with --db. */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include <stdbool.h>

#include "cli.h"
#include "remiss_code.h"
#include "store.h"

#define CTL_MAX_POS 4

typedef struct ctl_args {
    cli_t cli;                    /* prog and --json (errors as JSON too) */
    const char *db;               /* --db FILE */
    const char *pki;              /* --pki DIR */
    const char *subject;          /* --subject PNR */
    const char *since;            /* --since INDEX */
    const char *key_type;         /* --key-type T */
    long days;                    /* --days N, 0 if not given */
    const char *format;           /* --format html (audit subject) */
    const char *policy;           /* --policy FILE (the letter's legal bases) */
    const char *ca;               /* --ca FILE (verify-evidence) */
    const char *witnesses;        /* --witnesses FILE (verify-evidence) */
    const char *from, *to;        /* --from PATH --to URI (store migrate) */
    const char *socket;           /* --socket PATH (status) */
    bool help;                    /* --help */
    unsigned given;               /* CTL_O_* options given */
    const char *pos[CTL_MAX_POS]; /* operands after the command words */
    int npos;
} ctl_args_t;

/* Bits of ctl_args_t.given, so a command can refuse options it does not take. */
enum {
    CTL_O_DB = 1 << 0,
    CTL_O_PKI = 1 << 1,
    CTL_O_SUBJECT = 1 << 2,
    CTL_O_SINCE = 1 << 3,
    CTL_O_KEY_TYPE = 1 << 4,
    CTL_O_DAYS = 1 << 5,
    CTL_O_JSON = 1 << 6,
    CTL_O_FORMAT = 1 << 7,
    CTL_O_POLICY = 1 << 8,
    CTL_O_CA = 1 << 9,
    CTL_O_WITNESSES = 1 << 10,
    CTL_O_FROM = 1 << 11,
    CTL_O_TO = 1 << 12,
    CTL_O_SOCKET = 1 << 13,
};

/* Parses argv (the words after the command's name). False after printing
 * a usage error (unknown option, missing value, bad number, more than
 * CTL_MAX_POS operands). */
bool ctl_args_parse(int argc, char **argv, ctl_args_t *a);

/* The store at a->db, which must exist: store_open would create a
 * mistyped path and answer from an empty database. NULL with err
 * (E_USAGE without --db, E_IO naming a missing file). The caller closes it. */
store_t *ctl_args_open_db(const ctl_args_t *a, remiss_err_t *err);

#endif
