/* rfc3339: see rfc3339.h. */
#include "rfc3339.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* 9999-12-31T23:59:59.999Z */
#define S_MAX_MS INT64_C(253402300799999)

static bool
s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
s_days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits. */
static bool
s_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool
rfc3339_parse(const char *text, int64_t *ms)
{
    int y, mo, d, h, mi, s, frac = 0, nfrac = 0;
    const char *p = text;

    if (!text || strlen(text) < 20)
        return false;
    if (!s_digits(p, 4, &y) || p[4] != '-' || !s_digits(p + 5, 2, &mo) || p[7] != '-' ||
        !s_digits(p + 8, 2, &d) || p[10] != 'T' || !s_digits(p + 11, 2, &h) || p[13] != ':' ||
        !s_digits(p + 14, 2, &mi) || p[16] != ':' || !s_digits(p + 17, 2, &s))
        return false;
    p += 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, nfrac++)
            if (nfrac < 3)
                frac = frac * 10 + (*p - '0');
        if (nfrac < 1 || nfrac > 9)
            return false;
        for (int i = nfrac; i < 3; i++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0)
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return false;

    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1)
        return false;
    *ms = (int64_t)secs * 1000 + frac;
    return true;
}

bool
rfc3339_format(int64_t ms, char *buf, size_t size)
{
    struct tm tm;
    time_t secs;

    if (ms < 0 || ms > S_MAX_MS || !buf || size < RFC3339_LEN)
        return false;
    secs = (time_t)(ms / 1000);
    if (!gmtime_r(&secs, &tm))
        return false;
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return true;
}
