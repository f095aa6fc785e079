/* fuzz_policy: the policy file parser. Each input is written to a
 * memory file and loaded with policy_load; a policy that loads must
 * hold together (every party's role and every rule's roles and purposes
 * known, age ranges ordered). */
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The policy file lives in memory: a file on disk that is truncated and
 * rewritten for every input makes ext4 flush it on close, which cut the
 * speed tenfold. policy_load reads it through /proc/self/fd. */
static int s_fd = -1;
static char s_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    s_fd = memfd_create("remiss-fuzz-policy", MFD_CLOEXEC);
    FUZZ_CHECK(s_fd >= 0, "cannot make a memory file");
    snprintf(s_path, sizeof s_path, "/proc/self/fd/%d", s_fd);
    return 0;
}

static void
s_check(const policy_t *p)
{
    size_t np = policy_party_count(p), nr = policy_rule_count(p);
    for (size_t i = 0; i < np; i++) {
        const char *id = policy_party_at(p, i);
        FUZZ_CHECK(id && strcmp(id, "broker") != 0, "party %zu", i);
        const char *role = policy_party_role(p, id);
        FUZZ_CHECK(role && policy_role_known(p, role), "party %s has no known role", id);
    }
    FUZZ_CHECK(!policy_party_at(p, np) && !policy_rule_at(p, nr), "index past the end");
    for (size_t i = 0; i < nr; i++) {
        const policy_rule_t *r = policy_rule_at(p, i);
        FUZZ_CHECK(r && r->name && policy_role_known(p, r->from_role) &&
                       policy_role_known(p, r->to_role),
                   "rule %zu", i);
        FUZZ_CHECK(msgtype_name(r->type) && r->n_purposes > 0, "rule %s type/purposes", r->name);
        for (size_t k = 0; k < r->n_purposes; k++)
            FUZZ_CHECK(policy_purpose_known(p, r->purposes[k]) &&
                           policy_rule_has_purpose(r, r->purposes[k]),
                       "rule %s purpose %zu", r->name, k);
        FUZZ_CHECK((r->categories & ~CATSET_ALL) == 0, "rule %s categories", r->name);
        FUZZ_CHECK((r->basis == POLICY_BASIS_STATUTE) == (r->statute != NULL),
                   "rule %s basis and statute disagree", r->name);
        FUZZ_CHECK(r->min_age < 0 || r->max_age < 0 || r->min_age <= r->max_age, "rule %s ages",
                   r->name);
        FUZZ_CHECK(!policy_rule_age_ok(r, -1), "negative age accepted");
        (void)policy_basis_name(r->basis);
    }
    int minor = policy_minor_age(p);
    FUZZ_CHECK(minor >= 1 && minor <= 150, "minor_age %d", minor);
    (void)policy_minor_given_by(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(ftruncate(s_fd, 0) == 0, "cannot truncate %s", s_path);
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(s_fd, data + off, size - off, (off_t)off);
        FUZZ_CHECK(n > 0, "cannot write %s", s_path);
        off += (size_t)n;
    }
    remiss_err_t err = {0};
    policy_t *p = policy_load(s_path, &err);
    if (p) {
        s_check(p);
    } else {
        FUZZ_CHECK(err.code == REMISS_E_CONFIG, "load failed with %s: %s",
                   remiss_code_name(err.code), err.text);
        FUZZ_CHECK(strncmp(err.text, s_path, strlen(s_path)) == 0, "error without the path: %s",
                   err.text);
    }
    policy_free(&p);
    FUZZ_CHECK(!p, "policy_free left the pointer");
    return 0;
}
