/* audit: the tamper-evident audit log (include/audit.h).
 *
 * The log is three tables behind store.h: the serialized entries, the
 * perfect-subtree nodes of their Merkle tree (written once, when they come
 * into existence, so any proof is O(log n) reads) and the signed tree heads.
 * This module owns their format; common/merkle.c does the tree arithmetic
 * and common/audit_verify.c the offline checks a party can run too.
 *
 * audit_append is on the broker's hot path (one or more entries for every
 * message), so it allocates nothing: entries are packed into a buffer inside
 * audit_t, the HMAC and SHA-256 objects are fetched once, and the frontier
 * keeps the root without reading the store. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "merkle.h"
#include "pki.h"
#include "policy.h"
#include "pseudonym.h"

#define S_STR_MAX    (STORE_NAME_MAX - 1) /* longest party id, purpose, actor */
#define S_DETAIL_MAX 512                  /* longest detail kept */
#define S_FIND_MAX   32                   /* entries read to find a message's intake */

_Static_assert(4 * S_STR_MAX + S_DETAIL_MAX + CAT_COUNT * 16 + 3 * 34 + 64 < AUDIT_ENTRY_MAX,
               "a bounded entry must fit the pack buffer");

struct audit {
    store_t *store;               /* where the log lives (borrowed) */
    EVP_PKEY *key;                /* broker signing key (borrowed) */
    const pseudonym_t *ps;        /* subject pseudonyms (borrowed or own) */
    pseudonym_t *own_ps;          /* when audit_open keyed its own */
    EVP_MD *sha256;               /* fetched once for leaf hashes */
    EVP_MD_CTX *md;               /* reused for every leaf hash */
    merkle_frontier_t frontier;   /* right edge of the stored tree */
    bool stale;                   /* frontier must be re-read before use */
    bool has_head;                /* a signed tree head exists */
    uint64_t head_size;           /* its tree size */
    int64_t head_time;            /* when it was signed (ms) */
    uint64_t sync_serial;         /* store write lock last caught up under */
    uint8_t buf[AUDIT_ENTRY_MAX]; /* pack buffer for one entry */
    const policy_t *policy;       /* closed vocabularies (borrowed), NULL: none */
};

/* Merkle callbacks go straight to the store; its error text lands in err. */
typedef struct s_io {
    store_t *store;
    remiss_err_t *err;
} s_io_t;

static const char s_denied[] = "the audit entry asked for does not exist or does not concern "
                               "this party";

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static remiss_code_t
s_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    s_io_t *io = ctx;
    return store_audit_node_get(io->store, level, index, out, io->err);
}

/* A frontier's nodes, read together. */
typedef struct s_nodes {
    unsigned level[MERKLE_MAX_LEVELS];
    uint64_t index[MERKLE_MAX_LEVELS];
    uint8_t hash[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN];
    size_t n;
} s_nodes_t;

static remiss_code_t
s_get_read(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    const s_nodes_t *nodes = ctx;
    for (size_t i = 0; i < nodes->n; i++)
        if (nodes->level[i] == level && nodes->index[i] == index) {
            memcpy(out, nodes->hash[i], MERKLE_HASH_LEN);
            return REMISS_OK;
        }
    return REMISS_E_STORAGE;
}

/* The frontier of the stored tree at size, its nodes read in one go: one
 * round trip on PostgreSQL, where one each had cost a round trip of its
 * own (about 7 for each transaction after another node appended). On
 * failure the frontier is empty. */
static remiss_code_t
s_frontier_load(audit_t *self, uint64_t size, remiss_err_t *err)
{
    s_nodes_t nodes;
    nodes.n = merkle_frontier_nodes(size, nodes.level, nodes.index);
    remiss_code_t r =
        store_audit_nodes_get(self->store, nodes.level, nodes.index, nodes.n, nodes.hash, err);
    if (r != REMISS_OK) {
        merkle_frontier_init(&self->frontier);
        return r;
    }
    return merkle_frontier_load(&self->frontier, size, s_get_read, &nodes);
}

static remiss_code_t
s_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_LEN])
{
    s_io_t *io = ctx;
    return store_audit_node_put(io->store, level, index, hash, io->err);
}

/* ---------------------------------------------------------------- pseudonyms */

bool
audit_pseudonym(const audit_t *self, const char *canonical, uint8_t out[32])
{
    return pseudonym_of(self->ps, canonical, out);
}

bool
audit_pseudonym_key(const uint8_t hmac_key[32], const char *canonical, uint8_t out[32])
{
    pseudonym_t *ps = pseudonym_new(hmac_key);
    bool ok = pseudonym_of(ps, canonical, out);
    pseudonym_free(&ps);
    return ok;
}

remiss_code_t
audit_secret_load(const char *path, uint8_t key[32], remiss_err_t *err)
{
    return pseudonym_secret_load(path, key, err);
}

/* ---------------------------------------------------------------- lifecycle */

/* Reads the latest stored tree head into self (and *out if not NULL),
 * verifying it with our own key. */
static remiss_code_t
s_load_head(audit_t *self, audit_tree_head_t *out, remiss_err_t *err)
{
    audit_tree_head_t th;
    remiss_err_t why;
    uint8_t *sth = NULL;
    size_t len = 0;
    remiss_code_t r;

    self->has_head = false;
    self->head_size = 0;
    self->head_time = 0;
    if ((r = store_audit_sth_latest(self->store, &sth, &len, err)) != REMISS_OK || len == 0)
        goto out;
    if (audit_verify_tree_head_bytes(sth, len, self->key, &th, &why) != REMISS_OK) {
        r = remiss_err_set(err, REMISS_E_STORAGE, "the latest audit tree head is damaged (%s)",
                           why.text);
        goto out;
    }
    self->has_head = true;
    self->head_size = th.size;
    self->head_time = th.timestamp;
    if (out != NULL)
        *out = th;
out:
    free(sth);
    return r;
}

remiss_code_t
audit_reload(audit_t *self, remiss_err_t *err)
{
    s_io_t io = {self->store, err};
    uint8_t root[MERKLE_HASH_LEN];
    audit_tree_head_t th;
    uint64_t size;
    remiss_code_t r;

    self->stale = true;
    if ((r = store_audit_size(self->store, &size, err)) != REMISS_OK ||
        (r = s_frontier_load(self, size, err)) != REMISS_OK ||
        (r = s_load_head(self, &th, err)) != REMISS_OK)
        return r;
    /* Refuse to extend a log that no longer matches what we signed: new
     * heads over it would bless the damage. */
    if (self->has_head && th.size > size)
        return remiss_err_set(err, REMISS_E_STORAGE,
                              "the audit log has %llu entries but a signed tree head covers "
                              "%llu; run remissctl audit verify",
                              (unsigned long long)size, (unsigned long long)th.size);
    if (self->has_head) {
        if ((r = merkle_root(th.size, s_get, &io, root)) != REMISS_OK)
            return r;
        if (memcmp(root, th.root, MERKLE_HASH_LEN) != 0)
            return remiss_err_set(err, REMISS_E_STORAGE,
                                  "the audit tree no longer matches its latest signed head; "
                                  "run remissctl audit verify");
    }
    self->stale = false;
    return REMISS_OK;
}

/* Several nodes share the store (store_sync): another node may have
 * appended since this one last did. Under the store's write lock, once per
 * transaction, the frontier and the latest head are read again if the log
 * grew elsewhere, so two nodes never give two entries one index and the
 * tree never forks. On SQLite this costs nothing. */
static remiss_code_t
s_catch_up(audit_t *self, remiss_err_t *err)
{
    store_sync_t sync;
    remiss_code_t r = store_sync(self->store, &sync, err);
    if (r != REMISS_OK || !sync.shared || sync.serial == self->sync_serial)
        return r;
    if (self->stale || sync.audit_size != self->frontier.size) {
        self->stale = true;
        if ((r = s_frontier_load(self, sync.audit_size, err)) != REMISS_OK ||
            (r = s_load_head(self, NULL, err)) != REMISS_OK)
            return r;
        self->stale = false;
    }
    self->sync_serial = sync.serial;
    return REMISS_OK;
}

audit_t *
audit_open_with(store_t *store, EVP_PKEY *key, const pseudonym_t *ps, remiss_err_t *err)
{
    audit_t *self;

    if (store == NULL || key == NULL || ps == NULL) {
        remiss_err_set(err, REMISS_E_USAGE, "the audit log needs a store, a key and a secret");
        return NULL;
    }
    if ((self = calloc(1, sizeof *self)) == NULL) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    self->store = store;
    self->key = key;
    self->ps = ps;
    if ((self->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
        (self->md = EVP_MD_CTX_new()) == NULL) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot set up SHA-256");
        goto fail;
    }
    if (audit_reload(self, err) != REMISS_OK)
        goto fail;
    return self;
fail:
    audit_close(&self);
    return NULL;
}

audit_t *
audit_open(store_t *store, EVP_PKEY *key, const uint8_t hmac_key[32], remiss_err_t *err)
{
    pseudonym_t *ps = hmac_key ? pseudonym_new(hmac_key) : NULL;
    audit_t *self;

    if (hmac_key && !ps) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot set up HMAC-SHA256");
        return NULL;
    }
    if ((self = audit_open_with(store, key, ps, err)) == NULL)
        pseudonym_free(&ps);
    else
        self->own_ps = ps;
    return self;
}

void
audit_close(audit_t **self_p)
{
    if (self_p == NULL || *self_p == NULL)
        return;
    audit_t *self = *self_p;
    pseudonym_free(&self->own_ps);
    EVP_MD_CTX_free(self->md);
    EVP_MD_free(self->sha256);
    free(self);
    *self_p = NULL;
}

uint64_t
audit_size(const audit_t *self)
{
    return self->frontier.size;
}

audit_mark_t
audit_mark(const audit_t *self)
{
    return (audit_mark_t){self->frontier.size};
}

void
audit_rollback_to(audit_t *self, audit_mark_t mark)
{
    /* The savepoint's nodes are gone and the ones before it are still
     * there, so the frontier at the mark can be read back; a head signed
     * inside the savepoint is gone too. If a read fails the next append
     * reloads (or fails) instead of extending a wrong tree. */
    if (self->stale || mark.size > self->frontier.size ||
        s_frontier_load(self, mark.size, NULL) != REMISS_OK ||
        s_load_head(self, NULL, NULL) != REMISS_OK)
        self->stale = true;
}

/* ---------------------------------------------------------------- append */

/* The entry recording the broker's decision on a message. */
static bool
s_is_intake(Remiss__AuditEvent event)
{
    return event == REMISS__AUDIT_EVENT__EV_ACCEPTED || event == REMISS__AUDIT_EVENT__EV_REFUSED ||
           event == REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED ||
           event == REMISS__AUDIT_EVENT__EV_CONSENT_REVOKED;
}

/* s itself if it is at most max bytes, else its first max bytes (cut at a
 * UTF-8 character boundary) copied into buf of max + 1 bytes. */
static char *
s_bounded(const char *s, size_t max, char *buf)
{
    size_t n;

    if (s == NULL)
        return NULL;
    n = strnlen(s, max + 1);
    if (n <= max)
        return (char *)s;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static remiss_code_t
s_leaf_hash(audit_t *self, const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
    static const uint8_t leaf_prefix = 0x00;

    /* merkle_leaf_hash, without its per-call fetch of SHA-256 (see the note
     * on implicit fetches in merkle.c); tests check both agree. */
    if (EVP_DigestInit_ex2(self->md, self->sha256, NULL) != 1 ||
        EVP_DigestUpdate(self->md, &leaf_prefix, 1) != 1 ||
        EVP_DigestUpdate(self->md, data, len) != 1 || EVP_DigestFinal_ex(self->md, out, NULL) != 1)
        return REMISS_E_INTERNAL;
    return REMISS_OK;
}

void
audit_set_policy(audit_t *self, const policy_t *policy)
{
    if (self)
        self->policy = policy;
}

/* What a party or purpose field may hold (DESIGN.md §2: closed
 * vocabularies only). The sender's text outside them, a recipient or a
 * purpose that is no party or purpose of the policy, becomes "unlisted:"
 * and 16 hex digits of a keyed hash (the same text always gets the same
 * marker, so repeats can be told apart; the text itself cannot be read
 * back). */
static const char *
s_closed(audit_t *self, const char *v, bool purpose, char *buf, size_t size)
{
    char in[S_STR_MAX + 8];
    uint8_t mac[32];
    if (!v || !v[0] || !self->policy)
        return v ? v : "";
    if (purpose ? policy_purpose_known(self->policy, v)
                : (strcmp(v, "broker") == 0 || policy_party_role(self->policy, v)))
        return v;
    int len = snprintf(in, sizeof in, "x:%.*s", S_STR_MAX, v);
    pseudonym_mark(self->ps, (const uint8_t *)in, (size_t)len, mac);
    snprintf(buf, size, "unlisted:");
    for (size_t i = 0; i < 8 && 9 + 2 * i + 2 < size; i++)
        snprintf(buf + 9 + 2 * i, size - 9 - 2 * i, "%02x", mac[i]);
    return buf;
}

/* The party and purpose fields of e from ev (s_closed, then bounded); each
 * buffer holds S_STR_MAX + 1 bytes. */
static void
s_closed_fields(audit_t *self, const audit_event_t *ev, Remiss__AuditEntry *e, char *sender,
                char *recipient, char *purpose)
{
    const size_t n = S_STR_MAX + 1;
    e->sender = s_bounded(s_closed(self, ev->sender, false, sender, n), S_STR_MAX, sender);
    e->recipient =
        s_bounded(s_closed(self, ev->recipient, false, recipient, n), S_STR_MAX, recipient);
    e->purpose = s_bounded(s_closed(self, ev->purpose, true, purpose, n), S_STR_MAX, purpose);
}

remiss_code_t
audit_append(audit_t *self, const audit_event_t *ev, uint64_t *index, remiss_err_t *err)
{
    Remiss__AuditEntry e = REMISS__AUDIT_ENTRY__INIT;
    char sender[S_STR_MAX + 1], recipient[S_STR_MAX + 1], purpose[S_STR_MAX + 1];
    char detail[S_DETAIL_MAX + 1];
    char *cats[CAT_COUNT];
    uint8_t pseudonym[32], leaf[MERKLE_HASH_LEN];
    s_io_t io = {self ? self->store : NULL, err};
    size_t len;
    remiss_code_t r;

    if (index != NULL)
        *index = 0;
    if (self == NULL || ev == NULL)
        return remiss_err_set(err, REMISS_E_USAGE, "audit_append needs a log and an event");
    if ((self->stale && (r = audit_reload(self, err)) != REMISS_OK) ||
        (r = s_catch_up(self, err)) != REMISS_OK)
        return r;
    e.index = self->frontier.size;
    e.time = ev->time != 0 ? ev->time : s_now_ms();
    e.event = ev->event;
    s_closed_fields(self, ev, &e, sender, recipient, purpose);
    e.type = ev->type;
    e.detail = s_bounded(ev->detail ? ev->detail : "", S_DETAIL_MAX, detail);
    e.code = (Remiss__ReasonCode)ev->code;
    e.categories = cats;
    for (int c = 0; c < CAT_COUNT; c++)
        if ((ev->categories & (1u << c)) != 0)
            cats[e.n_categories++] = (char *)category_name((category_t)c);
    if (ev->message_id != NULL)
        e.message_id = (ProtobufCBinaryData){STORE_ID_LEN, (uint8_t *)ev->message_id};
    if (ev->envelope_sha256 != NULL)
        e.envelope_sha256 = (ProtobufCBinaryData){STORE_HASH_LEN, (uint8_t *)ev->envelope_sha256};
    if (ev->subject != NULL) {
        if (!audit_pseudonym(self, ev->subject, pseudonym))
            return remiss_err_set(err, REMISS_E_USAGE,
                                  "the audit subject must be a canonical 12-digit personnummer");
        e.subject_pseudonym = (ProtobufCBinaryData){sizeof pseudonym, pseudonym};
    } else if (ev->subject_pseudonym != NULL) {
        memcpy(pseudonym, ev->subject_pseudonym, sizeof pseudonym);
        e.subject_pseudonym = (ProtobufCBinaryData){sizeof pseudonym, pseudonym};
    }
    /* Bounded above by construction; checked so a change to the entry can
     * never write past the buffer. */
    if ((len = remiss__audit_entry__get_packed_size(&e)) > sizeof self->buf)
        return remiss_err_set(err, REMISS_E_INTERNAL, "an audit entry is too large");
    remiss__audit_entry__pack(&e, self->buf);
    if ((r = s_leaf_hash(self, self->buf, len, leaf)) != REMISS_OK)
        return remiss_err_set(err, r, "cannot hash the audit entry");
    /* The entry first, then its nodes: merkle_frontier_append leaves the
     * frontier untouched if a node write fails, so on any failure memory
     * still matches the store once the caller undoes its savepoint. */
    /* Proofs look up only intake entries by message id, and those whose
     * message row names them are found there (s_find_intake): indexing
     * fewer random ids keeps index pages from being rewritten. */
    if ((r = store_audit_put(
             self->store, e.index, self->buf, len, e.subject_pseudonym.len ? pseudonym : NULL,
             s_is_intake(ev->event) && !ev->in_row ? ev->message_id : NULL, err)) != REMISS_OK ||
        (r = merkle_frontier_append(&self->frontier, leaf, s_emit, &io)) != REMISS_OK)
        return r == REMISS_E_STORAGE ? r : remiss_err_set(err, r, "cannot extend the audit tree");
    if (index != NULL)
        *index = e.index;
    return REMISS_OK;
}

/* ---------------------------------------------------------------- tree heads */

/* Signs the current tree and stores the head. */
static remiss_code_t
s_sign(audit_t *self, remiss_err_t *err)
{
    Remiss__TreeHead th = REMISS__TREE_HEAD__INIT;
    Remiss__SignedTreeHead sth = REMISS__SIGNED_TREE_HEAD__INIT;
    uint8_t root[MERKLE_HASH_LEN], head[128], sig[PKI_SIG_MAX], out[AUDIT_STH_MAX];
    size_t head_len, sig_len = 0, out_len;
    int64_t now = s_now_ms();
    remiss_code_t r;

    if ((r = merkle_frontier_root(&self->frontier, root)) != REMISS_OK)
        return remiss_err_set(err, r, "cannot compute the audit root");
    th.tree_size = self->frontier.size;
    th.root_hash = (ProtobufCBinaryData){sizeof root, root};
    th.timestamp = now;
    if ((head_len = remiss__tree_head__get_packed_size(&th)) > sizeof head)
        return remiss_err_set(err, REMISS_E_INTERNAL, "a tree head is too large");
    remiss__tree_head__pack(&th, head);
    if (!pki_sign(self->key, PKI_CTX_TREEHEAD, head, head_len, sig, &sig_len))
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot sign the audit tree head");
    sth.tree_head = (ProtobufCBinaryData){head_len, head};
    sth.signature = (ProtobufCBinaryData){sig_len, sig};
    if ((out_len = remiss__signed_tree_head__get_packed_size(&sth)) > sizeof out)
        return remiss_err_set(err, REMISS_E_INTERNAL, "a signed tree head is too large");
    remiss__signed_tree_head__pack(&sth, out);
    if ((r = store_audit_sth_put(self->store, th.tree_size, out, out_len, err)) != REMISS_OK)
        return r;
    self->has_head = true;
    self->head_size = th.tree_size;
    self->head_time = now;
    return REMISS_OK;
}

static bool
s_head_due(const audit_t *self, bool force, int64_t interval_ms, uint64_t every)
{
    uint64_t size = self->frontier.size;
    if (self->has_head && self->head_size == size)
        return false;
    return force || (size > self->head_size &&
                     ((every > 0 && size - self->head_size >= every) ||
                      (interval_ms > 0 && s_now_ms() - self->head_time >= interval_ms)));
}

remiss_code_t
audit_sign_head(audit_t *self, bool force, int64_t interval_ms, uint64_t every, remiss_err_t *err)
{
    remiss_code_t r;

    if (self->stale && (r = audit_reload(self, err)) != REMISS_OK)
        return r;
    /* A head over an unchanged tree proves nothing new; force covers the
     * tree as it is (also the empty one, once). Another node may have
     * appended or signed since: only a head that looks due takes the
     * store's write lock and looks again. */
    if (!s_head_due(self, force, interval_ms, every))
        return REMISS_OK;
    if ((r = s_catch_up(self, err)) != REMISS_OK || (r = s_load_head(self, NULL, err)) != REMISS_OK)
        return r;
    return s_head_due(self, force, interval_ms, every) ? s_sign(self, err) : REMISS_OK;
}

/* ---------------------------------------------------------------- proofs */

/* Copies path[0..n) into a repeated bytes field as one block: the
 * ProtobufCBinaryData array followed by the hashes it points at, so that
 * audit_proof_clear frees it with one free. */
static bool
s_path_out(uint8_t path[][MERKLE_HASH_LEN], size_t n, ProtobufCBinaryData **out, size_t *n_out)
{
    ProtobufCBinaryData *b;
    uint8_t *h;

    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return true;
    if ((b = malloc(n * (sizeof *b + MERKLE_HASH_LEN))) == NULL)
        return false;
    h = (uint8_t *)(b + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(h + i * MERKLE_HASH_LEN, path[i], MERKLE_HASH_LEN);
        b[i] = (ProtobufCBinaryData){MERKLE_HASH_LEN, h + i * MERKLE_HASH_LEN};
    }
    *out = b;
    *n_out = n;
    return true;
}

void
audit_proof_clear(Remiss__ProofReply *reply)
{
    if (reply == NULL)
        return;
    free(reply->leaf_entry.data);
    free(reply->inclusion_path);
    free(reply->consistency_path);
    if (reply->tree_head != NULL)
        remiss__signed_tree_head__free_unpacked(reply->tree_head, NULL);
    remiss__proof_reply__init(reply);
}

/* Builds the proofs of entry index against the signed head sth (stored
 * bytes, already known to be ours). */
static remiss_code_t
s_build(store_t *store, uint64_t index, const uint8_t *sth, size_t sth_len, uint64_t from,
        Remiss__ProofReply *out, remiss_err_t *err)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    Remiss__SignedTreeHead *s = NULL;
    Remiss__TreeHead *th = NULL;
    s_io_t io = {store, err};
    uint64_t size;
    size_t n;
    remiss_code_t r;

    remiss__proof_reply__init(out);
    if (sth_len > AUDIT_STH_MAX ||
        (s = remiss__signed_tree_head__unpack(NULL, sth_len, sth)) == NULL ||
        (th = remiss__tree_head__unpack(NULL, s->tree_head.len, s->tree_head.data)) == NULL) {
        r = remiss_err_set(err, REMISS_E_STORAGE, "the latest audit tree head is damaged");
        goto out;
    }
    size = th->tree_size;
    if (index >= size) {
        r = remiss_err_set(err, REMISS_E_USAGE,
                           "entry %llu is not covered by the latest signed tree head (%llu "
                           "entries) yet",
                           (unsigned long long)index, (unsigned long long)size);
        goto out;
    }
    if (from > size) {
        r = remiss_err_set(err, REMISS_E_MALFORMED,
                           "a consistency proof from %llu entries was asked of a tree of %llu",
                           (unsigned long long)from, (unsigned long long)size);
        goto out;
    }
    if ((r = store_audit_get(store, index, &out->leaf_entry.data, &out->leaf_entry.len, err)) !=
            REMISS_OK ||
        (r = merkle_inclusion_proof(index, size, s_get, &io, path, MERKLE_MAX_PROOF, &n)) !=
            REMISS_OK)
        goto out;
    out->leaf_index = index;
    if (!s_path_out(path, n, &out->inclusion_path, &out->n_inclusion_path))
        goto oom;
    if (from > 0) {
        if ((r = merkle_consistency_proof(from, size, s_get, &io, path, MERKLE_MAX_PROOF, &n)) !=
            REMISS_OK)
            goto out;
        out->consistency_from = from;
        if (!s_path_out(path, n, &out->consistency_path, &out->n_consistency_path))
            goto oom;
    }
    out->tree_head = s;
    s = NULL;
    out->code = REMISS__REASON_CODE__OK;
    r = REMISS_OK;
    goto out;
oom:
    r = remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
out:
    if (r != REMISS_OK && r != REMISS_E_STORAGE && r != REMISS_E_USAGE && r != REMISS_E_MALFORMED)
        remiss_err_set(err, r, "cannot build the audit proof");
    if (th != NULL)
        remiss__tree_head__free_unpacked(th, NULL);
    if (s != NULL)
        remiss__signed_tree_head__free_unpacked(s, NULL);
    if (r != REMISS_OK)
        audit_proof_clear(out);
    return r;
}

remiss_code_t
audit_proof_stored(store_t *store, uint64_t index, uint64_t consistency_from,
                   Remiss__ProofReply *out, remiss_err_t *err)
{
    uint8_t *sth = NULL;
    size_t len = 0;
    remiss_code_t r;

    remiss__proof_reply__init(out);
    if ((r = store_audit_sth_latest(store, &sth, &len, err)) != REMISS_OK)
        return r;
    if (len == 0)
        r = remiss_err_set(err, REMISS_E_USAGE, "the audit log has no signed tree head yet");
    else
        r = s_build(store, index, sth, len, consistency_from, out, err);
    free(sth);
    return r;
}

/* Reads and decodes entry index into *e (free with
 * remiss__audit_entry__free_unpacked). */
static remiss_code_t
s_entry_at(audit_t *self, uint64_t index, Remiss__AuditEntry **e, remiss_err_t *err)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    remiss_code_t r;

    if ((r = store_audit_get(self->store, index, &bytes, &len, err)) != REMISS_OK)
        return r;
    *e = audit_entry_decode(bytes, len);
    free(bytes);
    return *e ? REMISS_OK
              : remiss_err_set(err, REMISS_E_STORAGE, "audit entry %llu is damaged",
                               (unsigned long long)index);
}

/* Whether party may see entry e: the sender sees the entries of its own
 * messages; a recipient only those of a message that was delivered to it,
 * and never a refusal or a withholding (they tell what was kept from it,
 * and about whom). */
static remiss_code_t
s_may_see(audit_t *self, const Remiss__AuditEntry *e, const char *party, bool *yes,
          remiss_err_t *err)
{
    store_msg_t m;
    bool found = false;
    *yes = strcmp(e->sender, party) == 0;
    if (*yes || strcmp(e->recipient, party) != 0 || e->event == REMISS__AUDIT_EVENT__EV_REFUSED ||
        e->event == REMISS__AUDIT_EVENT__EV_WITHHELD || e->message_id.len != STORE_ID_LEN)
        return REMISS_OK;
    memset(&m, 0, sizeof m);
    remiss_code_t r = store_find(self->store, e->message_id.data, &found, &m, err);
    if (r != REMISS_OK)
        return r;
    *yes = found && strcmp(m.recipient, party) == 0 && m.delivered_at > 0;
    store_msg_clear(&m);
    return REMISS_OK;
}

/* True if party may see entry index (s_may_see). */
static remiss_code_t
s_concerns(audit_t *self, uint64_t index, const char *party, bool *yes, remiss_err_t *err)
{
    Remiss__AuditEntry *e;
    remiss_code_t r;

    *yes = false;
    if ((r = s_entry_at(self, index, &e, err)) != REMISS_OK)
        return r;
    r = s_may_see(self, e, party, yes, err);
    remiss__audit_entry__free_unpacked(e, NULL);
    return r;
}

/* Whether entry index records the broker's decision on message_id (its
 * ACCEPTED, REFUSED or consent entry), and if so whether party may see it. */
static remiss_code_t
s_intake_at(audit_t *self, uint64_t index, const uint8_t *message_id, const char *party,
            bool *intake, bool *allowed, remiss_err_t *err)
{
    Remiss__AuditEntry *e;
    remiss_code_t r;

    *intake = false;
    if ((r = s_entry_at(self, index, &e, err)) != REMISS_OK)
        return r;
    *intake = s_is_intake(e->event) && e->message_id.len == STORE_ID_LEN &&
              memcmp(e->message_id.data, message_id, STORE_ID_LEN) == 0;
    if (*intake)
        r = s_may_see(self, e, party, allowed, err);
    remiss__audit_entry__free_unpacked(e, NULL);
    return r;
}

/* Finds the intake entry of message_id and says whether party may see it:
 * through the message's row if it names the entry, else through the index
 * (refusals have no row; see audit_append). */
static remiss_code_t
s_find_intake(audit_t *self, const uint8_t *message_id, const char *party, uint64_t *index,
              bool *allowed, remiss_err_t *err)
{
    uint64_t found[S_FIND_MAX];
    size_t n = 0;
    store_msg_t m;
    bool stored = false, intake = false;
    remiss_code_t r;

    *allowed = false;
    memset(&m, 0, sizeof m);
    if ((r = store_find(self->store, message_id, &stored, &m, err)) != REMISS_OK)
        return r;
    if (stored) {
        uint64_t at = m.audit_index;
        store_msg_clear(&m);
        /* A message accepted while the log was off names entry 0, which is
         * not its own: then only the index can tell. */
        if (at < self->frontier.size &&
            (r = s_intake_at(self, at, message_id, party, &intake, allowed, err)) != REMISS_OK)
            return r;
        if (intake) {
            *index = at;
            return REMISS_OK;
        }
    }
    if ((r = store_audit_find(self->store, NULL, message_id, found, S_FIND_MAX, &n, err)) !=
        REMISS_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        if ((r = s_intake_at(self, found[i], message_id, party, &intake, allowed, err)) !=
            REMISS_OK)
            return r;
        if (intake) {
            *index = found[i];
            return REMISS_OK;
        }
    }
    return REMISS_OK;
}

remiss_code_t
audit_proof(audit_t *self, const char *party, const uint8_t *message_id, uint64_t index,
            uint64_t consistency_from, Remiss__ProofReply *out, remiss_err_t *err)
{
    uint8_t *sth = NULL;
    size_t len = 0;
    bool allowed = false;
    remiss_code_t r;

    if (out != NULL)
        remiss__proof_reply__init(out);
    if (self == NULL || party == NULL || out == NULL)
        return remiss_err_set(err, REMISS_E_USAGE, "audit_proof needs a log and the asking party");
    if ((self->stale && (r = audit_reload(self, err)) != REMISS_OK) ||
        (r = s_catch_up(self, err)) != REMISS_OK)
        return r;
    /* Not found and not yours get the same answer: the log must not tell a
     * party which messages other parties exchanged. */
    if (message_id != NULL)
        r = s_find_intake(self, message_id, party, &index, &allowed, err);
    else if (index < self->frontier.size)
        r = s_concerns(self, index, party, &allowed, err);
    else
        r = REMISS_OK;
    if (r != REMISS_OK)
        return r;
    if (!allowed)
        return remiss_err_set(err, REMISS_E_POLICY_DENIED, "%s", s_denied);
    if (!self->has_head || self->head_size <= index) {
        if ((r = s_sign(self, err)) != REMISS_OK)
            return r;
    }
    if ((r = store_audit_sth_latest(self->store, &sth, &len, err)) == REMISS_OK)
        r = len > 0 ? s_build(self->store, index, sth, len, consistency_from, out, err)
                    : remiss_err_set(err, REMISS_E_STORAGE, "the signed tree head is missing");
    free(sth);
    return r;
}

/* ---------------------------------------------------------------- verification */

#define S_NONE UINT64_MAX

/* State of one audit_verify_store run. */
typedef struct s_check {
    store_t *store;
    EVP_PKEY *pub;          /* broker key the heads must verify with */
    merkle_frontier_t tree; /* the tree recomputed from the entries */
    uint64_t next;          /* index the next stored row must have */
    uint64_t bad;           /* first bad index found by the entry scan */
    char why[256];          /* and why */
    uint64_t head_bad;      /* first bad index found by the head scan */
    char head_why[256];     /* and why */
    uint64_t heads;         /* tree heads seen */
    uint64_t head_prev;     /* size of the last head that verified */
    /* told the entries checked every AUDIT_PROGRESS_EVERY entries, or NULL */
    audit_progress_fn progress;
    void *progress_ctx;
} s_check_t;

/* Emit callback of the recomputation: compares each node the recomputed
 * tree completes with the stored one. A stored node that differs or is
 * missing makes the first leaf under it the first bad index; all leaves
 * before it are proven already (their nodes matched). */
static remiss_code_t
s_check_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[MERKLE_HASH_LEN])
{
    s_check_t *c = ctx;
    uint8_t stored[MERKLE_HASH_LEN];

    if (store_audit_node_get(c->store, level, index, stored, NULL) == REMISS_OK &&
        memcmp(stored, hash, MERKLE_HASH_LEN) == 0)
        return REMISS_OK;
    c->bad = index << level;
    if (level == 0)
        snprintf(c->why, sizeof c->why,
                 "entry %llu does not match its recorded leaf hash (changed entry or node)",
                 (unsigned long long)index);
    else
        snprintf(c->why, sizeof c->why,
                 "stored tree node %u/%llu differs from the hash recomputed from the entries",
                 level, (unsigned long long)index);
    return REMISS_E_BAD_SIGNATURE;
}

/* store_audit_each callback: one stored row, in index order. */
static int
s_check_entry(void *ctx, uint64_t index, const uint8_t *entry, size_t len)
{
    s_check_t *c = ctx;
    uint8_t leaf[MERKLE_HASH_LEN];
    Remiss__AuditEntry *e;
    uint64_t named;

    if (index != c->next) {
        c->bad = c->next;
        snprintf(c->why, sizeof c->why, "entry %llu is missing (deleted)",
                 (unsigned long long)c->next);
        return 1;
    }
    if ((e = audit_entry_decode(entry, len)) == NULL) {
        c->bad = index;
        snprintf(c->why, sizeof c->why, "entry %llu cannot be decoded (changed)",
                 (unsigned long long)index);
        return 1;
    }
    named = e->index;
    remiss__audit_entry__free_unpacked(e, NULL);
    if (named != index) {
        c->bad = index;
        snprintf(c->why, sizeof c->why, "position %llu holds entry %llu (reordered or changed)",
                 (unsigned long long)index, (unsigned long long)named);
        return 1;
    }
    if (merkle_leaf_hash(entry, len, leaf) != REMISS_OK) {
        c->bad = index;
        snprintf(c->why, sizeof c->why, "cannot hash entry %llu", (unsigned long long)index);
        return 1;
    }
    if (merkle_frontier_append(&c->tree, leaf, s_check_node, c) != REMISS_OK) {
        if (c->bad == S_NONE) {
            c->bad = index;
            snprintf(c->why, sizeof c->why, "cannot recompute the tree at entry %llu",
                     (unsigned long long)index);
        }
        return 1;
    }
    c->next++;
    if (c->progress != NULL && c->next % AUDIT_PROGRESS_EVERY == 0)
        c->progress(c->progress_ctx, c->next);
    return 0;
}

/* Records a failed head: the entries it was the first to cover, from the
 * size of the last good head before it, cannot be trusted. */
static void __attribute__((format(printf, 2, 3))) s_head_fail(s_check_t *c, const char *fmt, ...)
{
    va_list ap;

    c->head_bad = c->head_prev;
    va_start(ap, fmt);
    vsnprintf(c->head_why, sizeof c->head_why, fmt, ap);
    va_end(ap);
}

/* store_audit_sth_each callback: one stored head, in size order. */
static int
s_check_head(void *ctx, uint64_t size, const uint8_t *sth, size_t len)
{
    s_check_t *c = ctx;
    uint8_t root[MERKLE_HASH_LEN];
    audit_tree_head_t th;
    remiss_err_t why;
    s_io_t io = {c->store, NULL};
    /* Entries before good are proven to match their stored nodes. */
    uint64_t good = c->bad == S_NONE ? c->next : c->bad;

    c->heads++;
    if (c->head_bad != S_NONE)
        return 0; /* keep counting */
    if (audit_verify_tree_head_bytes(sth, len, c->pub, &th, &why) != REMISS_OK) {
        s_head_fail(c, "tree head for %llu entries: %s", (unsigned long long)size, why.text);
        return 0;
    }
    if (th.size != size) {
        s_head_fail(c, "tree head stored for %llu entries signs %llu", (unsigned long long)size,
                    (unsigned long long)th.size);
        return 0;
    }
    if (size <= good) {
        if (merkle_root(size, s_get, &io, root) != REMISS_OK ||
            memcmp(root, th.root, MERKLE_HASH_LEN) != 0) {
            s_head_fail(c,
                        "tree head for %llu entries: the signed root differs from the root "
                        "of the entries",
                        (unsigned long long)size);
            return 0;
        }
    } else if (c->bad == S_NONE) {
        c->head_bad = c->next;
        snprintf(c->head_why, sizeof c->head_why,
                 "the log has %llu entries but a tree head was signed for %llu (truncated)",
                 (unsigned long long)c->next, (unsigned long long)size);
        return 0;
    }
    c->head_prev = size;
    return 0;
}

remiss_code_t
audit_verify_store(store_t *store, EVP_PKEY *broker_pub, uint64_t *entries, uint64_t *heads,
                   uint64_t *first_bad, remiss_err_t *err)
{
    return audit_verify_store_progress(store, broker_pub, NULL, NULL, entries, heads, first_bad,
                                       err);
}

remiss_code_t
audit_verify_store_progress(store_t *store, EVP_PKEY *broker_pub, audit_progress_fn progress,
                            void *progress_ctx, uint64_t *entries, uint64_t *heads,
                            uint64_t *first_bad, remiss_err_t *err)
{
    s_check_t *c;
    uint8_t node[MERKLE_HASH_LEN];
    bool snapshot = false;
    remiss_code_t r;

    if (entries != NULL)
        *entries = 0;
    if (heads != NULL)
        *heads = 0;
    if (first_bad != NULL)
        *first_bad = 0;
    if (store == NULL || broker_pub == NULL)
        return remiss_err_set(err, REMISS_E_USAGE, "no store or no broker key to verify with");
    /* The recomputed frontier is 2 KiB: keep it off the caller's stack. */
    if ((c = calloc(1, sizeof *c)) == NULL)
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    c->store = store;
    c->pub = broker_pub;
    c->progress = progress;
    c->progress_ctx = progress_ctx;
    c->bad = c->head_bad = S_NONE;
    merkle_frontier_init(&c->tree);
    /* One snapshot for entries, nodes and heads, or a head the running
     * broker signs meanwhile would look like a truncated log. */
    if ((r = store_begin_read(store, &snapshot, err)) != REMISS_OK ||
        (r = store_audit_each(store, 0, s_check_entry, c, err)) != REMISS_OK)
        goto out;
    /* Entries cut off the end leave their leaf nodes behind unless those
     * were deleted too (then the tree heads tell). */
    if (c->bad == S_NONE && store_audit_node_get(store, 0, c->next, node, NULL) == REMISS_OK) {
        c->bad = c->next;
        snprintf(c->why, sizeof c->why,
                 "tree nodes exist for entries from %llu on: the log was truncated",
                 (unsigned long long)c->next);
    }
    if ((r = store_audit_sth_each(store, s_check_head, c, err)) != REMISS_OK)
        goto out;
    if (entries != NULL)
        *entries = c->next;
    if (heads != NULL)
        *heads = c->heads;
    if (c->bad == S_NONE && c->head_bad == S_NONE) {
        r = REMISS_OK;
        goto out;
    }
    /* Ties go to the entry scan: its reason names the entry. */
    if (first_bad != NULL)
        *first_bad = c->bad <= c->head_bad ? c->bad : c->head_bad;
    r = remiss_err_set(err, REMISS_E_BAD_SIGNATURE, "%s",
                       c->bad <= c->head_bad ? c->why : c->head_why);
out:
    if (snapshot)
        store_rollback(store);
    free(c);
    return r;
}
