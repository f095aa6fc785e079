/* log: one-line key=value records on stderr, so journald keeps them whole.
 * Never pass personal data (personnummer, names, case text) to these. */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Writes "ts=... level=... event=EVENT " followed by the formatted
 * key=value pairs and a newline, in one write(2). */
void log_emit(log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As log_emit, stamped with ms (milliseconds since the epoch) instead of
 * the time of the call: for a line whose rate was limited by a second
 * read earlier, so that the line lands in the second it was counted in. */
void log_emit_at(int64_t ms, log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies s into buf as a double-quoted value, escaping quotes, backslashes
 * and control characters; truncates to fit. Returns buf. */
char *log_quote(char *buf, size_t size, const char *s);

/* Lowercase hex of n bytes into buf (2n+1 bytes). Returns buf. */
char *log_hex(char *buf, const uint8_t *data, size_t n);

/* Current time in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t log_now_ms(void);

#endif
