/* Tests for policy: a valid file and its accessors, the Stockholm example,
 * every kind of invalid file refused with REMISS_E_CONFIG and "file:line:",
 * and a randomized mutation loop that must never crash or leak. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

/* A temporary directory holding one policy file. */
typedef struct {
    char dir[64];
    char path[128];
} tmpfile_t;

static void
s_write(tmpfile_t *t, const char *text, size_t len)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/remiss-policy-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/test.policy", t->dir);
    FILE *f = fopen(t->path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void
s_remove(tmpfile_t *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

static policy_t *
s_load_text(const char *text, remiss_err_t *err)
{
    tmpfile_t t;
    s_write(&t, text, strlen(text));
    policy_t *p = policy_load(t.path, err);
    /* Messages name the file; make them comparable across runs. */
    size_t plen = strlen(t.path);
    if (!p && strncmp(err->text, t.path, plen) == 0) {
        err->text[0] = 'F';
        memmove(err->text + 1, err->text + plen, strlen(err->text + plen) + 1);
    }
    s_remove(&t);
    return p;
}

#define GENERAL "[general]\nroles = a, b\npurposes = p, q\n"

static const char s_valid[] = "# a comment\n"
                              "; another comment\n"
                              "[general]\n"
                              "roles = sdf, jobbtorg\n"
                              "purposes = anvisning, oro\n"
                              "minor_age = 18\n"
                              "minor_consent = subject_and_guardian\n"
                              "\n"
                              "[party sdf-a]\n"
                              "role = sdf\n"
                              "[party jobbtorg]\n"
                              "role = jobbtorg ; inline comment\n"
                              "\n"
                              "[rule r1]\n"
                              "type = referral\n"
                              "from = sdf\n"
                              "to = jobbtorg\n"
                              "purposes = anvisning\n"
                              "categories = identity, contact ,social\n"
                              "basis = consent\n"
                              "min_age = 16\n"
                              "max_age = 29\n"
                              "[rule r2]\n"
                              "type = concern_report\n"
                              "from = jobbtorg\n"
                              "to = sdf\n"
                              "purposes = oro\n"
                              "categories = identity,health\n"
                              "basis = statute\n"
                              "statute = \"SoL 14 kap. 1 §\"\n"
                              "max_age = 17\n";

Test(policy, valid_file_and_accessors)
{
    remiss_err_t err = {0};
    policy_t *p = s_load_text(s_valid, &err);
    cr_assert_not_null(p, "%s", err.text);
    cr_assert_eq(err.code, REMISS_OK);

    cr_assert_eq(policy_party_count(p), 2);
    cr_assert_str_eq(policy_party_at(p, 0), "sdf-a");
    cr_assert_str_eq(policy_party_at(p, 1), "jobbtorg");
    cr_assert_null(policy_party_at(p, 2));
    cr_assert_str_eq(policy_party_role(p, "sdf-a"), "sdf");
    cr_assert_str_eq(policy_party_role(p, "jobbtorg"), "jobbtorg");
    cr_assert_null(policy_party_role(p, "nobody"));
    cr_assert_null(policy_party_role(p, NULL));
    cr_assert(policy_role_known(p, "sdf"));
    cr_assert_not(policy_role_known(p, "kommunhubb"));
    cr_assert(policy_purpose_known(p, "oro"));
    cr_assert_not(policy_purpose_known(p, "finsam"));
    cr_assert_eq(policy_minor_age(p), 18);
    cr_assert_eq(policy_minor_given_by(p), REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN);

    cr_assert_eq(policy_rule_count(p), 2);
    const policy_rule_t *r = policy_rule_at(p, 0);
    cr_assert_str_eq(r->name, "r1");
    cr_assert_eq(r->type, REMISS__MESSAGE_TYPE__REFERRAL);
    cr_assert_str_eq(r->from_role, "sdf");
    cr_assert_str_eq(r->to_role, "jobbtorg");
    cr_assert_eq(r->n_purposes, 1);
    cr_assert_str_eq(r->purposes[0], "anvisning");
    cr_assert_eq(r->categories, (1u << CAT_IDENTITY) | (1u << CAT_CONTACT) | (1u << CAT_SOCIAL));
    cr_assert_eq(r->basis, POLICY_BASIS_CONSENT);
    cr_assert_null(r->statute);
    cr_assert_eq(r->min_age, 16);
    cr_assert_eq(r->max_age, 29);
    cr_assert_eq(r->line, 14);
    cr_assert(policy_rule_age_ok(r, 16));
    cr_assert(policy_rule_age_ok(r, 29));
    cr_assert_not(policy_rule_age_ok(r, 15));
    cr_assert_not(policy_rule_age_ok(r, 30));

    r = policy_rule_at(p, 1);
    cr_assert_eq(r->basis, POLICY_BASIS_STATUTE);
    cr_assert_str_eq(r->statute, "SoL 14 kap. 1 §"); /* quotes removed */
    cr_assert_eq(r->min_age, -1);
    cr_assert_eq(r->max_age, 17);
    cr_assert(policy_rule_age_ok(r, 0));
    cr_assert_not(policy_rule_age_ok(r, 18));
    cr_assert(policy_rule_has_purpose(r, "oro"));
    cr_assert_not(policy_rule_has_purpose(r, "anvisning"));
    cr_assert_null(policy_rule_at(p, 2));
    cr_assert_str_eq(policy_basis_name(r->basis), "statute");

    policy_free(&p);
    cr_assert_null(p);
    policy_free(&p); /* twice is harmless */
    policy_free(NULL);
}

Test(policy, defaults_bom_and_crlf)
{
    remiss_err_t err = {0};
    policy_t *p = s_load_text("\xEF\xBB\xBF[general]\r\nroles = a\r\npurposes = p\r\n"
                              "minor_consent = subject\r\n",
                              &err);
    cr_assert_not_null(p, "%s", err.text);
    cr_assert_eq(policy_minor_age(p), 18);
    cr_assert_eq(policy_minor_given_by(p), REMISS__GIVEN_BY__SUBJECT);
    cr_assert_eq(policy_rule_count(p), 0);
    cr_assert_eq(policy_party_count(p), 0);
    policy_free(&p);
}

Test(policy, stockholm_example_loads)
{
    remiss_err_t err = {0};
    policy_t *p = policy_load("config/stockholm.policy", &err);
    cr_assert_not_null(p, "%s", err.text);
    const char *parties[] = {"jobbtorg",
                             "sdf-rinkeby-kista",
                             "sdf-spanga-tensta",
                             "sdf-sodermalm",
                             "sdf-enskede-arsta-vantor",
                             "af-kommunhubb",
                             "samordningsforbundet"};
    for (size_t i = 0; i < sizeof parties / sizeof parties[0]; i++)
        cr_assert_not_null(policy_party_role(p, parties[i]), "%s", parties[i]);
    cr_assert_str_eq(policy_party_role(p, "af-kommunhubb"), "kommunhubb");
    const char *purposes[] = {"anvisning",  "kaa",       "ips",    "socialtjanst", "arendedragning",
                              "overforing", "forfragan", "finsam", "oro"};
    for (size_t i = 0; i < sizeof purposes / sizeof purposes[0]; i++)
        cr_assert(policy_purpose_known(p, purposes[i]), "%s", purposes[i]);
    /* No statute rule carries criminal data, every statute rule cites one. */
    for (size_t i = 0; i < policy_rule_count(p); i++) {
        const policy_rule_t *r = policy_rule_at(p, i);
        if (r->basis == POLICY_BASIS_STATUTE) {
            cr_assert_not_null(r->statute);
            cr_assert_eq(r->categories & (1u << CAT_CRIMINAL), 0, "%s", r->name);
        }
    }
    policy_free(&p);
}

Test(policy, missing_file_is_io)
{
    remiss_err_t err = {0};
    cr_assert_null(policy_load("/nonexistent/dir/x.policy", &err));
    cr_assert_eq(err.code, REMISS_E_IO);
    cr_assert_null(policy_load(NULL, &err));
    cr_assert_eq(err.code, REMISS_E_USAGE);
}

/* ------------------------------------------------------------ invalid files */

typedef struct {
    const char *name; /* what is wrong */
    const char *text; /* the file */
    int line;         /* line the error must name */
    const char *why;  /* a part of the reason */
} bad_case_t;

#define RULE_HEAD "[rule r]\ntype = referral\nfrom = a\nto = b\npurposes = p\n"

static const bad_case_t s_bad[] = {
    {"unknown key in rule",
     GENERAL RULE_HEAD "categories = identity\nbasis = consent\ncolour = red\n", 11,
     "unknown key \"colour\""},
    {"unknown key in general", "[general]\nroles = a\nfoo = 1\npurposes = p\n", 3,
     "unknown key \"foo\""},
    {"unknown key in party", GENERAL "[party x]\nrole = a\nname = X\n", 6, "unknown key"},
    {"unknown role of party", GENERAL "[party x]\nrole = c\n", 5, "unknown role \"c\""},
    {"unknown from role",
     GENERAL "[rule r]\ntype = referral\nfrom = zz\nto = b\npurposes = p\n"
             "categories = identity\nbasis = consent\n",
     6, "unknown role \"zz\""},
    {"unknown to role",
     GENERAL "[rule r]\ntype = referral\nfrom = a\nto = zz\npurposes = p\n"
             "categories = identity\nbasis = consent\n",
     7, "unknown role \"zz\""},
    {"unknown type", GENERAL "[rule r]\ntype = letter\n", 5, "unknown message type"},
    {"consent type in rule", GENERAL "[rule r]\ntype = consent_grant\n", 5,
     "handled by the broker"},
    {"unknown category", GENERAL RULE_HEAD "categories = identity, secrets\n", 9,
     "unknown data category \"secrets\""},
    {"unknown purpose",
     GENERAL "[rule r]\ntype = referral\nfrom = a\nto = b\npurposes = p, zz\n"
             "categories = identity\nbasis = consent\n",
     8, "unknown purpose \"zz\""},
    {"general after parties", "[party x]\nrole = c\n" GENERAL, 2, "unknown role \"c\""},
    {"duplicate party", GENERAL "[party x]\nrole = a\n[party x]\nrole = b\n", 6,
     "party x is defined twice (first on line 4)"},
    {"duplicate rule", GENERAL RULE_HEAD "categories = identity\nbasis = consent\n" RULE_HEAD, 11,
     "rule r is defined twice"},
    {"duplicate general", GENERAL "[general]\nminor_age = 17\n", 4, "[general] appears twice"},
    {"missing basis", GENERAL RULE_HEAD "categories = identity\n", 4, "has no \"basis\""},
    {"missing categories", GENERAL RULE_HEAD "basis = consent\n", 4, "has no \"categories\""},
    {"missing type",
     GENERAL "[rule r]\nfrom = a\nto = b\npurposes = p\ncategories = identity\n"
             "basis = consent\n",
     4, "has no \"type\""},
    {"statute without citation", GENERAL RULE_HEAD "categories = identity\nbasis = statute\n", 4,
     "no \"statute\" citation"},
    {"consent with citation",
     GENERAL RULE_HEAD "categories = identity\nbasis = consent\nstatute = \"X 1 §\"\n", 4,
     "basis consent"},
    {"statute allows criminal",
     GENERAL RULE_HEAD "categories = identity, criminal\nbasis = statute\nstatute = \"X 1 §\"\n", 9,
     "criminal data is never allowed on a statute basis"},
    {"min above max",
     GENERAL RULE_HEAD "categories = identity\nbasis = consent\nmin_age = 30\nmax_age = 18\n", 12,
     "min_age 30 is above max_age 18"},
    {"bad age", GENERAL RULE_HEAD "min_age = -1\n", 9, "min_age must be a whole number"},
    {"age with text", GENERAL RULE_HEAD "max_age = 17 years\n", 9, "max_age must be"},
    {"age too big", GENERAL RULE_HEAD "max_age = 151\n", 9, "max_age must be"},
    {"bad minor_age", "[general]\nroles = a\npurposes = p\nminor_age = 0\n", 4, "minor_age"},
    {"bad minor_consent", "[general]\nroles = a\npurposes = p\nminor_consent = guardian\n", 4,
     "minor_consent"},
    {"bad basis", GENERAL RULE_HEAD "basis = custom\n", 9, "basis must be consent or statute"},
    {"key set twice", GENERAL RULE_HEAD "to = a\n", 9, "\"to\" is set twice"},
    {"role set twice", GENERAL "[party x]\nrole = a\nrole = b\n", 6, "\"role\" is set twice"},
    {"key outside section", "roles = a\n" GENERAL, 1, "outside any section"},
    {"unknown section", GENERAL "[parties]\nx = 1\n", 4, "unknown section [parties]"},
    {"syntax error", GENERAL "[party x]\nrole sdf\n", 5, "syntax error"},
    {"empty section", GENERAL "[party x]\n[party y]\nrole = a\n", 4, "empty section"},
    {"empty section at end", GENERAL "[rule r]\n", 4, "empty section"},
    {"indented key", GENERAL "[party x]\n  role = a\n", 5, "indented line"},
    {"no general", "[party x]\nrole = a\n", 2, "no [general] section"},
    {"no roles", "[general]\npurposes = p\n", 1, "[general] has no \"roles\""},
    {"no purposes", "[general]\nroles = a\n", 1, "[general] has no \"purposes\""},
    {"reserved party id", GENERAL "[party broker]\nrole = a\n", 4, "reserved"},
    {"bad party id", GENERAL "[party Sdf X]\nrole = a\n", 4, "party id must be 1-63 of a-z"},
    {"party id a certificate cannot carry", GENERAL "[party sdf_x]\nrole = a\n", 4,
     "party id must be 1-63 of a-z"},
    {"bad role name", GENERAL "[party x]\nrole = A B\n", 5, "role must be a name"},
    {"empty list item", "[general]\nroles = a,,b\npurposes = p\n", 2, "item 2 is empty"},
    {"duplicate list item", "[general]\nroles = a, b, a\npurposes = p\n", 2,
     "\"a\" is listed twice"},
    {"overlapping rules",
     GENERAL RULE_HEAD "categories = identity\nbasis = consent\nmax_age = 20\n"
                       "[rule s]\ntype = referral\nfrom = a\nto = b\npurposes = q, p\n"
                       "categories = identity\nbasis = consent\nmin_age = 20\n",
     12, "rule s overlaps rule r (line 4)"},
    {"long section name", GENERAL "[rule abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij]\n", 4,
     "section name longer"},
};

/* Criterion may run each parameter in a fresh process where the table's
 * pointers would not be valid, so the parameter is an index into it. */
static size_t s_bad_idx[sizeof s_bad / sizeof s_bad[0]];

ParameterizedTestParameters(policy, invalid_file)
{
    for (size_t i = 0; i < sizeof s_bad_idx / sizeof s_bad_idx[0]; i++)
        s_bad_idx[i] = i;
    return cr_make_param_array(size_t, s_bad_idx, sizeof s_bad_idx / sizeof s_bad_idx[0]);
}

ParameterizedTest(size_t *idx, policy, invalid_file)
{
    const bad_case_t *c = &s_bad[*idx];
    remiss_err_t err = {0};
    policy_t *p = s_load_text(c->text, &err);
    bool loaded = p != NULL;
    policy_free(&p);
    cr_assert_not(loaded, "%s: loaded", c->name);
    cr_assert_eq(err.code, REMISS_E_CONFIG, "%s: code %d (%s)", c->name, err.code, err.text);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "F:%d: ", c->line);
    cr_assert(strncmp(err.text, prefix, strlen(prefix)) == 0, "%s: want %s..., got %s", c->name,
              prefix, err.text);
    cr_assert_not_null(strstr(err.text, c->why), "%s: want \"%s\" in %s", c->name, c->why,
                       err.text);
}

Test(policy, overlong_line_and_nul_byte)
{
    char text[600];
    int n = snprintf(text, sizeof text, "[general]\nroles = a\npurposes = ");
    while (n < 400)
        n += snprintf(text + n, sizeof text - (size_t)n, "p%d, ", n);
    snprintf(text + n, sizeof text - (size_t)n, "z\n");
    remiss_err_t err = {0};
    cr_assert_null(s_load_text(text, &err));
    cr_assert_eq(err.code, REMISS_E_CONFIG);
    cr_assert(strncmp(err.text, "F:3: line longer than", 21) == 0, "%s", err.text);

    static const char nul[] = "[general]\nroles = a\0"
                              "b\npurposes = p\n";
    tmpfile_t t;
    s_write(&t, nul, sizeof nul - 1);
    policy_t *p = policy_load(t.path, &err);
    s_remove(&t);
    bool loaded = p != NULL;
    policy_free(&p);
    cr_assert_not(loaded);
    cr_assert_eq(err.code, REMISS_E_CONFIG);
    cr_assert_not_null(strstr(err.text, ":2: line contains a NUL byte"), "%s", err.text);
}

/* Random single-byte changes, deletions and truncations of a valid file:
 * each load either succeeds or fails with E_CONFIG naming the file and a
 * line, and ASan sees no leak or overflow either way. */
Test(policy, randomized_mutations)
{
    srand(4242);
    size_t len = sizeof s_valid - 1;
    char *buf = malloc(len + 1);
    cr_assert_not_null(buf);
    static const char alphabet[] = "[]=;#,\" \n\tabcrule0123456789\xc2\xa7";
    for (int iter = 0; iter < 600; iter++) {
        memcpy(buf, s_valid, len + 1);
        size_t n = len;
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand() % n;
            switch (rand() % 3) {
            case 0:
                buf[at] = alphabet[rand() % (sizeof alphabet - 1)];
                break;
            case 1:
                memmove(buf + at, buf + at + 1, n - at);
                n--;
                break;
            default:
                n = at + 1;
                buf[n] = '\0';
                break;
            }
            if (n < 2)
                break;
        }
        buf[n] = '\0';
        remiss_err_t err = {0};
        policy_t *p = s_load_text(buf, &err);
        if (p) {
            cr_assert_eq(err.code, REMISS_OK);
            policy_free(&p);
        } else {
            cr_assert_eq(err.code, REMISS_E_CONFIG, "iter %d: %s", iter, err.text);
            cr_assert(strncmp(err.text, "F:", 2) == 0, "iter %d: %s", iter, err.text);
        }
    }
    free(buf);
}
