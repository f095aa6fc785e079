/* pnr: Swedish personnummer and samordningsnummer.
 *
 * Accepted forms: YYMMDD-NNNC, YYMMDD+NNNC, YYMMDDNNNC, YYYYMMDD-NNNC and
 * YYYYMMDDNNNC. A '+' in the 10-digit form means the person is 100 or
 * older on the reference date. A samordningsnummer has 60 added to the day.
 * The last digit C is the Luhn check digit over the 10-digit form. */
#ifndef PNR_H
#define PNR_H

#include <stdbool.h>
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
 * sentence in err (which may be NULL). *out is zeroed first. */
remiss_code_t pnr_parse(const char *text, pnr_date_t today, pnr_t *out, remiss_err_t *err);

/* Age in whole years on the given date (0 if on is before the birth). */
int pnr_age(const pnr_t *pnr, pnr_date_t on);

/* True if y-m-d is a real calendar date (Gregorian, leap years). */
bool pnr_date_valid(pnr_date_t d);

/* Parses "YYYY-MM-DD" strictly; false if malformed or not a real date. */
bool pnr_date_parse(const char *text, pnr_date_t *out);

/* The UTC calendar date of a time in milliseconds since the epoch. */
pnr_date_t pnr_date_from_ms(int64_t ms);

/* <0, 0, >0 as a is before, equal to or after b. */
int pnr_date_cmp(pnr_date_t a, pnr_date_t b);

#endif
