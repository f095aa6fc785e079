/* test_merkle: the Merkle tree module against published vectors and against
 * a naive reference written from RFC 9162's recursive definitions.
 *
 * Doubles as the usage example: s_store_t is what the audit module keeps in
 * SQLite (a node per (level, index)), s_store_emit/s_store_get are the
 * callbacks it passes, and each test shows the call sequence of a writer
 * (frontier append, root), a log server (proofs for a past size) and an
 * offline verifier. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "merkle.h"

#define HL MERKLE_HASH_LEN

/* ---------------------------------------------------------------- reference
 * Written from RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 literally, with its own
 * SHA-256 calls, so that it shares no code with the module under test. */

static void
s_sha256(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, const uint8_t *c,
         size_t clen, uint8_t out[HL])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    cr_assert_not_null(md);
    cr_assert_eq(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
    cr_assert_eq(EVP_DigestUpdate(md, a, alen), 1);
    cr_assert_eq(EVP_DigestUpdate(md, b, blen), 1);
    cr_assert_eq(EVP_DigestUpdate(md, c, clen), 1);
    cr_assert_eq(EVP_DigestFinal_ex(md, out, NULL), 1);
    EVP_MD_CTX_free(md);
}

static void
s_ref_leaf(const uint8_t *data, size_t len, uint8_t out[HL])
{
    static const uint8_t zero = 0x00;

    s_sha256(&zero, 1, data, len, NULL, 0, out);
}

static void
s_ref_node(const uint8_t l[HL], const uint8_t r[HL], uint8_t out[HL])
{
    static const uint8_t one = 0x01;
    uint8_t tmp[HL];

    s_sha256(&one, 1, l, HL, r, HL, tmp);
    memcpy(out, tmp, HL);
}

/* The largest power of two smaller than n (n > 1). */
static uint64_t
s_split(uint64_t n)
{
    uint64_t k = 1;

    while (k < n - k)
        k <<= 1;
    return k;
}

/* MTH(D[n]) over leaf hashes lh[0 .. n). */
static void
s_ref_mth(const uint8_t (*lh)[HL], uint64_t n, uint8_t out[HL])
{
    uint8_t l[HL], r[HL];
    uint64_t k;

    if (n == 0) {
        s_sha256(NULL, 0, NULL, 0, NULL, 0, out);
        return;
    }
    if (n == 1) {
        memcpy(out, lh[0], HL);
        return;
    }
    k = s_split(n);
    s_ref_mth(lh, k, l);
    s_ref_mth(lh + k, n - k, r);
    s_ref_node(l, r, out);
}

/* A reference proof: hashes, and per hash how the verifier must use it:
 * 'L' sibling on the left, 'R' sibling on the right, 'S' the starting node
 * of a consistency proof. dir is the proof's "shape"; with lh == NULL the
 * reference records only the shape. */
typedef struct {
    uint8_t h[MERKLE_MAX_PROOF][HL];
    char dir[MERKLE_MAX_PROOF + 1];
    size_t len;
} s_proof_t;

static void
s_push(s_proof_t *p, const uint8_t (*lh)[HL], uint64_t n, char dir)
{
    cr_assert_lt(p->len, (size_t)MERKLE_MAX_PROOF);
    if (lh != NULL)
        s_ref_mth(lh, n, p->h[p->len]);
    p->dir[p->len++] = dir;
    p->dir[p->len] = '\0';
}

/* PATH(m, D[n]), RFC 9162 2.1.3.1. */
static void
s_ref_path(uint64_t m, const uint8_t (*lh)[HL], uint64_t n, s_proof_t *p)
{
    uint64_t k;

    if (n == 1)
        return;
    k = s_split(n);
    if (m < k) {
        s_ref_path(m, lh, k, p);
        s_push(p, lh == NULL ? NULL : lh + k, n - k, 'R');
    } else {
        s_ref_path(m - k, lh == NULL ? NULL : lh + k, n - k, p);
        s_push(p, lh, k, 'L');
    }
}

/* SUBPROOF(m, D[n], b), RFC 9162 2.1.4.1. */
static void
s_ref_subproof(uint64_t m, const uint8_t (*lh)[HL], uint64_t n, bool b, s_proof_t *p)
{
    uint64_t k;

    if (m == n) {
        if (!b)
            s_push(p, lh, n, 'S');
        return;
    }
    k = s_split(n);
    if (m <= k) {
        s_ref_subproof(m, lh, k, b, p);
        s_push(p, lh == NULL ? NULL : lh + k, n - k, 'R');
    } else {
        s_ref_subproof(m - k, lh == NULL ? NULL : lh + k, n - k, false, p);
        s_push(p, lh, k, 'L');
    }
}

static void
s_ref_inclusion(uint64_t index, const uint8_t (*lh)[HL], uint64_t size, s_proof_t *p)
{
    memset(p, 0, sizeof(*p));
    s_ref_path(index, lh, size, p);
}

static void
s_ref_consistency(uint64_t m, const uint8_t (*lh)[HL], uint64_t n, s_proof_t *p)
{
    memset(p, 0, sizeof(*p));
    s_ref_subproof(m, lh, n, true, p);
}

/* ---------------------------------------------------------------- test store
 * What the audit module keeps: every perfect-subtree node by (level, index). */

#define STORE_LEVELS 11
#define STORE_CAP    1024 /* leaves */

typedef struct {
    uint8_t (*node)[STORE_CAP][HL]; /* node[level][index] */
    bool (*have)[STORE_CAP];        /* have[level][index] */
    uint64_t limit;                 /* size of the tree the call under test was given */
    unsigned gets;                  /* get calls since the last reset */
    int fail_at;                    /* get/emit call number that fails, -1 none */
    unsigned emits;                 /* emit calls since the last reset */
} s_store_t;

static void
s_store_init(s_store_t *st)
{
    memset(st, 0, sizeof(*st));
    st->node = calloc(STORE_LEVELS, sizeof(*st->node));
    st->have = calloc(STORE_LEVELS, sizeof(*st->have));
    cr_assert(st->node != NULL && st->have != NULL);
    st->fail_at = -1;
}

static void
s_store_free(s_store_t *st)
{
    free(st->node);
    free(st->have);
    memset(st, 0, sizeof(*st));
}

static void
s_store_reset(s_store_t *st, uint64_t limit)
{
    st->limit = limit;
    st->gets = 0;
    st->emits = 0;
    st->fail_at = -1;
}

static remiss_code_t
s_store_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HL])
{
    s_store_t *st = ctx;

    /* The module must only read nodes that exist in the tree size it was
     * given; the store holds more (later leaves), and using one would be a
     * wrong proof for the past size. */
    cr_assert_lt(level, STORE_LEVELS, "get level %u", level);
    cr_assert_lt(index, st->limit >> level, "get (%u, %llu) outside tree of %llu", level,
                 (unsigned long long)index, (unsigned long long)st->limit);
    cr_assert(st->have[level][index], "get (%u, %llu) not stored", level,
              (unsigned long long)index);
    if (st->fail_at >= 0 && st->gets == (unsigned)st->fail_at) {
        st->gets++;
        return REMISS_E_STORAGE;
    }
    st->gets++;
    memcpy(out, st->node[level][index], HL);
    return REMISS_OK;
}

static remiss_code_t
s_store_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HL])
{
    s_store_t *st = ctx;

    cr_assert_lt(level, STORE_LEVELS);
    cr_assert_lt(index, (uint64_t)(STORE_CAP >> level));
    if (st->fail_at >= 0 && st->emits == (unsigned)st->fail_at) {
        st->emits++;
        return REMISS_E_STORAGE;
    }
    st->emits++;
    /* A node is written once; a retry after a failed append re-emits the
     * same value, which a store may accept idempotently. */
    if (st->have[level][index])
        cr_assert_arr_eq(st->node[level][index], hash, HL, "node (%u, %llu) changed", level,
                         (unsigned long long)index);
    memcpy(st->node[level][index], hash, HL);
    st->have[level][index] = true;
    return REMISS_OK;
}

/* Fills the store from leaf hashes with the reference alone (no module
 * code): each perfect node is MTH of its leaves. */
static void
s_store_fill_ref(s_store_t *st, const uint8_t (*lh)[HL], uint64_t n)
{
    cr_assert_leq(n, (uint64_t)STORE_CAP);
    for (unsigned l = 0; l < STORE_LEVELS; l++) {
        for (uint64_t i = 0; ((i + 1) << l) <= n; i++) {
            if (l == 0)
                memcpy(st->node[0][i], lh[i], HL);
            else
                s_ref_node(st->node[l - 1][2 * i], st->node[l - 1][2 * i + 1], st->node[l][i]);
            st->have[l][i] = true;
        }
    }
}

/* Leaf hashes of n generated entries "entry <i>". Caller frees. */
static uint8_t (*s_make_leaves(uint64_t n))[HL]
{
    uint8_t(*lh)[HL] = calloc(n, HL);
    char buf[32];

    cr_assert_not_null(lh);
    for (uint64_t i = 0; i < n; i++) {
        int len = snprintf(buf, sizeof(buf), "entry %llu", (unsigned long long)i);
        s_ref_leaf((const uint8_t *)buf, (size_t)len, lh[i]);
    }
    return lh;
}

static void
s_hex(const char *hex, uint8_t *out, size_t len)
{
    cr_assert_eq(strlen(hex), 2 * len, "hex %s", hex);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* ---------------------------------------------------------------- known answers
 * From transparency-dev/merkle (the Go library behind Certificate
 * Transparency and Trillian), Apache-2.0:
 *  - testonly/constants.go (commit 582a6ad190b6848f1d26f8bf08ddef29955d9db1):
 *    LeafInputs(), NodeHashes() and RootHashes() of the 8-leaf tree;
 *  - proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472):
 *    inclusionProofs (its leaf numbers are 1-based: the test uses leaf-1;
 *    here they are converted to 0-based indices) and consistencyProofs.
 * The values are copied, not computed here. */

static const char *const s_kat_leaf_inputs[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

/* NodeHashes(): [level][index] for every perfect subtree of the 8-leaf tree. */
static const char *const s_kat_nodes[4][8] = {
    {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    },
    {
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    },
    {
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    },
    {
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    },
};

/* RootHashes(): root of the first n leaves, n = 0..8. */
static const char *const s_kat_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

typedef struct {
    uint64_t a, b; /* inclusion: index, size; consistency: m, n */
    size_t len;
    const char *h[3];
} s_kat_proof_t;

static const s_kat_proof_t s_kat_inclusion[] = {
    {0, 1, 0, {NULL}}, /* {1, 1, nil} */
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const s_kat_proof_t s_kat_consistency[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The 8 KAT leaf hashes, appended through a frontier into st. */
static void
s_kat_tree(s_store_t *st, uint8_t lh[8][HL])
{
    merkle_frontier_t f;
    uint8_t data[16];

    merkle_frontier_init(&f);
    for (int i = 0; i < 8; i++) {
        size_t len = strlen(s_kat_leaf_inputs[i]) / 2;
        s_hex(s_kat_leaf_inputs[i], data, len);
        cr_assert_eq(merkle_leaf_hash(data, len, lh[i]), REMISS_OK);
        cr_assert_eq(merkle_frontier_append(&f, lh[i], s_store_emit, st), REMISS_OK);
    }
}

/* The nodes a frontier is made of: one per set bit of the size, lowest
 * level first, each the last full subtree of its level. */
Test(merkle, frontier_nodes_are_the_set_bits_of_the_size)
{
    unsigned level[MERKLE_MAX_LEVELS];
    uint64_t index[MERKLE_MAX_LEVELS];
    cr_assert_eq(merkle_frontier_nodes(0, level, index), 0);
    cr_assert_eq(merkle_frontier_nodes(13, level, index), 3); /* 1101 */
    cr_assert(level[0] == 0 && index[0] == 12);
    cr_assert(level[1] == 2 && index[1] == 2);
    cr_assert(level[2] == 3 && index[2] == 0);
    cr_assert_eq(merkle_frontier_nodes(UINT64_MAX, level, index), 64);
    cr_assert(level[63] == 63 && index[63] == 0);
}

Test(merkle_kat, hashes)
{
    uint8_t want[HL], got[HL], data[16];

    merkle_empty_root(got);
    s_hex(s_kat_roots[0], want, HL);
    cr_assert_arr_eq(got, want, HL);
    for (int i = 0; i < 8; i++) {
        size_t len = strlen(s_kat_leaf_inputs[i]) / 2;
        s_hex(s_kat_leaf_inputs[i], data, len);
        cr_assert_eq(merkle_leaf_hash(data, len, got), REMISS_OK);
        s_hex(s_kat_nodes[0][i], want, HL);
        cr_assert_arr_eq(got, want, HL, "leaf %d", i);
    }
    /* The empty entry may be passed as NULL; other NULL data is misuse. */
    cr_assert_eq(merkle_leaf_hash(NULL, 0, got), REMISS_OK);
    s_hex(s_kat_nodes[0][0], want, HL);
    cr_assert_arr_eq(got, want, HL);
    cr_assert_eq(merkle_leaf_hash(NULL, 1, got), REMISS_E_USAGE);
}

Test(merkle_kat, nodes_and_roots)
{
    s_store_t st;
    uint8_t lh[8][HL], want[HL], got[HL];
    merkle_frontier_t f;

    s_store_init(&st);
    s_kat_tree(&st, lh);
    for (unsigned l = 0; l < 4; l++) {
        for (unsigned i = 0; i < (8u >> l); i++) {
            s_hex(s_kat_nodes[l][i], want, HL);
            cr_assert(st.have[l][i], "node (%u, %u) not emitted", l, i);
            cr_assert_arr_eq(st.node[l][i], want, HL, "node (%u, %u)", l, i);
        }
    }
    merkle_frontier_init(&f);
    for (uint64_t n = 0; n <= 8; n++) {
        s_hex(s_kat_roots[n], want, HL);
        s_store_reset(&st, n);
        cr_assert_eq(merkle_root(n, s_store_get, &st, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL, "root of %llu from store", (unsigned long long)n);
        cr_assert_eq(merkle_frontier_root(&f, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL, "root of %llu from frontier", (unsigned long long)n);
        if (n < 8)
            cr_assert_eq(merkle_frontier_append(&f, lh[n], NULL, NULL), REMISS_OK);
    }
    s_store_free(&st);
}

static void
s_kat_check_path(const s_kat_proof_t *v, uint8_t path[][HL], size_t len)
{
    uint8_t want[HL];

    cr_assert_eq(len, v->len, "%llu/%llu: length", (unsigned long long)v->a,
                 (unsigned long long)v->b);
    for (size_t i = 0; i < len; i++) {
        s_hex(v->h[i], want, HL);
        cr_assert_arr_eq(path[i], want, HL, "%llu/%llu: hash %zu", (unsigned long long)v->a,
                         (unsigned long long)v->b, i);
    }
}

Test(merkle_kat, inclusion)
{
    s_store_t st;
    uint8_t lh[8][HL], root[HL], path[MERKLE_MAX_PROOF][HL];
    size_t len;

    s_store_init(&st);
    s_kat_tree(&st, lh);
    for (size_t k = 0; k < NELEM(s_kat_inclusion); k++) {
        const s_kat_proof_t *v = &s_kat_inclusion[k];

        s_store_reset(&st, v->b);
        cr_assert_eq(
            merkle_inclusion_proof(v->a, v->b, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
            REMISS_OK);
        s_kat_check_path(v, path, len);
        s_hex(s_kat_roots[v->b], root, HL);
        cr_assert(
            merkle_verify_inclusion(v->a, v->b, lh[v->a], (const uint8_t(*)[HL])path, len, root));
    }
    s_store_free(&st);
}

Test(merkle_kat, consistency)
{
    s_store_t st;
    uint8_t lh[8][HL], root_m[HL], root_n[HL], path[MERKLE_MAX_PROOF][HL];
    size_t len;

    s_store_init(&st);
    s_kat_tree(&st, lh);
    for (size_t k = 0; k < NELEM(s_kat_consistency); k++) {
        const s_kat_proof_t *v = &s_kat_consistency[k];

        s_store_reset(&st, v->b);
        cr_assert_eq(
            merkle_consistency_proof(v->a, v->b, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
            REMISS_OK);
        s_kat_check_path(v, path, len);
        s_hex(s_kat_roots[v->a], root_m, HL);
        s_hex(s_kat_roots[v->b], root_n, HL);
        cr_assert(
            merkle_verify_consistency(v->a, v->b, root_m, root_n, (const uint8_t(*)[HL])path, len));
    }
    s_store_free(&st);
}

/* ---------------------------------------------------------------- against the reference */

#define REF_MAX 130

/* floor(log2(n)) + 1 for n > 0: the tree height bound used for read counts. */
static unsigned
s_bits(uint64_t n)
{
    unsigned b = 0;

    while (n != 0) {
        b++;
        n >>= 1;
    }
    return b;
}

Test(merkle_ref, roots_and_inclusion)
{
    s_store_t st;
    uint8_t(*lh)[HL] = s_make_leaves(REF_MAX);
    uint8_t want[HL], got[HL], path[MERKLE_MAX_PROOF][HL];
    s_proof_t ref;
    size_t len;

    s_store_init(&st);
    s_store_fill_ref(&st, (const uint8_t(*)[HL])lh, REF_MAX);
    for (uint64_t n = 1; n <= REF_MAX; n++) {
        s_ref_mth((const uint8_t(*)[HL])lh, n, want);
        s_store_reset(&st, n);
        cr_assert_eq(merkle_root(n, s_store_get, &st, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL, "root of %llu", (unsigned long long)n);
        cr_assert_leq(st.gets, s_bits(n));
        for (uint64_t i = 0; i < n; i++) {
            s_ref_inclusion(i, (const uint8_t(*)[HL])lh, n, &ref);
            s_store_reset(&st, n);
            cr_assert_eq(
                merkle_inclusion_proof(i, n, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                REMISS_OK);
            cr_assert_eq(len, ref.len, "inclusion %llu/%llu length", (unsigned long long)i,
                         (unsigned long long)n);
            cr_assert_arr_eq(path, ref.h, len * HL, "inclusion %llu/%llu", (unsigned long long)i,
                             (unsigned long long)n);
            /* O(log n) reads: one per proof hash plus one right-edge fold. */
            cr_assert_leq(st.gets, 2 * s_bits(n));
            cr_assert(merkle_verify_inclusion(i, n, lh[i], (const uint8_t(*)[HL])path, len, want),
                      "verify %llu/%llu", (unsigned long long)i, (unsigned long long)n);
        }
    }
    s_store_free(&st);
    free(lh);
}

Test(merkle_ref, consistency)
{
    s_store_t st;
    uint8_t(*lh)[HL] = s_make_leaves(REF_MAX);
    uint8_t(*roots)[HL] = calloc(REF_MAX + 1, HL);
    uint8_t path[MERKLE_MAX_PROOF][HL];
    s_proof_t ref;
    size_t len;

    cr_assert_not_null(roots);
    s_store_init(&st);
    s_store_fill_ref(&st, (const uint8_t(*)[HL])lh, REF_MAX);
    for (uint64_t n = 0; n <= REF_MAX; n++)
        s_ref_mth((const uint8_t(*)[HL])lh, n, roots[n]);
    for (uint64_t n = 1; n <= REF_MAX; n++) {
        for (uint64_t m = 1; m <= n; m++) {
            s_ref_consistency(m, (const uint8_t(*)[HL])lh, n, &ref);
            s_store_reset(&st, n);
            cr_assert_eq(
                merkle_consistency_proof(m, n, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                REMISS_OK);
            cr_assert_eq(len, ref.len, "consistency %llu->%llu length", (unsigned long long)m,
                         (unsigned long long)n);
            cr_assert_arr_eq(path, ref.h, len * HL, "consistency %llu->%llu", (unsigned long long)m,
                             (unsigned long long)n);
            cr_assert_leq(st.gets, 2 * s_bits(n) + 1);
            cr_assert(merkle_verify_consistency(m, n, roots[m], roots[n],
                                                (const uint8_t(*)[HL])path, len),
                      "verify %llu->%llu", (unsigned long long)m, (unsigned long long)n);
        }
    }
    s_store_free(&st);
    free(roots);
    free(lh);
}

/* ---------------------------------------------------------------- frontier */

#define FRONTIER_MAX 1000

Test(merkle_frontier, append_load_root)
{
    s_store_t st;
    uint8_t(*lh)[HL] = s_make_leaves(FRONTIER_MAX);
    uint8_t want[HL], got[HL];
    merkle_frontier_t f, g;
    uint64_t emitted = 0;

    s_store_init(&st);
    merkle_frontier_init(&f);
    for (uint64_t n = 1; n <= FRONTIER_MAX; n++) {
        uint64_t perfect = 0;

        /* The writer: append, persist what is emitted, publish the root. */
        s_store_reset(&st, n);
        cr_assert_eq(merkle_frontier_append(&f, lh[n - 1], s_store_emit, &st), REMISS_OK);
        cr_assert_eq(f.size, n);
        s_ref_mth((const uint8_t(*)[HL])lh, n, want);
        cr_assert_eq(merkle_frontier_root(&f, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL, "frontier root of %llu", (unsigned long long)n);

        /* Leaf n-1 completes the leaf plus one parent per trailing one bit
         * of n-1: 1 + ctz(n) nodes. In all, every perfect subtree once. */
        cr_assert_eq(st.emits, 1 + (unsigned)__builtin_ctzll(n));
        emitted += st.emits;
        for (unsigned l = 0; l < STORE_LEVELS; l++)
            perfect += n >> l;
        cr_assert_eq(emitted, perfect);

        /* A restarted writer rebuilds the same state from the store. */
        s_store_reset(&st, n);
        cr_assert_eq(merkle_frontier_load(&g, n, s_store_get, &st), REMISS_OK);
        cr_assert_eq(st.gets, (unsigned)__builtin_popcountll(n));
        cr_assert_eq(memcmp(&f, &g, sizeof(f)), 0, "loaded frontier of %llu differs",
                     (unsigned long long)n);
        cr_assert_eq(merkle_root(n, s_store_get, &st, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL);
    }
    /* Every emitted node is the reference MTH of its leaves. */
    for (unsigned l = 0; l < STORE_LEVELS; l++) {
        for (uint64_t i = 0; ((i + 1) << l) <= FRONTIER_MAX; i++) {
            cr_assert(st.have[l][i]);
            s_ref_mth((const uint8_t(*)[HL])lh + (i << l), 1ull << l, want);
            cr_assert_arr_eq(st.node[l][i], want, HL, "node (%u, %llu)", l, (unsigned long long)i);
        }
    }
    s_store_free(&st);
    free(lh);
}

Test(merkle_frontier, failed_emit_changes_nothing)
{
    s_store_t st;
    uint8_t(*lh)[HL] = s_make_leaves(8);
    uint8_t want[HL], got[HL];
    merkle_frontier_t f, saved;

    s_store_init(&st);
    merkle_frontier_init(&f);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(merkle_frontier_append(&f, lh[i], s_store_emit, &st), REMISS_OK);
    /* Leaf 7 emits 4 nodes; fail each one in turn. */
    for (int k = 0; k < 4; k++) {
        saved = f;
        s_store_reset(&st, 8);
        st.fail_at = k;
        cr_assert_eq(merkle_frontier_append(&f, lh[7], s_store_emit, &st), REMISS_E_STORAGE);
        cr_assert_eq(memcmp(&f, &saved, sizeof(f)), 0);
    }
    s_store_reset(&st, 8);
    cr_assert_eq(merkle_frontier_append(&f, lh[7], s_store_emit, &st), REMISS_OK);
    s_ref_mth((const uint8_t(*)[HL])lh, 8, want);
    cr_assert_eq(merkle_frontier_root(&f, got), REMISS_OK);
    cr_assert_arr_eq(got, want, HL);
    /* A failed load leaves an empty frontier, not a half-loaded one. */
    s_store_reset(&st, 7);
    st.fail_at = 1;
    cr_assert_eq(merkle_frontier_load(&f, 7, s_store_get, &st), REMISS_E_STORAGE);
    cr_assert_eq(f.size, 0);
    s_store_free(&st);
    free(lh);
}

/* ---------------------------------------------------------------- rejection */

#define NEG_MAX  33
#define FLIP_MAX 16

typedef uint8_t s_path_t[MERKLE_MAX_PROOF + 2][HL];

/* True if the verifier must accept proof p of (i, n) when told (i2, n2):
 * exactly when the reference gives (i2, n2) the same shape, since the
 * verifier then does the same hashing. RFC 9162 paths do not encode the
 * size, so some other sizes share a shape. */
static bool
s_same_inclusion_shape(uint64_t i, uint64_t n, uint64_t i2, uint64_t n2)
{
    s_proof_t a, b;

    if (i2 >= n2)
        return false;
    s_ref_inclusion(i, NULL, n, &a);
    s_ref_inclusion(i2, NULL, n2, &b);
    return strcmp(a.dir, b.dir) == 0;
}

static bool
s_same_consistency_shape(uint64_t m, uint64_t n, uint64_t m2, uint64_t n2)
{
    s_proof_t a, b;

    if (m2 == 0 || m2 > n2)
        return false;
    s_ref_consistency(m, NULL, n, &a);
    s_ref_consistency(m2, NULL, n2, &b);
    return strcmp(a.dir, b.dir) == 0;
}

Test(merkle_neg, inclusion)
{
    uint8_t(*lh)[HL] = s_make_leaves(2 * NEG_MAX + 2);
    uint8_t root[HL], bad[HL];
    s_path_t p;
    s_proof_t ref;
    unsigned other_size_ok = 0;

    for (uint64_t n = 1; n <= NEG_MAX; n++) {
        s_ref_mth((const uint8_t(*)[HL])lh, n, root);
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])p;
            size_t len;

            s_ref_inclusion(i, (const uint8_t(*)[HL])lh, n, &ref);
            len = ref.len;
            memcpy(p, ref.h, len * HL);
            cr_assert(merkle_verify_inclusion(i, n, lh[i], cp, len, root));

            /* Every single-bit flip in every proof hash, the leaf and the root. */
            if (n <= FLIP_MAX) {
                for (size_t k = 0; k < len; k++) {
                    for (unsigned bit = 0; bit < 8 * HL; bit++) {
                        p[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                        cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len, root),
                                  "flip %zu.%u of %llu/%llu", k, bit, (unsigned long long)i,
                                  (unsigned long long)n);
                        p[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    }
                }
                for (unsigned bit = 0; bit < 8 * HL; bit++) {
                    memcpy(bad, lh[i], HL);
                    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    cr_assert(!merkle_verify_inclusion(i, n, bad, cp, len, root));
                    memcpy(bad, root, HL);
                    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len, bad));
                }
            }
            /* Wrong index: every other leaf of the same tree. */
            for (uint64_t j = 0; j < n + 2; j++) {
                if (j != i)
                    cr_assert(!merkle_verify_inclusion(j, n, lh[i], cp, len, root),
                              "index %llu accepted for %llu/%llu", (unsigned long long)j,
                              (unsigned long long)i, (unsigned long long)n);
            }
            /* Wrong size: accepted only where the shape is the same. */
            for (uint64_t n2 = 0; n2 <= 2 * n + 1; n2++) {
                bool ok;

                if (n2 == n)
                    continue;
                ok = merkle_verify_inclusion(i, n2, lh[i], cp, len, root);
                cr_assert_eq(ok, s_same_inclusion_shape(i, n, i, n2), "size %llu for %llu/%llu",
                             (unsigned long long)n2, (unsigned long long)i, (unsigned long long)n);
                other_size_ok += ok;
            }
            /* Truncated, extended at either end, a hash inserted. */
            if (len > 0) {
                cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len - 1, root));
                cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp + 1, len - 1, root));
            }
            memcpy(p[len], root, HL);
            cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len + 1, root));
            memset(p[len], 0, HL);
            cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len + 1, root));
            memmove(p[1], p[0], len * HL);
            memcpy(p[0], lh[i], HL);
            cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len + 1, root));
            if (len > 1) {
                memmove(p[0], p[1], HL);
                memset(p[1], 0x5a, HL);
                cr_assert(!merkle_verify_inclusion(i, n, lh[i], cp, len + 1, root));
            }
        }
    }
    /* Documented in merkle.h: some other sizes do share a path shape. */
    cr_assert_gt(other_size_ok, 0);
    free(lh);
}

Test(merkle_neg, consistency)
{
    uint8_t(*lh)[HL] = s_make_leaves(2 * NEG_MAX + 2);
    uint8_t(*roots)[HL] = calloc(2 * NEG_MAX + 2, HL);
    uint8_t bad[HL];
    s_path_t p;
    s_proof_t ref;

    cr_assert_not_null(roots);
    for (uint64_t n = 0; n < 2 * NEG_MAX + 2; n++)
        s_ref_mth((const uint8_t(*)[HL])lh, n, roots[n]);
    for (uint64_t n = 1; n <= NEG_MAX; n++) {
        for (uint64_t m = 1; m <= n; m++) {
            const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])p;
            size_t len;

            s_ref_consistency(m, (const uint8_t(*)[HL])lh, n, &ref);
            len = ref.len;
            memcpy(p, ref.h, len * HL);
            cr_assert(merkle_verify_consistency(m, n, roots[m], roots[n], cp, len));
            if (m == n) {
                /* Same size: only the empty proof of equal roots. */
                cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n - 1], cp, 0));
                memcpy(p[0], roots[m], HL);
                cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, 1));
                continue;
            }
            if (n <= FLIP_MAX) {
                for (size_t k = 0; k < len; k++) {
                    for (unsigned bit = 0; bit < 8 * HL; bit++) {
                        p[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                        cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, len),
                                  "flip %zu.%u of %llu->%llu", k, bit, (unsigned long long)m,
                                  (unsigned long long)n);
                        p[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    }
                }
                for (unsigned bit = 0; bit < 8 * HL; bit++) {
                    memcpy(bad, roots[m], HL);
                    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    cr_assert(!merkle_verify_consistency(m, n, bad, roots[n], cp, len));
                    memcpy(bad, roots[n], HL);
                    bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                    cr_assert(!merkle_verify_consistency(m, n, roots[m], bad, cp, len));
                }
            }
            cr_assert(!merkle_verify_consistency(m, n, roots[n], roots[m], cp, len), "swapped");
            cr_assert(!merkle_verify_consistency(n, m, roots[m], roots[n], cp, len));
            cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, 0));
            cr_assert(!merkle_verify_consistency(0, n, roots[0], roots[n], cp, len));
            /* Wrong sizes, with the roots unchanged: only a same-shape pair. */
            for (uint64_t m2 = 0; m2 <= n + 1; m2++) {
                if (m2 != m)
                    cr_assert_eq(merkle_verify_consistency(m2, n, roots[m], roots[n], cp, len),
                                 s_same_consistency_shape(m, n, m2, n), "m %llu for %llu->%llu",
                                 (unsigned long long)m2, (unsigned long long)m,
                                 (unsigned long long)n);
            }
            for (uint64_t n2 = 0; n2 <= 2 * n + 1; n2++) {
                if (n2 != n)
                    cr_assert_eq(merkle_verify_consistency(m, n2, roots[m], roots[n], cp, len),
                                 s_same_consistency_shape(m, n, m, n2), "n %llu for %llu->%llu",
                                 (unsigned long long)n2, (unsigned long long)m,
                                 (unsigned long long)n);
            }
            /* Truncated at either end; extended with roots, zeros, a copy. */
            cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, len - 1));
            cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp + 1, len - 1));
            for (int kind = 0; kind < 4; kind++) {
                const uint8_t *extra = kind == 0 ? roots[m] : kind == 1 ? roots[n] : p[0];

                memcpy(bad, extra, HL);
                if (kind == 3)
                    memset(bad, 0, HL);
                memcpy(p[len], bad, HL);
                cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, len + 1));
                memmove(p[1], p[0], (len + 1) * HL);
                memcpy(p[0], bad, HL);
                cr_assert(!merkle_verify_consistency(m, n, roots[m], roots[n], cp, len + 1),
                          "prepended %d to %llu->%llu", kind, (unsigned long long)m,
                          (unsigned long long)n);
                memmove(p[0], p[1], (len + 1) * HL);
            }
        }
    }
    free(roots);
    free(lh);
}

Test(merkle_neg, arguments)
{
    uint8_t h[HL] = {0}, path[MERKLE_MAX_PROOF + 1][HL];
    const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])path;

    memset(path, 0, sizeof(path));
    /* Index outside the tree, the empty tree, NULLs. */
    cr_assert(!merkle_verify_inclusion(0, 0, h, cp, 0, h));
    cr_assert(!merkle_verify_inclusion(1, 1, h, cp, 0, h));
    cr_assert(merkle_verify_inclusion(0, 1, h, cp, 0, h)); /* one leaf: root = leaf */
    cr_assert(!merkle_verify_inclusion(0, 1, NULL, cp, 0, h));
    cr_assert(!merkle_verify_inclusion(0, 1, h, cp, 0, NULL));
    cr_assert(!merkle_verify_inclusion(0, 2, h, NULL, 1, h));
    cr_assert(!merkle_verify_inclusion(0, 2, h, cp, MERKLE_MAX_PROOF + 1, h));
    cr_assert(!merkle_verify_inclusion(UINT64_MAX, UINT64_MAX, h, cp, 64, h));
    cr_assert(!merkle_verify_inclusion(UINT64_MAX - 1, UINT64_MAX, h, cp, 64, h));
    cr_assert(!merkle_verify_inclusion(0, UINT64_MAX, h, cp, MERKLE_MAX_PROOF, h));
    /* m == 0 is not provable in RFC 9162, whatever the roots. */
    merkle_empty_root(h);
    cr_assert(!merkle_verify_consistency(0, 0, h, h, cp, 0));
    cr_assert(!merkle_verify_consistency(0, 5, h, h, cp, 0));
    cr_assert(!merkle_verify_consistency(5, 4, h, h, cp, 0));
    cr_assert(!merkle_verify_consistency(1, 2, h, h, NULL, 1));
    cr_assert(!merkle_verify_consistency(1, 2, NULL, h, cp, 1));
    cr_assert(!merkle_verify_consistency(3, UINT64_MAX, h, h, cp, MERKLE_MAX_PROOF));
    cr_assert(!merkle_verify_consistency(3, UINT64_MAX, h, h, cp, MERKLE_MAX_PROOF + 1));
    cr_assert(!merkle_verify_consistency(UINT64_MAX - 1, UINT64_MAX, h, h, cp, 1));
    cr_assert(merkle_verify_consistency(UINT64_MAX, UINT64_MAX, h, h, cp, 0));
    cr_assert(!merkle_verify_consistency(UINT64_MAX, UINT64_MAX, h, h, cp, 1));
}

Test(merkle_neg, generator_errors)
{
    s_store_t st;
    uint8_t(*lh)[HL] = s_make_leaves(8);
    uint8_t path[MERKLE_MAX_PROOF][HL], root[HL];
    size_t len = 99;

    s_store_init(&st);
    s_store_fill_ref(&st, (const uint8_t(*)[HL])lh, 8);
    s_store_reset(&st, 8);
    cr_assert_eq(merkle_inclusion_proof(8, 8, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(len, 0);
    cr_assert_eq(merkle_inclusion_proof(0, 0, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_consistency_proof(0, 8, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_consistency_proof(0, 0, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_consistency_proof(8, 7, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_inclusion_proof(0, 8, NULL, NULL, path, MERKLE_MAX_PROOF, &len),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_inclusion_proof(0, 8, s_store_get, &st, path, MERKLE_MAX_PROOF, NULL),
                 REMISS_E_USAGE);
    cr_assert_eq(merkle_root(8, NULL, NULL, root), REMISS_E_USAGE);

    /* Too small a buffer is refused before any read; exact fit works. */
    len = 99;
    cr_assert_eq(merkle_inclusion_proof(0, 8, s_store_get, &st, path, 2, &len), REMISS_E_USAGE);
    cr_assert_eq(len, 0);
    cr_assert_eq(st.gets, 0);
    cr_assert_eq(merkle_inclusion_proof(0, 8, s_store_get, &st, path, 3, &len), REMISS_OK);
    cr_assert_eq(len, 3);
    /* 3 -> 7 is "c d g hash(i,j)" in TestConsistency of transparency-dev/merkle
     * proof/proof_test.go: four hashes. */
    s_store_reset(&st, 7);
    cr_assert_eq(merkle_consistency_proof(3, 7, s_store_get, &st, path, 3, &len), REMISS_E_USAGE);
    cr_assert_eq(st.gets, 0);
    cr_assert_eq(merkle_consistency_proof(3, 7, s_store_get, &st, path, 4, &len), REMISS_OK);
    cr_assert_eq(len, 4);
    /* A one-leaf tree and m == n need no buffer at all. */
    cr_assert_eq(merkle_inclusion_proof(0, 1, s_store_get, &st, NULL, 0, &len), REMISS_OK);
    cr_assert_eq(len, 0);
    cr_assert_eq(merkle_consistency_proof(5, 5, s_store_get, &st, NULL, 0, &len), REMISS_OK);
    cr_assert_eq(len, 0);

    /* A store failure at any read is passed through, with no proof. */
    for (uint64_t n = 1; n <= 8; n++) {
        for (uint64_t i = 0; i < n; i++) {
            unsigned reads;

            s_store_reset(&st, n);
            cr_assert_eq(
                merkle_inclusion_proof(i, n, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                REMISS_OK);
            reads = st.gets;
            for (unsigned k = 0; k < reads; k++) {
                s_store_reset(&st, n);
                st.fail_at = (int)k;
                cr_assert_eq(
                    merkle_inclusion_proof(i, n, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                    REMISS_E_STORAGE);
                cr_assert_eq(len, 0);
            }
            s_store_reset(&st, n);
            cr_assert_eq(
                merkle_consistency_proof(i + 1, n, s_store_get, &st, path, MERKLE_MAX_PROOF, &len),
                REMISS_OK);
            reads = st.gets;
            for (unsigned k = 0; k < reads; k++) {
                s_store_reset(&st, n);
                st.fail_at = (int)k;
                cr_assert_eq(merkle_consistency_proof(i + 1, n, s_store_get, &st, path,
                                                      MERKLE_MAX_PROOF, &len),
                             REMISS_E_STORAGE);
                cr_assert_eq(len, 0);
            }
            s_store_reset(&st, n);
            st.fail_at = 0;
            cr_assert_eq(merkle_root(n, s_store_get, &st, root), REMISS_E_STORAGE);
        }
    }
    s_store_free(&st);
    free(lh);
}

/* ---------------------------------------------------------------- sizes near 2^64
 * A tree whose leaves are all the same entry has one hash per level
 * (level[L] = H(level[L-1], level[L-1])), so real proofs for trees of up to
 * 2^64 - 1 leaves can be generated and checked in O(64). */

typedef struct {
    uint8_t level[MERKLE_MAX_LEVELS][HL];
    uint64_t limit;
} s_flat_t;

static remiss_code_t
s_flat_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HL])
{
    s_flat_t *t = ctx;

    cr_assert_lt(level, MERKLE_MAX_LEVELS);
    cr_assert_lt(index, t->limit >> level, "get (%u, %llu) outside %llu", level,
                 (unsigned long long)index, (unsigned long long)t->limit);
    memcpy(out, t->level[level], HL);
    return REMISS_OK;
}

static remiss_code_t
s_flat_emit(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HL])
{
    s_flat_t *t = ctx;

    cr_assert_lt(level, MERKLE_MAX_LEVELS);
    cr_assert_lt(index, t->limit >> level);
    cr_assert_arr_eq(hash, t->level[level], HL, "emitted (%u, %llu)", level,
                     (unsigned long long)index);
    return REMISS_OK;
}

Test(merkle_huge, near_uint64_max)
{
    static const uint64_t sizes[] = {
        UINT64_MAX, UINT64_MAX - 1, (1ull << 63) + 1, 1ull << 63, (1ull << 63) - 1, 3,
    };
    s_flat_t t;
    uint8_t root_m[HL], root_n[HL], got[HL], path[MERKLE_MAX_PROOF][HL];
    const uint8_t(*cp)[HL] = (const uint8_t(*)[HL])path;
    merkle_frontier_t f;
    size_t len;

    s_ref_leaf((const uint8_t *)"same", 4, t.level[0]);
    for (unsigned l = 1; l < MERKLE_MAX_LEVELS; l++)
        s_ref_node(t.level[l - 1], t.level[l - 1], t.level[l]);

    for (size_t a = 0; a < NELEM(sizes); a++) {
        uint64_t n = sizes[a];
        const uint64_t idx[] = {0, 1, n / 2, n - 2, n - 1};

        t.limit = n;
        cr_assert_eq(merkle_root(n, s_flat_get, &t, root_n), REMISS_OK);
        /* The writer at this size: load, check, append one more. */
        cr_assert_eq(merkle_frontier_load(&f, n - 1, s_flat_get, &t), REMISS_OK);
        cr_assert_eq(merkle_frontier_append(&f, t.level[0], s_flat_emit, &t), REMISS_OK);
        cr_assert_eq(merkle_frontier_root(&f, got), REMISS_OK);
        cr_assert_arr_eq(got, root_n, HL);
        for (size_t k = 0; k < NELEM(idx); k++) {
            if (idx[k] >= n)
                continue;
            cr_assert_eq(
                merkle_inclusion_proof(idx[k], n, s_flat_get, &t, path, MERKLE_MAX_PROOF, &len),
                REMISS_OK);
            cr_assert_leq(len, 64);
            cr_assert(merkle_verify_inclusion(idx[k], n, t.level[0], cp, len, root_n));
            cr_assert(!merkle_verify_inclusion(idx[k], n, t.level[0], cp, len - 1, root_n));
            cr_assert(!merkle_verify_inclusion(idx[k], n, t.level[1], cp, len, root_n));
            /* Consistency from m = idx + 1, the tree just after that leaf. */
            t.limit = idx[k] + 1;
            cr_assert_eq(merkle_root(idx[k] + 1, s_flat_get, &t, root_m), REMISS_OK);
            t.limit = n;
            cr_assert_eq(merkle_consistency_proof(idx[k] + 1, n, s_flat_get, &t, path,
                                                  MERKLE_MAX_PROOF, &len),
                         REMISS_OK);
            cr_assert(merkle_verify_consistency(idx[k] + 1, n, root_m, root_n, cp, len));
            if (len > 0)
                cr_assert(!merkle_verify_consistency(idx[k] + 1, n, root_m, root_n, cp, len - 1));
        }
    }
    /* The longest proofs: 64 hashes for inclusion, 65 for consistency. */
    t.limit = UINT64_MAX;
    cr_assert_eq(
        merkle_inclusion_proof(0, UINT64_MAX, s_flat_get, &t, path, MERKLE_MAX_PROOF, &len),
        REMISS_OK);
    cr_assert_eq(len, 64);
    cr_assert_eq(
        merkle_consistency_proof(3, UINT64_MAX, s_flat_get, &t, path, MERKLE_MAX_PROOF, &len),
        REMISS_OK);
    cr_assert_eq(len, MERKLE_MAX_PROOF);
    t.limit = 3;
    cr_assert_eq(merkle_root(3, s_flat_get, &t, root_m), REMISS_OK);
    t.limit = UINT64_MAX;
    cr_assert_eq(merkle_root(UINT64_MAX, s_flat_get, &t, root_n), REMISS_OK);
    cr_assert(merkle_verify_consistency(3, UINT64_MAX, root_m, root_n, cp, len));

    /* A frontier of 2^63 - 1 leaves: the next leaf completes 64 nodes, up to
     * (63, 0); a full frontier refuses another leaf. */
    t.limit = 1ull << 63;
    cr_assert_eq(merkle_frontier_load(&f, (1ull << 63) - 1, s_flat_get, &t), REMISS_OK);
    cr_assert_eq(merkle_frontier_append(&f, t.level[0], s_flat_emit, &t), REMISS_OK);
    cr_assert_eq(f.size, 1ull << 63);
    cr_assert_arr_eq(f.nodes[63], t.level[63], HL);
    t.limit = UINT64_MAX;
    cr_assert_eq(merkle_frontier_load(&f, UINT64_MAX, s_flat_get, &t), REMISS_OK);
    cr_assert_eq(merkle_frontier_append(&f, t.level[0], NULL, NULL), REMISS_E_USAGE);
    cr_assert_eq(f.size, UINT64_MAX);
}
