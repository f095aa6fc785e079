/* cli: what the command-line programs share (remiss, remissctl): one error
 * printer, the exit statuses, number parsing and text safe for a terminal.
 *
 * Exit statuses: CLI_EXIT_OK (0) success, CLI_EXIT_FAIL (1) every failure
 * but a usage error, CLI_EXIT_USAGE (2) a bad command line. Errors go to
 * stderr as "error: CODE: sentence", or with json as one line
 * {"error":{"code":"CODE","sentence":"..."}}. */
#ifndef CLI_H
#define CLI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* How a program reports: its name (for "see PROG --help") and whether
 * errors are JSON. */
typedef struct cli {
    const char *prog;
    bool json;
} cli_t;

/* Prints err and returns CLI_EXIT_FAIL: a code of E_USAGE from a library
 * call is not by itself a bad command line (cli_usage_error is). */
int cli_fail(const cli_t *c, const remiss_err_t *err);

/* Prints an E_USAGE error (the sentence, then "(see PROG --help)") and
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a whole decimal number within [min, max]; false for anything
 * else (empty, sign where min >= 0, trailing characters, out of range). */
bool cli_parse_long(const char *s, long min, long max, long *out);

/* Prints obj as one JSON line on stdout and deletes it. False if it could
 * not be printed (out of memory). */
bool cli_print_json(cJSON *obj);

/* Copies s into buf for a terminal: control characters (also DEL and the C1
 * range as UTF-8) become \n, \t, \r, \\ or \xNN, so text from another
 * party cannot forge lines or move the cursor. Truncates to fit. Returns
 * buf. */
char *cli_plain(char *buf, size_t size, const char *s);

#endif
