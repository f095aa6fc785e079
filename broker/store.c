/* store: picks the engine a store's name asks for and passes every call
 * to it (store_engine.h). A name is a SQLite file (a path, or sqlite:PATH)
 * or a libpq connection URI (postgresql://... or postgres://...).
 *
 * Encryption at rest lives here, above the engines, so every engine stores
 * ciphertext only (issue 14): with store_use_keys, a message body and a
 * consent grant are sealed before the engine sees them and opened after
 * it read them (atrest.h). */
#include "store_engine.h"

#include "atrest.h"

#include <stdlib.h>
#include <string.h>

#define S_OPS(self)  (((const store_head_t *)(const void *)(self))->ops)
#define S_KEYS(self) (((store_head_t *)(void *)(self))->keys)

static bool
s_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *
store_file(const char *spec)
{
    if (!spec || s_prefix(spec, "postgresql://") || s_prefix(spec, "postgres://"))
        return NULL;
    return s_prefix(spec, "sqlite:") ? spec + strlen("sqlite:") : spec;
}

/* Copies src[0..n) into out at *used, bounded. */
static void
s_cat(char *out, size_t size, size_t *used, const char *src, size_t n)
{
    size_t room = *used < size ? size - 1 - *used : 0;
    if (n > room)
        n = room;
    memcpy(out + *used, src, n);
    *used += n;
    out[*used] = '\0';
}

const char *
store_redact(const char *spec, char *out, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return "";
    out[0] = '\0';
    if (!spec)
        return out;
    if (store_file(spec)) {
        s_cat(out, size, &used, spec, strlen(spec));
        return out;
    }
    const char *auth = strstr(spec, "://") + 3;
    size_t hostpart = strcspn(auth, "/?");
    const char *at = memrchr(auth, '@', hostpart);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) { /* user:password@ */
        s_cat(out, size, &used, spec, (size_t)(colon + 1 - spec));
        s_cat(out, size, &used, "***", 3);
        spec = at;
    }
    for (const char *p; (p = strstr(spec, "password=")) != NULL; spec = p + strcspn(p, "&")) {
        s_cat(out, size, &used, spec, (size_t)(p + 9 - spec));
        s_cat(out, size, &used, "***", 3);
        p += 9;
    }
    s_cat(out, size, &used, spec, strlen(spec));
    return out;
}

store_t *
store_open(const char *spec, remiss_err_t *err)
{
    const char *file = store_file(spec);
    const store_ops_t *ops = file ? &store_sqlite_ops : &store_pg_ops;
    if (!spec || (file && !file[0])) {
        remiss_err_set(err, REMISS_E_USAGE, "no store named (a file or a postgresql:// URI)");
        return NULL;
    }
    store_t *self = ops->open(file ? file : spec, err);
    if (self)
        ((store_head_t *)(void *)self)->ops = ops;
    return self;
}

const char *
store_engine(const store_t *self)
{
    return S_OPS(self)->name;
}

void
store_close(store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    atrest_close(&S_KEYS(*self_p));
    S_OPS(*self_p)->close(self_p);
}

remiss_code_t
store_use_keys(store_t *self, const char *kek_path, remiss_err_t *err)
{
    atrest_close(&S_KEYS(self));
    S_KEYS(self) = atrest_open(kek_path, err);
    return S_KEYS(self) ? REMISS_OK : REMISS_E_CONFIG;
}

/* A sealed body in *blob replaced by its clear bytes. One that cannot be
 * opened (its key shredded, damaged) reads as deleted: NULL, as after
 * retention. Without keys (a tool that only lists) it stays sealed. */
static void
s_unseal(store_t *self, const uint8_t *aad, size_t aad_len, uint8_t **blob, size_t *len)
{
    uint8_t *plain = NULL;
    size_t plen = 0;
    if (!*blob || !S_KEYS(self) || !atrest_is_sealed(*blob, *len))
        return;
    bool ok =
        S_KEYS(self) && atrest_open_blob(S_KEYS(self), aad, aad_len, *blob, *len, &plain, &plen);
    free(*blob);
    *blob = ok ? plain : NULL;
    *len = ok ? plen : 0;
}

/* The bytes to store for a body: sealed under a new data key when keys
 * are set (*sealed to free), else the body itself. False if sealing fails. */
static bool
s_seal(store_t *self, const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t len,
       uint8_t **sealed, size_t *slen)
{
    *sealed = NULL;
    *slen = len;
    if (!S_KEYS(self) || !in)
        return true;
    return atrest_seal(S_KEYS(self), aad, aad_len, in, len, sealed, slen);
}

/* Opens the bodies of rows an engine read; passes r through. */
static remiss_code_t
s_unseal_msgs(store_t *self, remiss_code_t r, store_msg_t *out, size_t n)
{
    for (size_t i = 0; r == REMISS_OK && i < n; i++)
        s_unseal(self, out[i].message_id, STORE_ID_LEN, &out[i].envelope, &out[i].envelope_len);
    return r;
}

static remiss_code_t
s_unseal_consents(store_t *self, remiss_code_t r, store_consent_t *out, size_t n)
{
    for (size_t i = 0; r == REMISS_OK && i < n; i++)
        s_unseal(self, (const uint8_t *)out[i].consent_id, strlen(out[i].consent_id), &out[i].grant,
                 &out[i].grant_len);
    return r;
}

remiss_code_t
store_checkpoint_behind(store_t *self, remiss_err_t *err)
{
    return S_OPS(self)->checkpoint_behind(self, err);
}

remiss_code_t
store_begin(store_t *self, remiss_err_t *err)
{
    return S_OPS(self)->begin(self, err);
}

remiss_code_t
store_begin_read(store_t *self, bool *started, remiss_err_t *err)
{
    return S_OPS(self)->begin_read(self, started, err);
}

remiss_code_t
store_commit(store_t *self, remiss_err_t *err)
{
    return S_OPS(self)->commit(self, err);
}

remiss_code_t
store_commit_begin(store_t *self, store_due_req_t *due, size_t ndue, int64_t now, bool *begun,
                   remiss_err_t *err)
{
    remiss_err_t ignored;
    remiss_code_t r;
    *begun = false;
    for (size_t i = 0; i < ndue; i++)
        due[i].n = 0;
    if (S_OPS(self)->commit_begin)
        r = S_OPS(self)->commit_begin(self, due, ndue, now, begun, err);
    else {
        r = S_OPS(self)->commit(self, err);
        *begun = r == REMISS_OK && S_OPS(self)->begin(self, &ignored) == REMISS_OK;
        if (*begun && ndue > 0 && store_due_many(self, due, ndue, now, &ignored) != REMISS_OK) {
            S_OPS(self)->rollback(self);
            *begun = false;
        }
    }
    for (size_t i = 0; i < ndue; i++)
        if (!*begun) {
            for (size_t k = 0; k < due[i].n; k++)
                store_msg_clear(&due[i].out[k]);
            due[i].n = 0;
        } else if (S_OPS(self)->commit_begin)
            s_unseal_msgs(self, REMISS_OK, due[i].out, due[i].n);
    return r;
}

void
store_rollback(store_t *self)
{
    S_OPS(self)->rollback(self);
}

remiss_code_t
store_savepoint(store_t *self, remiss_err_t *err)
{
    return S_OPS(self)->savepoint(self, err);
}

void
store_release(store_t *self)
{
    S_OPS(self)->release(self);
}

void
store_rollback_to(store_t *self)
{
    S_OPS(self)->rollback_to(self);
}

/* ------------------------------------------------------------ messages */

remiss_code_t
store_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found, store_msg_t *out,
           remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->find(self, id, found, out, err);
    return s_unseal_msgs(self, r, out, r == REMISS_OK && *found);
}

remiss_code_t
store_insert(store_t *self, store_msg_t *msg, remiss_err_t *err)
{
    uint8_t *sealed = NULL, *clear = msg->envelope;
    size_t slen = 0, clen = msg->envelope_len;
    if (!s_seal(self, msg->message_id, STORE_ID_LEN, clear, clen, &sealed, &slen))
        return remiss_err_set(err, REMISS_E_STORAGE, "cannot seal the message body");
    if (sealed) {
        msg->envelope = sealed;
        msg->envelope_len = slen;
    }
    remiss_code_t r = S_OPS(self)->insert(self, msg, err);
    msg->envelope = clear;
    msg->envelope_len = clen;
    free(sealed);
    return r;
}

remiss_code_t
store_due(store_t *self, const char *recipient, int64_t now, size_t max, store_msg_t *out,
          size_t *n, remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->due(self, recipient, now, max, out, n, err);
    return s_unseal_msgs(self, r, out, *n);
}

remiss_code_t
store_due_many(store_t *self, store_due_req_t *reqs, size_t n, int64_t now, remiss_err_t *err)
{
    const store_ops_t *ops = S_OPS(self);
    remiss_code_t r = REMISS_OK;
    for (size_t i = 0; i < n; i++)
        reqs[i].n = 0;
    if (ops->due_many)
        r = ops->due_many(self, reqs, n, now, err);
    else
        for (size_t i = 0; i < n && r == REMISS_OK; i++)
            r = ops->due(self, reqs[i].recipient, now, reqs[i].max, reqs[i].out, &reqs[i].n, err);
    for (size_t i = 0; i < n; i++)
        s_unseal_msgs(self, REMISS_OK, reqs[i].out, reqs[i].n);
    return r;
}

remiss_code_t
store_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at, remiss_err_t *err)
{
    return S_OPS(self)->mark_sent(self, seq, now, next_at, err);
}

remiss_code_t
store_resend_now(store_t *self, const char *recipient, remiss_err_t *err)
{
    return S_OPS(self)->resend_now(self, recipient, err);
}

remiss_code_t
store_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
             store_state_t state, int code, const char *reason, int64_t now, bool *changed,
             remiss_err_t *err)
{
    return S_OPS(self)->finish(self, id, recipient, state, code, reason, now, changed, err);
}

/* A batch's outputs before an engine fills them. */
static void
s_finish_reset(store_finish_req_t *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        reqs[i].changed = reqs[i].has_row = false;
        memset(&reqs[i].row, 0, sizeof reqs[i].row);
    }
}

remiss_code_t
store_finish_many(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                  remiss_err_t *err)
{
    const store_ops_t *ops = S_OPS(self);
    remiss_code_t r = REMISS_OK;
    s_finish_reset(reqs, n);
    if (ops->finish_many)
        return ops->finish_many(self, reqs, n, now, want_rows, err);
    for (size_t i = 0; i < n && r == REMISS_OK; i++) {
        store_finish_req_t *q = &reqs[i];
        r = ops->finish(self, q->id, q->recipient, q->state, q->code, q->reason, now, &q->changed,
                        err);
        if (r == REMISS_OK && q->changed && want_rows &&
            (r = ops->find(self, q->id, &q->has_row, &q->row, err)) == REMISS_OK && q->has_row) {
            free(q->row.envelope); /* "without its body", as every engine answers */
            q->row.envelope = NULL;
            q->row.envelope_len = 0;
        }
    }
    return r;
}

void
store_prefetch(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t n)
{
    remiss_err_t ignored;
    if (S_OPS(self)->prefetch)
        S_OPS(self)->prefetch(self, ids, n, NULL, 0, 0, false, &ignored);
}

remiss_code_t
store_prefetch_finish(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids,
                      store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                      remiss_err_t *err)
{
    if (!S_OPS(self)->prefetch)
        return store_finish_many(self, reqs, n, now, want_rows, err);
    s_finish_reset(reqs, n);
    return S_OPS(self)->prefetch(self, ids, nids, reqs, n, now, want_rows, err);
}

remiss_code_t
store_reclaim(store_t *self, uint64_t *n, remiss_err_t *err)
{
    *n = 0;
    return S_OPS(self)->reclaim ? S_OPS(self)->reclaim(self, n, err) : REMISS_OK;
}

bool
store_prefetches(const store_t *self)
{
    return self && S_OPS(self)->prefetch != NULL;
}

remiss_code_t
store_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed, remiss_err_t *err)
{
    return S_OPS(self)->requeue(self, id, changed, err);
}

remiss_code_t
store_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN], const char *orig_sender,
                    const char *orig_recipient, int decision, const char *unit,
                    const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err)
{
    return S_OPS(self)->link_transfer(self, orig, orig_sender, orig_recipient, decision, unit,
                                      ack_id, err);
}

remiss_code_t
store_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n, remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->dead_letters(self, max, out, n, err);
    return s_unseal_msgs(self, r, out, *n);
}

remiss_code_t
store_pending_by_consent(store_t *self, const char *consent_id, size_t max, store_msg_t *out,
                         size_t *n, remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->pending_by_consent(self, consent_id, max, out, n, err);
    return s_unseal_msgs(self, r, out, *n);
}

remiss_code_t
store_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err)
{
    return S_OPS(self)->purge(self, before_ms, purged, err);
}

remiss_code_t
store_depth(store_t *self, const char *recipient, uint64_t *depth, remiss_err_t *err)
{
    return S_OPS(self)->depth(self, recipient, depth, err);
}

remiss_code_t
store_queues(store_t *self, store_queue_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    *n = 0;
    return S_OPS(self)->queues(self, out, max, n, err);
}

const store_queue_t *
store_queue_of(const store_queue_t *q, size_t n, const char *recipient)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(q[i].recipient, recipient) == 0)
            return &q[i];
    return NULL;
}

remiss_code_t
store_oldest(store_t *self, const char *recipient, int64_t *accepted_at, remiss_err_t *err)
{
    return S_OPS(self)->oldest(self, recipient, accepted_at, err);
}

remiss_code_t
store_dead_count(store_t *self, uint64_t *n, remiss_err_t *err)
{
    return S_OPS(self)->dead_count(self, n, err);
}

void
store_msg_clear(store_msg_t *m)
{
    if (!m)
        return;
    free(m->envelope);
    free(m->receipt);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------ admin */

remiss_code_t
store_admin_request(store_t *self, const store_admin_t *req, int64_t now, int64_t *id,
                    remiss_err_t *err)
{
    return S_OPS(self)->admin_request(self, req, now, id, err);
}

remiss_code_t
store_admin_pending(store_t *self, store_admin_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    return S_OPS(self)->admin_pending(self, out, max, n, err);
}

remiss_code_t
store_admin_done(store_t *self, int64_t id, const char *result, int64_t now, remiss_err_t *err)
{
    return S_OPS(self)->admin_done(self, id, result, now, err);
}

remiss_code_t
store_admin_get(store_t *self, int64_t id, store_admin_t *out, bool *found, remiss_err_t *err)
{
    return S_OPS(self)->admin_get(self, id, out, found, err);
}

/* ------------------------------------------------------------ consents */

remiss_code_t
store_consent_put(store_t *self, const store_consent_t *c, bool *exists, remiss_err_t *err)
{
    uint8_t *sealed = NULL;
    size_t slen = 0;
    if (!s_seal(self, (const uint8_t *)c->consent_id, strlen(c->consent_id), c->grant, c->grant_len,
                &sealed, &slen))
        return remiss_err_set(err, REMISS_E_STORAGE, "cannot seal the consent");
    store_consent_t copy = *c;
    if (sealed) {
        copy.grant = sealed;
        copy.grant_len = slen;
    }
    remiss_code_t r = S_OPS(self)->consent_put(self, &copy, exists, err);
    free(sealed);
    return r;
}

remiss_code_t
store_consent_get(store_t *self, const char *id, bool *found, store_consent_t *out,
                  remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->consent_get(self, id, found, out, err);
    return s_unseal_consents(self, r, out, r == REMISS_OK && *found);
}

remiss_code_t
store_consent_revoke(store_t *self, const char *id, int64_t now, remiss_err_t *err)
{
    return S_OPS(self)->consent_revoke(self, id, now, err);
}

remiss_code_t
store_consents_for(store_t *self, const uint8_t subject[STORE_HASH_LEN], size_t max,
                   store_consent_t *out, size_t *n, remiss_err_t *err)
{
    remiss_code_t r = S_OPS(self)->consents_for(self, subject, max, out, n, err);
    return s_unseal_consents(self, r, out, *n);
}

remiss_code_t
store_consent_count(store_t *self, const uint8_t subject[STORE_HASH_LEN], const char *granted_by,
                    uint64_t *n, remiss_err_t *err)
{
    return S_OPS(self)->consent_count(self, subject, granted_by, n, err);
}

static bool
s_rewrap_one(void *ctx, const uint8_t *aad, size_t aad_len, uint8_t *blob, size_t len)
{
    return atrest_rewrap(ctx, aad, aad_len, blob, len);
}

remiss_code_t
store_rewrap(store_t *self, uint64_t *total, remiss_err_t *err)
{
    uint64_t n = 0;
    remiss_code_t r = REMISS_OK;
    uint8_t kid[4];
    *total = 0;
    if (!S_KEYS(self))
        return remiss_err_set(err, REMISS_E_USAGE, "the store has no keys");
    uint32_t cur = atrest_current_kid(S_KEYS(self));
    for (int i = 0; i < 4; i++)
        kid[i] = (uint8_t)(cur >> (24 - 8 * i));
    for (int q = 0; q < 2 && r == REMISS_OK; q++)
        do {
            if ((r = store_begin(self, err)) != REMISS_OK)
                break;
            r = S_OPS(self)->rewrap_batch(self, q == 1, kid, s_rewrap_one, S_KEYS(self), &n, err);
            if (r == REMISS_OK)
                r = store_commit(self, err);
            else
                store_rollback(self);
            *total += n;
        } while (r == REMISS_OK && n == STORE_REWRAP_BATCH);
    return r;
}

void
store_consent_clear(store_consent_t *c)
{
    if (!c)
        return;
    free(c->grant);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------ audit */

remiss_code_t
store_audit_size(store_t *self, uint64_t *size, remiss_err_t *err)
{
    return S_OPS(self)->audit_size(self, size, err);
}

remiss_code_t
store_audit_put(store_t *self, uint64_t index, const uint8_t *entry, size_t len,
                const uint8_t *subject, const uint8_t *message_id, remiss_err_t *err)
{
    return S_OPS(self)->audit_put(self, index, entry, len, subject, message_id, err);
}

remiss_code_t
store_audit_get(store_t *self, uint64_t index, uint8_t **entry, size_t *len, remiss_err_t *err)
{
    return S_OPS(self)->audit_get(self, index, entry, len, err);
}

remiss_code_t
store_audit_each(store_t *self, uint64_t from, store_audit_fn fn, void *ctx, remiss_err_t *err)
{
    return S_OPS(self)->audit_each(self, from, fn, ctx, err);
}

remiss_code_t
store_audit_node_put(store_t *self, unsigned level, uint64_t index,
                     const uint8_t hash[STORE_HASH_LEN], remiss_err_t *err)
{
    return S_OPS(self)->audit_node_put(self, level, index, hash, err);
}

remiss_code_t
store_audit_node_get(store_t *self, unsigned level, uint64_t index, uint8_t hash[STORE_HASH_LEN],
                     remiss_err_t *err)
{
    return S_OPS(self)->audit_node_get(self, level, index, hash, err);
}

remiss_code_t
store_audit_nodes_get(store_t *self, const unsigned *level, const uint64_t *index, size_t n,
                      uint8_t (*out)[STORE_HASH_LEN], remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    if (S_OPS(self)->audit_nodes_get)
        return S_OPS(self)->audit_nodes_get(self, level, index, n, out, err);
    for (size_t i = 0; i < n && r == REMISS_OK; i++)
        r = S_OPS(self)->audit_node_get(self, level[i], index[i], out[i], err);
    return r;
}

remiss_code_t
store_audit_find(store_t *self, const uint8_t *subject, const uint8_t *message_id, uint64_t *out,
                 size_t max, size_t *n, remiss_err_t *err)
{
    return S_OPS(self)->audit_find(self, subject, message_id, out, max, n, err);
}

remiss_code_t
store_audit_sth_put(store_t *self, uint64_t size, const uint8_t *sth, size_t len, remiss_err_t *err)
{
    return S_OPS(self)->audit_sth_put(self, size, sth, len, err);
}

remiss_code_t
store_audit_sth_latest(store_t *self, uint8_t **sth, size_t *len, remiss_err_t *err)
{
    return S_OPS(self)->audit_sth_latest(self, sth, len, err);
}

remiss_code_t
store_audit_sth_each(store_t *self, store_sth_fn fn, void *ctx, remiss_err_t *err)
{
    return S_OPS(self)->audit_sth_each(self, fn, ctx, err);
}

int64_t
store_node_pos(unsigned level, uint64_t index)
{
    if (level >= 62 || index >= (UINT64_C(1) << (61 - level)))
        return -1;
    uint64_t before = ((index + 1) << level) - 1;
    return (int64_t)(2 * before - (uint64_t)__builtin_popcountll(before) + level);
}

/* ------------------------------------------------------------ several nodes */

remiss_code_t
store_sync(store_t *self, store_sync_t *out, remiss_err_t *err)
{
    memset(out, 0, sizeof *out);
    return S_OPS(self)->sync ? S_OPS(self)->sync(self, out, err) : REMISS_OK;
}

bool
store_locked(const store_t *self)
{
    return S_OPS(self)->locked && S_OPS(self)->locked(self);
}

uint64_t
store_consent_gen(const store_t *self)
{
    return S_OPS(self)->consent_gen ? S_OPS(self)->consent_gen(self) : 0;
}

void
store_stats(const store_t *self, store_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (S_OPS(self)->stats)
        S_OPS(self)->stats(self, out);
}
