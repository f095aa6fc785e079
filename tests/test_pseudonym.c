/* Tests for pseudonym: the secret file's checks, the MAC, and that every
 * module computing a subject's pseudonym agrees with it. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "intake.h"
#include "pseudonym.h"

static char s_dir[64];
static uint8_t s_key[32];

static void
s_setup(void)
{
    strcpy(s_dir, "/tmp/remiss-pseudonym-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    for (int i = 0; i < 32; i++)
        s_key[i] = (uint8_t)(0xa0 + i);
}

static void
s_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(pseudonym, .init = s_setup, .fini = s_teardown);

/* Writes text as dir/name with mode; its path into path. */
static void
s_file(char *path, size_t size, const char *name, const char *text, mode_t mode)
{
    snprintf(path, size, "%s/%s", s_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

static void
s_secret(char *path, size_t size, mode_t mode, const char *tail)
{
    char hex[80];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", s_key[i]);
    snprintf(hex + 64, sizeof hex - 64, "%s", tail);
    s_file(path, size, "broker.secret", hex, mode);
}

Test(pseudonym, is_hmac_sha256_of_the_canonical_number)
{
    char path[128];
    uint8_t a[32], want[32];
    unsigned int n = 32;
    remiss_err_t err;
    s_secret(path, sizeof path, 0600, "\n");
    pseudonym_t *ps = pseudonym_load(path, &err);
    cr_assert_not_null(ps, "%s", err.text);
    cr_assert(pseudonym_of(ps, "200601152382", a));
    HMAC(EVP_sha256(), s_key, 32, (const uint8_t *)"200601152382", 12, want, &n);
    cr_assert_arr_eq(a, want, 32);
    cr_assert(pseudonym_of(ps, "200601152382", a), "the keyed context is reused");
    cr_assert_arr_eq(a, want, 32);
    pseudonym_free(&ps);
    cr_assert_null(ps);
    pseudonym_free(&ps);
}

Test(pseudonym, only_twelve_digits)
{
    uint8_t a[32];
    pseudonym_t *ps = pseudonym_new(s_key);
    cr_assert_not_null(ps);
    const char *bad[] = {"20060115-2382", "0601152382", "2006011523821", "20060115238x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(a, 0xff, sizeof a);
        cr_assert_not(pseudonym_of(ps, bad[i], a), "%s", bad[i]);
        for (int k = 0; k < 32; k++)
            cr_assert_eq(a[k], 0, "out is zeroed");
    }
    cr_assert_not(pseudonym_of(ps, NULL, a));
    cr_assert_not(pseudonym_of(NULL, "200601152382", a));
    pseudonym_free(&ps);
}

Test(pseudonym, the_secret_file_is_checked)
{
    char path[128];
    remiss_err_t err;
    s_secret(path, sizeof path, 0640, "");
    cr_assert_null(pseudonym_load(path, &err));
    cr_assert_eq(err.code, REMISS_E_CONFIG);
    cr_assert_not_null(strstr(err.text, "chmod 600"));
    s_file(path, sizeof path, "short", "abcd\n", 0600);
    cr_assert_null(pseudonym_load(path, &err));
    cr_assert_not_null(strstr(err.text, "64 hex digits"));
    s_file(path, sizeof path, "nothex",
           "zz000000000000000000000000000000000000000000000000000000000000000", 0600);
    cr_assert_null(pseudonym_load(path, &err));
    snprintf(path, sizeof path, "%s/missing", s_dir);
    cr_assert_null(pseudonym_load(path, &err));
    cr_assert_eq(err.code, REMISS_E_CONFIG);
    cr_assert_null(pseudonym_load(s_dir, &err), "a directory is not a secret file");
}

/* intake and the audit log key their pseudonyms here: the three agree. */
Test(pseudonym, intake_and_audit_agree)
{
    uint8_t a[32], b[32], c[32];
    pseudonym_t *ps = pseudonym_new(s_key);
    cr_assert(pseudonym_of(ps, "200601152382", a));
    intake_t *in = intake_new_with(NULL, NULL, ps);
    intake_pseudonym(in, "200601152382", b);
    cr_assert_arr_eq(a, b, 32);
    cr_assert(audit_pseudonym_key(s_key, "200601152382", c));
    cr_assert_arr_eq(a, c, 32);
    intake_free(&in);
    pseudonym_free(&ps);
}
