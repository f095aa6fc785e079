/* policy: loads and validates the secrecy policy file (see policy.h). */
#include "policy.h"

#include "pki.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Identifiers are short ASCII names: they appear in logs, audit entries and
 * sentences, so nothing else (and nothing personal) may hide in them. 40
 * keeps "[party ID]" under inih's section buffer of 50, which truncates
 * longer names silently. */
#define S_ID_MAX      40
#define S_SECTION_MAX 49
#define S_AGE_MAX     150

/* Keys of a [rule] section, as bits, so "set twice" and "missing" are one test. */
enum {
    S_RK_TYPE = 1u << 0,
    S_RK_FROM = 1u << 1,
    S_RK_TO = 1u << 2,
    S_RK_PURPOSES = 1u << 3,
    S_RK_CATEGORIES = 1u << 4,
    S_RK_BASIS = 1u << 5,
    S_RK_STATUTE = 1u << 6,
    S_RK_MIN_AGE = 1u << 7,
    S_RK_MAX_AGE = 1u << 8,
};
#define S_RK_REQUIRED                                                                              \
    (S_RK_TYPE | S_RK_FROM | S_RK_TO | S_RK_PURPOSES | S_RK_CATEGORIES | S_RK_BASIS)

enum {
    S_GK_ROLES = 1u << 0,
    S_GK_PURPOSES = 1u << 1,
    S_GK_MINOR_AGE = 1u << 2,
    S_GK_MINOR_CONSENT = 1u << 3,
    S_GK_RECIPIENT_CONSENT = 1u << 4,
};

typedef struct {
    const char *id;   /* party id (pool) */
    const char *role; /* role (pool); NULL until the role key is seen */
    int line;         /* line of the [party] header */
    int role_line;    /* line of the role key */
} s_party_t;

typedef struct {
    policy_rule_t view; /* what callers see; strings point into the pool */
    unsigned keys;      /* S_RK_* bits set so far */
    int from_line;      /* lines of keys checked only once the whole file is read */
    int to_line;
    int purposes_line;
    int categories_line;
    int age_line;
} s_rule_t;

struct policy {
    void **pool;               /* every allocation the policy owns, freed together */
    size_t n_pool;             /* used entries in pool */
    size_t cap_pool;           /* allocated entries in pool */
    const char **roles;        /* [general] roles */
    size_t n_roles;            /* number of roles */
    const char **purposes;     /* [general] purposes */
    size_t n_purposes;         /* number of purposes */
    int minor_age;             /* [general] minor_age */
    Remiss__GivenBy minor_who; /* [general] minor_consent */
    catset_t no_recipient;     /* [general] recipient_consent_forbidden */
    s_party_t *parties;        /* parties in file order */
    size_t n_parties;          /* number of parties */
    s_rule_t *rules;           /* rules in file order */
    size_t n_rules;            /* number of rules */
};

typedef enum { S_SEC_NONE, S_SEC_GENERAL, S_SEC_PARTY, S_SEC_RULE } s_sec_t;

/* State of one load: the reader and the handler share it. */
typedef struct {
    policy_t *p;           /* the policy being built */
    const char *path;      /* for "path:line:" */
    FILE *file;            /* the open file */
    char *buf;             /* getline buffer */
    size_t cap;            /* its size */
    int line;              /* number of the line inih is working on */
    int header_seq;        /* section headers the reader has seen */
    int header_line;       /* line of the latest header */
    bool content;          /* a key (or junk) line followed the latest header */
    int handled_seq;       /* header_seq of the section the handler is in */
    char section[128];     /* name of that section as inih gave it */
    s_sec_t kind;          /* what kind of section it is */
    size_t cur;            /* index of its party or rule */
    bool have_general;     /* a [general] section was seen */
    int general_line;      /* its header line */
    unsigned general_keys; /* S_GK_* bits set */
    int roles_line;        /* line of [general] roles */
    int purposes_line;     /* line of [general] purposes */
    remiss_err_t *err;     /* where the error goes */
    bool failed;           /* an error was recorded; ignore the rest */
    int fail_line;         /* its line */
} s_load_t;

/* ------------------------------------------------------------ helpers */

static int s_fail(s_load_t *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an error as "path:line: reason". The earliest line wins, since
 * later errors are usually consequences of it; inih reports its syntax
 * errors only at the end, so an earlier one may still replace ours.
 * Returns 0 so a handler can `return s_fail(...)`. */
static int
s_fail(s_load_t *ld, int line, const char *fmt, ...)
{
    if (ld->failed && line >= ld->fail_line)
        return 0;
    ld->failed = true;
    ld->fail_line = line;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    remiss_err_set(ld->err, REMISS_E_CONFIG, "%s:%d: %s", ld->path, line, why);
    return 0;
}

/* Takes ownership of ptr into the pool; frees it and returns NULL if the
 * pool cannot grow, so callers only test the result. */
static void *
s_own(policy_t *p, void *ptr)
{
    if (!ptr)
        return NULL;
    if (p->n_pool == p->cap_pool) {
        size_t cap = p->cap_pool ? p->cap_pool * 2 : 32;
        void **np = realloc(p->pool, cap * sizeof *np);
        if (!np) {
            free(ptr);
            return NULL;
        }
        p->pool = np;
        p->cap_pool = cap;
    }
    p->pool[p->n_pool++] = ptr;
    return ptr;
}

static const char *
s_strdup(policy_t *p, const char *s)
{
    return s_own(p, strdup(s));
}

/* Grows a vector of elem-sized items by one; false on allocation failure. */
static bool
s_grow(void **vec, size_t *n, size_t elem)
{
    if (*n >= SIZE_MAX / elem - 1)
        return false;
    void *nv = realloc(*vec, (*n + 1) * elem);
    if (!nv)
        return false;
    *vec = nv;
    memset((char *)nv + *n * elem, 0, elem);
    (*n)++;
    return true;
}

static bool
s_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > S_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool
s_in(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Strict integer in [0, S_AGE_MAX]: no sign, no spaces, no trailing text. */
static bool
s_parse_age(const char *s, int *out)
{
    if (!s[0] || strlen(s) > 3)
        return false;
    int v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (*c - '0');
    }
    if (v > S_AGE_MAX)
        return false;
    *out = v;
    return true;
}

/* Splits a comma list of identifiers into a pool-owned array. Empty items,
 * bad identifiers and repeats are errors, reported against line. */
static bool
s_parse_list(s_load_t *ld, int line, const char *key, const char *value, const char ***out,
             size_t *n_out)
{
    const char **items = NULL;
    size_t n = 0;
    char *copy = strdup(value);
    if (!copy)
        return s_fail(ld, line, "out of memory"), false;
    bool ok = true;
    /* strtok_r would skip empty items silently; walk by hand to see them. */
    for (char *item = copy, *next; ok && item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        while (*item == ' ' || *item == '\t')
            item++;
        size_t len = strlen(item);
        while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            item[--len] = '\0';
        if (!s_id_ok(item))
            ok = s_fail(ld, line, "%s: item %zu is empty or not a name of [a-z0-9_-]", key, n + 1);
        else if (s_in(items, n, item))
            ok = s_fail(ld, line, "%s: \"%s\" is listed twice", key, item);
        else if (!s_grow((void **)&items, &n, sizeof *items) ||
                 !(items[n - 1] = s_strdup(ld->p, item)))
            ok = s_fail(ld, line, "out of memory");
    }
    free(copy);
    if (ok && !s_own(ld->p, items)) {
        ok = s_fail(ld, line, "out of memory");
        items = NULL;
    }
    if (!ok) {
        free(items);
        return false;
    }
    *out = items;
    *n_out = n;
    return true;
}

/* ------------------------------------------------------------ [general] */

/* A list of data categories into a set. */
static int
s_parse_cats(s_load_t *ld, const char *key, const char *value, catset_t *out)
{
    const char **list;
    size_t n;
    if (!s_parse_list(ld, ld->line, key, value, &list, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        category_t cat;
        if (!category_parse(list[i], &cat))
            return s_fail(ld, ld->line, "unknown data category \"%s\"", list[i]);
        *out |= 1u << cat;
    }
    return 1;
}

static int
s_general_key(s_load_t *ld, const char *name, const char *value)
{
    policy_t *p = ld->p;
    unsigned bit;
    if (strcmp(name, "roles") == 0)
        bit = S_GK_ROLES;
    else if (strcmp(name, "purposes") == 0)
        bit = S_GK_PURPOSES;
    else if (strcmp(name, "minor_age") == 0)
        bit = S_GK_MINOR_AGE;
    else if (strcmp(name, "minor_consent") == 0)
        bit = S_GK_MINOR_CONSENT;
    else if (strcmp(name, "recipient_consent_forbidden") == 0)
        bit = S_GK_RECIPIENT_CONSENT;
    else
        return s_fail(ld, ld->line, "unknown key \"%s\" in [general]", name);
    if (ld->general_keys & bit)
        return s_fail(ld, ld->line, "\"%s\" is set twice in [general]", name);
    ld->general_keys |= bit;

    switch (bit) {
    case S_GK_ROLES:
        ld->roles_line = ld->line;
        return s_parse_list(ld, ld->line, "roles", value, &p->roles, &p->n_roles);
    case S_GK_PURPOSES:
        ld->purposes_line = ld->line;
        return s_parse_list(ld, ld->line, "purposes", value, &p->purposes, &p->n_purposes);
    case S_GK_MINOR_AGE:
        if (!s_parse_age(value, &p->minor_age) || p->minor_age == 0)
            return s_fail(ld, ld->line, "minor_age must be a whole number from 1 to %d", S_AGE_MAX);
        return 1;
    case S_GK_RECIPIENT_CONSENT:
        return s_parse_cats(ld, "recipient_consent_forbidden", value, &p->no_recipient);
    default:
        if (strcmp(value, "subject_and_guardian") == 0)
            p->minor_who = REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN;
        else if (strcmp(value, "subject") == 0)
            p->minor_who = REMISS__GIVEN_BY__SUBJECT;
        else
            return s_fail(ld, ld->line, "minor_consent must be subject_and_guardian or subject");
        return 1;
    }
}

/* ------------------------------------------------------------ [party] */

static int
s_party_key(s_load_t *ld, const char *name, const char *value)
{
    s_party_t *party = &ld->p->parties[ld->cur];
    if (strcmp(name, "role") != 0)
        return s_fail(ld, ld->line, "unknown key \"%s\" in [party %s]", name, party->id);
    if (party->role)
        return s_fail(ld, ld->line, "\"role\" is set twice in [party %s]", party->id);
    if (!s_id_ok(value))
        return s_fail(ld, ld->line, "role must be a name of [a-z0-9_-]");
    party->role_line = ld->line;
    if (!(party->role = s_strdup(ld->p, value)))
        return s_fail(ld, ld->line, "out of memory");
    return 1;
}

/* ------------------------------------------------------------ [rule] */

typedef int (*s_rule_fn)(s_load_t *ld, s_rule_t *r, const char *value);

static int
s_rk_type(s_load_t *ld, s_rule_t *r, const char *value)
{
    if (!msgtype_parse(value, &r->view.type))
        return s_fail(ld, ld->line, "unknown message type \"%.64s\"", value);
    /* Consent messages go to the broker itself and are checked by
     * decide_consent_grant/revoke; a rule for them would be dead text. */
    if (r->view.type == REMISS__MESSAGE_TYPE__CONSENT_GRANT ||
        r->view.type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE)
        return s_fail(ld, ld->line, "type %s is handled by the broker, not by rules", value);
    return 1;
}

static int
s_rk_role(s_load_t *ld, const char *value, const char **out, int *line)
{
    if (!s_id_ok(value))
        return s_fail(ld, ld->line, "a role must be a name of [a-z0-9_-]");
    *line = ld->line;
    if (!(*out = s_strdup(ld->p, value)))
        return s_fail(ld, ld->line, "out of memory");
    return 1;
}

static int
s_rk_from(s_load_t *ld, s_rule_t *r, const char *value)
{
    return s_rk_role(ld, value, &r->view.from_role, &r->from_line);
}

static int
s_rk_to(s_load_t *ld, s_rule_t *r, const char *value)
{
    return s_rk_role(ld, value, &r->view.to_role, &r->to_line);
}

static int
s_rk_purposes(s_load_t *ld, s_rule_t *r, const char *value)
{
    const char **list;
    r->purposes_line = ld->line;
    if (!s_parse_list(ld, ld->line, "purposes", value, &list, &r->view.n_purposes))
        return 0;
    r->view.purposes = list;
    return 1;
}

static int
s_rk_categories(s_load_t *ld, s_rule_t *r, const char *value)
{
    const char **list;
    size_t n;
    r->categories_line = ld->line;
    if (!s_parse_list(ld, ld->line, "categories", value, &list, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        category_t cat;
        if (!category_parse(list[i], &cat))
            return s_fail(ld, ld->line, "unknown data category \"%s\"", list[i]);
        r->view.categories |= 1u << cat;
    }
    return 1;
}

static int
s_rk_basis(s_load_t *ld, s_rule_t *r, const char *value)
{
    if (strcmp(value, "consent") == 0)
        r->view.basis = POLICY_BASIS_CONSENT;
    else if (strcmp(value, "statute") == 0)
        r->view.basis = POLICY_BASIS_STATUTE;
    else
        return s_fail(ld, ld->line, "basis must be consent or statute");
    return 1;
}

static int
s_rk_statute(s_load_t *ld, s_rule_t *r, const char *value)
{
    /* The citation is shown in sentences and audit details: printable text
     * (UTF-8 is fine, for '§'), no control characters. */
    size_t n = strlen(value);
    if (n == 0 || n > 200)
        return s_fail(ld, ld->line, "statute must be a citation of 1 to 200 characters");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return s_fail(ld, ld->line, "statute contains a control character");
    if (!(r->view.statute = s_strdup(ld->p, value)))
        return s_fail(ld, ld->line, "out of memory");
    return 1;
}

static int
s_rk_age(s_load_t *ld, const char *key, const char *value, int *out)
{
    if (!s_parse_age(value, out))
        return s_fail(ld, ld->line, "%s must be a whole number from 0 to %d", key, S_AGE_MAX);
    return 1;
}

static int
s_rk_min_age(s_load_t *ld, s_rule_t *r, const char *value)
{
    r->age_line = ld->line;
    return s_rk_age(ld, "min_age", value, &r->view.min_age);
}

static int
s_rk_max_age(s_load_t *ld, s_rule_t *r, const char *value)
{
    r->age_line = ld->line;
    return s_rk_age(ld, "max_age", value, &r->view.max_age);
}

static const struct {
    const char *name;
    unsigned bit;
    s_rule_fn fn;
} s_rule_keys[] = {
    {"type", S_RK_TYPE, s_rk_type},
    {"from", S_RK_FROM, s_rk_from},
    {"to", S_RK_TO, s_rk_to},
    {"purposes", S_RK_PURPOSES, s_rk_purposes},
    {"categories", S_RK_CATEGORIES, s_rk_categories},
    {"basis", S_RK_BASIS, s_rk_basis},
    {"statute", S_RK_STATUTE, s_rk_statute},
    {"min_age", S_RK_MIN_AGE, s_rk_min_age},
    {"max_age", S_RK_MAX_AGE, s_rk_max_age},
};

static int
s_rule_key(s_load_t *ld, const char *name, const char *value)
{
    s_rule_t *r = &ld->p->rules[ld->cur];
    for (size_t i = 0; i < sizeof s_rule_keys / sizeof s_rule_keys[0]; i++) {
        if (strcmp(name, s_rule_keys[i].name) != 0)
            continue;
        if (r->keys & s_rule_keys[i].bit)
            return s_fail(ld, ld->line, "\"%s\" is set twice in [rule %s]", name, r->view.name);
        r->keys |= s_rule_keys[i].bit;
        return s_rule_keys[i].fn(ld, r, value);
    }
    return s_fail(ld, ld->line, "unknown key \"%.64s\" in [rule %s]", name, r->view.name);
}

/* ------------------------------------------------------------ sections */

/* Starts the section named by inih at the current header. */
static int
s_begin_section(s_load_t *ld, const char *section)
{
    policy_t *p = ld->p;
    int line = ld->handled_seq == ld->header_seq ? ld->line : ld->header_line;
    ld->handled_seq = ld->header_seq;
    snprintf(ld->section, sizeof ld->section, "%s", section);
    if (strlen(section) >= sizeof ld->section)
        return s_fail(ld, line, "section name too long");

    if (section[0] == '\0')
        return s_fail(ld, ld->line, "key outside any section");
    if (strcmp(section, "general") == 0) {
        if (ld->have_general)
            return s_fail(ld, line, "[general] appears twice (first on line %d)", ld->general_line);
        ld->have_general = true;
        ld->general_line = line;
        ld->kind = S_SEC_GENERAL;
        return 1;
    }
    const char *id;
    if (strncmp(section, "party ", 6) == 0) {
        id = section + 6;
        /* The certificate's rule, so every party named here can hold one. */
        if (!pki_id_valid(id))
            return s_fail(ld, line,
                          "party id must be 1-63 of a-z, 0-9 and '-', as in its certificate");
        if (strcmp(id, "broker") == 0)
            return s_fail(ld, line, "party id \"broker\" is reserved for the broker itself");
        for (size_t i = 0; i < p->n_parties; i++)
            if (strcmp(p->parties[i].id, id) == 0)
                return s_fail(ld, line, "party %s is defined twice (first on line %d)", id,
                              p->parties[i].line);
        if (!s_grow((void **)&p->parties, &p->n_parties, sizeof *p->parties))
            return s_fail(ld, line, "out of memory");
        ld->cur = p->n_parties - 1;
        ld->kind = S_SEC_PARTY;
        p->parties[ld->cur].line = line;
        if (!(p->parties[ld->cur].id = s_strdup(p, id)))
            return s_fail(ld, line, "out of memory");
        return 1;
    }
    if (strncmp(section, "rule ", 5) == 0) {
        id = section + 5;
        if (!s_id_ok(id))
            return s_fail(ld, line, "rule name must be a name of [a-z0-9_-]");
        for (size_t i = 0; i < p->n_rules; i++)
            if (strcmp(p->rules[i].view.name, id) == 0)
                return s_fail(ld, line, "rule %s is defined twice (first on line %d)", id,
                              p->rules[i].view.line);
        if (!s_grow((void **)&p->rules, &p->n_rules, sizeof *p->rules))
            return s_fail(ld, line, "out of memory");
        ld->cur = p->n_rules - 1;
        ld->kind = S_SEC_RULE;
        s_rule_t *r = &p->rules[ld->cur];
        r->view.line = line;
        r->view.min_age = -1;
        r->view.max_age = -1;
        if (!(r->view.name = s_strdup(p, id)))
            return s_fail(ld, line, "out of memory");
        return 1;
    }
    return s_fail(ld, line,
                  "unknown section [%.64s]; expected [general], [party ID] or [rule NAME]",
                  section);
}

/* Removes one pair of surrounding double quotes, so citations with
 * spaces can be written the way people expect. */
static const char *
s_unquote(const char *value, char *buf, size_t size)
{
    size_t n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"' && n - 2 < size) {
        memcpy(buf, value + 1, n - 2);
        buf[n - 2] = '\0';
        return buf;
    }
    return value;
}

static int
s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_load_t *ld = user;
    if (ld->failed)
        return 0;
    if (ld->handled_seq != ld->header_seq || strcmp(section, ld->section) != 0 ||
        ld->kind == S_SEC_NONE)
        if (!s_begin_section(ld, section))
            return 0;
    char buf[512];
    value = s_unquote(value, buf, sizeof buf);
    switch (ld->kind) {
    case S_SEC_GENERAL:
        return s_general_key(ld, name, value);
    case S_SEC_PARTY:
        return s_party_key(ld, name, value);
    case S_SEC_RULE:
        return s_rule_key(ld, name, value);
    default:
        return s_fail(ld, ld->line, "key outside any section");
    }
}

/* inih's reader: one line per call, as fgets would give it. Reading the
 * lines ourselves lets us number them for every message (the system inih
 * is built without INI_HANDLER_LINENO), notice section headers (inih does
 * not tell the handler about empty sections), and refuse what fgets would
 * silently mangle: NUL bytes and lines longer than inih's buffer, which it
 * would otherwise split into two lines. */
static char *
s_reader(char *str, int num, void *stream)
{
    s_load_t *ld = stream;
    if (ld->failed)
        return NULL;
    errno = 0;
    ssize_t len = getline(&ld->buf, &ld->cap, ld->file);
    if (len < 0) {
        if (errno == ENOMEM)
            s_fail(ld, ld->line, "out of memory");
        else if (ferror(ld->file))
            s_fail(ld, ld->line, "read error");
        else if (ld->header_seq > 0 && !ld->content)
            s_fail(ld, ld->header_line, "empty section");
        return NULL;
    }
    ld->line++;
    if (strlen(ld->buf) != (size_t)len) {
        s_fail(ld, ld->line, "line contains a NUL byte");
        return NULL;
    }
    /* inih needs room for "\r\n\0" after the text. */
    if (num < 4 || len > num - 3) {
        s_fail(ld, ld->line, "line longer than %d characters", num > 3 ? num - 3 : 0);
        return NULL;
    }
    /* inih reads an indented line after a key as a continuation of that
     * key's value, so "  role = sdf" would silently become part of another
     * value; refuse indentation instead. */
    if (ld->buf[0] == ' ' || ld->buf[0] == '\t') {
        size_t skip = strspn(ld->buf, " \t\r\n");
        if (ld->buf[skip] != '\0' && ld->buf[skip] != ';' && ld->buf[skip] != '#') {
            s_fail(ld, ld->line, "indented line: keys and sections start in the first column");
            return NULL;
        }
    }
    if (ld->buf[0] == '[') {
        const char *close = strchr(ld->buf, ']');
        if (close && close - ld->buf - 1 > S_SECTION_MAX) {
            s_fail(ld, ld->line, "section name longer than %d characters", S_SECTION_MAX);
            return NULL;
        }
        if (ld->header_seq > 0 && !ld->content) {
            s_fail(ld, ld->header_line, "empty section");
            return NULL;
        }
        ld->header_seq++;
        ld->header_line = ld->line;
        ld->content = false;
    } else {
        size_t skip = strspn(ld->buf, " \t\r\n");
        if (ld->buf[skip] != '\0' && ld->buf[skip] != ';' && ld->buf[skip] != '#')
            ld->content = true;
    }
    memcpy(str, ld->buf, (size_t)len + 1);
    return str;
}

/* ------------------------------------------------------------ whole-file checks */

static bool
s_ranges_overlap(const policy_rule_t *a, const policy_rule_t *b)
{
    int alo = a->min_age < 0 ? 0 : a->min_age, ahi = a->max_age < 0 ? INT_MAX : a->max_age;
    int blo = b->min_age < 0 ? 0 : b->min_age, bhi = b->max_age < 0 ? INT_MAX : b->max_age;
    return alo <= bhi && blo <= ahi;
}

static bool
s_rules_overlap(const policy_rule_t *a, const policy_rule_t *b, const char **purpose)
{
    if (a->type != b->type || strcmp(a->from_role, b->from_role) != 0 ||
        strcmp(a->to_role, b->to_role) != 0 || !s_ranges_overlap(a, b))
        return false;
    for (size_t i = 0; i < a->n_purposes; i++)
        if (policy_rule_has_purpose(b, a->purposes[i])) {
            *purpose = a->purposes[i];
            return true;
        }
    return false;
}

static bool
s_check_rule(s_load_t *ld, const s_rule_t *r)
{
    const policy_t *p = ld->p;
    const policy_rule_t *v = &r->view;
    unsigned missing = S_RK_REQUIRED & ~r->keys;
    if (missing) {
        for (size_t i = 0; i < sizeof s_rule_keys / sizeof s_rule_keys[0]; i++)
            if (missing & s_rule_keys[i].bit)
                return s_fail(ld, v->line, "rule %s has no \"%s\"", v->name, s_rule_keys[i].name);
    }
    if (!policy_role_known(p, v->from_role))
        return s_fail(ld, r->from_line, "unknown role \"%s\"", v->from_role);
    if (!policy_role_known(p, v->to_role))
        return s_fail(ld, r->to_line, "unknown role \"%s\"", v->to_role);
    for (size_t i = 0; i < v->n_purposes; i++)
        if (!policy_purpose_known(p, v->purposes[i]))
            return s_fail(ld, r->purposes_line,
                          "unknown purpose \"%s\" (not in [general] purposes)", v->purposes[i]);
    if (v->basis == POLICY_BASIS_STATUTE && !v->statute)
        return s_fail(ld, v->line, "rule %s has basis statute but no \"statute\" citation",
                      v->name);
    if (v->basis == POLICY_BASIS_CONSENT && v->statute)
        return s_fail(ld, v->line, "rule %s has a statute citation but basis consent", v->name);
    /* The house line on crime data: no statute in this domain is read as
     * lifting secrecy for it wholesale, so it travels only on a consent
     * that names "criminal" explicitly. */
    if (v->basis == POLICY_BASIS_STATUTE && (v->categories & (1u << CAT_CRIMINAL)))
        return s_fail(ld, r->categories_line,
                      "rule %s: criminal data is never allowed on a statute basis, only on a "
                      "consent that names it",
                      v->name);
    if (v->min_age >= 0 && v->max_age >= 0 && v->min_age > v->max_age)
        return s_fail(ld, r->age_line, "rule %s: min_age %d is above max_age %d", v->name,
                      v->min_age, v->max_age);
    return true;
}

static bool
s_finish(s_load_t *ld)
{
    policy_t *p = ld->p;
    if (!ld->have_general)
        return s_fail(ld, ld->line, "no [general] section");
    if (!(ld->general_keys & S_GK_ROLES))
        return s_fail(ld, ld->general_line, "[general] has no \"roles\"");
    if (!(ld->general_keys & S_GK_PURPOSES))
        return s_fail(ld, ld->general_line, "[general] has no \"purposes\"");
    for (size_t i = 0; i < p->n_parties; i++) {
        const s_party_t *party = &p->parties[i];
        if (!party->role)
            return s_fail(ld, party->line, "party %s has no \"role\"", party->id);
        if (!policy_role_known(p, party->role))
            return s_fail(ld, party->role_line, "unknown role \"%s\" (not in [general] roles)",
                          party->role);
    }
    for (size_t i = 0; i < p->n_rules; i++)
        if (!s_check_rule(ld, &p->rules[i]))
            return false;
    for (size_t i = 0; i < p->n_rules; i++)
        for (size_t j = 0; j < i; j++) {
            const char *purpose;
            if (s_rules_overlap(&p->rules[j].view, &p->rules[i].view, &purpose))
                return s_fail(ld, p->rules[i].view.line,
                              "rule %s overlaps rule %s (line %d): same type, roles and purpose "
                              "%s for the same ages",
                              p->rules[i].view.name, p->rules[j].view.name, p->rules[j].view.line,
                              purpose);
        }
    return true;
}

/* ------------------------------------------------------------ public */

policy_t *
policy_load(const char *path, remiss_err_t *err)
{
    s_load_t ld = {.path = path, .err = err};
    policy_t *p = NULL;
    if (!path) {
        remiss_err_set(err, REMISS_E_USAGE, "no policy file given");
        return NULL;
    }
    if (!(ld.file = fopen(path, "r"))) {
        remiss_err_set(err, REMISS_E_IO, "cannot open policy file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (!(p = calloc(1, sizeof *p))) {
        remiss_err_set(err, REMISS_E_CONFIG, "%s: out of memory", path);
        goto out;
    }
    p->minor_age = 18;
    p->minor_who = REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN;
    ld.p = p;

    int rc = ini_parse_stream(s_reader, &ld, s_handler, &ld);
    if (rc > 0)
        s_fail(&ld, rc, "syntax error (expected [section], key = value or a comment)");
    else if (!ld.failed && rc < 0)
        s_fail(&ld, ld.line, "out of memory");
    if (!ld.failed)
        s_finish(&ld);
    if (!ld.failed)
        remiss_err_set(err, REMISS_OK, NULL);
out:
    free(ld.buf);
    fclose(ld.file);
    if (ld.failed || !p)
        policy_free(&p);
    return p;
}

void
policy_free(policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    policy_t *p = *self_p;
    for (size_t i = 0; i < p->n_pool; i++)
        free(p->pool[i]);
    free(p->pool);
    free(p->parties);
    free(p->rules);
    free(p);
    *self_p = NULL;
}

const char *
policy_party_role(const policy_t *self, const char *party)
{
    for (size_t i = 0; self && party && i < self->n_parties; i++)
        if (strcmp(self->parties[i].id, party) == 0)
            return self->parties[i].role;
    return NULL;
}

size_t
policy_party_count(const policy_t *self)
{
    return self ? self->n_parties : 0;
}

const char *
policy_party_at(const policy_t *self, size_t i)
{
    return self && i < self->n_parties ? self->parties[i].id : NULL;
}

bool
policy_role_known(const policy_t *self, const char *role)
{
    return self && s_in(self->roles, self->n_roles, role);
}

bool
policy_purpose_known(const policy_t *self, const char *purpose)
{
    return self && s_in(self->purposes, self->n_purposes, purpose);
}

int
policy_minor_age(const policy_t *self)
{
    return self ? self->minor_age : 18;
}

Remiss__GivenBy
policy_minor_given_by(const policy_t *self)
{
    return self ? self->minor_who : REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN;
}

catset_t
policy_recipient_consent_forbidden(const policy_t *self)
{
    return self ? self->no_recipient : 0;
}

size_t
policy_rule_count(const policy_t *self)
{
    return self ? self->n_rules : 0;
}

const policy_rule_t *
policy_rule_at(const policy_t *self, size_t i)
{
    return self && i < self->n_rules ? &self->rules[i].view : NULL;
}

bool
policy_rule_has_purpose(const policy_rule_t *rule, const char *purpose)
{
    return rule && s_in(rule->purposes, rule->n_purposes, purpose);
}

bool
policy_rule_age_ok(const policy_rule_t *rule, int age)
{
    if (!rule || age < 0)
        return false;
    return (rule->min_age < 0 || age >= rule->min_age) &&
           (rule->max_age < 0 || age <= rule->max_age);
}

const char *
policy_basis_name(policy_basis_t basis)
{
    return basis == POLICY_BASIS_STATUTE ? "statute" : "consent";
}
