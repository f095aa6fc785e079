/* fuzz_pnr: the personnummer parser. The first input byte picks the
 * reference date from a list of awkward ones; the rest is the text, read
 * both with its length (pnr_parse_mem) and as a C string (pnr_parse). A
 * number that parses must be self-consistent and parse again from its
 * canonical form; errors must not repeat the text. */
#include <string.h>

#include "fuzz_common.h"
#include "pnr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const pnr_date_t s_days[] = {
    {2026, 11, 23}, {2000, 2, 29}, {2100, 2, 28}, {1900, 3, 1},   {1, 1, 1},
    {9999, 12, 31}, {2024, 2, 29}, {2025, 2, 28}, {1999, 12, 31}, {2026, 1, 1},
};
#define S_NDAYS (sizeof s_days / sizeof s_days[0])

static void
s_check_ok(const pnr_t *p, pnr_date_t today)
{
    FUZZ_CHECK(strlen(p->canonical) == 12 && strspn(p->canonical, "0123456789") == 12,
               "canonical form is not 12 digits");
    FUZZ_CHECK(pnr_date_valid(p->birth) && pnr_date_cmp(p->birth, today) <= 0,
               "birth date invalid or in the future");
    int age = pnr_age(p, today);
    FUZZ_CHECK(age >= 0 && age <= 9999, "age %d", age);
    pnr_t again;
    remiss_err_t err;
    FUZZ_CHECK(pnr_parse(p->canonical, today, &again, &err) == REMISS_OK,
               "canonical form does not parse: %s", err.text);
    FUZZ_CHECK(memcmp(&again, p, sizeof again) == 0, "canonical form parses differently");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256)
        return 0;
    pnr_date_t today = s_days[data[0] % S_NDAYS];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char cstr[256];
    memcpy(cstr, text, len);
    cstr[len] = '\0';

    pnr_t a, b;
    remiss_err_t ea = {0}, eb = {0};
    remiss_code_t ra = pnr_parse_mem(text, len, today, &a, &ea);
    remiss_code_t rb = pnr_parse(cstr, today, &b, &eb);
    FUZZ_CHECK(ra == REMISS_OK || ra == REMISS_E_INVALID_PERSONNUMMER, "code %d", (int)ra);
    FUZZ_CHECK(rb == REMISS_OK || rb == REMISS_E_INVALID_PERSONNUMMER, "code %d", (int)rb);
    if (!memchr(text, '\0', len))
        FUZZ_CHECK(ra == rb && memcmp(&a, &b, sizeof a) == 0,
                   "pnr_parse and pnr_parse_mem disagree");
    if (ra == REMISS_OK) {
        s_check_ok(&a, today);
    } else {
        pnr_t zero;
        memset(&zero, 0, sizeof zero);
        FUZZ_CHECK(memcmp(&a, &zero, sizeof a) == 0, "output not zeroed on failure");
        FUZZ_CHECK(ea.text[0], "no sentence");
        /* Error text is logged: it must never echo the number. */
        if (len >= 10 && strspn(cstr, "0123456789") >= 10)
            FUZZ_CHECK(!strstr(ea.text, cstr), "error repeats the number");
    }
    if (rb == REMISS_OK)
        s_check_ok(&b, today);

    pnr_date_t d;
    if (pnr_date_parse(cstr, &d))
        FUZZ_CHECK(pnr_date_valid(d), "pnr_date_parse accepted an invalid date");
    if (len >= 8) {
        int64_t ms;
        memcpy(&ms, text, sizeof ms);
        d = pnr_date_from_ms(ms);
        FUZZ_CHECK(d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= 31,
                   "pnr_date_from_ms(%lld) gave month %d day %d", (long long)ms, d.month, d.day);
        if (pnr_date_valid(d))
            (void)pnr_date_cmp(d, today);
    }
    return 0;
}
