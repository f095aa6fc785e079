/* pnr: Swedish personnummer and samordningsnummer.
 *
 * Accepted forms: YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC, YYYYMMDD-NNNC,
 * YYYYMMDD+NNNC and YYYYMMDDNNNC. A '+' means the person is 100 or older on
 * the reference date; in the 12-digit form it is accepted only when that is
 * true. A 10-digit form without separator is read as if it had '-'. A
 * samordningsnummer has 60 added to the day. The last digit C is the Luhn
 * check digit over the 10-digit form.
 *
 * Age follows Lag (1930:173) om beräkning av lagstadgad tid, 1 §: when the
 * anniversary day does not exist in the end month, the last day of that
 * month counts. So a person born on 29 February becomes a year older on
 * 28 February in a year that is not a leap year.
 *
 * Dates are proleptic Gregorian with years 1..9999. No function here keeps
 * state; all are thread-safe. Error sentences never contain the number. */
#ifndef PNR_H
#define PNR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

typedef struct pnr_date {
    int year;  /* e.g. 2006 */
    int month; /* 1..12 */
    int day;   /* 1..31 */
} pnr_date_t;

typedef struct pnr {
    pnr_date_t birth;   /* real birth date (day without the +60) */
    bool coordination;  /* samordningsnummer */
    char canonical[13]; /* 12 digits YYYYMMDDNNNC, NUL-terminated; day as written (+60 kept) */
} pnr_t;

/* Parses and validates text against the reference date today (which decides
 * the century of 10-digit forms). On success fills *out and returns
 * REMISS_OK; otherwise REMISS_E_INVALID_PERSONNUMMER with a specific
 * sentence in err (which may be NULL). A NULL text is an absent number and
 * gets REMISS_E_INVALID_PERSONNUMMER too. A NULL out or a today that is not
 * a valid date is a caller's mistake: REMISS_E_USAGE. *out is zeroed first
 * and stays zeroed on failure; err is left alone on success. */
remiss_code_t pnr_parse(const char *text, pnr_date_t today, pnr_t *out, remiss_err_t *err);

/* As pnr_parse, for len bytes at text that need not be NUL-terminated (a
 * protobuf or JSON string with its length). An embedded NUL is rejected
 * rather than silently ending the number. */
remiss_code_t pnr_parse_mem(const char *text, size_t len, pnr_date_t today, pnr_t *out,
                            remiss_err_t *err);

/* Age in whole years on the given date (0 if on is before the birth). A
 * 29 February birthday counts on 28 February in years that are not leap
 * years (see above). */
int pnr_age(const pnr_t *pnr, pnr_date_t on);

/* True if y-m-d is a real calendar date (Gregorian, leap years, year 1..9999). */
bool pnr_date_valid(pnr_date_t d);

/* Parses "YYYY-MM-DD" strictly; false if malformed or not a real date.
 * *out is zeroed first (out may not be NULL). */
bool pnr_date_parse(const char *text, pnr_date_t *out);

/* The UTC calendar date of a time in milliseconds since the epoch. Defined
 * for every int64 value; years outside 1..9999 are returned as computed
 * (proleptic Gregorian, astronomical year numbering) and fail pnr_date_valid. */
pnr_date_t pnr_date_from_ms(int64_t ms);

/* <0, 0, >0 as a is before, equal to or after b. */
int pnr_date_cmp(pnr_date_t a, pnr_date_t b);

#endif
