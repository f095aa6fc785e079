/* pnr: Swedish personnummer and samordningsnummer.
 *
 * Parsing goes shape (characters, length, separator) -> birth date (month,
 * day, century, calendar, not in the future) -> check digit. Every rejection
 * names the rule that failed and never the number: error text is logged,
 * and a personnummer in a log is personal data in clear. */
#include "pnr.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

/* The longest accepted form, YYYYMMDD-NNNC. */
#define PNR_MAX_LEN 13
/* Beyond this we say "too long" without looking at the bytes: a number
 * with a few stray characters still gets the more precise error below. */
#define PNR_SCAN_MAX 32

/* The characters of a number once its shape is known to be right. */
typedef struct {
    char digits[13]; /* the 10 or 12 digits without separator, NUL-terminated */
    size_t ndigits;  /* 10 or 12 */
    char sep;        /* '-', '+' or 0 when there was none */
} s_shape_t;

static remiss_code_t
s_invalid(remiss_err_t *err, const char *sentence)
{
    return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER, "%s", sentence);
}

static const char *
s_kind(bool coordination)
{
    return coordination ? "samordningsnummer" : "personnummer";
}

static bool
s_is_digit(char c)
{
    /* Not isdigit(): that depends on the locale and is UB for negative char. */
    return c >= '0' && c <= '9';
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int
s_num2(const char *p)
{
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static bool
s_is_leap(int year)
{
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

static int
s_days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && s_is_leap(year))
        return 29;
    return days[month - 1];
}

/* Whole years from birth to on; see pnr.h for the 29 February rule. Works
 * in int64 because on comes from the caller and may be any int. */
static int
s_age(pnr_date_t birth, pnr_date_t on)
{
    if (pnr_date_cmp(on, birth) < 0)
        return 0;
    int64_t age = (int64_t)on.year - birth.year;
    int bday = birth.day;
    /* Lag (1930:173) 1 §: a missing anniversary day becomes the last day of
     * the month, so 29 February ages on 28 February in a common year. */
    if (birth.month == 2 && birth.day == 29 && !s_is_leap(on.year))
        bday = 28;
    if (on.month < birth.month || (on.month == birth.month && on.day < bday))
        age--;
    if (age < 0)
        return 0;
    return age > INT_MAX ? INT_MAX : (int)age;
}

/* Checks the characters and where they stand, and collects the digits. */
static remiss_code_t
s_shape(const char *text, size_t len, s_shape_t *shape, remiss_err_t *err)
{
    size_t sep_pos = 0;

    memset(shape, 0, sizeof *shape);
    if (len == 0)
        return s_invalid(err, "No personnummer was given: the text is empty.");
    if (len > PNR_SCAN_MAX)
        return s_invalid(err, "The personnummer is too long: it must have 10 or 12 digits.");
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\0')
            return s_invalid(err, "The personnummer contains a NUL character.");
        if (s_is_space(c))
            return s_invalid(err, "The personnummer contains a space; write it without spaces.");
        if (s_is_digit(c)) {
            if (shape->ndigits < 12)
                shape->digits[shape->ndigits] = c;
            shape->ndigits++;
        } else if (c == '-' || c == '+') {
            if (shape->sep)
                return s_invalid(err, "The personnummer has more than one '-' or '+'.");
            shape->sep = c;
            sep_pos = i;
        } else if ((len == 11 || len == 13) && i == len - 5) {
            return s_invalid(err, "The separator before the last four digits of the "
                                  "personnummer must be '-' or '+'.");
        } else {
            return s_invalid(err, "The personnummer may contain only digits and one '-' or '+'.");
        }
    }
    if (shape->ndigits != 10 && shape->ndigits != 12)
        return s_invalid(err, "The personnummer has the wrong length: it must have 10 or 12 "
                              "digits.");
    if (shape->sep && sep_pos != len - 5)
        return s_invalid(err, "The '-' or '+' of the personnummer must stand just before the "
                              "last four digits.");
    shape->digits[shape->ndigits] = '\0';
    return REMISS_OK;
}

/* The date passed the month and day checks, so it fails only for its year. */
static remiss_code_t
s_no_such_date(int month, int day, bool coordination, remiss_err_t *err)
{
    if (month == 2 && day == 29)
        return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                              "The birth date of the %s does not exist: the year is not a "
                              "leap year, so February has no 29th day.",
                              s_kind(coordination));
    return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                          "The birth date of the %s is outside the years 0001 to 9999.",
                          s_kind(coordination));
}

/* A 10-digit form leaves the century open: '+' means 100..199 years old on
 * today, anything else 0..99. Of the last three centuries, exactly one puts
 * the age in that band. Trying each with s_age, rather than comparing month
 * and day, keeps the 29 February rule in one place. */
static remiss_code_t
s_infer_year(int yy, int month, int day, const s_shape_t *shape, bool coordination,
             pnr_date_t today, pnr_date_t *birth, remiss_err_t *err)
{
    int lo = shape->sep == '+' ? 100 : 0;
    int base = today.year - today.year % 100 + yy;
    bool real = false;

    for (int k = 0; k < 3; k++) {
        pnr_date_t d = {base - 100 * k, month, day};
        if (!pnr_date_valid(d))
            continue;
        real = true;
        if (pnr_date_cmp(d, today) > 0)
            continue;
        int age = s_age(d, today);
        if (age >= lo && age <= lo + 99) {
            *birth = d;
            return REMISS_OK;
        }
    }
    if (!real)
        return s_no_such_date(month, day, coordination, err);
    /* Only reachable for 29 February in a year divisible by 100. */
    return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                          "The birth date of the %s does not fit its separator: '-' means "
                          "under 100 years old and '+' means 100 or older.",
                          s_kind(coordination));
}

/* The birth date the digits stand for, checked against the calendar and today. */
static remiss_code_t
s_birth(const s_shape_t *shape, pnr_date_t today, pnr_date_t *birth, remiss_err_t *err)
{
    const char *ten = shape->digits + shape->ndigits - 10;
    int month = s_num2(ten + 2);
    int day = s_num2(ten + 4);
    bool coordination = day >= 61;

    if (month < 1 || month > 12)
        return s_invalid(err, "The month of the personnummer must be 01 to 12.");
    if (day == 0)
        return s_invalid(err, "The day of the personnummer must not be 00.");
    if (day > 91 || (day > 31 && day < 61))
        return s_invalid(err, "The day of the personnummer must be 01 to 31, or 61 to 91 for "
                              "a samordningsnummer.");
    if (coordination)
        day -= 60;
    /* 2000 is a leap year: only 29 February waits for the year to be known. */
    if (day > s_days_in_month(2000, month))
        return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                              "The birth date of the %s does not exist: the month has fewer "
                              "days.",
                              s_kind(coordination));
    if (shape->ndigits == 10)
        return s_infer_year(s_num2(ten), month, day, shape, coordination, today, birth, err);

    *birth = (pnr_date_t){s_num2(shape->digits) * 100 + s_num2(ten), month, day};
    if (birth->year == 0)
        return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                              "The birth year of the %s must not be year zero.",
                              s_kind(coordination));
    if (!pnr_date_valid(*birth))
        return s_no_such_date(month, day, coordination, err);
    if (pnr_date_cmp(*birth, today) > 0)
        return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                              "The birth date of the %s is in the future.", s_kind(coordination));
    if (shape->sep == '+' && s_age(*birth, today) < 100)
        return remiss_err_set(err, REMISS_E_INVALID_PERSONNUMMER,
                              "The %s has '+', which means 100 years or older, but the birth "
                              "year says younger.",
                              s_kind(coordination));
    return REMISS_OK;
}

/* Luhn over the 10-digit form: weights 2,1,2,1,... with the digits of each
 * product summed; the total including the check digit is a multiple of 10. */
static remiss_code_t
s_check_digit(const s_shape_t *shape, remiss_err_t *err)
{
    const char *ten = shape->digits + shape->ndigits - 10;
    int sum = 0;

    for (int i = 0; i < 10; i++) {
        int d = (ten[i] - '0') * (i % 2 == 0 ? 2 : 1);
        sum += d > 9 ? d - 9 : d;
    }
    if (sum % 10 != 0)
        return s_invalid(err, "The check digit of the personnummer is wrong.");
    return REMISS_OK;
}

/* The three-digit birth number (NNN of YYMMDD-NNNC) is never 000: Skatteverket
 * numbers those born on one day from 001 up, so 000 is no one's number. */
static remiss_code_t
s_birth_number(const s_shape_t *shape, remiss_err_t *err)
{
    const char *nnn = shape->digits + shape->ndigits - 4;
    if (nnn[0] == '0' && nnn[1] == '0' && nnn[2] == '0')
        return s_invalid(err, "The birth number of the personnummer (the three digits before "
                              "the check digit) is 000, which is never given.");
    return REMISS_OK;
}

remiss_code_t
pnr_parse_mem(const char *text, size_t len, pnr_date_t today, pnr_t *out, remiss_err_t *err)
{
    s_shape_t shape;
    pnr_date_t birth = {0, 0, 0};
    remiss_code_t r;

    if (!out)
        return remiss_err_set(err, REMISS_E_USAGE, "pnr_parse was given no place for its result.");
    memset(out, 0, sizeof *out);
    if (!pnr_date_valid(today))
        return remiss_err_set(err, REMISS_E_USAGE,
                              "The reference date for checking a personnummer is not a valid "
                              "date.");
    if (!text)
        return s_invalid(err, "No personnummer was given.");
    if ((r = s_shape(text, len, &shape, err)) != REMISS_OK ||
        (r = s_birth(&shape, today, &birth, err)) != REMISS_OK ||
        (r = s_birth_number(&shape, err)) != REMISS_OK ||
        (r = s_check_digit(&shape, err)) != REMISS_OK)
        return r;

    const char *ten = shape.digits + shape.ndigits - 10;
    out->birth = birth;
    out->coordination = s_num2(ten + 4) >= 61;
    out->canonical[0] = (char)('0' + birth.year / 1000);
    out->canonical[1] = (char)('0' + birth.year / 100 % 10);
    out->canonical[2] = (char)('0' + birth.year / 10 % 10);
    out->canonical[3] = (char)('0' + birth.year % 10);
    memcpy(out->canonical + 4, ten + 2, 8);
    out->canonical[12] = '\0';
    return REMISS_OK;
}

remiss_code_t
pnr_parse(const char *text, pnr_date_t today, pnr_t *out, remiss_err_t *err)
{
    /* Looking one byte past the longest scan is enough to call it too long
     * without reading an unterminated or huge buffer to its end. */
    size_t len = text ? strnlen(text, PNR_SCAN_MAX + 1) : 0;
    return pnr_parse_mem(text, len, today, out, err);
}

int
pnr_age(const pnr_t *pnr, pnr_date_t on)
{
    assert(pnr);
    if (!pnr)
        return 0;
    return s_age(pnr->birth, on);
}

bool
pnr_date_valid(pnr_date_t d)
{
    if (d.year < 1 || d.year > 9999 || d.month < 1 || d.month > 12)
        return false;
    return d.day >= 1 && d.day <= s_days_in_month(d.year, d.month);
}

bool
pnr_date_parse(const char *text, pnr_date_t *out)
{
    static const char pattern[] = "dddd-dd-dd";

    memset(out, 0, sizeof *out);
    if (!text || strnlen(text, sizeof pattern) != sizeof pattern - 1)
        return false;
    for (size_t i = 0; i < sizeof pattern - 1; i++)
        if (pattern[i] == 'd' ? !s_is_digit(text[i]) : text[i] != pattern[i])
            return false;
    pnr_date_t d = {s_num2(text) * 100 + s_num2(text + 2), s_num2(text + 5), s_num2(text + 8)};
    if (!pnr_date_valid(d))
        return false;
    *out = d;
    return true;
}

pnr_date_t
pnr_date_from_ms(int64_t ms)
{
    const int64_t ms_per_day = 86400000;
    /* Floor division: C truncates toward zero, which would put the last
     * millisecond before the epoch on 1970-01-01. Neither operation can
     * overflow, as the divisor is not -1. */
    int64_t days = ms / ms_per_day - (ms % ms_per_day < 0);

    /* civil_from_days (H. Hinnant, "chrono-Compatible Low-Level Date
     * Algorithms"): count from 0000-03-01 so each leap day falls at the end
     * of a year, in 400-year eras of 146097 days. |days| < 1.1e11, so the
     * int64 arithmetic stays far from overflow and the year fits an int. */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11], March = 0 */
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);

    return (pnr_date_t){(int)year, (int)month, (int)day};
}

int
pnr_date_cmp(pnr_date_t a, pnr_date_t b)
{
    if (a.year != b.year)
        return a.year < b.year ? -1 : 1;
    if (a.month != b.month)
        return a.month < b.month ? -1 : 1;
    if (a.day != b.day)
        return a.day < b.day ? -1 : 1;
    return 0;
}
