/* rfc3339: the one time format of remiss's JSON and text output, RFC 3339
 * in UTC with milliseconds ("2026-11-23T10:15:00.123Z"), and its parser. */
#ifndef RFC3339_H
#define RFC3339_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Buffer size for "YYYY-MM-DDTHH:MM:SS.mmmZ" plus NUL. */
#define RFC3339_LEN 25

/* Parses "YYYY-MM-DDTHH:MM:SSZ" with an optional fraction of 1 to 9 digits
 * (cut to milliseconds) into ms since 1970. False (and *ms untouched) if
 * malformed, not a real date, or outside years 1970..9999. */
bool rfc3339_parse(const char *text, int64_t *ms);

/* Writes ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (size at least
 * RFC3339_LEN). False if ms is outside years 1970..9999 or buf is too
 * small. */
bool rfc3339_format(int64_t ms, char *buf, size_t size);

#endif
