/* store_pg_audit: the PostgreSQL engine's consent registry, key rotation,
 * admin requests and audit log (split from broker/store_pg.c, which holds
 * the connection, transactions, the cluster's write lock and the message
 * queue; store_pg_int.h is what they share). Every write here takes the
 * cluster's write lock first (store_pg_lock). */
#include "store_pg_int.h"
#include "store_pg_sql.h"

#include <stdlib.h>
#include <string.h>

#define S_PAGE 1000 /* audit rows and tree heads per fetch */

/* ------------------------------------------------------------ consents */

remiss_code_t
store_pg_consent_put(store_t *self, const store_consent_t *c, bool *exists, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    uint64_t n = 0;
    store_pg_text(&p, c->consent_id);
    store_pg_blob(&p, c->subject, STORE_HASH_LEN);
    store_pg_text(&p, c->granted_by);
    store_pg_blob(&p, c->grant ? c->grant : (const uint8_t *)"", c->grant_len);
    store_pg_int(&p, c->granted_at);
    store_pg_int(&p, c->valid_until);
    *exists = false;
    remiss_code_t r = store_pg_lock(self, err);
    if (r == REMISS_OK)
        r = store_pg_exec(self, Q_C_PUT, &p, &n, err, "put consent");
    *exists = r == REMISS_OK && n == 0;
    /* Every node's consent cache is stale now (store_consent_gen). */
    if (r == REMISS_OK && n > 0)
        r = store_pg_defer(self, Q_GEN_BUMP, NULL, NULL, err, "consent generation");
    return r;
}

static remiss_code_t
s_consent_rows(store_t *self, int q, const store_pg_par_t *p, store_consent_t *out, size_t max,
               size_t *n, remiss_err_t *err)
{
    PGresult *res = store_pg_run(self, q, p, err, "consents");
    remiss_code_t r = res ? REMISS_OK : REMISS_E_STORAGE;
    *n = 0;
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++) {
        store_consent_t *c = &out[*n];
        memset(c, 0, sizeof *c);
        store_pg_get_text(res, i, 0, c->consent_id, sizeof c->consent_id);
        store_pg_get_text(res, i, 2, c->granted_by, sizeof c->granted_by);
        c->granted_at = store_pg_get_int(res, i, 4);
        c->revoked_at = store_pg_get_int(res, i, 5);
        if (!store_pg_get_fixed(res, i, 1, c->subject, STORE_HASH_LEN) ||
            !store_pg_get_dup(res, i, 3, &c->grant, &c->grant_len)) {
            for (size_t j = 0; j <= *n; j++)
                store_consent_clear(&out[j]);
            *n = 0;
            r = remiss_err_set(err, REMISS_E_STORAGE, "a stored consent row is damaged");
            break;
        }
        (*n)++;
    }
    PQclear(res);
    return r;
}

remiss_code_t
store_pg_consent_get(store_t *self, const char *id, bool *found, store_consent_t *out,
                     remiss_err_t *err)
{
    store_pg_par_t p = {0};
    size_t n = 0;
    store_pg_text(&p, id);
    remiss_code_t r = s_consent_rows(self, Q_C_GET, &p, out, 1, &n, err);
    *found = n == 1;
    return r;
}

remiss_code_t
store_pg_consent_revoke(store_t *self, const char *id, int64_t now, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, id);
    store_pg_int(&p, now);
    remiss_code_t r = store_pg_lock(self, err);
    if (r == REMISS_OK)
        r = store_pg_defer(self, Q_C_REVOKE, NULL, &p, err, "revoke consent");
    if (r == REMISS_OK)
        r = store_pg_defer(self, Q_GEN_BUMP, NULL, NULL, err, "consent generation");
    return r;
}

remiss_code_t
store_pg_consents_for(store_t *self, const uint8_t subject[STORE_HASH_LEN], size_t max,
                      store_consent_t *out, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_blob(&p, subject, STORE_HASH_LEN);
    store_pg_int(&p, (int64_t)max);
    return s_consent_rows(self, Q_C_FOR, &p, out, max, n, err);
}

remiss_code_t
store_pg_consent_count(store_t *self, const uint8_t subject[STORE_HASH_LEN], const char *granted_by,
                       uint64_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_blob(&p, subject, STORE_HASH_LEN);
    store_pg_text(&p, granted_by ? granted_by : "");
    return store_pg_count(self, Q_C_COUNT, &p, n, err);
}

/* Writes back one rewrapped blob, keyed as column 0 of the selection
 * (message id bytes, consent id text: sent binary, its own bytes). */
static remiss_code_t
s_rewrap_put(store_t *self, bool consents, const PGresult *res, int i, const uint8_t *blob,
             size_t len, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_blob(&p, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    store_pg_blob(&p, blob, len);
    return store_pg_defer(self, consents ? Q_KEYS_CON_PUT : Q_KEYS_MSG_PUT, NULL, &p, err,
                          "rewrap");
}

remiss_code_t
store_pg_rewrap_batch(store_t *self, bool consents, const uint8_t kid[4], store_rewrap_fn fn,
                      void *ctx, uint64_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_blob(&p, kid, 4);
    /* remissctl beside the brokers: under the cluster's write lock the
     * read sees every node's commits and nothing changes until the writes
     * back commit; read before it, a body retention cleared (or a grant it
     * shredded) meanwhile was written back. The writes go out together. */
    PGresult *res = NULL;
    store_pg_lock_then(self, consents ? Q_KEYS_CON : Q_KEYS_MSG, &p, &res, err);
    remiss_code_t r = res ? REMISS_OK : REMISS_E_STORAGE;
    *n = 0;
    for (int i = 0; res && r == REMISS_OK && i < PQntuples(res); i++) {
        uint8_t *blob = NULL;
        size_t len = 0;
        if (!store_pg_get_dup(res, i, 1, &blob, &len) || !blob ||
            !fn(ctx, (const uint8_t *)PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), blob,
                len)) {
            free(blob);
            continue; /* unreadable: left as it is */
        }
        r = s_rewrap_put(self, consents, res, i, blob, len, err);
        free(blob);
        *n += r == REMISS_OK;
    }
    PQclear(res);
    return r;
}

/* ------------------------------------------------------------ admin */

remiss_code_t
store_pg_admin_request(store_t *self, const store_admin_t *req, int64_t now, int64_t *id,
                       remiss_err_t *err)
{
    store_pg_par_t p = {0};
    uint64_t got = 0;
    store_pg_text(&p, req->action);
    store_pg_blob(&p, req->message_id, STORE_ID_LEN);
    store_pg_text(&p, req->actor);
    store_pg_int(&p, now);
    remiss_code_t r = store_pg_count(self, Q_ADM_PUT, &p, &got, err);
    *id = r == REMISS_OK ? (int64_t)got : 0;
    return r;
}

static remiss_code_t
s_admin_rows(store_t *self, int q, const store_pg_par_t *p, store_admin_t *out, size_t max,
             size_t *n, remiss_err_t *err)
{
    PGresult *res = store_pg_run(self, q, p, err, "admin");
    *n = 0;
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++) {
        store_admin_t *a = &out[*n];
        memset(a, 0, sizeof *a);
        a->id = store_pg_get_int(res, i, 0);
        store_pg_get_text(res, i, 1, a->action, sizeof a->action);
        if (!store_pg_get_fixed(res, i, 2, a->message_id, STORE_ID_LEN))
            continue;
        store_pg_get_text(res, i, 3, a->actor, sizeof a->actor);
        store_pg_get_text(res, i, 4, a->result, sizeof a->result);
        a->done_at = store_pg_get_int(res, i, 5);
        (*n)++;
    }
    PQclear(res);
    return res ? REMISS_OK : REMISS_E_STORAGE;
}

remiss_code_t
store_pg_admin_pending(store_t *self, store_admin_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)max);
    remiss_code_t r = s_admin_rows(self, Q_ADM_PENDING, &p, out, max, n, err);
    /* As store_pg.c's s_due: one node carries a request out. */
    if (r != REMISS_OK || *n == 0 || !self->in_tx || self->locked)
        return r;
    *n = 0;
    if ((r = store_pg_lock(self, err)) != REMISS_OK)
        return r;
    return s_admin_rows(self, Q_ADM_PENDING, &p, out, max, n, err);
}

remiss_code_t
store_pg_admin_done(store_t *self, int64_t id, const char *result, int64_t now, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, id);
    store_pg_int(&p, now);
    store_pg_text(&p, result);
    return store_pg_defer(self, Q_ADM_DONE, NULL, &p, err, "admin done");
}

remiss_code_t
store_pg_admin_get(store_t *self, int64_t id, store_admin_t *out, bool *found, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    size_t n = 0;
    store_pg_int(&p, id);
    remiss_code_t r = s_admin_rows(self, Q_ADM_GET, &p, out, 1, &n, err);
    *found = n == 1;
    return r;
}

/* ------------------------------------------------------------ audit */

remiss_code_t
store_pg_audit_size(store_t *self, uint64_t *size, remiss_err_t *err)
{
    return store_pg_count(self, Q_A_SIZE, NULL, size, err);
}

/* ------------------------------------------------------------ batched appends */

bool
store_pg_reads_audit(int q)
{
    return q == Q_A_SIZE || q == Q_A_GET || q == Q_A_EACH || q == Q_N_GET || q == Q_N_GET_MANY ||
           q == Q_A_BY_SUBJECT || q == Q_A_BY_MESSAGE || q == Q_SHARED;
}

/* Back to rows rows, each column at len[c] bytes (NULL: empty). */
static void
s_abuf_truncate(store_pg_abuf_t *b, size_t rows, const size_t *len)
{
    for (int c = 0; c < 4; c++) {
        b->col[c].len = len ? len[c] : 0;
        b->col[c].n = rows;
    }
    b->rows = rows;
}

/* Out of memory for the buffers: the transaction fails, as anything that
 * does not reach the audit log must. */
static remiss_code_t
s_abuf_oom(store_t *self, remiss_err_t *err)
{
    self->poisoned = true;
    snprintf(self->poison, sizeof self->poison, "out of memory for the audit log");
    return remiss_err_set(err, REMISS_E_STORAGE, "storage error: out of memory");
}

/* Counts the row just added to buffer which (ok: all its columns were). */
static remiss_code_t
s_abuf_row(store_t *self, int which, bool ok, remiss_err_t *err)
{
    store_pg_abuf_t *b = &self->abuf[which];
    if (!ok)
        return s_abuf_oom(self, err);
    b->rows++;
    return b->rows >= STORE_PG_ABUF_ROWS ? store_pg_abuf_flush(self, err) : REMISS_OK;
}

static remiss_code_t
s_abuf_send(store_t *self, int which, int q, remiss_err_t *err)
{
    store_pg_abuf_t *b = &self->abuf[which];
    store_pg_par_t p = {0};
    if (b->rows == 0)
        return REMISS_OK;
    for (int c = 0; c < 4; c++) {
        const char *text = store_pg_lit_end(&b->col[c]);
        if (!text)
            return s_abuf_oom(self, err);
        store_pg_text(&p, text);
    }
    /* Sent (libpq copies the parameters), so the buffer starts again. */
    remiss_code_t r = store_pg_defer(self, q, NULL, &p, err, "audit append");
    s_abuf_truncate(b, 0, NULL);
    return r;
}

remiss_code_t
store_pg_abuf_flush(store_t *self, remiss_err_t *err)
{
    remiss_code_t r = s_abuf_send(self, 0, Q_A_PUT_MANY, err);
    if (r == REMISS_OK)
        r = s_abuf_send(self, 1, Q_N_PUT_MANY, err);
    return r;
}

void
store_pg_abuf_mark(store_t *self)
{
    if (self->depth >= STORE_PG_ABUF_MARKS)
        return;
    store_pg_amark_t *m = &self->amark[self->depth];
    for (int w = 0; w < 2; w++) {
        for (int c = 0; c < 4; c++)
            m->len[w][c] = self->abuf[w].col[c].len;
        m->rows[w] = self->abuf[w].rows;
    }
}

void
store_pg_abuf_undo(store_t *self)
{
    if (self->depth <= 0 || self->depth > STORE_PG_ABUF_MARKS)
        return;
    const store_pg_amark_t *m = &self->amark[self->depth - 1];
    for (int w = 0; w < 2; w++)
        s_abuf_truncate(&self->abuf[w], m->rows[w], m->len[w]);
}

void
store_pg_abuf_clear(store_t *self)
{
    for (int w = 0; w < 2; w++)
        s_abuf_truncate(&self->abuf[w], 0, NULL);
}

void
store_pg_abuf_free(store_t *self)
{
    for (int w = 0; w < 2; w++)
        for (int c = 0; c < 4; c++)
            store_pg_lit_free(&self->abuf[w].col[c]);
}

remiss_code_t
store_pg_audit_put(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                   const uint8_t *subject, const uint8_t *message_id, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    if (!self->in_tx || self->depth > STORE_PG_ABUF_MARKS) {
        store_pg_par_t p = {0};
        store_pg_int(&p, (int64_t)index);
        store_pg_blob(&p, entry ? entry : (const uint8_t *)"", len);
        store_pg_blob(&p, subject, STORE_HASH_LEN);
        store_pg_blob(&p, message_id, STORE_ID_LEN);
        return store_pg_defer(self, Q_A_PUT, NULL, &p, err, "audit append");
    }
    store_pg_abuf_t *b = &self->abuf[0];
    /* Each column gets its element (a failure leaves the row uncounted:
     * the transaction is poisoned anyway). */
    bool ok = store_pg_lit_int(&b->col[0], (int64_t)index) &&
              store_pg_lit_blob(&b->col[1], entry ? entry : (const uint8_t *)"", entry ? len : 0) &&
              store_pg_lit_blob(&b->col[2], subject, STORE_HASH_LEN) &&
              store_pg_lit_blob(&b->col[3], message_id, STORE_ID_LEN);
    return s_abuf_row(self, 0, ok, err);
}

remiss_code_t
store_pg_audit_get(store_t *self, uint64_t index, uint8_t **entry, size_t *len, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)index);
    *entry = NULL;
    *len = 0;
    PGresult *res = store_pg_run(self, Q_A_GET, &p, err, "audit read");
    if (!res)
        return REMISS_E_STORAGE;
    bool ok = PQntuples(res) == 1 && store_pg_get_dup(res, 0, 0, entry, len) && *entry;
    PQclear(res);
    return ok ? REMISS_OK
              : remiss_err_set(err, REMISS_E_STORAGE, "audit entry %llu is missing",
                               (unsigned long long)index);
}

/* Pages through (key, bytes) rows of q from key from, S_PAGE at a time,
 * calling fn for each until it returns non-zero. */
static remiss_code_t
s_pages(store_t *self, int q, uint64_t from, store_audit_fn fn, void *ctx, remiss_err_t *err)
{
    for (;;) {
        store_pg_par_t p = {0};
        store_pg_int(&p, (int64_t)from);
        store_pg_int(&p, S_PAGE);
        PGresult *res = store_pg_run(self, q, &p, err, "read pages");
        if (!res)
            return REMISS_E_STORAGE;
        int rows = PQntuples(res), stop = 0;
        for (int i = 0; i < rows && !stop; i++) {
            from = (uint64_t)store_pg_get_int(res, i, 0) + 1;
            stop = fn(ctx, from - 1, (const uint8_t *)PQgetvalue(res, i, 1),
                      (size_t)PQgetlength(res, i, 1));
        }
        PQclear(res);
        if (stop || rows < S_PAGE)
            return REMISS_OK;
    }
}

remiss_code_t
store_pg_audit_each(store_t *self, uint64_t from, store_audit_fn fn, void *ctx, remiss_err_t *err)
{
    return s_pages(self, Q_A_EACH, from, fn, ctx, err);
}

remiss_code_t
store_pg_audit_node_put(store_t *self, unsigned level, uint64_t index,
                        const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    int64_t pos = store_node_pos(level, index);
    if (pos < 0)
        return remiss_err_set(err, REMISS_E_STORAGE, "audit tree node %u/%llu is out of range",
                              level, (unsigned long long)index);
    if (!self->in_tx || self->depth > STORE_PG_ABUF_MARKS) {
        store_pg_par_t p = {0};
        store_pg_int(&p, pos);
        store_pg_int(&p, level);
        store_pg_int(&p, (int64_t)index);
        store_pg_blob(&p, hash, STORE_HASH_LEN);
        return store_pg_defer(self, Q_N_PUT, NULL, &p, err, "audit node");
    }
    store_pg_abuf_t *b = &self->abuf[1];
    bool ok = store_pg_lit_int(&b->col[0], pos) && store_pg_lit_int(&b->col[1], level) &&
              store_pg_lit_int(&b->col[2], (int64_t)index) &&
              store_pg_lit_blob(&b->col[3], hash, STORE_HASH_LEN);
    return s_abuf_row(self, 1, ok, err);
}

remiss_code_t
store_pg_audit_node_get(store_t *self, unsigned level, uint64_t index, uint8_t hash[STORE_HASH_LEN],
                        remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, store_node_pos(level, index));
    PGresult *res = store_pg_run(self, Q_N_GET, &p, err, "audit node");
    if (!res)
        return REMISS_E_STORAGE;
    bool ok = PQntuples(res) == 1 && store_pg_get_fixed(res, 0, 0, hash, STORE_HASH_LEN);
    PQclear(res);
    return ok ? REMISS_OK
              : remiss_err_set(err, REMISS_E_STORAGE, "audit tree node %u/%llu is missing", level,
                               (unsigned long long)index);
}

/* One statement for all n: the positions as a bigint[] literal. */
remiss_code_t
store_pg_audit_nodes_get(store_t *self, const unsigned *level, const uint64_t *index, size_t n,
                         uint8_t (*out)[STORE_HASH_LEN], remiss_err_t *err)
{
    store_pg_lit_t lit = {0};
    store_pg_par_t p = {0};
    const char *text = NULL;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = store_node_pos(level[i], index[i]) >= 0 &&
             store_pg_lit_int(&lit, store_node_pos(level[i], index[i]));
    if (!ok || !(text = store_pg_lit_end(&lit))) {
        store_pg_lit_free(&lit);
        return remiss_err_set(err, REMISS_E_STORAGE, "audit tree nodes: out of memory or range");
    }
    store_pg_text(&p, text);
    PGresult *res = n ? store_pg_run(self, Q_N_GET_MANY, &p, err, "audit nodes") : NULL;
    store_pg_lit_free(&lit);
    if (n && !res)
        return REMISS_E_STORAGE;
    remiss_code_t r = REMISS_OK;
    for (size_t i = 0; i < n && r == REMISS_OK; i++) {
        int64_t pos = store_node_pos(level[i], index[i]);
        int row = 0;
        while (row < PQntuples(res) && store_pg_get_int(res, row, 0) != pos)
            row++;
        if (row == PQntuples(res) || !store_pg_get_fixed(res, row, 1, out[i], STORE_HASH_LEN))
            r = remiss_err_set(err, REMISS_E_STORAGE, "audit tree node %u/%llu is missing",
                               level[i], (unsigned long long)index[i]);
    }
    PQclear(res);
    return r;
}

remiss_code_t
store_pg_audit_find(store_t *self, const uint8_t *subject, const uint8_t *message_id, uint64_t *out,
                    size_t max, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    if (subject)
        store_pg_blob(&p, subject, STORE_HASH_LEN);
    else
        store_pg_blob(&p, message_id, STORE_ID_LEN);
    store_pg_int(&p, (int64_t)max);
    *n = 0;
    PGresult *res =
        store_pg_run(self, subject ? Q_A_BY_SUBJECT : Q_A_BY_MESSAGE, &p, err, "audit find");
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++)
        out[(*n)++] = (uint64_t)store_pg_get_int(res, i, 0);
    PQclear(res);
    return res ? REMISS_OK : REMISS_E_STORAGE;
}

remiss_code_t
store_pg_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len,
                       remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)size);
    store_pg_blob(&p, sth ? sth : (const uint8_t *)"", len);
    return store_pg_defer(self, Q_STH_PUT, NULL, &p, err, "tree head");
}

remiss_code_t
store_pg_audit_sth_latest(store_t *self, uint8_t **sth, size_t *len, remiss_err_t *err)
{
    *sth = NULL;
    *len = 0;
    PGresult *res = store_pg_run(self, Q_STH_LATEST, NULL, err, "tree head");
    if (!res)
        return REMISS_E_STORAGE;
    bool ok = PQntuples(res) == 0 || store_pg_get_dup(res, 0, 0, sth, len);
    PQclear(res);
    return ok ? REMISS_OK : remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
}

remiss_code_t
store_pg_audit_sth_each(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err)
{
    return s_pages(self, Q_STH_EACH, 0, (store_audit_fn)fn, ctx, err);
}
