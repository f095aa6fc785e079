/* seen (the client's SQLite de-duplication state) and idset (the in-memory
 * id set): issue 12's state outside the PKI and issue 13's modules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idset.h"
#include "seen.h"

static void
s_id(uint8_t id[16], uint32_t n)
{
    memset(id, 0, 16);
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)((n * 2654435761u) >> (i % 4 * 8)) ^ (uint8_t)i;
    memcpy(id + 12, &n, 4);
}

Test(idset, add_has_del_and_growth)
{
    idset_t *s = idset_new();
    cr_assert_not_null(s);
    uint8_t id[16];
    for (uint32_t n = 0; n < 5000; n++) {
        s_id(id, n);
        cr_assert(idset_add(s, id));
        cr_assert(idset_add(s, id), "adding twice is a no-op");
    }
    cr_assert_eq(idset_count(s), 5000);
    for (uint32_t n = 0; n < 5000; n += 2) {
        s_id(id, n);
        idset_del(s, id);
    }
    for (uint32_t n = 0; n < 5000; n++) {
        s_id(id, n);
        cr_assert_eq(idset_has(s, id), n % 2 == 1, "id %u", n);
    }
    s_id(id, 99999);
    cr_assert_not(idset_has(s, id));
    idset_free(&s);
    cr_assert_null(s);
    idset_free(&s);
}

Test(seen, survives_reopen_is_0600_and_drops_old_ids)
{
    char dir[] = "/tmp/remiss-seen-XXXXXX", path[64];
    remiss_err_t err;
    uint8_t a[16], b[16];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/jobbtorg.db", dir);
    s_id(a, 1);
    s_id(b, 2);
    mode_t old = umask(0);
    seen_t *s = seen_open(path, 1000000, 1000, &err);
    umask(old);
    cr_assert_not_null(s, "%s", err.text);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    cr_assert_not(seen_has(s, a));
    cr_assert_eq(seen_add(s, a, 1000000, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(seen_add(s, b, 1000500, &err), REMISS_OK, "%s", err.text);
    seen_close(&s);
    cr_assert_null(s);

    /* Reopened later: a (older than the horizon) is dropped, b kept. */
    s = seen_open(path, 1001200, 1000, &err);
    cr_assert_not_null(s, "%s", err.text);
    cr_expect_not(seen_has(s, a));
    cr_expect(seen_has(s, b));
    cr_expect_eq(seen_count(s), 1);
    seen_close(&s);

    /* A file that is not a state database is refused, naming it. */
    FILE *f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef\nnot sqlite at all, long enough to be read\n", f);
    fclose(f);
    char wal[80];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    s = seen_open(path, 1001200, 1000, &err);
    cr_expect_null(s);
    cr_expect_eq(err.code, REMISS_E_IO);
    cr_expect_not_null(strstr(err.text, path), "%s", err.text);
    seen_close(&s);

    snprintf(path, sizeof path, "%s/no/such/dir.db", dir);
    cr_expect_null(seen_open(path, 0, 0, &err));
    cr_expect_not_null(strstr(err.text, path), "%s", err.text);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
