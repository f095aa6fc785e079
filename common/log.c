/* log: key=value lines on stderr. */
#include "log.h"

#include "hex.h"
#include "rfc3339.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const s_levels[] = {"debug", "info", "warn", "error"};

int64_t
log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_vemit(int64_t ms, log_level_t level, const char *event, const char *fmt, va_list ap)
{
    char line[2048], ts[RFC3339_LEN];
    if (!rfc3339_format(ms, ts, sizeof ts))
        snprintf(ts, sizeof ts, "-");
    int n = snprintf(line, sizeof line, "ts=%s level=%s event=%s", ts, s_levels[level & 3], event);
    if (n < 0)
        return;
    if (fmt && fmt[0] && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write so concurrent writers do not interleave within a line. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

void
log_emit(log_level_t level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vemit(log_now_ms(), level, event, fmt, ap);
    va_end(ap);
}

void
log_emit_at(int64_t ms, log_level_t level, const char *event, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vemit(ms, level, event, fmt, ap);
    va_end(ap);
}

char *
log_quote(char *buf, size_t size, const char *s)
{
    size_t o = 0;
    if (size < 3) {
        if (size)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (; s && *s && o + 3 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            if (o + 4 >= size)
                break;
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

char *
log_hex(char *buf, const uint8_t *data, size_t n)
{
    return hex_encode(buf, data, n);
}
