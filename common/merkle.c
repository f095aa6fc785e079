/* merkle: RFC 9162 Merkle tree hashing, frontier, proofs and verification.
 *
 * The tree of n leaves is the left-filled binary tree in which a node with
 * only a left child carries its child's hash. That is exactly RFC 9162's
 * recursive MTH (split at the largest power of two below n), and it lets
 * every walk here go level by level: at level L the nodes are 0 .. last with
 * last = (n - 1) >> L, all of them perfect except possibly last, whose hash
 * folds the perfect subtrees for the set bits of n below L. */
#include "merkle.h"

#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

/* SHA-256 of the empty string (FIPS 180-4 test value; RFC 9162 2.1.1 MTH({})).
 * A constant, so that the empty root can never fail. */
static const uint8_t s_empty_root[MERKLE_HASH_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

/* Hashing state for one public call. OpenSSL 3 looks SHA-256 up in its
 * provider tables on every EVP_sha256() init (an "implicit fetch") and on
 * every EVP_MD_fetch, each of which costs more than the hash of 65 bytes:
 * SHA-256 is fetched once per process (the one piece of state here, never
 * changed after) and a call reuses one context for all its hashes. */
typedef struct {
    const EVP_MD *md; /* SHA-256 */
    EVP_MD_CTX *ctx;  /* reused for every hash of the call */
} s_hasher_t;

static EVP_MD *s_sha256;

static void
s_fetch_sha256(void)
{
    s_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* Where the proof walks read nodes and hash. */
typedef struct {
    merkle_get_fn get; /* the caller's store */
    void *ctx;         /* its argument */
    s_hasher_t h;      /* for right-edge folds */
} s_src_t;

/* Where a proof generator writes: the caller's buffer and its fill. */
typedef struct {
    uint8_t (*path)[MERKLE_HASH_LEN]; /* caller's array of cap hashes */
    size_t cap;                       /* hashes path can take */
    size_t len;                       /* hashes written so far */
} s_out_t;

/* ---------------------------------------------------------------- hashes */

static void
s_hasher_close(s_hasher_t *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
    h->md = NULL;
}

/* out = SHA-256(prefix || a[0..alen) || b[0..blen)). out may be a or b:
 * OpenSSL has absorbed both before it writes out. */
static remiss_code_t
s_hash(s_hasher_t *h, uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
       uint8_t out[MERKLE_HASH_LEN])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (h->md == NULL) {
        pthread_once(&once, s_fetch_sha256);
        if ((h->md = s_sha256) == NULL)
            return REMISS_E_INTERNAL;
    }
    if (h->ctx == NULL && (h->ctx = EVP_MD_CTX_new()) == NULL)
        return REMISS_E_INTERNAL;
    if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, &prefix, 1) != 1 ||
        (alen > 0 && EVP_DigestUpdate(h->ctx, a, alen) != 1) ||
        (blen > 0 && EVP_DigestUpdate(h->ctx, b, blen) != 1) ||
        EVP_DigestFinal_ex(h->ctx, out, NULL) != 1)
        return REMISS_E_INTERNAL;
    return REMISS_OK;
}

static remiss_code_t
s_node_hash(s_hasher_t *h, const uint8_t left[MERKLE_HASH_LEN],
            const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN])
{
    return s_hash(h, 0x01, left, MERKLE_HASH_LEN, right, MERKLE_HASH_LEN, out);
}

remiss_code_t
merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN])
{
    s_hasher_t h = {NULL, NULL};
    remiss_code_t r;

    if (out == NULL || (data == NULL && len > 0))
        return REMISS_E_USAGE;
    r = s_hash(&h, 0x00, data, len, NULL, 0, out);
    s_hasher_close(&h);
    return r;
}

remiss_code_t
merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
                 uint8_t out[MERKLE_HASH_LEN])
{
    s_hasher_t h = {NULL, NULL};
    remiss_code_t r;

    if (left == NULL || right == NULL || out == NULL)
        return REMISS_E_USAGE;
    r = s_node_hash(&h, left, right, out);
    s_hasher_close(&h);
    return r;
}

void
merkle_empty_root(uint8_t out[MERKLE_HASH_LEN])
{
    memcpy(out, s_empty_root, MERKLE_HASH_LEN);
}

/* ---------------------------------------------------------------- tree walks */

/* Hash of the subtree over leaves [size & ~(2^below - 1), size), for below in
 * 1..64 and that range not empty: the perfect subtrees for the set bits of
 * size under `below` (bit b gives node (b, (size >> b) - 1)), folded from the
 * smallest, rightmost one up, as MTH's recursion would combine them. */
static remiss_code_t
s_fold_tail(s_src_t *src, uint64_t size, unsigned below, uint8_t out[MERKLE_HASH_LEN])
{
    uint8_t left[MERKLE_HASH_LEN];
    bool have = false;
    remiss_code_t r;

    for (unsigned b = 0; b < below; b++) {
        if (((size >> b) & 1) == 0)
            continue;
        if (!have) {
            if ((r = src->get(src->ctx, b, (size >> b) - 1, out)) != REMISS_OK)
                return r;
            have = true;
        } else if ((r = src->get(src->ctx, b, (size >> b) - 1, left)) != REMISS_OK ||
                   (r = s_node_hash(&src->h, left, out, out)) != REMISS_OK) {
            return r;
        }
    }
    /* Callers only ask for non-empty ranges; an empty one is our bug. */
    return have ? REMISS_OK : REMISS_E_INTERNAL;
}

/* Hash of node (level, index) in the tree of size leaves, index <= the last
 * node of that level: stored if perfect, otherwise the right-edge fold. */
static remiss_code_t
s_node(s_src_t *src, unsigned level, uint64_t index, uint64_t size, uint8_t out[MERKLE_HASH_LEN])
{
    if (index < (size >> level))
        return src->get(src->ctx, level, index, out);
    return s_fold_tail(src, size, level, out);
}

/* Number of hashes on the path from node (level, index) to the root of the
 * tree of size > 0 leaves: one per level at which the node has a sibling. */
static size_t
s_path_len(unsigned level, uint64_t index, uint64_t size)
{
    uint64_t last = (size - 1) >> level;
    size_t n = 0;

    /* last reaches 0 at the root, by level 63 at the latest, so no shift
     * below is ever by 64. */
    for (; last > 0; level++, index >>= 1, last >>= 1) {
        if ((index ^ 1) <= last)
            n++;
    }
    return n;
}

/* Appends the sibling hashes on the path from node (level, index) to the
 * root of the tree of size leaves. A node that is the last of its level and
 * a left child has no sibling: it stands in for its parent. */
static remiss_code_t
s_path(s_src_t *src, unsigned level, uint64_t index, uint64_t size, s_out_t *o)
{
    uint64_t last = (size - 1) >> level;
    remiss_code_t r;

    for (; last > 0; level++, index >>= 1, last >>= 1) {
        uint64_t sibling = index ^ 1;

        if (sibling > last)
            continue;
        /* The caller sized the path with s_path_len; this is a backstop. */
        if (o->len >= o->cap)
            return REMISS_E_INTERNAL;
        if ((r = s_node(src, level, sibling, size, o->path[o->len])) != REMISS_OK)
            return r;
        o->len++;
    }
    return REMISS_OK;
}

/* ---------------------------------------------------------------- frontier */

void
merkle_frontier_init(merkle_frontier_t *f)
{
    memset(f, 0, sizeof(*f));
}

remiss_code_t
merkle_frontier_append(merkle_frontier_t *f, const uint8_t leaf[MERKLE_HASH_LEN],
                       merkle_emit_fn emit, void *ctx)
{
    /* chain[L]: the new level-L node; built in full before anything is
     * emitted or changed, so a failed emit leaves f as it was. */
    uint8_t chain[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN];
    s_hasher_t h = {NULL, NULL};
    unsigned top = 0;
    remiss_code_t r;

    if (f == NULL || leaf == NULL || f->size == UINT64_MAX)
        return REMISS_E_USAGE;
    memcpy(chain[0], leaf, MERKLE_HASH_LEN);
    /* Binary increment: every set low bit of size is a subtree that the new
     * one completes. size < 2^64 - 1 has a clear bit, so top stays <= 63. */
    while (top + 1 < MERKLE_MAX_LEVELS && ((f->size >> top) & 1) != 0) {
        if ((r = s_node_hash(&h, f->nodes[top], chain[top], chain[top + 1])) != REMISS_OK)
            goto out;
        top++;
    }
    for (unsigned l = 0; emit != NULL && l <= top; l++) {
        if ((r = emit(ctx, l, f->size >> l, chain[l])) != REMISS_OK)
            goto out;
    }
    memset(f->nodes, 0, (size_t)top * MERKLE_HASH_LEN);
    memcpy(f->nodes[top], chain[top], MERKLE_HASH_LEN);
    f->size++;
    r = REMISS_OK;
out:
    s_hasher_close(&h);
    return r;
}

remiss_code_t
merkle_frontier_root(const merkle_frontier_t *f, uint8_t out[MERKLE_HASH_LEN])
{
    s_hasher_t h = {NULL, NULL};
    bool have = false;
    remiss_code_t r = REMISS_OK;

    if (f == NULL || out == NULL)
        return REMISS_E_USAGE;
    if (f->size == 0) {
        merkle_empty_root(out);
        return REMISS_OK;
    }
    /* The same fold as s_fold_tail, over the nodes held here. */
    for (unsigned b = 0; b < MERKLE_MAX_LEVELS && r == REMISS_OK; b++) {
        if (((f->size >> b) & 1) == 0)
            continue;
        if (have) {
            r = s_node_hash(&h, f->nodes[b], out, out);
        } else {
            memcpy(out, f->nodes[b], MERKLE_HASH_LEN);
            have = true;
        }
    }
    s_hasher_close(&h);
    return r;
}

size_t
merkle_frontier_nodes(uint64_t size, unsigned level[MERKLE_MAX_LEVELS],
                      uint64_t index[MERKLE_MAX_LEVELS])
{
    size_t n = 0;

    for (unsigned b = 0; b < MERKLE_MAX_LEVELS; b++) {
        if (((size >> b) & 1) != 0) {
            level[n] = b;
            index[n++] = (size >> b) - 1;
        }
    }
    return n;
}

remiss_code_t
merkle_frontier_load(merkle_frontier_t *f, uint64_t size, merkle_get_fn get, void *ctx)
{
    unsigned level[MERKLE_MAX_LEVELS];
    uint64_t index[MERKLE_MAX_LEVELS];
    remiss_code_t r = REMISS_OK;

    if (f == NULL)
        return REMISS_E_USAGE;
    merkle_frontier_init(f);
    if (get == NULL)
        return REMISS_E_USAGE;
    size_t n = merkle_frontier_nodes(size, level, index);
    for (size_t i = 0; i < n; i++) {
        if ((r = get(ctx, level[i], index[i], f->nodes[level[i]])) != REMISS_OK)
            goto out;
    }
    f->size = size;
out:
    if (r != REMISS_OK)
        merkle_frontier_init(f);
    return r;
}

/* ---------------------------------------------------------------- proofs */

remiss_code_t
merkle_root(uint64_t size, merkle_get_fn get, void *ctx, uint8_t out[MERKLE_HASH_LEN])
{
    s_src_t src = {get, ctx, {NULL, NULL}};
    remiss_code_t r;

    if (out == NULL || get == NULL)
        return REMISS_E_USAGE;
    if (size == 0) {
        merkle_empty_root(out);
        return REMISS_OK;
    }
    r = s_fold_tail(&src, size, MERKLE_MAX_LEVELS, out);
    s_hasher_close(&src.h);
    return r;
}

remiss_code_t
merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get, void *ctx,
                       uint8_t path[][MERKLE_HASH_LEN], size_t cap, size_t *len)
{
    s_src_t src = {get, ctx, {NULL, NULL}};
    s_out_t o = {path, cap, 0};
    remiss_code_t r;

    if (len == NULL)
        return REMISS_E_USAGE;
    *len = 0;
    if (get == NULL || (path == NULL && cap > 0) || index >= size ||
        s_path_len(0, index, size) > cap)
        return REMISS_E_USAGE;
    if ((r = s_path(&src, 0, index, size, &o)) != REMISS_OK)
        goto out;
    *len = o.len;
out:
    s_hasher_close(&src.h);
    return r;
}

remiss_code_t
merkle_consistency_proof(uint64_t m, uint64_t n, merkle_get_fn get, void *ctx,
                         uint8_t path[][MERKLE_HASH_LEN], size_t cap, size_t *len)
{
    s_src_t src = {get, ctx, {NULL, NULL}};
    s_out_t o = {path, cap, 0};
    unsigned level;
    uint64_t index;
    remiss_code_t r;

    if (len == NULL)
        return REMISS_E_USAGE;
    *len = 0;
    if (get == NULL || (path == NULL && cap > 0) || m == 0 || m > n)
        return REMISS_E_USAGE;
    if (m == n)
        return REMISS_OK;
    /* The old tree's rightmost perfect subtree, node (level, index), is the
     * proof's starting point; the proof is that node (unless it is the whole
     * old tree, which the verifier already has as root_m) followed by its
     * inclusion path in the new tree. This is RFC 9162's SUBPROOF unrolled. */
    level = (unsigned)__builtin_ctzll(m);
    index = (m >> level) - 1;
    if ((index != 0 ? 1 : 0) + s_path_len(level, index, n) > cap)
        return REMISS_E_USAGE;
    if (index != 0) {
        if ((r = get(ctx, level, index, o.path[0])) != REMISS_OK)
            goto out;
        o.len = 1;
    }
    if ((r = s_path(&src, level, index, n, &o)) != REMISS_OK)
        goto out;
    *len = o.len;
out:
    s_hasher_close(&src.h);
    return r;
}

/* ---------------------------------------------------------------- verification */

/* Shifts fn and sn right together until fn is odd or 0 (RFC 9162 2.1.3.2
 * step 4.b.ii and 2.1.4.2 step 6.b.iii). */
static void
s_skip_to_odd(uint64_t *fn, uint64_t *sn)
{
    while (*fn != 0 && (*fn & 1) == 0) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

bool
merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
                        const uint8_t path[][MERKLE_HASH_LEN], size_t len,
                        const uint8_t root[MERKLE_HASH_LEN])
{
    s_hasher_t h = {NULL, NULL};
    uint8_t r[MERKLE_HASH_LEN];
    uint64_t fn, sn;
    bool ok = false;

    if (leaf == NULL || root == NULL || (path == NULL && len > 0))
        return false;
    if (index >= size || len > MERKLE_MAX_PROOF)
        return false;
    fn = index;
    sn = size - 1;
    memcpy(r, leaf, MERKLE_HASH_LEN);
    for (size_t i = 0; i < len; i++) {
        /* Reached the root with hashes left over: too long a path. */
        if (sn == 0)
            goto out;
        if ((fn & 1) != 0 || fn == sn) {
            if (s_node_hash(&h, path[i], r, r) != REMISS_OK)
                goto out;
            s_skip_to_odd(&fn, &sn);
        } else if (s_node_hash(&h, r, path[i], r) != REMISS_OK) {
            goto out;
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* sn == 0: the path reached the root, so it was not too short. */
    ok = sn == 0 && memcmp(r, root, MERKLE_HASH_LEN) == 0;
out:
    s_hasher_close(&h);
    return ok;
}

bool
merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
                          const uint8_t root_n[MERKLE_HASH_LEN],
                          const uint8_t path[][MERKLE_HASH_LEN], size_t len)
{
    s_hasher_t h = {NULL, NULL};
    uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
    uint64_t fn, sn;
    size_t i = 0;
    bool ok = false;

    if (root_m == NULL || root_n == NULL || (path == NULL && len > 0))
        return false;
    if (m == 0 || m > n || len > MERKLE_MAX_PROOF)
        return false;
    if (m == n)
        return len == 0 && memcmp(root_m, root_n, MERKLE_HASH_LEN) == 0;
    if (len == 0)
        return false;
    fn = m - 1;
    sn = n - 1;
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    /* For m a power of two the RFC prepends root_m to the path; starting
     * from it here reads the same without copying the caller's array. */
    if ((m & (m - 1)) == 0) {
        memcpy(fr, root_m, MERKLE_HASH_LEN);
    } else {
        memcpy(fr, path[0], MERKLE_HASH_LEN);
        i = 1;
    }
    memcpy(sr, fr, MERKLE_HASH_LEN);
    for (; i < len; i++) {
        if (sn == 0)
            goto out;
        if ((fn & 1) != 0 || fn == sn) {
            if (s_node_hash(&h, path[i], fr, fr) != REMISS_OK ||
                s_node_hash(&h, path[i], sr, sr) != REMISS_OK)
                goto out;
            s_skip_to_odd(&fn, &sn);
        } else if (s_node_hash(&h, sr, path[i], sr) != REMISS_OK) {
            goto out;
        }
        fn >>= 1;
        sn >>= 1;
    }
    ok = sn == 0 && memcmp(fr, root_m, MERKLE_HASH_LEN) == 0 &&
         memcmp(sr, root_n, MERKLE_HASH_LEN) == 0;
out:
    s_hasher_close(&h);
    return ok;
}
