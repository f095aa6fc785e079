/* Tests for decide, against the real config/stockholm.policy: a table of
 * envelopes covering every reason code and every flow of DESIGN.md section
 * 1 allowed and refused, then consent grants and revocations.
 *
 * Personnummer here are generated from a birth date and a serial number
 * with the Luhn digit computed (s_pnr_text); they are not taken from real
 * people. Today is 2026-11-23 unless a case says otherwise. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "decide.h"

#define POLICY_PATH "config/stockholm.policy"
#define TODAY       "2026-11-23"
#define NAME        "Kim Testsson"
#define CASE_TEXT   "SECRET-NOTE"

/* ------------------------------------------------------------ people */

enum { F10DASH, F10PLUS, F10NONE, F12DASH, F12NONE };

typedef struct {
    int y, m, d;   /* birth date */
    int serial;    /* three digits after the date */
    bool coord;    /* samordningsnummer: day + 60 */
    int form;      /* how it is written */
    int bad_check; /* added to the check digit (mod 10): 0 for a valid number */
} person_t;

enum {
    P_NONE,          /* no subject at all */
    P_A22,           /* 2004-05-17, 22 years old */
    P_A22_12DASH,    /* the same person as YYYYMMDD-NNNC */
    P_A22_12NONE,    /* ... as YYYYMMDDNNNC */
    P_A22_10NONE,    /* ... as YYMMDDNNNC */
    P_A22_PLUS,      /* YYMMDD+NNNC: born 1904, 122 years old */
    P_17,            /* 2009-03-10, 17 */
    P_18TODAY,       /* 2008-11-23, turns 18 today */
    P_17_18TOMORROW, /* 2008-11-24, still 17 */
    P_18,            /* 2008-01-01, 18 */
    P_19,            /* 2007-06-01, 19 */
    P_20,            /* 2006-01-15, 20 */
    P_30,            /* 1996-02-02, 30 */
    P_COORD,         /* samordningsnummer, born 2003-04-12, 23 */
    P_FEB29,         /* 2008-02-29: 18 on 2026-02-28 (Lag 1930:173) */
    P_BADLUHN,       /* P_A22 with a wrong check digit */
    P_FEB29_2005,    /* 2005-02-29 does not exist */
    P_COUNT
};

static const person_t s_people[P_COUNT] = {
    [P_A22] = {2004, 5, 17, 238, false, F10DASH, 0},
    [P_A22_12DASH] = {2004, 5, 17, 238, false, F12DASH, 0},
    [P_A22_12NONE] = {2004, 5, 17, 238, false, F12NONE, 0},
    [P_A22_10NONE] = {2004, 5, 17, 238, false, F10NONE, 0},
    [P_A22_PLUS] = {2004, 5, 17, 238, false, F10PLUS, 0},
    [P_17] = {2009, 3, 10, 412, false, F10DASH, 0},
    [P_18TODAY] = {2008, 11, 23, 127, false, F10DASH, 0},
    [P_17_18TOMORROW] = {2008, 11, 24, 127, false, F10DASH, 0},
    [P_18] = {2008, 1, 1, 336, false, F10DASH, 0},
    [P_19] = {2007, 6, 1, 559, false, F10DASH, 0},
    [P_20] = {2006, 1, 15, 238, false, F10DASH, 0},
    [P_30] = {1996, 2, 2, 871, false, F10DASH, 0},
    [P_COORD] = {2003, 4, 12, 903, true, F10DASH, 0},
    [P_FEB29] = {2008, 2, 29, 445, false, F10DASH, 0},
    [P_BADLUHN] = {2004, 5, 17, 238, false, F10DASH, 1},
    [P_FEB29_2005] = {2005, 2, 29, 445, false, F10DASH, 0},
};

/* Writes a generated number for person p; "" for P_NONE. */
static void
s_pnr_text(int p, char *out, size_t size)
{
    const person_t *pe = &s_people[p];
    if (p == P_NONE) {
        snprintf(out, size, "%s", "");
        return;
    }
    char ten[16];
    snprintf(ten, sizeof ten, "%02d%02d%02d%03d", pe->y % 100, pe->m, pe->d + (pe->coord ? 60 : 0),
             pe->serial);
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        int v = (ten[i] - '0') * (i % 2 == 0 ? 2 : 1);
        sum += v > 9 ? v - 9 : v;
    }
    int check = ((10 - sum % 10) % 10 + pe->bad_check) % 10;
    int cc = pe->y / 100;
    switch (pe->form) {
    case F10DASH:
        snprintf(out, size, "%.6s-%.3s%d", ten, ten + 6, check);
        break;
    case F10PLUS:
        snprintf(out, size, "%.6s+%.3s%d", ten, ten + 6, check);
        break;
    case F10NONE:
        snprintf(out, size, "%.9s%d", ten, check);
        break;
    case F12DASH:
        snprintf(out, size, "%02d%.6s-%.3s%d", cc, ten, ten + 6, check);
        break;
    default:
        snprintf(out, size, "%02d%.9s%d", cc, ten, check);
        break;
    }
}

static pnr_date_t
s_date(const char *text)
{
    pnr_date_t d;
    cr_assert(pnr_date_parse(text, &d), "bad test date %s", text);
    return d;
}

/* ------------------------------------------------------------ consents */

#define MAXL 10

typedef struct {
    const char *id;
    int person;
    const char *granted_by;
    const char *from[MAXL];
    const char *to[MAXL];
    const char *purposes[MAXL];
    const char *categories[MAXL];
    const char *valid_from;
    const char *valid_until;
    Remiss__GivenBy given_by;
    bool revoked;
} consent_fx_t;

#define SUBJ  REMISS__GIVEN_BY__SUBJECT
#define GUARD REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN
#define ALL_CATS                                                                                   \
    {                                                                                              \
        "identity", "contact", "education", "employment", "social", "health", "free_text"          \
    }

enum {
    C_ANV,       /* sdf-rinkeby-kista -> jobbtorg, anvisning, identity+contact+social */
    C_BROAD,     /* role-based, every consent purpose, all but criminal */
    C_TODAY,     /* as C_ANV, last day today */
    C_OLD,       /* as C_ANV, revoked */
    C_NEW,       /* as C_ANV, granted again after C_OLD was revoked */
    C_SOCIAL,    /* role:sdf -> jobbtorg, anvisning, identity+social only */
    C_CRIMINAL,  /* as C_SOCIAL plus criminal */
    C_FUTURE,    /* as C_ANV, starts 2027-01-01 */
    C_OTHER,     /* as C_ANV but for another person (P_19) */
    C_KAA19,     /* P_19: kaa and uppsokande */
    C_KAA_SUBJ,  /* P_17: kaa, given by the subject alone */
    C_KAA_GUARD, /* P_17: kaa, given with a guardian */
    C_COORD,     /* P_COORD: anvisning */
    C_KAA20,     /* P_20: kaa */
    C_UPP18,     /* P_18: uppsokande */
    C_BROAD30,   /* P_30: as C_BROAD */
    C_COUNT
};

#define BROAD_FROM                                                                                 \
    {                                                                                              \
        "role:sdf", "jobbtorg", "role:kommunhubb"                                                  \
    }
#define BROAD_TO                                                                                   \
    {                                                                                              \
        "jobbtorg", "role:sdf", "af-kommunhubb", "samordningsforbundet"                            \
    }
#define BROAD_PURPOSES                                                                             \
    {                                                                                              \
        "anvisning", "ips", "socialtjanst", "uppsokande", "arendedragning", "overforing",          \
            "forfragan", "finsam"                                                                  \
    }

static const consent_fx_t s_consents[C_COUNT] = {
    [C_ANV] = {"c-anv",
               P_A22,
               "sdf-rinkeby-kista",
               {"sdf-rinkeby-kista"},
               {"jobbtorg"},
               {"anvisning"},
               {"identity", "contact", "social"},
               "2026-11-01",
               "2027-05-01",
               SUBJ,
               false},
    [C_BROAD] = {"c-broad", P_A22, "jobbtorg", BROAD_FROM, BROAD_TO, BROAD_PURPOSES, ALL_CATS,
                 "2026-01-01", "2027-12-31", SUBJ, false},
    [C_TODAY] = {"c-today",
                 P_A22,
                 "sdf-rinkeby-kista",
                 {"sdf-rinkeby-kista"},
                 {"jobbtorg"},
                 {"anvisning"},
                 {"identity", "contact", "social"},
                 "2026-05-01",
                 TODAY,
                 SUBJ,
                 false},
    [C_OLD] = {"c-old",
               P_A22,
               "sdf-rinkeby-kista",
               {"sdf-rinkeby-kista"},
               {"jobbtorg"},
               {"anvisning"},
               {"identity", "contact", "social"},
               "2026-11-01",
               "2027-05-01",
               SUBJ,
               true},
    [C_NEW] = {"c-new",
               P_A22,
               "sdf-rinkeby-kista",
               {"sdf-rinkeby-kista"},
               {"jobbtorg"},
               {"anvisning"},
               {"identity", "contact", "social"},
               "2026-11-22",
               "2027-05-01",
               SUBJ,
               false},
    [C_SOCIAL] = {"c-social",
                  P_A22,
                  "sdf-rinkeby-kista",
                  {"role:sdf"},
                  {"jobbtorg"},
                  {"anvisning"},
                  {"identity", "social"},
                  "2026-11-01",
                  "2027-05-01",
                  SUBJ,
                  false},
    [C_CRIMINAL] = {"c-crim",
                    P_A22,
                    "sdf-rinkeby-kista",
                    {"role:sdf"},
                    {"jobbtorg"},
                    {"anvisning"},
                    {"identity", "social", "criminal"},
                    "2026-11-01",
                    "2027-05-01",
                    SUBJ,
                    false},
    [C_FUTURE] = {"c-future",
                  P_A22,
                  "sdf-rinkeby-kista",
                  {"sdf-rinkeby-kista"},
                  {"jobbtorg"},
                  {"anvisning"},
                  {"identity", "contact", "social"},
                  "2027-01-01",
                  "2027-06-30",
                  SUBJ,
                  false},
    [C_OTHER] = {"c-other",
                 P_19,
                 "sdf-rinkeby-kista",
                 {"sdf-rinkeby-kista"},
                 {"jobbtorg"},
                 {"anvisning"},
                 {"identity", "contact", "social"},
                 "2026-11-01",
                 "2027-05-01",
                 SUBJ,
                 false},
    [C_KAA19] = {"c-kaa19",
                 P_19,
                 "sdf-spanga-tensta",
                 {"role:sdf"},
                 {"jobbtorg"},
                 {"kaa", "uppsokande"},
                 {"identity", "contact", "education", "social", "free_text"},
                 "2026-09-01",
                 "2027-08-31",
                 SUBJ,
                 false},
    [C_KAA_SUBJ] = {"c-kaa-s",
                    P_17,
                    "sdf-spanga-tensta",
                    {"role:sdf"},
                    {"jobbtorg"},
                    {"kaa"},
                    {"identity", "education"},
                    "2026-09-01",
                    "2027-08-31",
                    SUBJ,
                    false},
    [C_KAA_GUARD] = {"c-kaa-g",
                     P_17,
                     "sdf-spanga-tensta",
                     {"role:sdf"},
                     {"jobbtorg"},
                     {"kaa"},
                     {"identity", "education"},
                     "2026-09-01",
                     "2027-08-31",
                     GUARD,
                     false},
    [C_COORD] = {"c-coord",
                 P_COORD,
                 "sdf-sodermalm",
                 {"role:sdf"},
                 {"jobbtorg"},
                 {"anvisning"},
                 {"identity", "social"},
                 "2026-11-01",
                 "2027-05-01",
                 SUBJ,
                 false},
    [C_KAA20] = {"c-kaa20",
                 P_20,
                 "sdf-spanga-tensta",
                 {"role:sdf"},
                 {"jobbtorg"},
                 {"kaa"},
                 {"identity", "education"},
                 "2026-09-01",
                 "2027-08-31",
                 SUBJ,
                 false},
    [C_UPP18] = {"c-upp18",
                 P_18,
                 "sdf-spanga-tensta",
                 {"role:sdf"},
                 {"jobbtorg"},
                 {"uppsokande"},
                 {"identity", "social"},
                 "2026-09-01",
                 "2027-08-31",
                 SUBJ,
                 false},
    [C_BROAD30] = {"c-broad30", P_30, "jobbtorg", BROAD_FROM, BROAD_TO, BROAD_PURPOSES, ALL_CATS,
                   "2026-01-01", "2027-12-31", SUBJ, false},
};

static size_t
s_count(const char *const *list)
{
    size_t n = 0;
    while (n < MAXL && list[n])
        n++;
    return n;
}

/* The store's view of a set of fixtures: records plus the storage they
 * borrow from, all in one value the test keeps on its stack. */
typedef struct {
    consent_rec_t recs[C_COUNT];
    Remiss__ConsentGrant grants[C_COUNT];
    pnr_t subjects[C_COUNT];
    size_t n;
} store_t;

static void
s_store(store_t *st, unsigned mask)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < C_COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        const consent_fx_t *fx = &s_consents[i];
        Remiss__ConsentGrant *g = &st->grants[st->n];
        remiss__consent_grant__init(g);
        /* The grant's repeated fields are char **; the test never writes
         * through them. */
        g->from_parties = (char **)fx->from;
        g->n_from_parties = s_count(fx->from);
        g->to_parties = (char **)fx->to;
        g->n_to_parties = s_count(fx->to);
        g->purposes = (char **)fx->purposes;
        g->n_purposes = s_count(fx->purposes);
        g->categories = (char **)fx->categories;
        g->n_categories = s_count(fx->categories);
        g->valid_from = (char *)fx->valid_from;
        g->valid_until = (char *)fx->valid_until;
        g->given_by = fx->given_by;
        char text[20];
        s_pnr_text(fx->person, text, sizeof text);
        cr_assert_eq(pnr_parse(text, s_date(TODAY), &st->subjects[st->n], NULL), REMISS_OK);
        st->recs[st->n] = (consent_rec_t){
            .consent_id = fx->id,
            .granted_by = fx->granted_by,
            .subject = st->subjects[st->n].canonical,
            .grant = g,
            .revoked = fx->revoked,
            .revoked_at_ms = fx->revoked ? 1795132800000 : 0, /* 2026-11-20 */
        };
        st->n++;
    }
}

/* ------------------------------------------------------------ envelopes */

#define CB(c) (1u << (CAT_##c))

typedef struct {
    const char *name;
    Remiss__MessageType type;
    const char *from;
    const char *to;
    const char *purpose;
    int person;
    unsigned cats;          /* blocks to fill besides identity */
    bool protected_id;      /* subject.protected_identity */
    const char *consent_id; /* named consent, or NULL */
    unsigned consents;      /* fixtures registered (bits of C_*) */
    const char *today;      /* NULL: TODAY */
    remiss_code_t want;
    const char *want_rule;    /* rule reported, or NULL for none */
    const char *want_consent; /* consent reported, or NULL for none */
    bool wrong_body;          /* body of another type */
} case_t;

#define M(c)     (1u << (c))
#define REFERRAL REMISS__MESSAGE_TYPE__REFERRAL
#define CASE_SUB REMISS__MESSAGE_TYPE__CASE_SUBMISSION
#define TACK     REMISS__MESSAGE_TYPE__TRANSFER_ACK
#define INQUIRY  REMISS__MESSAGE_TYPE__INQUIRY
#define ANSWER   REMISS__MESSAGE_TYPE__INQUIRY_ANSWER
#define CONCERN  REMISS__MESSAGE_TYPE__CONCERN_REPORT
#define GRANT    REMISS__MESSAGE_TYPE__CONSENT_GRANT
#define RK       "sdf-rinkeby-kista"
#define ST       "sdf-spanga-tensta"
#define EAV      "sdf-enskede-arsta-vantor"
#define SOD      "sdf-sodermalm"
#define JT       "jobbtorg"
#define KH       "af-kommunhubb"
#define SF       "samordningsforbundet"
#define SOCIAL_C (CB(CONTACT) | CB(SOCIAL))

static const case_t s_cases[] = {
    /* --- flow 1: referral district -> Jobbtorg (seed 000 §6.2) */
    {"anvisning allowed", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL, M(C_ANV),
     NULL, REMISS_OK, "referral-anvisning", "c-anv", false},
    {"anvisning without consent", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL, 0,
     NULL, REMISS_E_NO_CONSENT, "referral-anvisning", NULL, false},
    {"anvisning consent for another district", REFERRAL, ST, JT, "anvisning", P_A22, SOCIAL_C,
     false, NULL, M(C_ANV), NULL, REMISS_E_NO_CONSENT, "referral-anvisning", NULL, false},
    {"anvisning to kommunhubb has no rule", REFERRAL, RK, KH, "anvisning", P_A22, SOCIAL_C, false,
     NULL, M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    {"anvisning age 30 out of scope", REFERRAL, RK, JT, "anvisning", P_30, SOCIAL_C, false, NULL,
     M(C_BROAD30), NULL, REMISS_E_AGE_OUT_OF_SCOPE, "referral-anvisning", NULL, false},
    /* --- flow 1: Jobbtorg -> district social services (seed 004) */
    {"socialtjanst allowed", REFERRAL, JT, ST, "socialtjanst", P_A22, SOCIAL_C | CB(HEALTH), false,
     NULL, M(C_BROAD), NULL, REMISS_OK, "referral-socialtjanst", "c-broad", false},
    {"socialtjanst without consent", REFERRAL, JT, ST, "socialtjanst", P_A22, SOCIAL_C, false, NULL,
     M(C_ANV), NULL, REMISS_E_NO_CONSENT, "referral-socialtjanst", NULL, false},
    {"socialtjanst with anvisning purpose denied", REFERRAL, JT, ST, "anvisning", P_A22, SOCIAL_C,
     false, NULL, M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    /* --- flow 1: social psychiatry -> Jobbtorg IPS (seed 000 §6.4) */
    {"ips allowed with health", REFERRAL, EAV, JT, "ips", P_A22, CB(EMPLOYMENT), false, "c-broad",
     M(C_BROAD), NULL, REMISS_OK, "referral-ips", "c-broad", false},
    /* Jobbtorg registered c-broad: named, it still cannot carry health
     * data (recipient_consent_forbidden in the example policy). */
    {"ips health on the recipient's consent", REFERRAL, EAV, JT, "ips", P_A22,
     CB(HEALTH) | CB(EMPLOYMENT), false, "c-broad", M(C_BROAD), NULL, REMISS_E_NO_CONSENT,
     "referral-ips", "c-broad", false},
    {"recipient's consent not named", REFERRAL, EAV, JT, "ips", P_A22, CB(EMPLOYMENT), false, NULL,
     M(C_BROAD), NULL, REMISS_E_NO_CONSENT, "referral-ips", NULL, false},
    {"ips to samordningsforbund has no rule", REFERRAL, EAV, SF, "ips", P_A22, CB(HEALTH), false,
     NULL, M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    /* --- KAA, under 20 (seed 000 §6.1) */
    {"kaa 19 allowed", REFERRAL, ST, JT, "kaa", P_19, CB(EDUCATION), false, NULL, M(C_KAA19), NULL,
     REMISS_OK, "referral-kaa", "c-kaa19", false},
    {"kaa 20 out of scope", REFERRAL, ST, JT, "kaa", P_20, CB(EDUCATION), false, NULL, M(C_KAA20),
     NULL, REMISS_E_AGE_OUT_OF_SCOPE, "referral-kaa", NULL, false},
    {"kaa minor with guardian consent", REFERRAL, ST, JT, "kaa", P_17, CB(EDUCATION), false, NULL,
     M(C_KAA_GUARD), NULL, REMISS_OK, "referral-kaa", "c-kaa-g", false},
    {"kaa minor without guardian consent", REFERRAL, ST, JT, "kaa", P_17, CB(EDUCATION), false,
     NULL, M(C_KAA_SUBJ), NULL, REMISS_E_NO_CONSENT, "referral-kaa", "c-kaa-s", false},
    /* --- outreach 19-29 (seed 004) */
    {"uppsokande referral 19 allowed", REFERRAL, ST, JT, "uppsokande", P_19, SOCIAL_C, false, NULL,
     M(C_KAA19), NULL, REMISS_OK, "referral-uppsokande", "c-kaa19", false},
    {"uppsokande referral 18 out of scope", REFERRAL, ST, JT, "uppsokande", P_18, CB(SOCIAL), false,
     NULL, M(C_UPP18), NULL, REMISS_E_AGE_OUT_OF_SCOPE, "referral-uppsokande", NULL, false},
    {"uppsokande inquiry allowed", INQUIRY, JT, SOD, "uppsokande", P_A22, CB(FREE_TEXT), false,
     NULL, M(C_BROAD), NULL, REMISS_OK, "inquiry-uppsokande", "c-broad", false},
    {"uppsokande answer allowed", ANSWER, SOD, JT, "uppsokande", P_A22, CB(SOCIAL), false, "c-broad",
     M(C_BROAD), NULL, REMISS_OK, "answer-uppsokande", "c-broad", false},
    {"uppsokande inquiry 30 out of scope", INQUIRY, JT, SOD, "uppsokande", P_30, 0, false, NULL,
     M(C_BROAD30), NULL, REMISS_E_AGE_OUT_OF_SCOPE, "inquiry-uppsokande", NULL, false},
    /* --- flow 2: case submission (seed 000 §7) */
    {"arendedragning from jobbtorg", CASE_SUB, JT, KH, "arendedragning", P_A22,
     CB(HEALTH) | CB(EDUCATION), false, NULL, M(C_BROAD), NULL, REMISS_OK,
     "case-submission-jobbtorg", "c-broad", false},
    {"arendedragning from district", CASE_SUB, SOD, KH, "arendedragning", P_A22, CB(EMPLOYMENT),
     false, "c-broad", M(C_BROAD), NULL, REMISS_OK, "case-submission-sdf", "c-broad", false},
    {"arendedragning with criminal data", CASE_SUB, JT, KH, "arendedragning", P_A22, CB(CRIMINAL),
     false, NULL, M(C_BROAD), NULL, REMISS_E_CATEGORY_NOT_COVERED, "case-submission-jobbtorg", NULL,
     false},
    {"arendedragning unknown recipient", CASE_SUB, JT, "af-stockholm-city", "arendedragning", P_A22,
     0, false, NULL, M(C_BROAD), NULL, REMISS_E_UNKNOWN_RECIPIENT, NULL, NULL, false},
    /* --- flow 3: transfer acknowledgement */
    {"overforing to jobbtorg", TACK, KH, JT, "overforing", P_A22, CB(EMPLOYMENT), false, "c-broad",
     M(C_BROAD), NULL, REMISS_OK, "transfer-ack-jobbtorg", "c-broad", false},
    {"overforing to district", TACK, KH, SOD, "overforing", P_A22, CB(FREE_TEXT), false, "c-broad",
     M(C_BROAD), NULL, REMISS_OK, "transfer-ack-sdf", "c-broad", false},
    {"overforing without consent", TACK, KH, JT, "overforing", P_A22, 0, false, NULL, M(C_ANV),
     NULL, REMISS_E_NO_CONSENT, "transfer-ack-jobbtorg", NULL, false},
    {"overforing from jobbtorg denied", TACK, JT, KH, "overforing", P_A22, 0, false, NULL,
     M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    /* --- flow 4: inquiry / answer (seed 000 §6.3) */
    {"forfragan inquiry", INQUIRY, JT, KH, "forfragan", P_A22, CB(FREE_TEXT), false, NULL,
     M(C_BROAD), NULL, REMISS_OK, "inquiry-forfragan", "c-broad", false},
    {"forfragan answer", ANSWER, KH, JT, "forfragan", P_A22, CB(EMPLOYMENT), false, "c-broad",
     M(C_BROAD), NULL, REMISS_OK, "answer-forfragan", "c-broad", false},
    {"forfragan inquiry from district denied", INQUIRY, SOD, KH, "forfragan", P_A22, 0, false, NULL,
     M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    {"forfragan answer with health not in rule", ANSWER, KH, JT, "forfragan", P_A22, CB(HEALTH),
     false, NULL, M(C_BROAD), NULL, REMISS_E_CATEGORY_NOT_COVERED, "answer-forfragan", NULL, false},
    /* --- Samordningsförbundet (finsam) */
    {"finsam from jobbtorg", REFERRAL, JT, SF, "finsam", P_A22, CB(HEALTH) | CB(EMPLOYMENT), false,
     NULL, M(C_BROAD), NULL, REMISS_OK, "finsam-jobbtorg", "c-broad", false},
    {"finsam with social data not in rule", REFERRAL, RK, SF, "finsam", P_A22, CB(SOCIAL), false,
     NULL, M(C_BROAD), NULL, REMISS_E_CATEGORY_NOT_COVERED, "finsam-sdf", NULL, false},
    /* --- flow 6: concern report, statute, under 18 */
    {"oro 17 without consent", CONCERN, JT, RK, "oro", P_17, CB(SOCIAL) | CB(CONTACT), false, NULL,
     0, NULL, REMISS_OK, "oro-jobbtorg", NULL, false},
    {"oro 18 today out of scope", CONCERN, JT, RK, "oro", P_18TODAY, CB(SOCIAL), false, NULL, 0,
     NULL, REMISS_E_AGE_OUT_OF_SCOPE, "oro-jobbtorg", NULL, false},
    {"oro 17 turning 18 tomorrow", CONCERN, JT, RK, "oro", P_17_18TOMORROW, CB(SOCIAL), false, NULL,
     0, NULL, REMISS_OK, "oro-jobbtorg", NULL, false},
    {"oro from kommunhubb", CONCERN, KH, ST, "oro", P_17, CB(EMPLOYMENT), false, NULL, 0, NULL,
     REMISS_OK, "oro-kommunhubb", NULL, false},
    {"oro between districts", CONCERN, SOD, RK, "oro", P_17, CB(HEALTH), false, NULL, 0, NULL,
     REMISS_OK, "oro-sdf", NULL, false},
    {"oro with criminal data", CONCERN, JT, RK, "oro", P_17, CB(CRIMINAL), false, NULL, 0, NULL,
     REMISS_E_CATEGORY_NOT_COVERED, "oro-jobbtorg", NULL, false},
    {"oro to jobbtorg has no rule", CONCERN, RK, JT, "oro", P_17, 0, false, NULL, 0, NULL,
     REMISS_E_POLICY_DENIED, NULL, NULL, false},
    {"oro 29 Feb born, day before 18th", CONCERN, JT, RK, "oro", P_FEB29, 0, false, NULL, 0,
     "2026-02-27", REMISS_OK, "oro-jobbtorg", NULL, false},
    {"oro 29 Feb born, 18 on 28 Feb", CONCERN, JT, RK, "oro", P_FEB29, 0, false, NULL, 0,
     "2026-02-28", REMISS_E_AGE_OUT_OF_SCOPE, "oro-jobbtorg", NULL, false},
    {"oro protected identity without contact", CONCERN, JT, RK, "oro", P_17, CB(SOCIAL), true, NULL,
     0, NULL, REMISS_OK, "oro-jobbtorg", NULL, false},
    {"oro protected identity with contact", CONCERN, JT, RK, "oro", P_17, CB(CONTACT), true, NULL,
     0, NULL, REMISS_E_PROTECTED_IDENTITY, NULL, NULL, false},
    /* --- consent validity */
    {"consent last day today still in force", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false,
     NULL, M(C_TODAY), NULL, REMISS_OK, "referral-anvisning", "c-today", false},
    {"consent last day yesterday", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL,
     M(C_TODAY), "2026-11-24", REMISS_E_CONSENT_EXPIRED, "referral-anvisning", "c-today", false},
    {"consent not yet in force", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL,
     M(C_FUTURE), NULL, REMISS_E_CONSENT_EXPIRED, "referral-anvisning", "c-future", false},
    {"consent revoked", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL, M(C_OLD), NULL,
     REMISS_E_CONSENT_REVOKED, "referral-anvisning", "c-old", false},
    {"revoked then granted again", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL,
     M(C_OLD) | M(C_NEW), NULL, REMISS_OK, "referral-anvisning", "c-new", false},
    {"revoked beats expired", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL,
     M(C_OLD) | M(C_FUTURE), NULL, REMISS_E_CONSENT_REVOKED, "referral-anvisning", "c-old", false},
    {"named revoked consent though another covers", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C,
     false, "c-old", M(C_OLD) | M(C_NEW), NULL, REMISS_E_CONSENT_REVOKED, "referral-anvisning",
     "c-old", false},
    {"named consent covers", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, "c-new",
     M(C_OLD) | M(C_NEW), NULL, REMISS_OK, "referral-anvisning", "c-new", false},
    {"named consent not registered", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false,
     "c-missing", M(C_ANV), NULL, REMISS_E_NO_CONSENT, "referral-anvisning", NULL, false},
    {"named consent of another person", REFERRAL, RK, JT, "anvisning", P_A22, CB(SOCIAL), false,
     "c-kaa19", M(C_KAA19), NULL, REMISS_E_NO_CONSENT, "referral-anvisning", "c-kaa19", false},
    {"named consent for another sender", REFERRAL, ST, JT, "anvisning", P_A22, CB(SOCIAL), false,
     "c-anv", M(C_ANV) | M(C_SOCIAL), NULL, REMISS_E_NO_CONSENT, "referral-anvisning", "c-anv",
     false},
    {"named consent out of date", REFERRAL, RK, JT, "anvisning", P_A22, CB(SOCIAL), false,
     "c-future", M(C_FUTURE) | M(C_ANV), NULL, REMISS_E_CONSENT_EXPIRED, "referral-anvisning",
     "c-future", false},
    {"social consent used for health", REFERRAL, RK, JT, "anvisning", P_A22,
     CB(SOCIAL) | CB(HEALTH), false, NULL, M(C_SOCIAL), NULL, REMISS_E_CATEGORY_NOT_COVERED,
     "referral-anvisning", "c-social", false},
    {"criminal data with consent naming it", REFERRAL, RK, JT, "anvisning", P_A22,
     CB(SOCIAL) | CB(CRIMINAL), false, NULL, M(C_CRIMINAL), NULL, REMISS_OK, "referral-anvisning",
     "c-crim", false},
    {"criminal data without consent naming it", REFERRAL, RK, JT, "anvisning", P_A22,
     CB(SOCIAL) | CB(CRIMINAL), false, NULL, M(C_SOCIAL), NULL, REMISS_E_CATEGORY_NOT_COVERED,
     "referral-anvisning", "c-social", false},
    {"consent of another person", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, false, NULL,
     M(C_OTHER), NULL, REMISS_E_NO_CONSENT, "referral-anvisning", NULL, false},
    {"protected identity with contact", REFERRAL, RK, JT, "anvisning", P_A22, SOCIAL_C, true, NULL,
     M(C_ANV), NULL, REMISS_E_PROTECTED_IDENTITY, NULL, NULL, false},
    {"protected identity without contact", REFERRAL, RK, JT, "anvisning", P_A22, CB(SOCIAL), true,
     NULL, M(C_ANV), NULL, REMISS_OK, "referral-anvisning", "c-anv", false},
    /* --- personnummer forms */
    {"samordningsnummer", REFERRAL, SOD, JT, "anvisning", P_COORD, CB(SOCIAL), false, NULL,
     M(C_COORD), NULL, REMISS_OK, "referral-anvisning", "c-coord", false},
    {"12 digits with dash", REFERRAL, RK, JT, "anvisning", P_A22_12DASH, SOCIAL_C, false, NULL,
     M(C_ANV), NULL, REMISS_OK, "referral-anvisning", "c-anv", false},
    {"12 digits without separator", REFERRAL, RK, JT, "anvisning", P_A22_12NONE, SOCIAL_C, false,
     NULL, M(C_ANV), NULL, REMISS_OK, "referral-anvisning", "c-anv", false},
    {"10 digits without separator", REFERRAL, RK, JT, "anvisning", P_A22_10NONE, SOCIAL_C, false,
     NULL, M(C_ANV), NULL, REMISS_OK, "referral-anvisning", "c-anv", false},
    {"plus form means over 100", REFERRAL, RK, JT, "anvisning", P_A22_PLUS, SOCIAL_C, false, NULL,
     M(C_ANV), NULL, REMISS_E_AGE_OUT_OF_SCOPE, "referral-anvisning", NULL, false},
    {"wrong check digit", REFERRAL, RK, JT, "anvisning", P_BADLUHN, SOCIAL_C, false, NULL, M(C_ANV),
     NULL, REMISS_E_INVALID_PERSONNUMMER, NULL, NULL, false},
    {"29 February of a common year", CONCERN, JT, RK, "oro", P_FEB29_2005, 0, false, NULL, 0, NULL,
     REMISS_E_INVALID_PERSONNUMMER, NULL, NULL, false},
    {"no subject", REFERRAL, RK, JT, "anvisning", P_NONE, CB(SOCIAL), false, NULL, M(C_ANV), NULL,
     REMISS_E_MALFORMED, NULL, NULL, false},
    /* --- envelope shape and parties */
    {"unknown purpose", REFERRAL, RK, JT, "marketing", P_A22, 0, false, NULL, M(C_BROAD), NULL,
     REMISS_E_POLICY_DENIED, NULL, NULL, false},
    {"no purpose", REFERRAL, RK, JT, "", P_A22, 0, false, NULL, M(C_BROAD), NULL,
     REMISS_E_MALFORMED, NULL, NULL, false},
    {"sender not in policy", REFERRAL, "sdf-atlantis", JT, "anvisning", P_A22, 0, false, NULL,
     M(C_BROAD), NULL, REMISS_E_POLICY_DENIED, NULL, NULL, false},
    {"body of another type", REFERRAL, RK, JT, "anvisning", P_A22, 0, false, NULL, M(C_ANV), NULL,
     REMISS_E_MALFORMED, NULL, NULL, true},
    {"consent grant is not routed", GRANT, RK, JT, "anvisning", P_A22, 0, false, NULL, 0, NULL,
     REMISS_E_MALFORMED, NULL, NULL, false},
};

#define N_CASES (sizeof s_cases / sizeof s_cases[0])

/* Builds the envelope of case c; every pointer refers into *b. */
typedef struct {
    Remiss__Envelope env;
    Remiss__Person subject;
    Remiss__Contact contact;
    Remiss__Education education;
    Remiss__Employment employment;
    Remiss__Social social;
    Remiss__Health health;
    Remiss__Criminal criminal;
    Remiss__Referral referral;
    Remiss__CaseSubmission case_submission;
    Remiss__TransferAck transfer_ack;
    Remiss__Inquiry inquiry;
    Remiss__InquiryAnswer inquiry_answer;
    Remiss__ConcernReport concern_report;
    Remiss__ConsentGrant consent_grant;
    Remiss__ConsentRevoke consent_revoke;
    char pnr[24];
} env_buf_t;

static void
s_body(env_buf_t *b, Remiss__MessageType type)
{
    Remiss__Envelope *e = &b->env;
    e->body_case = msgtype_body_case(type);
    switch (type) {
    case REMISS__MESSAGE_TYPE__REFERRAL:
        e->referral = &b->referral;
        b->referral.reason = CASE_TEXT " reason";
        break;
    case REMISS__MESSAGE_TYPE__CASE_SUBMISSION:
        e->case_submission = &b->case_submission;
        b->case_submission.reason = CASE_TEXT " reason";
        break;
    case REMISS__MESSAGE_TYPE__TRANSFER_ACK:
        e->transfer_ack = &b->transfer_ack;
        b->transfer_ack.decision = REMISS__TRANSFER_DECISION__ACCEPTED;
        break;
    case REMISS__MESSAGE_TYPE__INQUIRY:
        e->inquiry = &b->inquiry;
        b->inquiry.question = CASE_TEXT " question";
        break;
    case REMISS__MESSAGE_TYPE__INQUIRY_ANSWER:
        e->inquiry_answer = &b->inquiry_answer;
        b->inquiry_answer.answer = CASE_TEXT " answer";
        break;
    case REMISS__MESSAGE_TYPE__CONCERN_REPORT:
        e->concern_report = &b->concern_report;
        b->concern_report.concern = CASE_TEXT " concern";
        break;
    case REMISS__MESSAGE_TYPE__CONSENT_GRANT:
        e->consent_grant = &b->consent_grant;
        break;
    default:
        e->consent_revoke = &b->consent_revoke;
        break;
    }
}

static void
s_build(env_buf_t *b, const case_t *c)
{
    memset(b, 0, sizeof *b);
    remiss__envelope__init(&b->env);
    remiss__person__init(&b->subject);
    remiss__contact__init(&b->contact);
    remiss__education__init(&b->education);
    remiss__employment__init(&b->employment);
    remiss__social__init(&b->social);
    remiss__health__init(&b->health);
    remiss__criminal__init(&b->criminal);
    remiss__referral__init(&b->referral);
    remiss__case_submission__init(&b->case_submission);
    remiss__transfer_ack__init(&b->transfer_ack);
    remiss__inquiry__init(&b->inquiry);
    remiss__inquiry_answer__init(&b->inquiry_answer);
    remiss__concern_report__init(&b->concern_report);
    remiss__consent_grant__init(&b->consent_grant);
    remiss__consent_revoke__init(&b->consent_revoke);

    Remiss__Envelope *e = &b->env;
    e->sender = (char *)c->from;
    e->recipient = (char *)c->to;
    e->type = c->type;
    e->purpose = (char *)c->purpose;
    e->consent_id = (char *)(c->consent_id ? c->consent_id : "");
    s_body(b, c->wrong_body ? REMISS__MESSAGE_TYPE__INQUIRY : c->type);
    if (c->person != P_NONE) {
        s_pnr_text(c->person, b->pnr, sizeof b->pnr);
        b->subject.personnummer = b->pnr;
        b->subject.name = NAME;
        b->subject.protected_identity = c->protected_id;
        e->subject = &b->subject;
    }
    if (c->cats & CB(CONTACT)) {
        b->contact.phone = "070-0000000";
        b->subject.contact = &b->contact;
    }
    if (c->cats & CB(EDUCATION)) {
        b->education.notes = CASE_TEXT " school";
        e->education = &b->education;
    }
    if (c->cats & CB(EMPLOYMENT)) {
        b->employment.registered_at_af = true;
        e->employment = &b->employment;
    }
    if (c->cats & CB(SOCIAL)) {
        b->social.income_support = true;
        b->social.notes = CASE_TEXT " social";
        e->social = &b->social;
    }
    if (c->cats & CB(HEALTH)) {
        b->health.notes = CASE_TEXT " health";
        e->health = &b->health;
    }
    if (c->cats & CB(CRIMINAL)) {
        b->criminal.probation = true;
        e->criminal = &b->criminal;
    }
    if (c->cats & CB(FREE_TEXT))
        e->free_text = CASE_TEXT " free";
}

/* Sentences are logged and returned to senders: no number, no name, no
 * case text, in any of the forms the number could take. */
static void
s_assert_no_personal_data(const char *sentence, const char *pnr_text, int person)
{
    cr_assert_null(strstr(sentence, NAME), "name in: %s", sentence);
    cr_assert_null(strstr(sentence, CASE_TEXT), "case text in: %s", sentence);
    if (person == P_NONE)
        return;
    char digits[16];
    size_t n = 0;
    for (const char *p = pnr_text; *p && n < sizeof digits - 1; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    digits[n] = '\0';
    cr_assert_null(strstr(sentence, pnr_text), "number in: %s", sentence);
    cr_assert_null(strstr(sentence, digits), "digits in: %s", sentence);
    /* The birth date part alone (YYMMDD) must not appear either. */
    char yymmdd[8];
    memcpy(yymmdd, digits + n - 10, 6);
    yymmdd[6] = '\0';
    cr_assert_null(strstr(sentence, yymmdd), "birth date in: %s", sentence);
}

static size_t s_case_idx[N_CASES];

ParameterizedTestParameters(decide, envelope)
{
    for (size_t i = 0; i < N_CASES; i++)
        s_case_idx[i] = i;
    return cr_make_param_array(size_t, s_case_idx, N_CASES);
}

/* Criterion may run each parameter in a fresh process, so the parameter
 * is an index into s_cases rather than a pointer. */
ParameterizedTest(size_t *idx, decide, envelope)
{
    const case_t *c = &s_cases[*idx];
    remiss_err_t err = {0};
    policy_t *policy = policy_load(POLICY_PATH, &err);
    cr_assert_not_null(policy, "%s", err.text);

    store_t st;
    s_store(&st, c->consents);
    env_buf_t b;
    s_build(&b, c);
    decision_t d;
    remiss_code_t r = decide_envelope(policy, c->from, &b.env, s_date(c->today ? c->today : TODAY),
                                      st.recs, st.n, &d, &err);

    /* Check everything, then free, then assert: a failing assertion exits
     * the test and would leave the policy to the leak checker. */
    const char *rule = d.rule ? d.rule->name : NULL;
    const char *consent = d.consent ? d.consent->consent_id : NULL;
    bool rule_ok =
        (c->want_rule == NULL) == (rule == NULL) && (!rule || strcmp(rule, c->want_rule) == 0);
    bool consent_ok = (c->want_consent == NULL) == (consent == NULL) &&
                      (!consent || strcmp(consent, c->want_consent) == 0);
    char rule_s[64], consent_s[64];
    snprintf(rule_s, sizeof rule_s, "%s", rule ? rule : "(none)");
    snprintf(consent_s, sizeof consent_s, "%s", consent ? consent : "(none)");
    policy_free(&policy);

    cr_assert_eq(r, c->want, "%s: got %s (%s), want %s", c->name, remiss_code_name(r), err.text,
                 remiss_code_name(c->want));
    cr_assert_eq(err.code, r, "%s: err.code differs", c->name);
    cr_assert(err.text[0] != '\0', "%s: no sentence", c->name);
    cr_assert(rule_ok, "%s: rule %s, want %s", c->name, rule_s,
              c->want_rule ? c->want_rule : "(none)");
    cr_assert(consent_ok, "%s: consent %s, want %s", c->name, consent_s,
              c->want_consent ? c->want_consent : "(none)");
    s_assert_no_personal_data(err.text, b.pnr, c->person);
}

/* Every reason code decide can give appears in the table at least once,
 * and every flow of DESIGN.md section 1 (by purpose) both ways. */
Test(decide, table_covers_codes_and_flows)
{
    const remiss_code_t codes[] = {
        REMISS_OK,
        REMISS_E_MALFORMED,
        REMISS_E_UNKNOWN_RECIPIENT,
        REMISS_E_INVALID_PERSONNUMMER,
        REMISS_E_POLICY_DENIED,
        REMISS_E_NO_CONSENT,
        REMISS_E_CONSENT_EXPIRED,
        REMISS_E_CONSENT_REVOKED,
        REMISS_E_CATEGORY_NOT_COVERED,
        REMISS_E_PROTECTED_IDENTITY,
        REMISS_E_AGE_OUT_OF_SCOPE,
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        bool seen = false;
        for (size_t j = 0; j < N_CASES; j++)
            seen |= s_cases[j].want == codes[i];
        cr_assert(seen, "no case for %s", remiss_code_name(codes[i]));
    }
    const char *purposes[] = {"anvisning",      "socialtjanst", "ips",       "kaa",    "uppsokande",
                              "arendedragning", "overforing",   "forfragan", "finsam", "oro"};
    for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++) {
        bool ok = false, refused = false;
        for (size_t j = 0; j < N_CASES; j++) {
            if (strcmp(s_cases[j].purpose, purposes[i]) != 0)
                continue;
            ok |= s_cases[j].want == REMISS_OK;
            refused |= s_cases[j].want != REMISS_OK;
        }
        cr_assert(ok && refused, "flow %s: allowed %d refused %d", purposes[i], ok, refused);
    }
    cr_assert_geq(N_CASES, 40);
}

/* ------------------------------------------------------------ consent grants */

typedef struct {
    const char *name;
    const char *sender;
    const char *recipient;
    const char *consent_id;
    int person;
    const char *from[4];
    const char *to[4];
    const char *purposes[4];
    const char *categories[4];
    const char *valid_from;
    const char *valid_until;
    Remiss__GivenBy given_by;
    const char *evidence;
    bool social_block; /* carries case data */
    remiss_code_t want;
} grant_case_t;

#define EV  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define EVX "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g"

static const grant_case_t s_grants[] = {
    {"valid adult grant",
     RK,
     "broker",
     "c-2026-0001",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity", "contact", "social"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_OK},
    {"roles in party lists",
     JT,
     "broker",
     "c-2",
     P_A22,
     {"role:sdf"},
     {JT, "role:kommunhubb"},
     {"anvisning", "overforing"},
     {"identity"},
     TODAY,
     TODAY,
     SUBJ,
     EV,
     false,
     REMISS_OK},
    {"minor with guardian",
     ST,
     "broker",
     "c-3",
     P_17,
     {"role:sdf"},
     {JT},
     {"kaa"},
     {"identity", "education"},
     "2026-11-01",
     "2027-05-01",
     GUARD,
     EV,
     false,
     REMISS_OK},
    {"minor alone",
     ST,
     "broker",
     "c-4",
     P_17,
     {"role:sdf"},
     {JT},
     {"kaa"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_POLICY_DENIED},
    {"starts on 18th birthday, given alone",
     ST,
     "broker",
     "c-5",
     P_17_18TOMORROW,
     {"role:sdf"},
     {JT},
     {"kaa"},
     {"identity"},
     "2026-11-24",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_OK},
    {"recipient not broker",
     RK,
     JT,
     "c-6",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"no consent id",
     RK,
     "broker",
     "",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"consent id starting with a digit",
     RK,
     "broker",
     "20040517-2380",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"invalid personnummer",
     RK,
     "broker",
     "c-7",
     P_BADLUHN,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_INVALID_PERSONNUMMER},
    {"no subject",
     RK,
     "broker",
     "c-8",
     P_NONE,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"unknown party",
     RK,
     "broker",
     "c-9",
     P_A22,
     {RK},
     {"af-nowhere"},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"unknown role",
     RK,
     "broker",
     "c-10",
     P_A22,
     {RK},
     {"role:police"},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"no to_parties",
     RK,
     "broker",
     "c-11",
     P_A22,
     {RK},
     {NULL},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"sender takes no part",
     KH,
     "broker",
     "c-12",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_POLICY_DENIED},
    {"unknown sender",
     "sdf-atlantis",
     "broker",
     "c-13",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_POLICY_DENIED},
    {"unknown purpose",
     RK,
     "broker",
     "c-14",
     P_A22,
     {RK},
     {JT},
     {"marketing"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"unknown category",
     RK,
     "broker",
     "c-15",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity", "finances"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"identity missing",
     RK,
     "broker",
     "c-16",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"social"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"date not real",
     RK,
     "broker",
     "c-17",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-02-30",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"from after until",
     RK,
     "broker",
     "c-18",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2027-05-02",
     "2027-05-01",
     SUBJ,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"ended before today",
     RK,
     "broker",
     "c-19",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-01-01",
     "2026-11-22",
     SUBJ,
     EV,
     false,
     REMISS_E_CONSENT_EXPIRED},
    {"given_by unset",
     RK,
     "broker",
     "c-20",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     REMISS__GIVEN_BY__GIVEN_BY_UNSPECIFIED,
     EV,
     false,
     REMISS_E_MALFORMED},
    {"evidence not hex",
     RK,
     "broker",
     "c-21",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EVX,
     false,
     REMISS_E_MALFORMED},
    {"evidence too short",
     RK,
     "broker",
     "c-22",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     "abc",
     false,
     REMISS_E_MALFORMED},
    {"case data in a grant",
     RK,
     "broker",
     "c-23",
     P_A22,
     {RK},
     {JT},
     {"anvisning"},
     {"identity"},
     "2026-11-01",
     "2027-05-01",
     SUBJ,
     EV,
     true,
     REMISS_E_MALFORMED},
};

#define N_GRANTS (sizeof s_grants / sizeof s_grants[0])
static size_t s_grant_idx[N_GRANTS];

ParameterizedTestParameters(decide, consent_grant)
{
    for (size_t i = 0; i < N_GRANTS; i++)
        s_grant_idx[i] = i;
    return cr_make_param_array(size_t, s_grant_idx, N_GRANTS);
}

ParameterizedTest(size_t *idx, decide, consent_grant)
{
    const grant_case_t *g = &s_grants[*idx];
    remiss_err_t err = {0};
    policy_t *policy = policy_load(POLICY_PATH, &err);
    cr_assert_not_null(policy, "%s", err.text);

    case_t c = {.type = GRANT,
                .from = g->sender,
                .to = g->recipient,
                .purpose = "",
                .person = g->person,
                .cats = g->social_block ? CB(SOCIAL) : 0};
    env_buf_t b;
    s_build(&b, &c);
    b.env.consent_id = (char *)g->consent_id;
    Remiss__ConsentGrant *cg = &b.consent_grant;
    cg->from_parties = (char **)g->from;
    cg->n_from_parties = s_count(g->from);
    cg->to_parties = (char **)g->to;
    cg->n_to_parties = s_count(g->to);
    cg->purposes = (char **)g->purposes;
    cg->n_purposes = s_count(g->purposes);
    cg->categories = (char **)g->categories;
    cg->n_categories = s_count(g->categories);
    cg->valid_from = (char *)g->valid_from;
    cg->valid_until = (char *)g->valid_until;
    cg->given_by = g->given_by;
    cg->evidence_sha256 = (char *)g->evidence;

    pnr_t subject;
    remiss_code_t r =
        decide_consent_grant(policy, g->sender, &b.env, s_date(TODAY), &subject, &err);
    policy_free(&policy);
    cr_assert_eq(r, g->want, "%s: got %s (%s)", g->name, remiss_code_name(r), err.text);
    cr_assert_eq(err.code, r);
    if (r == REMISS_OK)
        cr_assert_eq(strlen(subject.canonical), 12, "%s", g->name);
    else
        cr_assert_eq(subject.canonical[0], '\0', "%s", g->name);
    s_assert_no_personal_data(err.text, b.pnr, g->person);
}

/* ------------------------------------------------------------ consent revocation */

static remiss_code_t
s_revoke(const char *sender, const char *recipient, const char *consent_id, int person,
         unsigned consents, const char **target, remiss_err_t *err)
{
    policy_t *policy = policy_load(POLICY_PATH, err);
    cr_assert_not_null(policy, "%s", err->text);
    store_t st;
    s_store(&st, consents);
    case_t c = {.type = REMISS__MESSAGE_TYPE__CONSENT_REVOKE,
                .from = sender,
                .to = recipient,
                .purpose = "",
                .person = person};
    env_buf_t b;
    s_build(&b, &c);
    b.env.consent_id = (char *)consent_id;
    const consent_rec_t *t = NULL;
    remiss_code_t r =
        decide_consent_revoke(policy, sender, &b.env, s_date(TODAY), st.recs, st.n, &t, err);
    *target = t ? t->consent_id : NULL;
    policy_free(&policy);
    s_assert_no_personal_data(err->text, b.pnr, person);
    return r;
}

Test(decide, consent_revoke)
{
    remiss_err_t err = {0};
    const char *t;
    /* By the party that registered it, with or without the subject. */
    cr_assert_eq(s_revoke(RK, "broker", "c-anv", P_A22, M(C_ANV) | M(C_NEW), &t, &err), REMISS_OK,
                 "%s", err.text);
    cr_assert_str_eq(t, "c-anv");
    cr_assert_eq(s_revoke(RK, "broker", "c-anv", P_NONE, M(C_ANV), &t, &err), REMISS_OK, "%s",
                 err.text);
    /* The person may withdraw at the recipient too; by role as well. */
    cr_assert_eq(s_revoke(JT, "broker", "c-anv", P_A22, M(C_ANV), &t, &err), REMISS_OK);
    cr_assert_eq(s_revoke(SOD, "broker", "c-social", P_A22, M(C_SOCIAL), &t, &err), REMISS_OK);
    /* Not by a party the consent does not name. */
    cr_assert_eq(s_revoke(KH, "broker", "c-anv", P_A22, M(C_ANV), &t, &err),
                 REMISS_E_POLICY_DENIED);
    cr_assert_null(t);
    /* Twice: the second time it is already withdrawn. */
    cr_assert_eq(s_revoke(RK, "broker", "c-old", P_A22, M(C_OLD), &t, &err),
                 REMISS_E_CONSENT_REVOKED);
    /* Unknown id, another person's consent, wrong recipient, bad number. */
    cr_assert_eq(s_revoke(RK, "broker", "c-nope", P_A22, M(C_ANV), &t, &err), REMISS_E_NO_CONSENT);
    cr_assert_eq(s_revoke(RK, "broker", "c-other", P_A22, M(C_OTHER), &t, &err),
                 REMISS_E_NO_CONSENT);
    cr_assert_eq(s_revoke(RK, JT, "c-anv", P_A22, M(C_ANV), &t, &err), REMISS_E_MALFORMED);
    cr_assert_eq(s_revoke(RK, "broker", "c-anv", P_BADLUHN, M(C_ANV), &t, &err),
                 REMISS_E_INVALID_PERSONNUMMER);
    cr_assert_eq(s_revoke(RK, "broker", "", P_A22, M(C_ANV), &t, &err), REMISS_E_MALFORMED);
}

/* The generated numbers are what the table says they are. */
Test(decide, generated_numbers)
{
    pnr_t p;
    char text[24];
    pnr_date_t today = s_date(TODAY);
    s_pnr_text(P_A22_12DASH, text, sizeof text);
    cr_assert_eq(pnr_parse(text, today, &p, NULL), REMISS_OK, "%s", text);
    cr_assert_eq(pnr_age(&p, today), 22);
    s_pnr_text(P_COORD, text, sizeof text);
    cr_assert_eq(pnr_parse(text, today, &p, NULL), REMISS_OK, "%s", text);
    cr_assert(p.coordination);
    s_pnr_text(P_A22_PLUS, text, sizeof text);
    cr_assert_eq(pnr_parse(text, today, &p, NULL), REMISS_OK, "%s", text);
    cr_assert_eq(p.birth.year, 1904);
    s_pnr_text(P_BADLUHN, text, sizeof text);
    cr_assert_eq(pnr_parse(text, today, &p, NULL), REMISS_E_INVALID_PERSONNUMMER);
}
