/* ctl_keys: KEK rotation without downtime (include/ctl_keys.h).
 *
 * 1. A new KEK is appended to PKI_DIR/broker.kek: it wraps new data keys
 *    from then on; remissd re-reads the file within a second.
 * 2. After two seconds (remissd has switched), every data key wrapped
 *    under an older KEK is rewrapped, in transactions of 256 rows, until
 *    a pass finds none.
 * 3. The older KEKs are removed from the file: a copy of a data key
 *    wrapped under them (a backup, a replica, old WAL frames) is shredded. */
#include "ctl_keys.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atrest.h"
#include "remiss_code.h"
#include "store.h"

static int
s_err(remiss_code_t code, const char *text)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(code), text);
    return code == REMISS_E_USAGE ? 2 : 1;
}

/* Step 2: rewraps until a pass finds nothing left (at most 30 passes). */
static remiss_code_t
s_rewrap_all(store_t *st, uint64_t *total, remiss_err_t *err)
{
    uint64_t n = 0;
    remiss_code_t r;
    *total = 0;
    for (int pass = 0; pass < 30; pass++) {
        if ((r = store_rewrap(st, &n, err)) != REMISS_OK)
            return r;
        *total += n;
        if (n == 0)
            return REMISS_OK;
        sleep(1);
    }
    return remiss_err_set(err, REMISS_E_STORAGE, "data keys under the old key keep appearing");
}

static int
s_rotate(const char *db, const char *pki)
{
    char path[4200];
    remiss_err_t err;
    uint32_t kid = 0;
    uint64_t n = 0;
    snprintf(path, sizeof path, "%s/broker.kek", pki);
    if (access(path, F_OK) != 0)
        return s_err(REMISS_E_CONFIG, "no broker.kek in the PKI directory");
    atrest_t *keys = atrest_open(path, &err);
    store_t *st = keys ? store_open(db, &err) : NULL;
    remiss_code_t r = !st                                             ? err.code
                      : store_use_keys(st, path, &err) != REMISS_OK   ? err.code
                      : atrest_add_key(keys, &kid, &err) != REMISS_OK ? err.code
                                                                      : REMISS_OK;
    if (r == REMISS_OK) {
        sleep(2); /* remissd re-reads the key file within a second */
        r = s_rewrap_all(st, &n, &err);
    }
    if (r == REMISS_OK)
        r = atrest_drop_old_keys(keys, &err);
    store_close(&st);
    atrest_close(&keys);
    if (r != REMISS_OK)
        return s_err(r, err.text);
    printf("key %u is current; %llu data key(s) rewrapped; older keys destroyed\n", kid,
           (unsigned long long)n);
    return 0;
}

int
ctl_keys_main(int argc, char **argv)
{
    const char *db = NULL, *pki = NULL;
    if (argc < 1 || strcmp(argv[0], "rotate") != 0)
        return s_err(REMISS_E_USAGE, "keys rotate --db DB --pki DIR");
    for (int i = 1; i + 1 < argc; i += 2)
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--pki"))
            pki = argv[i + 1];
        else
            return s_err(REMISS_E_USAGE, "keys rotate --db DB --pki DIR");
    if (!db || !pki || argc % 2 == 0)
        return s_err(REMISS_E_USAGE, "keys rotate --db DB --pki DIR");
    return s_rotate(db, pki);
}
