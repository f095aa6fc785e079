/* ctl_keys: KEK rotation without downtime (include/ctl_keys.h).
 *
 * 1. A new KEK is appended to PKI_DIR/broker.kek: it wraps new data keys
 *    from then on; remissd re-reads the file within a second.
 * 2. After two seconds (remissd has switched), every data key wrapped
 *    under an older KEK is rewrapped, in transactions of 256 rows, until
 *    a pass finds none. The store may be SQLite or PostgreSQL: the store
 *    layer (broker/store.c) does the same on both.
 * 3. The older KEKs are removed from the file: a copy of a data key
 *    wrapped under them (a backup, a replica, old WAL frames) is shredded. */
#include "ctl_keys.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atrest.h"
#include "cli.h"
#include "remiss_code.h"
#include "store.h"

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
s_done(const ctl_args_t *a, uint32_t kid, uint64_t n)
{
    if (!a->cli.json) {
        printf("key %u is current; %llu data key(s) rewrapped; older keys destroyed\n", kid,
               (unsigned long long)n);
        return CLI_EXIT_OK;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", "OK");
    cJSON_AddNumberToObject(o, "current_key", kid);
    cJSON_AddNumberToObject(o, "rewrapped", (double)n);
    return cli_print_json(o) ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int
ctl_keys_rotate(const ctl_args_t *a)
{
    char path[4200];
    remiss_err_t err;
    uint32_t kid = 0;
    uint64_t n = 0;
    if (a->npos != 0 || !a->db || !a->pki || (a->given & ~(CTL_O_DB | CTL_O_PKI | CTL_O_JSON)))
        return cli_usage_error(&a->cli, "keys rotate --db DB --pki DIR");
    snprintf(path, sizeof path, "%s/broker.kek", a->pki);
    if (access(path, F_OK) != 0) {
        remiss_err_set(&err, REMISS_E_CONFIG, "no broker.kek in %s", a->pki);
        return cli_fail(&a->cli, &err);
    }
    atrest_t *keys = atrest_open(path, &err);
    store_t *st = keys ? ctl_args_open_db(a, &err) : NULL;
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
    return r == REMISS_OK ? s_done(a, kid, n) : cli_fail(&a->cli, &err);
}
