/* test_witness: the decisions and the state of remiss-witness (wit_core),
 * in-process with a real SQLite state and real Ed25519 keys. The HTTP
 * layer and restarts are covered by test_witnessed (real processes). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merkle.h"
#include "note.h"
#include "wit_core.h"

#define ORIGIN   "remiss.test/audit"
#define N_LEAVES 64

static uint8_t s_nodes[7][N_LEAVES][MERKLE_HASH_LEN];
static char s_dir[64];
static note_signer_t s_log, s_other, s_wkey;
static wit_t *s_wit;
static wit_reply_t s_r;

static remiss_code_t
s_emit(void *ctx, unsigned level, uint64_t index, const uint8_t h[MERKLE_HASH_LEN])
{
    (void)ctx;
    memcpy(s_nodes[level][index], h, MERKLE_HASH_LEN);
    return REMISS_OK;
}

static remiss_code_t
s_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    (void)ctx;
    memcpy(out, s_nodes[level][index], MERKLE_HASH_LEN);
    return REMISS_OK;
}

static void
s_signer(const char *file, const char *name, uint8_t type, note_signer_t *s)
{
    char path[128];
    remiss_err_t err;
    snprintf(path, sizeof path, "%s/%s", s_dir, file);
    cr_assert_eq(note_key_generate(path, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(note_signer_load(path, name, type, s, &err), REMISS_OK, "%s", err.text);
}

static void
s_open(void)
{
    char db[128];
    remiss_err_t err;
    snprintf(db, sizeof db, "%s/witness.db", s_dir);
    s_wit = wit_open(db, &s_wkey, &s_log.pub, 1, &err);
    cr_assert_not_null(s_wit, "%s", err.text);
}

static void
s_setup(void)
{
    merkle_frontier_t f;
    snprintf(s_dir, sizeof s_dir, "/tmp/remiss-wit-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    merkle_frontier_init(&f);
    for (int i = 0; i < N_LEAVES; i++) {
        uint8_t leaf[MERKLE_HASH_LEN];
        merkle_leaf_hash((const uint8_t *)&i, sizeof i, leaf);
        cr_assert_eq(merkle_frontier_append(&f, leaf, s_emit, NULL), REMISS_OK);
    }
    s_signer("log.key", ORIGIN, NOTE_TYPE_ED25519, &s_log);
    s_signer("other.key", ORIGIN, NOTE_TYPE_ED25519, &s_other);
    s_signer("w.key", "witness.test/w1", NOTE_TYPE_COSIG, &s_wkey);
    s_open();
}

static void
s_teardown(void)
{
    char cmd[128];
    wit_close(&s_wit);
    note_signer_clear(&s_log);
    note_signer_clear(&s_other);
    note_signer_clear(&s_wkey);
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    system(cmd);
}

TestSuite(witness, .init = s_setup, .fini = s_teardown);

/* An add-checkpoint body: old size, the proof from old to size (or the
 * given number of proof lines taken from it), the checkpoint of size signed
 * by signer; root may be forced. */
static size_t
s_body(char *buf, size_t cap, uint64_t old, uint64_t size, const note_signer_t *signer,
       const uint8_t *root_override, bool corrupt_proof)
{
    uint8_t root[MERKLE_HASH_LEN], path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    char text[512], line[NOTE_LINE_MAX], b64[64];
    size_t n = 0, len = 0, tl;

    cr_assert_eq(merkle_root(size, s_get, NULL, root), REMISS_OK);
    if (root_override)
        memcpy(root, root_override, sizeof root);
    if (old > 0)
        cr_assert_eq(merkle_consistency_proof(old, size, s_get, NULL, path, MERKLE_MAX_PROOF, &n),
                     REMISS_OK);
    if (corrupt_proof && n > 0)
        path[n - 1][0] ^= 1;
    len += (size_t)snprintf(buf + len, cap - len, "old %" PRIu64 "\n", old);
    for (size_t i = 0; i < n; i++) {
        note_b64_encode(path[i], MERKLE_HASH_LEN, b64, sizeof b64);
        len += (size_t)snprintf(buf + len, cap - len, "%s\n", b64);
    }
    cr_assert_gt(tl = checkpoint_format(ORIGIN, size, root, text, sizeof text), 0);
    cr_assert_eq(note_sign(signer, text, tl, 0, line), REMISS_OK);
    len += (size_t)snprintf(buf + len, cap - len, "\n%s\n%s", text, line);
    return len;
}

static unsigned
s_add(uint64_t old, uint64_t size)
{
    char body[8192];
    size_t len = s_body(body, sizeof body, old, size, &s_log, NULL, false);
    wit_add_checkpoint(s_wit, body, len, 1700000000, &s_r);
    return s_r.status;
}

Test(witness, cosigns_a_first_checkpoint_and_its_consistent_successors)
{
    note_t n;
    bool ok;
    cr_assert_eq(s_add(0, 5), 200, "%s", s_r.body);
    cr_assert_eq(wit_size(s_wit, ORIGIN), 5);
    cr_assert_eq(s_add(5, 17), 200, "%s", s_r.body);
    cr_assert_eq(s_add(17, 17), 200, "same checkpoint again: %s", s_r.body);
    cr_assert_eq(s_add(17, 64), 200, "%s", s_r.body);
    cr_assert_eq(wit_size(s_wit, ORIGIN), 64);
    /* The answer is one cosignature line that verifies on the checkpoint. */
    cr_assert_eq(strncmp(s_r.body, "\xe2\x80\x94 witness.test/w1 ", 20), 0);
    wit_latest(s_wit, ORIGIN, &s_r);
    cr_assert_eq(s_r.status, 200);
    cr_assert_eq(note_parse(s_r.body, s_r.body_len, &n), REMISS_OK);
    note_verifier_t v[2] = {s_log.pub, s_wkey.pub};
    size_t n_ok;
    cr_assert_eq(note_verify(&n, v, 2, NULL, &n_ok), REMISS_OK);
    cr_assert_eq(n_ok, 2);
    uint64_t ts;
    ok = note_sig_verify(&n, &n.sigs[1], &s_wkey.pub, &ts);
    cr_assert(ok);
    cr_assert_eq(ts, 1700000000);
}

Test(witness, wrong_old_size_gets_409_with_the_stored_size)
{
    cr_assert_eq(s_add(0, 9), 200);
    cr_assert_eq(s_add(0, 12), 409);
    cr_assert_str_eq(s_r.content_type, "text/x.tlog.size");
    cr_assert_str_eq(s_r.body, "9\n");
    cr_assert_eq(s_add(4, 12), 409);
    cr_assert_str_eq(s_r.body, "9\n");
    /* The client resends with a proof from the witness's size. */
    cr_assert_eq(s_add(9, 12), 200);
}

Test(witness, refusals_by_the_spec)
{
    char body[8192];
    size_t len;
    uint8_t other_root[MERKLE_HASH_LEN];
    cr_assert_eq(s_add(0, 8), 200);
    /* Bad consistency proof: 422, nothing stored. */
    len = s_body(body, sizeof body, 8, 20, &s_log, NULL, true);
    wit_add_checkpoint(s_wit, body, len, 1, &s_r);
    cr_assert_eq(s_r.status, 422);
    cr_assert_eq(wit_size(s_wit, ORIGIN), 8);
    /* A forked tree: a proof that is right for its own tree but not ours. */
    memset(other_root, 7, sizeof other_root);
    len = s_body(body, sizeof body, 8, 20, &s_log, other_root, false);
    wit_add_checkpoint(s_wit, body, len, 1, &s_r);
    cr_assert_eq(s_r.status, 422);
    /* Same size, other root: 409. */
    len = s_body(body, sizeof body, 8, 8, &s_log, other_root, false);
    wit_add_checkpoint(s_wit, body, len, 1, &s_r);
    cr_assert_eq(s_r.status, 409);
    /* Signed by a key the witness does not trust for the origin: 403. */
    len = s_body(body, sizeof body, 8, 20, &s_other, NULL, false);
    wit_add_checkpoint(s_wit, body, len, 1, &s_r);
    cr_assert_eq(s_r.status, 403);
    /* old > size: 400. */
    char m[8192];
    s_body(body, sizeof body, 0, 20, &s_log, NULL, false);
    len = (size_t)snprintf(m, sizeof m, "old 30\n%s", body + 6);
    wit_add_checkpoint(s_wit, m, len, 1, &s_r);
    cr_assert_eq(s_r.status, 400, "%s", s_r.body);
    cr_assert_eq(wit_size(s_wit, ORIGIN), 8);
}

Test(witness, unknown_origin_404_malformed_400_oversized_413)
{
    static char big[WIT_BODY_MAX + 2];
    char body[8192], text[256], line[NOTE_LINE_MAX];
    uint8_t root[32] = {0};
    note_signer_t stranger;
    size_t tl, len;

    s_signer("s.key", "elsewhere.test/log", NOTE_TYPE_ED25519, &stranger);
    tl = checkpoint_format("elsewhere.test/log", 3, root, text, sizeof text);
    cr_assert_eq(note_sign(&stranger, text, tl, 0, line), REMISS_OK);
    len = (size_t)snprintf(body, sizeof body, "old 0\n\n%s\n%s", text, line);
    wit_add_checkpoint(s_wit, body, len, 1, &s_r);
    cr_assert_eq(s_r.status, 404);
    note_signer_clear(&stranger);
    static const char *const bad[] = {"",
                                      "old 0\n",
                                      "old 01\n\n",
                                      "old x\n\nfoo\n",
                                      "old 0\nnot base64\n\n",
                                      "old 0\n\nno note\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wit_add_checkpoint(s_wit, bad[i], strlen(bad[i]), 1, &s_r);
        cr_assert_eq(s_r.status, 400, "case %zu", i);
    }
    memset(big, 'a', sizeof big);
    wit_add_checkpoint(s_wit, big, sizeof big, 1, &s_r);
    cr_assert_eq(s_r.status, 413);
}

Test(witness, state_survives_reopen_and_is_0600)
{
    char db[128];
    struct stat st;
    cr_assert_eq(s_add(0, 11), 200);
    wit_close(&s_wit);
    s_open();
    cr_assert_eq(wit_size(s_wit, ORIGIN), 11);
    cr_assert_eq(s_add(11, 30), 200);
    snprintf(db, sizeof db, "%s/witness.db", s_dir);
    cr_assert_eq(stat(db, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(witness, random_mutations_never_cosign_a_forgery)
{
    char body[8192], m[8192];
    size_t len;
    cr_assert_eq(s_add(0, 10), 200);
    len = s_body(body, sizeof body, 10, 40, &s_log, NULL, false);
    srand(16);
    for (int round = 0; round < 3000; round++) {
        memcpy(m, body, len);
        size_t pos = (size_t)rand() % len;
        m[pos] = (char)(m[pos] ^ (1 + rand() % 255));
        wit_add_checkpoint(s_wit, m, len, 1, &s_r);
        /* Any change to the old line, the proof or the signed note loses
         * the cosignature; only the signature line's key name region may
         * still hit (then the note has no trusted signature: 403). */
        cr_assert_neq(s_r.status, 200, "mutation at %zu was cosigned", pos);
    }
    cr_assert_eq(wit_size(s_wit, ORIGIN), 10);
}
