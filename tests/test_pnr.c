/* test_pnr: personnummer and samordningsnummer parsing, age and dates.
 *
 * Every number here is made up: the date and serial were chosen for the
 * test and the check digit computed (19121212-1212 is Skatteverket's
 * well-known test number). Doubles as the usage example of pnr.h. */
#include <criterion/criterion.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pnr.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const pnr_date_t s_today = {2026, 11, 23};

static pnr_date_t
s_date(int year, int month, int day)
{
    return (pnr_date_t){year, month, day};
}

/* An independent Luhn, so the tests do not check pnr.c against itself. */
static char
s_luhn(const char *nine)
{
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        int d = (nine[i] - '0') * (i % 2 == 0 ? 2 : 1);
        sum += d / 10 + d % 10;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

/* Error text is logged, so it must not carry the number: no input verbatim
 * and no run of five or more digits (a date with its serial would need that). */
static void
s_expect_no_echo(const char *input, size_t len, const remiss_err_t *err)
{
    int run = 0;
    for (const char *p = err->text; *p; p++) {
        run = (*p >= '0' && *p <= '9') ? run + 1 : 0;
        cr_expect_lt(run, 5, "error text has a digit run: \"%s\"", err->text);
    }
    /* Shorter inputs (" ", "1") occur in any sentence by chance. */
    if (len >= 5 && memchr(input, '\0', len) == NULL && len < sizeof err->text)
        cr_expect_null(memmem(err->text, strlen(err->text), input, len),
                       "error text echoes the input: \"%s\"", err->text);
}

/* ------------------------------------------------------------------ valid */

typedef struct {
    const char *text;
    pnr_date_t today;
    pnr_date_t birth;
    bool coordination;
    const char *canonical;
    int age; /* on today */
} valid_case_t;

static const valid_case_t s_valid[] = {
    /* Skatteverket's test number in every form. */
    {"19121212-1212", {2026, 11, 23}, {1912, 12, 12}, false, "191212121212", 113},
    {"191212121212", {2026, 11, 23}, {1912, 12, 12}, false, "191212121212", 113},
    {"19121212+1212", {2026, 11, 23}, {1912, 12, 12}, false, "191212121212", 113},
    {"121212+1212", {2026, 11, 23}, {1912, 12, 12}, false, "191212121212", 113},
    {"121212-1212", {2026, 11, 23}, {2012, 12, 12}, false, "201212121212", 13},
    {"1212121212", {2026, 11, 23}, {2012, 12, 12}, false, "201212121212", 13},
    /* Samordningsnummer: day + 60, kept in the canonical form. */
    {"080175-2387", {2026, 11, 23}, {2008, 1, 15}, true, "200801752387", 18},
    {"20080175-2387", {2026, 11, 23}, {2008, 1, 15}, true, "200801752387", 18},
    {"200801752387", {2026, 11, 23}, {2008, 1, 15}, true, "200801752387", 18},
    {"0501919849", {2026, 11, 23}, {2005, 1, 31}, true, "200501919849", 21},
    {"200289-9819", {2026, 11, 23}, {2020, 2, 29}, true, "202002899819", 6},
    /* 29 February in leap years, 2000 included (divisible by 400). */
    {"080229-9826", {2026, 11, 23}, {2008, 2, 29}, false, "200802299826", 18},
    {"000229-9832", {2026, 11, 23}, {2000, 2, 29}, false, "200002299832", 26},
    {"20000229-9832", {2026, 11, 23}, {2000, 2, 29}, false, "200002299832", 26},
    /* Century boundary: born today is 0; a day later in the year is 99. */
    {"261123-9852", {2026, 11, 23}, {2026, 11, 23}, false, "202611239852", 0},
    {"261124-9869", {2026, 11, 23}, {1926, 11, 24}, false, "192611249869", 99},
    {"261123+9852", {2026, 11, 23}, {1926, 11, 23}, false, "192611239852", 100},
    {"19261123+9852", {2026, 11, 23}, {1926, 11, 23}, false, "192611239852", 100},
    {"261124+9869", {2026, 11, 23}, {1826, 11, 24}, false, "182611249869", 199},
    {"991231-9887", {2026, 11, 23}, {1999, 12, 31}, false, "199912319887", 26},
    {"991231-9887", {2000, 1, 1}, {1999, 12, 31}, false, "199912319887", 0},
    {"000101-9892", {2000, 1, 1}, {2000, 1, 1}, false, "200001019892", 0},
    {"000101-9892", {1999, 12, 31}, {1900, 1, 1}, false, "190001019892", 99},
    /* Born 2000-02-29, on 2100-02-28 (not a leap year) the birthday counts,
     * so the person is 100 and needs '+'. */
    {"000229+9832", {2100, 2, 28}, {2000, 2, 29}, false, "200002299832", 100},
    {"000229-9832", {2100, 2, 27}, {2000, 2, 29}, false, "200002299832", 99},
};

Test(pnr, valid_forms)
{
    for (size_t i = 0; i < N_ELEMS(s_valid); i++) {
        const valid_case_t *c = &s_valid[i];
        pnr_t p;
        remiss_err_t err = {REMISS_OK, "untouched"};
        remiss_code_t r = pnr_parse(c->text, c->today, &p, &err);
        cr_assert_eq(r, REMISS_OK, "case %zu (%s): %s", i, c->text, err.text);
        cr_expect_str_eq(err.text, "untouched", "case %zu: err changed on success", i);
        cr_expect_eq(pnr_date_cmp(p.birth, c->birth), 0, "case %zu (%s): birth %d-%d-%d", i,
                     c->text, p.birth.year, p.birth.month, p.birth.day);
        cr_expect_eq(p.coordination, c->coordination, "case %zu (%s)", i, c->text);
        cr_expect_str_eq(p.canonical, c->canonical, "case %zu (%s)", i, c->text);
        cr_expect_eq(pnr_age(&p, c->today), c->age, "case %zu (%s): age %d", i, c->text,
                     pnr_age(&p, c->today));
    }
}

Test(pnr, err_may_be_null)
{
    pnr_t p;
    cr_expect_eq(pnr_parse("121212-1212", s_today, &p, NULL), REMISS_OK);
    cr_expect_eq(pnr_parse("121212-1213", s_today, &p, NULL), REMISS_E_INVALID_PERSONNUMMER);
}

/* ---------------------------------------------------------------- invalid */

typedef struct {
    const char *text;
    pnr_date_t today;
    const char *why; /* a part of the expected sentence */
} invalid_case_t;

#define T                                                                                          \
    {                                                                                              \
        2026, 11, 23                                                                               \
    }

static const invalid_case_t s_invalid[] = {
    /* Length. */
    {"", T, "empty"},
    {"12121212", T, "wrong length"},
    {"121212121", T, "wrong length"},
    {"121212-121", T, "wrong length"},
    {"12121212121", T, "wrong length"},
    {"1212121212121", T, "wrong length"},
    {"191212121212-1", T, "wrong length"},
    {"19121212-12120", T, "wrong length"},
    {"12121212121212121212121212121212121212", T, "too long"},
    /* Characters. */
    {"12121a-1212", T, "only digits"},
    {"121212-12l2", T, "only digits"},
    {"\xef\xbc\x91\xef\xbc\x92"
     "1212-1212",
     T, "only digits"},
    {"121212\xe2\x80\x93"
     "1212",
     T, "only digits"}, /* en dash */
    {"121212 1212", T, "space"},
    {" 121212-1212", T, "space"},
    {"121212-1212\n", T, "space"},
    {"121212-\t1212", T, "space"},
    /* Separators. */
    {"121212/1212", T, "must be '-' or '+'"},
    {"121212.1212", T, "must be '-' or '+'"},
    {"19121212_1212", T, "must be '-' or '+'"},
    {"12121-21212", T, "just before the last four"},
    {"1212121-212", T, "just before the last four"},
    {"-1212121212", T, "just before the last four"},
    {"1212121212+", T, "just before the last four"},
    {"1912-12121212", T, "just before the last four"},
    {"121212--1212", T, "more than one"},
    {"121212+-1212", T, "more than one"},
    /* Month and day. */
    {"120012-9904", T, "month"},
    {"121312-9917", T, "month"},
    {"19121312-9917", T, "month"},
    {"121200-9920", T, "must not be 00"},
    {"121232-9930", T, "01 to 31"},
    {"121260-9943", T, "01 to 31"},
    {"121292-9952", T, "01 to 31"},
    {"120230-9967", T, "fewer days"},
    {"120431-9972", T, "fewer days"},
    {"120290-9980", T, "samordningsnummer does not exist"}, /* 30 February + 60 */
    {"120491-9995", T, "samordningsnummer does not exist"}, /* 31 April + 60 */
    /* 29 February outside leap years. */
    {"230229-9801", T, "not a leap year"},
    {"19000229-9816", T, "not a leap year"}, /* divisible by 100, not by 400 */
    {"230289-9824", T, "samordningsnummer does not exist: the year is not a leap"},
    {"000229-9816", {2100, 2, 28}, "does not fit its separator"},
    {"00001212-1212", T, "year zero"},
    /* Future and '+' consistency. */
    {"20261124-9836", T, "personnummer is in the future"},
    {"20261184-9841", T, "samordningsnummer is in the future"},
    {"19261124+9836", T, "100 years or older"},
    {"20080115+9856", T, "100 years or older"},
    {"20080175+2387", T, "samordningsnummer has '+'"},
    /* Check digit. */
    {"121212-1213", T, "check digit"},
    {"19121212-1211", T, "check digit"},
    {"1212121210", T, "check digit"},
    {"121211-1212", T, "check digit"},
    {"080175-2386", T, "check digit"},
    {"121221-1212", T, "check digit"}, /* transposed day digits */
};

#undef T

Test(pnr, invalid_forms)
{
    for (size_t i = 0; i < N_ELEMS(s_invalid); i++) {
        const invalid_case_t *c = &s_invalid[i];
        pnr_t p;
        memset(&p, 0xa5, sizeof p);
        remiss_err_t err = {REMISS_OK, ""};
        remiss_code_t r = pnr_parse(c->text, c->today, &p, &err);
        cr_expect_eq(r, REMISS_E_INVALID_PERSONNUMMER, "case %zu: code %d", i, r);
        cr_expect_eq(err.code, REMISS_E_INVALID_PERSONNUMMER, "case %zu", i);
        cr_expect_not_null(strstr(err.text, c->why), "case %zu: want \"%s\" in \"%s\"", i, c->why,
                           err.text);
        cr_expect_eq(p.canonical[0], '\0', "case %zu: out not zeroed", i);
        cr_expect_eq(p.birth.year, 0, "case %zu: out not zeroed", i);
        s_expect_no_echo(c->text, strlen(c->text), &err);
    }
}

/* Every rule has its own sentence, so a person can tell what to fix. */
Test(pnr, invalid_sentences_are_specific)
{
    static remiss_err_t seen[N_ELEMS(s_invalid)];
    size_t nseen = 0;
    for (size_t i = 0; i < N_ELEMS(s_invalid); i++) {
        pnr_t p;
        remiss_err_t err;
        pnr_parse(s_invalid[i].text, s_invalid[i].today, &p, &err);
        cr_expect_str_neq(err.text, remiss_code_sentence(REMISS_E_INVALID_PERSONNUMMER),
                          "case %zu got the generic sentence", i);
        cr_expect_eq(err.text[strlen(err.text) - 1], '.', "case %zu: not a sentence", i);
        bool dup = false;
        for (size_t j = 0; j < nseen; j++)
            dup = dup || strcmp(seen[j].text, err.text) == 0;
        if (!dup)
            seen[nseen++] = err;
    }
    /* One sentence per rule in the table, counting personnummer and
     * samordningsnummer variants apart. */
    cr_expect_eq(nseen, 22, "%zu distinct sentences", nseen);
}

Test(pnr, embedded_nul_and_lengths)
{
    pnr_t p;
    remiss_err_t err;

    cr_expect_eq(pnr_parse_mem("121212-1212\0", 12, s_today, &p, &err),
                 REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "NUL"), "%s", err.text);
    cr_expect_eq(pnr_parse_mem("121212\0-1212", 12, s_today, &p, &err),
                 REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "NUL"), "%s", err.text);
    /* Through the C-string entry point the NUL ends the text. */
    cr_expect_eq(pnr_parse("121212\0-1212", s_today, &p, &err), REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "wrong length"), "%s", err.text);
    /* pnr_parse_mem reads len bytes and not one more. */
    cr_expect_eq(pnr_parse_mem("121212-1212garbage", 11, s_today, &p, &err), REMISS_OK);
    cr_expect_str_eq(p.canonical, "201212121212");
    cr_expect_eq(pnr_parse_mem("121212-1212", 0, s_today, &p, &err), REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "empty"), "%s", err.text);

    /* A long unterminated buffer: pnr_parse_mem must not scan it all. */
    static char big[1 << 16];
    memset(big, '1', sizeof big);
    cr_expect_eq(pnr_parse_mem(big, sizeof big, s_today, &p, &err), REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "too long"), "%s", err.text);
    big[sizeof big - 1] = '\0';
    cr_expect_eq(pnr_parse(big, s_today, &p, &err), REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "too long"), "%s", err.text);
}

Test(pnr, bad_arguments)
{
    pnr_t p;
    remiss_err_t err;

    cr_expect_eq(pnr_parse(NULL, s_today, &p, &err), REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "No personnummer"), "%s", err.text);
    cr_expect_eq(pnr_parse("121212-1212", s_today, NULL, &err), REMISS_E_USAGE);
    cr_expect_eq(pnr_parse("121212-1212", s_date(2026, 2, 29), &p, &err), REMISS_E_USAGE);
    cr_expect_eq(pnr_parse("121212-1212", s_date(0, 1, 1), &p, &err), REMISS_E_USAGE);
    cr_expect_eq(pnr_parse("121212-1212", s_date(INT_MIN, INT_MIN, INT_MIN), &p, &err),
                 REMISS_E_USAGE);
    cr_expect_eq(p.canonical[0], '\0');
}

/* -------------------------------------------------------------------- age */

static pnr_t
s_parsed(const char *text)
{
    pnr_t p;
    remiss_err_t err;
    cr_assert_eq(pnr_parse(text, s_today, &p, &err), REMISS_OK, "%s: %s", text, err.text);
    return p;
}

/* The day before the 18th birthday the person is 17; on it, 18 (the age
 * limits of concern reports and KAA turn on this). */
Test(pnr, age_17_and_18)
{
    pnr_t p = s_parsed("20080615-9877");
    cr_expect_eq(pnr_age(&p, s_date(2026, 6, 14)), 17);
    cr_expect_eq(pnr_age(&p, s_date(2026, 6, 15)), 18);
    cr_expect_eq(pnr_age(&p, s_date(2026, 6, 16)), 18);
    cr_expect_eq(pnr_age(&p, s_date(2027, 6, 14)), 18);
    cr_expect_eq(pnr_age(&p, s_date(2008, 6, 15)), 0);
    cr_expect_eq(pnr_age(&p, s_date(2008, 6, 14)), 0, "before birth is 0");
    cr_expect_eq(pnr_age(&p, s_date(1900, 1, 1)), 0, "before birth is 0");

    /* A samordningsnummer ages by its real date, not the day + 60. */
    pnr_t s = s_parsed("080175-2387");
    cr_expect_eq(pnr_age(&s, s_date(2026, 1, 14)), 17);
    cr_expect_eq(pnr_age(&s, s_date(2026, 1, 15)), 18);
}

/* Our rule: Lag (1930:173) 1 § makes a missing anniversary day the last day
 * of the month, so someone born on 29 February turns a year older on
 * 28 February in common years, and on 29 February in leap years. */
Test(pnr, age_29_february)
{
    pnr_t p = s_parsed("080229-9826");
    cr_expect_eq(pnr_age(&p, s_date(2026, 2, 27)), 17);
    cr_expect_eq(pnr_age(&p, s_date(2026, 2, 28)), 18, "common year: 28 Feb is the birthday");
    cr_expect_eq(pnr_age(&p, s_date(2026, 3, 1)), 18);
    cr_expect_eq(pnr_age(&p, s_date(2025, 2, 28)), 17);
    cr_expect_eq(pnr_age(&p, s_date(2025, 3, 1)), 17);
    cr_expect_eq(pnr_age(&p, s_date(2028, 2, 28)), 19, "leap year: not yet 20 on 28 Feb");
    cr_expect_eq(pnr_age(&p, s_date(2028, 2, 29)), 20);
    cr_expect_eq(pnr_age(&p, s_date(2028, 3, 1)), 20);
    cr_expect_eq(pnr_age(&p, s_date(2009, 2, 28)), 1);
    cr_expect_eq(pnr_age(&p, s_date(2008, 2, 29)), 0);

    /* 2100 is not a leap year (divisible by 100, not by 400). */
    pnr_t q = s_parsed("20000229-9832");
    cr_expect_eq(pnr_age(&q, s_date(2100, 2, 27)), 99);
    cr_expect_eq(pnr_age(&q, s_date(2100, 2, 28)), 100);
    cr_expect_eq(pnr_age(&q, s_date(2400, 2, 28)), 399, "2400 is a leap year");
    cr_expect_eq(pnr_age(&q, s_date(2400, 2, 29)), 400);
}

Test(pnr, age_extreme_dates)
{
    pnr_t p = s_parsed("121212-1212");
    cr_expect_eq(pnr_age(&p, s_date(INT_MAX, 12, 31)), INT_MAX - 2012);
    cr_expect_eq(pnr_age(&p, s_date(INT_MIN, 1, 1)), 0);
    cr_expect_eq(pnr_age(&p, s_date(2013, INT_MIN, INT_MAX)), 0);
}

/* A 10-digit number means different people on either side of its date. */
Test(pnr, century_inference)
{
    pnr_t p;
    remiss_err_t err;

    cr_assert_eq(pnr_parse("261124-9869", s_date(2026, 11, 23), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 1926);
    cr_expect_eq(pnr_age(&p, s_date(2026, 11, 23)), 99);
    cr_assert_eq(pnr_parse("261124-9869", s_date(2026, 11, 24), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 2026);
    cr_expect_eq(pnr_age(&p, s_date(2026, 11, 24)), 0);
    /* The same number one day apart: '+' then and '+' now. */
    cr_assert_eq(pnr_parse("261124+9869", s_date(2026, 11, 23), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 1826);
    cr_assert_eq(pnr_parse("261124+9869", s_date(2026, 11, 24), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 1926);
    /* Year 2000 reference: 99 means 1999, 00 means 2000. */
    cr_assert_eq(pnr_parse("991231-9887", s_date(2000, 6, 1), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 1999);
    cr_assert_eq(pnr_parse("000101-9892", s_date(2000, 6, 1), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 2000);
    /* 000229 on 2099-12-31 is 2000 ('-'), or nobody with '+' (1900-02-29 never was). */
    cr_assert_eq(pnr_parse("000229-9832", s_date(2099, 12, 31), &p, &err), REMISS_OK);
    cr_expect_eq(p.birth.year, 2000);
    cr_expect_eq(pnr_parse("000229+9832", s_date(2099, 12, 31), &p, &err),
                 REMISS_E_INVALID_PERSONNUMMER);
    cr_expect_not_null(strstr(err.text, "does not fit its separator"), "%s", err.text);
}

/* ------------------------------------------------------------------ dates */

Test(pnr, date_valid)
{
    static const struct {
        pnr_date_t d;
        bool ok;
    } cases[] = {
        {{2024, 2, 29}, true},
        {{2023, 2, 29}, false},
        {{2000, 2, 29}, true},
        {{1900, 2, 29}, false},
        {{2100, 2, 29}, false},
        {{2400, 2, 29}, true},
        {{2026, 2, 28}, true},
        {{2026, 2, 30}, false},
        {{2026, 4, 30}, true},
        {{2026, 4, 31}, false},
        {{2026, 12, 31}, true},
        {{2026, 13, 1}, false},
        {{2026, 0, 1}, false},
        {{2026, 1, 0}, false},
        {{2026, 1, 32}, false},
        {{1, 1, 1}, true},
        {{9999, 12, 31}, true},
        {{0, 1, 1}, false},
        {{10000, 1, 1}, false},
        {{-4, 2, 29}, false},
        {{INT_MIN, INT_MIN, INT_MIN}, false},
        {{INT_MAX, INT_MAX, INT_MAX}, false},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++)
        cr_expect_eq(pnr_date_valid(cases[i].d), cases[i].ok, "case %zu", i);
}

Test(pnr, date_parse)
{
    static const struct {
        const char *text;
        bool ok;
        pnr_date_t d;
    } cases[] = {
        {"2026-11-23", true, {2026, 11, 23}},
        {"2024-02-29", true, {2024, 2, 29}},
        {"0001-01-01", true, {1, 1, 1}},
        {"9999-12-31", true, {9999, 12, 31}},
        {"2026-02-29", false, {0, 0, 0}},
        {"2026-13-01", false, {0, 0, 0}},
        {"2026-00-10", false, {0, 0, 0}},
        {"2026-01-00", false, {0, 0, 0}},
        {"0000-01-01", false, {0, 0, 0}},
        {"2026-1-01", false, {0, 0, 0}},
        {"2026-01-1", false, {0, 0, 0}},
        {"2026-01-011", false, {0, 0, 0}},
        {"2026-01-01 ", false, {0, 0, 0}},
        {" 2026-01-01", false, {0, 0, 0}},
        {"2026/01/01", false, {0, 0, 0}},
        {"20260101", false, {0, 0, 0}},
        {"+026-01-01", false, {0, 0, 0}},
        {"2026-+1-01", false, {0, 0, 0}},
        {"2026-01-01T00:00:00Z", false, {0, 0, 0}},
        {"", false, {0, 0, 0}},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        pnr_date_t d = {7, 7, 7};
        cr_expect_eq(pnr_date_parse(cases[i].text, &d), cases[i].ok, "case %zu", i);
        cr_expect_eq(pnr_date_cmp(d, cases[i].d), 0, "case %zu: %d-%d-%d", i, d.year, d.month,
                     d.day);
    }
    pnr_date_t d = {7, 7, 7};
    cr_expect_not(pnr_date_parse(NULL, &d));
    cr_expect_eq(d.year, 0);
}

Test(pnr, date_cmp)
{
    cr_expect_eq(pnr_date_cmp(s_date(2026, 1, 1), s_date(2026, 1, 1)), 0);
    cr_expect_lt(pnr_date_cmp(s_date(2025, 12, 31), s_date(2026, 1, 1)), 0);
    cr_expect_gt(pnr_date_cmp(s_date(2026, 2, 1), s_date(2026, 1, 31)), 0);
    cr_expect_gt(pnr_date_cmp(s_date(2026, 1, 2), s_date(2026, 1, 1)), 0);
    /* No subtraction inside, so extreme values compare right. */
    cr_expect_lt(pnr_date_cmp(s_date(INT_MIN, 1, 1), s_date(INT_MAX, 1, 1)), 0);
    cr_expect_gt(pnr_date_cmp(s_date(1, 1, INT_MAX), s_date(1, 1, INT_MIN)), 0);
}

Test(pnr, date_from_ms)
{
    static const struct {
        int64_t ms;
        pnr_date_t d;
    } cases[] = {
        {0, {1970, 1, 1}},
        {-1, {1969, 12, 31}},
        {86399999, {1970, 1, 1}},
        {86400000, {1970, 1, 2}},
        {-86400000, {1969, 12, 31}},
        {-86400001, {1969, 12, 30}},
        {951782400000, {2000, 2, 29}},
        {951868800000, {2000, 3, 1}},
        {1795392000000, {2026, 11, 23}},
        {-2203891200000, {1900, 3, 1}},
        {-2203891200001, {1900, 2, 28}},
        {253402300799999, {9999, 12, 31}},
        {-62135596800000, {1, 1, 1}},
        /* The ends of int64, as java.time.Instant.ofEpochMilli gives them. */
        {INT64_MAX, {292278994, 8, 17}},
        {INT64_MIN, {-292275055, 5, 16}},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        pnr_date_t d = pnr_date_from_ms(cases[i].ms);
        cr_expect_eq(pnr_date_cmp(d, cases[i].d), 0, "case %zu: %d-%d-%d", i, d.year, d.month,
                     d.day);
    }
}

/* ------------------------------------------------------------- randomized */

/* xorshift64*: fixed seed, so a failure repeats. */
static uint64_t
s_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int
s_between(uint64_t *state, int lo, int hi)
{
    return lo + (int)(s_rand(state) % (uint64_t)(hi - lo + 1));
}

/* Days-in-month computed differently from pnr.c: via the next month's day 0. */
static int
s_mdays(int year, int month)
{
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month, .tm_mday = 0, .tm_hour = 12};
    time_t t = timegm(&tm);
    struct tm out;
    gmtime_r(&t, &out);
    return out.tm_mday;
}

static pnr_date_t
s_random_date(uint64_t *state, int ylo, int yhi)
{
    pnr_date_t d;
    d.year = s_between(state, ylo, yhi);
    d.month = s_between(state, 1, 12);
    d.day = s_between(state, 1, s_mdays(d.year, d.month));
    return d;
}

/* Age by counting: the number of anniversaries (28 Feb for 29 Feb in common
 * years) that are on or before on. */
static int
s_expected_age(pnr_date_t b, pnr_date_t on)
{
    int age = 0;
    for (int y = b.year + 1; y <= on.year; y++) {
        int day = (b.month == 2 && b.day == 29 && s_mdays(y, 2) == 28) ? 28 : b.day;
        if (pnr_date_cmp(s_date(y, b.month, day), on) <= 0)
            age++;
    }
    return age;
}

Test(pnr, random_valid_round_trip_and_mutation)
{
    uint64_t state = 0x5eed71e52755ULL;
    for (int iter = 0; iter < 20000; iter++) {
        pnr_date_t today = s_random_date(&state, 1950, 2150);
        pnr_date_t birth;
        do
            birth = s_random_date(&state, today.year - 199, today.year);
        while (pnr_date_cmp(birth, today) > 0 || s_expected_age(birth, today) > 199);
        int age = s_expected_age(birth, today);
        bool coord = s_rand(&state) % 4 == 0;
        int serial = s_between(&state, 1, 999); /* 000 is never given */

        /* Oversized so -Wformat-truncation can see the ints fit. */
        char nine[48], canon[64], text[80];
        snprintf(nine, sizeof nine, "%02d%02d%02d%03d", birth.year % 100, birth.month,
                 birth.day + (coord ? 60 : 0), serial);
        snprintf(canon, sizeof canon, "%02d%s%c", birth.year / 100, nine, s_luhn(nine));
        /* Forms: 0 YYMMDD-NNNC or '+', 1 YYMMDDNNNC (only under 100),
         * 2 YYYYMMDDNNNC, 3 YYYYMMDD-NNNC, 4 YYYYMMDD+NNNC (only 100+). */
        int form = s_between(&state, 0, 4);
        if (form == 1 && age >= 100)
            form = 0;
        if (form == 4 && age < 100)
            form = 3;
        switch (form) {
        case 0:
            snprintf(text, sizeof text, "%.6s%c%.4s", canon + 2, age >= 100 ? '+' : '-', canon + 8);
            break;
        case 1:
            snprintf(text, sizeof text, "%s", canon + 2);
            break;
        case 2:
            snprintf(text, sizeof text, "%s", canon);
            break;
        default:
            snprintf(text, sizeof text, "%.8s%c%.4s", canon, form == 4 ? '+' : '-', canon + 8);
            break;
        }

        pnr_t p;
        remiss_err_t err;
        cr_assert_eq(pnr_parse(text, today, &p, &err), REMISS_OK, "iter %d: %s on %d-%d-%d: %s",
                     iter, text, today.year, today.month, today.day, err.text);
        cr_assert_str_eq(p.canonical, canon, "iter %d: %s", iter, text);
        cr_assert_eq(pnr_date_cmp(p.birth, birth), 0, "iter %d: %s", iter, text);
        cr_assert_eq(p.coordination, coord, "iter %d", iter);
        cr_assert_eq(pnr_age(&p, today), age, "iter %d: %s", iter, text);

        /* The canonical form parses back to itself. */
        pnr_t q;
        cr_assert_eq(pnr_parse(p.canonical, today, &q, &err), REMISS_OK, "iter %d", iter);
        cr_assert_str_eq(q.canonical, p.canonical, "iter %d", iter);

        /* One digit changed: Luhn catches any change in the last ten; a
         * changed century may be valid, but then it is someone else. */
        size_t len = strlen(text), pos;
        do
            pos = (size_t)s_between(&state, 0, (int)len - 1);
        while (text[pos] < '0' || text[pos] > '9');
        char orig = text[pos];
        text[pos] = (char)('0' + (orig - '0' + s_between(&state, 1, 9)) % 10);
        remiss_code_t r = pnr_parse(text, today, &q, &err);
        size_t digits_from_pos = 0;
        for (size_t i = pos; i < len; i++)
            digits_from_pos += text[i] >= '0' && text[i] <= '9';
        if (r == REMISS_OK) {
            cr_assert_str_neq(q.canonical, canon, "iter %d: %s", iter, text);
            cr_assert_gt(digits_from_pos, 10, "iter %d: %s accepted", iter, text);
        } else {
            cr_assert_eq(r, REMISS_E_INVALID_PERSONNUMMER);
            s_expect_no_echo(text, len, &err);
        }
    }
}

/* Random bytes must never crash and never be half-accepted. */
Test(pnr, random_garbage)
{
    static const char alphabet[] = "0123456789000111222-+ \t/.\0\xff\x80";
    uint64_t state = 0xbadc0ffee0ddf00dULL;
    for (int iter = 0; iter < 50000; iter++) {
        char buf[40];
        size_t len = (size_t)s_between(&state, 0, (int)sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[s_rand(&state) % (sizeof alphabet - 1)];
        pnr_date_t today = s_random_date(&state, 1900, 2200);
        pnr_t p;
        remiss_err_t err;
        remiss_code_t r = pnr_parse_mem(buf, len, today, &p, &err);
        if (r == REMISS_OK) {
            cr_assert_eq(strlen(p.canonical), 12);
            cr_assert(pnr_date_valid(p.birth));
            cr_assert_leq(pnr_date_cmp(p.birth, today), 0);
            pnr_t q;
            cr_assert_eq(pnr_parse(p.canonical, today, &q, &err), REMISS_OK);
            cr_assert_str_eq(q.canonical, p.canonical);
        } else {
            cr_assert_eq(r, REMISS_E_INVALID_PERSONNUMMER, "iter %d", iter);
            s_expect_no_echo(buf, len, &err);
        }
    }
}

/* pnr_date_from_ms against the C library wherever time_t reaches. */
Test(pnr, random_date_from_ms_matches_gmtime)
{
    uint64_t state = 0x1234567887654321ULL;
    for (int iter = 0; iter < 100000; iter++) {
        /* About ±3 million years, past what a time_t date can show at the far end. */
        int64_t ms = (int64_t)(s_rand(&state) % 200000000000000000ULL) - 100000000000000000LL;
        if (iter % 2)
            ms /= 1000000; /* near the epoch too */
        time_t secs = (time_t)(ms / 1000 - (ms % 1000 < 0));
        struct tm tm;
        cr_assert_not_null(gmtime_r(&secs, &tm));
        pnr_date_t d = pnr_date_from_ms(ms);
        cr_assert_eq(d.year, tm.tm_year + 1900, "ms %lld", (long long)ms);
        cr_assert_eq(d.month, tm.tm_mon + 1, "ms %lld", (long long)ms);
        cr_assert_eq(d.day, tm.tm_mday, "ms %lld", (long long)ms);
    }
    /* Any int64 is fine; the sanitizers watch for overflow. */
    for (int iter = 0; iter < 100000; iter++) {
        pnr_date_t d = pnr_date_from_ms((int64_t)s_rand(&state));
        cr_assert(d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= 31);
    }
}

/* Issue 12, bug 5: the birth number 000 is never given; with a correct
 * check digit it was accepted (and refused later only for age). Every
 * accepted form of the number, and the samordningsnummer, is refused. */
Test(pnr, birth_number_000_is_invalid_in_every_form)
{
    const pnr_date_t today = {2026, 11, 30};
    const char *const numbers[] = {
        "20150916-0006", "201509160006", "150916-0006", "1509160006",
        "19150916+0006", "150916+0006",  /* 100 years or older */
        "20150976-0003", "1509760003",   /* samordningsnummer (day + 60) */
    };
    for (size_t i = 0; i < N_ELEMS(numbers); i++) {
        pnr_t p;
        remiss_err_t err = {REMISS_OK, ""};
        /* The check digits are right: only the birth number is wrong. */
        size_t n = strlen(numbers[i]);
        cr_expect_eq(pnr_parse(numbers[i], today, &p, &err), REMISS_E_INVALID_PERSONNUMMER,
                     "%s was accepted", numbers[i]);
        cr_expect_not_null(strstr(err.text, "birth number"), "%s: %s", numbers[i], err.text);
        s_expect_no_echo(numbers[i], n, &err);
    }
    pnr_t p;
    cr_expect_eq(pnr_parse("20150916-0014", today, &p, NULL), REMISS_OK, "001 is a birth number");
}
