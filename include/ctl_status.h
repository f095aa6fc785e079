/* ctl_status: `remissctl status [--json] [--socket PATH | --db STORE]`.
 *
 * Asks a running remissd on its status socket (include/status.h): the
 * broker writes one JSON snapshot and closes the connection; remissctl
 * sends nothing. The socket is --socket PATH, else remissd.sock next to
 * the SQLite store of --db, else /var/lib/remiss/remissd.sock. */
#ifndef CTL_STATUS_H
#define CTL_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctl_args.h"

#define CTL_STATUS_DEFAULT_SOCKET "/var/lib/remiss/remissd.sock"
#define CTL_STATUS_MAX            (4u << 20) /* the largest answer read */

int ctl_status(const ctl_args_t *a);

/* Prints a status answer (len bytes, not NUL-terminated) on out: as one
 * line of JSON, or as text for a person (control characters in strings
 * shown as '?'). False if it is not a JSON object. */
bool ctl_status_render(const char *answer, size_t len, bool as_json, FILE *out);

#endif
