/* store_pg_msg: the PostgreSQL engine's message queue (store.h "messages"):
 * reading message rows, the replay look-up with store_prefetch, inserts,
 * what is due, delivery marks, acknowledgements, redelivery after a node
 * died, dead letters and the queue gauges. The connection, transactions
 * and the cluster's write lock are store_pg.c's. */
#include "hex.h"
#include "store_pg_int.h"
#include "store_pg_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_row_msg(const PGresult *res, int r, store_msg_t *m)
{
    memset(m, 0, sizeof *m);
    m->seq = (uint64_t)store_pg_get_int(res, r, 0);
    if (!store_pg_get_fixed(res, r, 1, m->message_id, STORE_ID_LEN))
        return false;
    store_pg_get_text(res, r, 2, m->sender, sizeof m->sender);
    store_pg_get_text(res, r, 3, m->recipient, sizeof m->recipient);
    m->type = (int)store_pg_get_int(res, r, 4);
    store_pg_get_text(res, r, 5, m->purpose, sizeof m->purpose);
    store_pg_get_text(res, r, 6, m->consent_id, sizeof m->consent_id);
    m->has_subject = store_pg_get_fixed(res, r, 7, m->subject, STORE_HASH_LEN);
    if (!store_pg_get_fixed(res, r, 8, m->envelope_sha256, STORE_HASH_LEN) ||
        !store_pg_get_dup(res, r, 9, &m->envelope, &m->envelope_len) ||
        !store_pg_get_dup(res, r, 10, &m->receipt, &m->receipt_len)) {
        store_msg_clear(m);
        return false;
    }
    m->created_at = store_pg_get_int(res, r, 11);
    m->accepted_at = store_pg_get_int(res, r, 12);
    m->audit_index = (uint64_t)store_pg_get_int(res, r, 13);
    m->state = (store_state_t)store_pg_get_int(res, r, 14);
    m->attempts = (uint32_t)store_pg_get_int(res, r, 15);
    m->delivered_at = store_pg_get_int(res, r, 16);
    m->acked_at = store_pg_get_int(res, r, 17);
    m->code = (int)store_pg_get_int(res, r, 18);
    store_pg_get_text(res, r, 19, m->reason, sizeof m->reason);
    m->has_linked = store_pg_get_fixed(res, r, 20, m->linked_id, STORE_ID_LEN);
    m->transfer_decision = (int)store_pg_get_int(res, r, 21);
    store_pg_get_text(res, r, 22, m->receiving_unit, sizeof m->receiving_unit);
    m->has_transfer_ack = store_pg_get_fixed(res, r, 23, m->transfer_ack_id, STORE_ID_LEN);
    return true;
}

/* Reads the message rows of res into out[0..max). */
static remiss_code_t
s_rows_of(const PGresult *res, store_msg_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    remiss_code_t r = res ? REMISS_OK : REMISS_E_STORAGE;
    *n = 0;
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++) {
        if (!s_row_msg(res, i, &out[*n])) {
            for (size_t j = 0; j < *n; j++)
                store_msg_clear(&out[j]);
            *n = 0;
            r = remiss_err_set(err, REMISS_E_STORAGE, "a stored message row is damaged");
            break;
        }
        (*n)++;
    }
    return r;
}

/* Runs a SELECT of message rows into out[0..max). */
static remiss_code_t
s_msg_rows(store_t *self, int q, const store_pg_par_t *p, store_msg_t *out, size_t max, size_t *n,
           remiss_err_t *err)
{
    PGresult *res = store_pg_run(self, q, p, err, "select messages");
    remiss_code_t r = s_rows_of(res, out, max, n, err);
    PQclear(res);
    return r;
}

/* ------------------------------------------------------------ messages */

/* The index of id among the ids store_prefetch found not stored, or
 * nabsent. */
static size_t
s_absent_at(const store_t *self, const uint8_t id[STORE_ID_LEN])
{
    size_t i = 0;
    while (i < self->nabsent && memcmp(self->absent[i], id, STORE_ID_LEN) != 0)
        i++;
    return i;
}

remiss_code_t
store_pg_find(store_t *self, const uint8_t id[STORE_ID_LEN], bool *found, store_msg_t *out,
              remiss_err_t *err)
{
    store_pg_par_t p = {0};
    size_t n = 0;
    *found = false;
    if (s_absent_at(self, id) < self->nabsent)
        return REMISS_OK; /* store_prefetch found it not stored */
    store_pg_blob(&p, id, STORE_ID_LEN);
    remiss_code_t r = s_msg_rows(self, Q_FIND, &p, out, 1, &n, err);
    *found = r == REMISS_OK && n == 1;
    return r;
}

remiss_code_t
store_pg_insert(store_t *self, store_msg_t *m, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    size_t k = s_absent_at(self, m->message_id);
    if (k < self->nabsent) /* stored from now on */
        memmove(self->absent[k], self->absent[--self->nabsent], STORE_ID_LEN);
    store_pg_notify_add(self, m->recipient);
    store_pg_par_t p = {0};
    store_pg_blob(&p, m->message_id, STORE_ID_LEN);
    store_pg_text(&p, m->sender);
    store_pg_text(&p, m->recipient);
    store_pg_int(&p, m->type);
    store_pg_text(&p, m->purpose);
    store_pg_text(&p, m->consent_id);
    store_pg_blob(&p, m->has_subject ? m->subject : NULL, STORE_HASH_LEN);
    store_pg_blob(&p, m->envelope_sha256, STORE_HASH_LEN);
    store_pg_blob(&p, m->envelope, m->envelope_len);
    store_pg_blob(&p, m->receipt ? m->receipt : (const uint8_t *)"", m->receipt_len);
    store_pg_int(&p, m->created_at);
    store_pg_int(&p, m->accepted_at);
    store_pg_int(&p, (int64_t)m->audit_index);
    store_pg_blob(&p, m->has_linked ? m->linked_id : NULL, STORE_ID_LEN);
    /* Inside a transaction it goes out with the next statement that waits
     * (a duplicate id, which the broker's store_find before it rules out on
     * one node, then fails the transaction); the database numbers it. */
    m->seq = 0;
    if (self->in_tx)
        return store_pg_defer(self, Q_INSERT, NULL, &p, err, "insert message");
    uint64_t seq = 0;
    remiss_code_t r = store_pg_count(self, Q_INSERT, &p, &seq, err);
    if (r == REMISS_OK)
        m->seq = seq;
    return r;
}

remiss_code_t
store_pg_due(store_t *self, const char *recipient, int64_t now, size_t max, store_msg_t *out,
             size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    store_pg_int(&p, now);
    store_pg_int(&p, (int64_t)max);
    /* Read under the write lock (taken in the same round trip), so that
     * of two nodes holding a connection of recipient one hands a message
     * out and the other sees it marked. */
    PGresult *res = NULL;
    *n = 0;
    if (self->in_tx && store_pg_lock_then(self, Q_DUE, &p, &res, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    if (!self->in_tx)
        return s_msg_rows(self, Q_DUE, &p, out, max, n, err);
    remiss_code_t r = s_rows_of(res, out, max, n, err);
    PQclear(res);
    return r;
}

/* Queues the reads of reqs[0..n) (n at most STORE_PG_MAX_PENDING - 2). */
remiss_code_t
store_pg_due_send(store_t *self, const store_due_req_t *reqs, int n, int64_t now, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    for (int i = 0; r == REMISS_OK && i < n; i++) {
        store_pg_par_t p = {0};
        store_pg_text(&p, reqs[i].recipient);
        store_pg_int(&p, now);
        store_pg_int(&p, (int64_t)reqs[i].max);
        r = store_pg_send(self, Q_DUE, NULL, &p, err, "due");
    }
    return r;
}

/* The rows of store_pg_due_send's results res[0..n) into reqs (clears
 * every res[i]). */
remiss_code_t
store_pg_due_take(PGresult **res, store_due_req_t *reqs, int n, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    for (int i = 0; i < n; i++) {
        if (r == REMISS_OK)
            r = s_rows_of(res[i], reqs[i].out, reqs[i].max, &reqs[i].n, err);
        PQclear(res[i]);
        res[i] = NULL;
    }
    return r;
}

/* Up to STORE_PG_MAX_PENDING - 2 of store_due_many in one round trip, the write
 * lock first if not held (as s_due). */
static remiss_code_t
s_due_chunk(store_t *self, store_due_req_t *reqs, int n, int64_t now, remiss_err_t *err)
{
    PGresult *res[STORE_PG_MAX_PENDING] = {NULL};
    bool lock = false;
    remiss_code_t r = store_pg_ready(self, err);
    if (r == REMISS_OK)
        r = store_pg_lock_queue(self, &lock, err);
    int nkeep = n + (lock ? 1 : 0);
    if (r == REMISS_OK)
        r = store_pg_due_send(self, reqs, n, now, err);
    if ((r = store_pg_lock_sync(self, lock, r, res, nkeep, err, "due")) != REMISS_OK)
        return r;
    return store_pg_due_take(res + (lock ? 1 : 0), reqs, n, err);
}

remiss_code_t
store_pg_due_many(store_t *self, store_due_req_t *reqs, size_t n, int64_t now, remiss_err_t *err)
{
    const size_t chunk = STORE_PG_MAX_PENDING - 2;
    remiss_code_t r = REMISS_OK;
    if (!self->in_tx) {
        for (size_t i = 0; i < n && r == REMISS_OK; i++)
            r = store_pg_due(self, reqs[i].recipient, now, reqs[i].max, reqs[i].out, &reqs[i].n,
                             err);
        return r;
    }
    for (size_t at = 0; at < n && r == REMISS_OK; at += chunk)
        r = s_due_chunk(self, reqs + at, (int)(n - at < chunk ? n - at : chunk), now, err);
    return r;
}

remiss_code_t
store_pg_mark_sent(store_t *self, uint64_t seq, int64_t now, int64_t next_at, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)seq);
    store_pg_int(&p, now);
    store_pg_int(&p, next_at);
    return store_pg_defer(self, Q_MARK_SENT, NULL, &p, err, "mark sent");
}

remiss_code_t
store_pg_resend_now(store_t *self, const char *recipient, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    return store_pg_defer(self, Q_RESEND_NOW, NULL, &p, err, "resend");
}

static void
s_finish_params(store_pg_par_t *p, const uint8_t *id, const char *recipient, store_state_t state,
                int code, const char *reason, int64_t now)
{
    store_pg_blob(p, id, STORE_ID_LEN);
    store_pg_int(p, (int64_t)state);
    store_pg_int(p, code);
    store_pg_text(p, reason);
    store_pg_int(p, now);
    if (recipient)
        store_pg_text(p, recipient);
}

remiss_code_t
store_pg_finish(store_t *self, const uint8_t id[STORE_ID_LEN], const char *recipient,
                store_state_t state, int code, const char *reason, int64_t now, bool *changed,
                remiss_err_t *err)
{
    *changed = false;
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    uint64_t n = 0;
    s_finish_params(&p, id, recipient, state, code, reason, now);
    remiss_code_t r =
        store_pg_exec(self, recipient ? Q_FINISH : Q_FINISH_ANY, &p, &n, err, "finish");
    *changed = n > 0;
    return r;
}

/* Queues store_finish_many's statements for reqs[0..n). */
static remiss_code_t
s_finish_send(store_t *self, const store_finish_req_t *reqs, int n, int64_t now, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    for (int i = 0; i < n && r == REMISS_OK; i++) {
        const store_finish_req_t *q = &reqs[i];
        store_pg_par_t p = {0};
        s_finish_params(&p, q->id, q->recipient, q->state, q->code, q->reason, now);
        r = store_pg_send(self, q->recipient ? Q_FINISH : Q_FINISH_ANY, NULL, &p, err, "finish");
    }
    return r;
}

/* Their results res[0..n) into reqs (clears every res[i]). */
static remiss_code_t
s_finish_take(PGresult **res, store_finish_req_t *reqs, int n, bool want_rows, remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    for (int i = 0; r == REMISS_OK && i < n; i++) {
        store_finish_req_t *q = &reqs[i];
        q->changed = PQntuples(res[i]) > 0;
        if (q->changed && want_rows && !(q->has_row = s_row_msg(res[i], 0, &q->row)))
            r = remiss_err_set(err, REMISS_E_STORAGE, "a stored message row is damaged");
    }
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    return r;
}

/* Up to STORE_PG_MAX_PENDING statements of store_finish_many in one round
 * trip, the write lock (two of them) first if not held. */
static remiss_code_t
s_finish_chunk(store_t *self, store_finish_req_t *reqs, int n, int64_t now, bool want_rows,
               remiss_err_t *err)
{
    PGresult *res[STORE_PG_MAX_PENDING] = {NULL};
    bool lock = false;
    remiss_code_t r = store_pg_lock_queue(self, &lock, err);
    if (r == REMISS_OK)
        r = s_finish_send(self, reqs, n, now, err);
    int first = lock ? 1 : 0;
    if ((r = store_pg_lock_sync(self, lock, r, res, first + n, err, "finish")) != REMISS_OK)
        return r;
    return s_finish_take(res + first, reqs, n, want_rows, err);
}

remiss_code_t
store_pg_finish_many(store_t *self, store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                     remiss_err_t *err)
{
    remiss_code_t r = REMISS_OK;
    if (n && store_pg_ready(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    for (size_t at = 0, k; at < n && r == REMISS_OK; at += k) {
        size_t room = STORE_PG_MAX_PENDING - (self->in_tx && !self->locked ? 2 : 0);
        k = n - at < room ? n - at : room;
        r = s_finish_chunk(self, reqs + at, (int)k, now, want_rows, err);
    }
    return r;
}

/* The ids of a Q_FIND_MANY result that are not stored, as the
 * transaction's negative cache (store_pg_find). */
static void
s_absent_from(store_t *self, const PGresult *res, const uint8_t (*ids)[STORE_ID_LEN], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t got[STORE_ID_LEN];
        bool stored = false;
        for (int r = 0; r < PQntuples(res) && !stored; r++)
            stored = store_pg_get_fixed(res, r, 0, got, STORE_ID_LEN) &&
                     memcmp(got, ids[i], STORE_ID_LEN) == 0;
        if (!stored && s_absent_at(self, ids[i]) == self->nabsent)
            memcpy(self->absent[self->nabsent++], ids[i], STORE_ID_LEN);
    }
}

/* One round trip for a cycle's submissions and acknowledgements
 * (store.h): the ids as a bytea[] literal, what does not come back is not
 * stored; the write lock first (they are written next, and the look-up
 * then sees every node's commits before it), the acknowledgements'
 * UPDATEs after. */
remiss_code_t
store_pg_prefetch(store_t *self, const uint8_t (*ids)[STORE_ID_LEN], size_t nids,
                  store_finish_req_t *reqs, size_t n, int64_t now, bool want_rows,
                  remiss_err_t *err)
{
    store_pg_lit_t lit = {0};
    store_pg_par_t p = {0};
    PGresult *res[STORE_PG_MAX_PENDING] = {NULL};
    const char *text = NULL;
    bool ok = self->in_tx && !self->poisoned && nids > 0, lock = false;
    self->nabsent = 0;
    if (ok && nids > self->absent_cap) {
        void *grown = realloc(self->absent, nids * sizeof *self->absent);
        if ((ok = grown != NULL)) {
            self->absent = grown;
            self->absent_cap = nids;
        }
    }
    for (size_t i = 0; i < nids && ok; i++)
        ok = store_pg_lit_blob(&lit, ids[i], STORE_ID_LEN);
    if (!ok || !(text = store_pg_lit_end(&lit))) {
        store_pg_lit_free(&lit);
        return store_pg_finish_many(self, reqs, n, now, want_rows, err);
    }
    store_pg_text(&p, text);
    int nfin = (int)(n < STORE_PG_MAX_PENDING - 3 ? n : STORE_PG_MAX_PENDING - 3);
    remiss_code_t r = store_pg_ready(self, err);
    if (r == REMISS_OK)
        r = store_pg_lock_queue(self, &lock, err);
    if (r == REMISS_OK)
        r = store_pg_send(self, Q_FIND_MANY, NULL, &p, err, "look-up");
    if (r == REMISS_OK)
        r = s_finish_send(self, reqs, nfin, now, err);
    store_pg_lit_free(&lit);
    int first = lock ? 2 : 1;
    if ((r = store_pg_lock_sync(self, lock, r, res, first + nfin, err, "look-up")) != REMISS_OK)
        return r;
    s_absent_from(self, res[first - 1], ids, nids);
    PQclear(res[first - 1]);
    r = s_finish_take(res + first, reqs, nfin, want_rows, err);
    if (r == REMISS_OK && n > (size_t)nfin)
        r = store_pg_finish_many(self, reqs + nfin, n - (size_t)nfin, now, want_rows, err);
    return r;
}

/* In the node's own transaction: a separate one would wait for the write
 * lock this node's open transaction may hold (and so for itself). */
remiss_code_t
store_pg_reclaim(store_t *self, uint64_t *n, remiss_err_t *err)
{
    PGresult *res = NULL;
    if (store_pg_lock_then(self, Q_RECLAIM, NULL, &res, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    *n = res && PQntuples(res) == 1 ? (uint64_t)store_pg_get_int(res, 0, 0) : 0;
    PQclear(res);
    return REMISS_OK;
}

remiss_code_t
store_pg_requeue(store_t *self, const uint8_t id[STORE_ID_LEN], bool *changed, remiss_err_t *err)
{
    *changed = false;
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    uint64_t n = 0;
    store_pg_blob(&p, id, STORE_ID_LEN);
    remiss_code_t r = store_pg_exec(self, Q_REQUEUE, &p, &n, err, "requeue");
    *changed = n > 0;
    return r;
}

remiss_code_t
store_pg_link_transfer(store_t *self, const uint8_t orig[STORE_ID_LEN], const char *orig_sender,
                       const char *orig_recipient, int decision, const char *unit,
                       const uint8_t ack_id[STORE_ID_LEN], remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_blob(&p, orig, STORE_ID_LEN);
    store_pg_text(&p, orig_sender);
    store_pg_int(&p, decision);
    store_pg_text(&p, unit);
    store_pg_blob(&p, ack_id, STORE_ID_LEN);
    store_pg_text(&p, orig_recipient);
    return store_pg_defer(self, Q_LINK, NULL, &p, err, "link transfer");
}

remiss_code_t
store_pg_dead_letters(store_t *self, size_t max, store_msg_t *out, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)max);
    return s_msg_rows(self, Q_DEAD, &p, out, max, n, err);
}

remiss_code_t
store_pg_pending_by_consent(store_t *self, const char *consent_id, size_t max, store_msg_t *out,
                            size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, consent_id);
    store_pg_int(&p, (int64_t)max);
    return s_msg_rows(self, Q_BY_CONSENT, &p, out, max, n, err);
}

remiss_code_t
store_pg_purge(store_t *self, int64_t before_ms, uint64_t *purged, remiss_err_t *err)
{
    if (store_pg_lock(self, err) != REMISS_OK)
        return REMISS_E_STORAGE;
    store_pg_par_t p = {0};
    store_pg_int(&p, before_ms);
    remiss_code_t r = store_pg_exec(self, Q_PURGE, &p, purged, err, "purge");
    return r == REMISS_OK ? store_pg_exec(self, Q_C_SHRED, &p, NULL, err, "shred consents") : r;
}

remiss_code_t
store_pg_depth(store_t *self, const char *recipient, uint64_t *depth, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_text(&p, recipient);
    return store_pg_count(self, Q_DEPTH, &p, depth, err);
}

remiss_code_t
store_pg_queues(store_t *self, store_queue_t *out, size_t max, size_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    store_pg_int(&p, (int64_t)max);
    PGresult *res = store_pg_run(self, Q_QUEUES, &p, err, "queues");
    for (int i = 0; res && i < PQntuples(res) && *n < max; i++, (*n)++) {
        store_pg_get_text(res, i, 0, out[*n].recipient, sizeof out[*n].recipient);
        out[*n].depth = (uint64_t)store_pg_get_int(res, i, 1);
        out[*n].oldest = store_pg_get_int(res, i, 2);
    }
    bool ok = res != NULL;
    PQclear(res);
    return ok ? REMISS_OK : REMISS_E_STORAGE;
}

remiss_code_t
store_pg_oldest(store_t *self, const char *recipient, int64_t *accepted_at, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    uint64_t v = 0;
    store_pg_text(&p, recipient);
    remiss_code_t r = store_pg_count(self, Q_OLDEST, &p, &v, err);
    *accepted_at = (int64_t)v;
    return r;
}

remiss_code_t
store_pg_dead_count(store_t *self, uint64_t *n, remiss_err_t *err)
{
    store_pg_par_t p = {0};
    return store_pg_count(self, Q_DEAD_COUNT, &p, n, err);
}
