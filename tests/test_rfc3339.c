/* rfc3339: the one time helper of the JSON and text output (issue 13). */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "rfc3339.h"

Test(rfc3339, formats_with_milliseconds_in_utc)
{
    char buf[RFC3339_LEN];
    cr_assert(rfc3339_format(0, buf, sizeof buf));
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    cr_assert(rfc3339_format(INT64_C(1795392000123), buf, sizeof buf));
    cr_assert_str_eq(buf, "2026-11-23T00:00:00.123Z");
    cr_assert(rfc3339_format(INT64_C(253402300799999), buf, sizeof buf));
    cr_assert_str_eq(buf, "9999-12-31T23:59:59.999Z");
    cr_assert_not(rfc3339_format(-1, buf, sizeof buf));
    cr_assert_not(rfc3339_format(INT64_C(253402300800000), buf, sizeof buf));
    cr_assert_not(rfc3339_format(0, buf, RFC3339_LEN - 1));
}

Test(rfc3339, parses_what_it_formats_and_refuses_the_rest)
{
    int64_t ms = 42;
    cr_assert(rfc3339_parse("2026-11-23T10:15:00Z", &ms));
    cr_assert_eq(ms, INT64_C(1795428900000));
    cr_assert(rfc3339_parse("2026-11-23T10:15:00.123456789Z", &ms));
    cr_assert_eq(ms, INT64_C(1795428900123));
    const char *const bad[] = {NULL,
                               "",
                               "2026-11-23",
                               "2026-11-23T10:15:00",
                               "2026-02-29T00:00:00Z",
                               "1969-12-31T23:59:59Z",
                               "2026-11-23T24:00:00Z",
                               "2026-11-23T10:15:00.Z",
                               "2026-11-23T10:15:00+01:00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = 7;
        cr_expect_not(rfc3339_parse(bad[i], &ms), "case %zu accepted", i);
        cr_expect_eq(ms, 7);
    }
    char buf[RFC3339_LEN];
    for (int64_t t = 0; t < INT64_C(253402300799999); t += INT64_C(7919) * 86400 * 1000 + 12345) {
        cr_assert(rfc3339_format(t, buf, sizeof buf));
        cr_assert(rfc3339_parse(buf, &ms));
        cr_assert_eq(ms, t, "%s", buf);
    }
}
