/* merkle: the Merkle tree of the tamper-evident audit log, as in RFC 9162
 * section 2.1 (the same tree as RFC 6962), with SHA-256.
 *
 * Leaves are numbered from 0. A node is named by (level, index): level 0 is
 * the leaf hashes, and node (L, i) is the root of the perfect subtree over
 * leaves [i << L, (i + 1) << L). Such a node exists in a tree of n leaves
 * only when (i + 1) << L <= n, and its hash never changes once it exists, so
 * a store keeps exactly these nodes and never rewrites them.
 *
 * The writer (the audit module) appends leaf hashes to a frontier, which
 * keeps the root in O(log n) per append and hands each new perfect-subtree
 * node to an emit callback for the store. Proofs for any past tree size
 * then read O(log n) stored nodes through a get callback; hashes on the
 * right edge of a tree whose size is not a power of two are recomputed from
 * perfect subtrees. Verifiers need no store: they check proofs offline.
 *
 * Nothing here allocates memory for the caller or keeps global state beyond
 * OpenSSL's SHA-256, fetched once per process; every buffer is the caller's
 * and every function is reentrant and thread-safe. Hash and node
 * buffers are MERKLE_HASH_LEN bytes. Functions that can fail return a
 * remiss_code_t: REMISS_OK, REMISS_E_USAGE for arguments outside the
 * contract (stated per function), REMISS_E_INTERNAL if OpenSSL fails, or
 * the first non-OK value a callback returned, passed through unchanged. */
#ifndef MERKLE_H
#define MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss_code.h"

#define MERKLE_HASH_LEN 32
/* Frontier slots: a tree has fewer than 2^64 leaves, so at most 64 levels
 * of perfect subtrees, levels 0..63. */
#define MERKLE_MAX_LEVELS 64
/* Longest proof: an inclusion proof has at most 64 hashes (one per level);
 * a consistency proof at most 65 (its starting node plus a 64-hash path,
 * e.g. m = 3, n = 2^64 - 1). A path buffer of this many hashes always fits. */
#define MERKLE_MAX_PROOF 65

/* Reads the stored hash of node (level, index) into out. The merkle
 * functions only ask for nodes that exist in the tree size they were given
 * ((index + 1) << level <= size, level < 64). Returns REMISS_OK, or any other
 * code (typically REMISS_E_STORAGE), which the caller receives unchanged. */
typedef remiss_code_t (*merkle_get_fn)(void *ctx, unsigned level, uint64_t index,
                                       uint8_t out[MERKLE_HASH_LEN]);

/* Receives a node that has just come into existence, so that the caller can
 * store it. Same return contract as merkle_get_fn. */
typedef remiss_code_t (*merkle_emit_fn)(void *ctx, unsigned level, uint64_t index,
                                        const uint8_t hash[MERKLE_HASH_LEN]);

/* ---------------------------------------------------------------- hashes */

/* out = SHA-256(0x00 || data): the leaf hash of an entry. data may be NULL
 * when len is 0. REMISS_E_USAGE if data is NULL otherwise. */
remiss_code_t merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN]);

/* out = SHA-256(0x01 || left || right): an interior node. out may be the
 * same buffer as left or right. */
remiss_code_t merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN],
                               const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);

/* out = SHA-256(""): the root of the empty tree. Cannot fail. */
void merkle_empty_root(uint8_t out[MERKLE_HASH_LEN]);

/* ---------------------------------------------------------------- frontier */

/* The right edge of a tree being built ("compact range"): the roots of its
 * perfect subtrees, one per set bit of size. A plain value with no
 * resources, so it may live on the stack or inside another struct and be
 * copied or compared with memcmp; fields are public for that reason only:
 * read size, change neither. */
typedef struct merkle_frontier {
    uint64_t size; /* leaves appended so far */
    /* nodes[L]: node (L, (size >> L) - 1) if bit L of size is set, else zeros */
    uint8_t nodes[MERKLE_MAX_LEVELS][MERKLE_HASH_LEN];
} merkle_frontier_t;

/* Makes f the frontier of the empty tree. */
void merkle_frontier_init(merkle_frontier_t *f);

/* Appends one leaf hash (leaf index f->size). Calls emit, if not NULL, for
 * every node the leaf completes, bottom up: the leaf itself at level 0, then
 * each parent that became perfect. If emit fails, its code is returned and
 * f is unchanged, so the caller may roll back its store and retry: the same
 * leaf emits the same nodes again. REMISS_E_USAGE if the tree already has
 * 2^64 - 1 leaves. */
remiss_code_t merkle_frontier_append(merkle_frontier_t *f, const uint8_t leaf[MERKLE_HASH_LEN],
                                     merkle_emit_fn emit, void *ctx);

/* The root of the tree f holds (the empty root for size 0). */
remiss_code_t merkle_frontier_root(const merkle_frontier_t *f, uint8_t out[MERKLE_HASH_LEN]);

/* The nodes that make up the frontier of a tree of size leaves (those
 * merkle_frontier_load reads, in its order): their levels and indexes in
 * level[i], index[i] (room for MERKLE_MAX_LEVELS); returns how many. */
size_t merkle_frontier_nodes(uint64_t size, unsigned level[MERKLE_MAX_LEVELS],
                             uint64_t index[MERKLE_MAX_LEVELS]);
/* Rebuilds f for a tree of size leaves from stored nodes (popcount(size)
 * reads). On failure f is the empty frontier. */
remiss_code_t merkle_frontier_load(merkle_frontier_t *f, uint64_t size, merkle_get_fn get,
                                   void *ctx);

/* ---------------------------------------------------------------- proofs */

/* The root of the first size leaves (MTH(D[0:size]), RFC 9162 2.1.1) from
 * stored nodes, popcount(size) reads; the empty root for size 0. Works for
 * any size up to the number of leaves stored. */
remiss_code_t merkle_root(uint64_t size, merkle_get_fn get, void *ctx,
                          uint8_t out[MERKLE_HASH_LEN]);

/* The inclusion proof of leaf index in the tree of the first size leaves
 * (PATH, RFC 9162 2.1.3.1): hashes from the leaf's sibling up to the root's
 * child. Writes the proof to path[0 .. *len) and reads at most about
 * 2 log2(size) nodes. REMISS_E_USAGE if index >= size or cap is smaller than
 * the proof (MERKLE_MAX_PROOF always suffices). *len is 0 on any failure and
 * path then holds nothing meaningful. */
remiss_code_t merkle_inclusion_proof(uint64_t index, uint64_t size, merkle_get_fn get, void *ctx,
                                     uint8_t path[][MERKLE_HASH_LEN], size_t cap, size_t *len);

/* The consistency proof between the trees of the first m and the first n
 * leaves (PROOF, RFC 9162 2.1.4.1); empty when m == n. Same output and read
 * contract as merkle_inclusion_proof. REMISS_E_USAGE if m == 0 (RFC 9162
 * defines no proof from the empty tree), m > n or cap is too small. */
remiss_code_t merkle_consistency_proof(uint64_t m, uint64_t n, merkle_get_fn get, void *ctx,
                                       uint8_t path[][MERKLE_HASH_LEN], size_t cap, size_t *len);

/* ---------------------------------------------------------------- verification */

/* True if path proves that leaf (a leaf hash) is entry index of the tree of
 * size leaves whose root is root (RFC 9162 2.1.3.2). False for index >= size,
 * a path of the wrong length, NULL arguments or any hash mismatch; never
 * reads past path[len - 1].
 *
 * The size is not proven by the path alone: a proof can also verify under a
 * different size whose tree has the same shape along the leaf's path. Take
 * size and root together from one signed tree head. */
bool merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
                             const uint8_t path[][MERKLE_HASH_LEN], size_t len,
                             const uint8_t root[MERKLE_HASH_LEN]);

/* True if path proves that the tree of m leaves with root root_m is a prefix
 * of the tree of n leaves with root root_n (RFC 9162 2.1.4.2). For m == n
 * true exactly when path is empty and the roots are equal. False for m == 0
 * (not provable), m > n, a wrong-length path, NULL arguments or any
 * mismatch; never reads past path[len - 1]. */
bool merkle_verify_consistency(uint64_t m, uint64_t n, const uint8_t root_m[MERKLE_HASH_LEN],
                               const uint8_t root_n[MERKLE_HASH_LEN],
                               const uint8_t path[][MERKLE_HASH_LEN], size_t len);

#endif
