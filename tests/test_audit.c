/* Tests for audit, auditverify and `remissctl audit`: a real SQLite store
 * and a real broker key from pki_init in a temporary directory. The log is
 * checked against a from-scratch RFC 9162 recomputation, every proof goes
 * through the offline verifier, and the tamper tests edit the database file
 * with plain sqlite3 calls, as an attacker with file access would. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pty.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "ctl_audit.h"
#include "merkle.h"
#include "pgtest.h"
#include "pki.h"
#include "pki_admin.h"
#include "store.h"
#include "utf8.h"

#define HL    MERKLE_HASH_LEN
#define N_LOG 150 /* entries in the tamper tests' log */
#define N_MAX 1024

static char s_dir[64], s_pki[128], s_db[128];
static EVP_PKEY *s_key;      /* broker signing key */
static X509 *s_cert;         /* broker certificate */
static EVP_PKEY *s_pub;      /* its public key (owned by s_cert) */
static uint8_t s_secret[32]; /* broker.secret */
static store_t *s_store;
static audit_t *s_audit;

static const char *const s_parties[] = {"sdf-rinkeby-kista", "jobbtorg", "af-kommunhubb",
                                        "sdf-spanga-tensta", "samordningsforbundet"};
static const char *const s_purposes[] = {"anvisning", "kaa", "arendedragning", "forfragan"};
/* Valid personnummer (check digit) in canonical form, and how people write them. */
static const char *const s_subjects[] = {"200601152382", "200802290015", "200506301233",
                                         "199901011230"};
static const char *const s_written[] = {"20060115-2382", "060115-2382",  "0601152382",
                                        "080229-0015",   "0802290015",   "050630-1233",
                                        "990101-1230",   "Kim Andersson"};

/* ---------------------------------------------------------------- fixture */

static void
s_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", s_pki, name);
}

static void
s_open(void)
{
    remiss_err_t err;
    s_store = store_open(s_db, &err);
    cr_assert_not_null(s_store, "%s", err.text);
    s_audit = audit_open(s_store, s_key, s_secret, &err);
    cr_assert_not_null(s_audit, "%s", err.text);
}

static void
s_close(void)
{
    audit_close(&s_audit);
    store_close(&s_store);
}

static void
s_setup(void)
{
    char path[256];
    remiss_err_t err;
    FILE *f;

    strcpy(s_dir, "/tmp/remiss-audit-XXXXXX");
    cr_assert_not_null(mkdtemp(s_dir));
    snprintf(s_pki, sizeof s_pki, "%s/pki", s_dir);
    snprintf(s_db, sizeof s_db, "%s/remiss.db", s_dir);
    cr_assert_eq(pki_init(s_pki, &err), REMISS_OK, "%s", err.text);
    s_path(path, sizeof path, "broker.key");
    cr_assert_not_null(s_key = pki_key_load(path, &err), "%s", err.text);
    s_path(path, sizeof path, "broker.crt");
    cr_assert_not_null(f = fopen(path, "r"));
    s_cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(s_cert);
    s_pub = X509_get0_pubkey(s_cert);
    s_path(path, sizeof path, "broker.secret");
    cr_assert_eq(audit_secret_load(path, s_secret, &err), REMISS_OK, "%s", err.text);
    s_open();
}

static void
s_teardown(void)
{
    char cmd[128];
    s_close();
    EVP_PKEY_free(s_key);
    X509_free(s_cert);
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(audit, .init = s_setup, .fini = s_teardown, .timeout = 120);

/* ---------------------------------------------------------------- events */

/* Event i of a deterministic mixed log: messages of three entries each
 * (intake, delivery, acknowledgement), every fifth one refused and followed
 * by a consent grant and an admin action. */
typedef struct s_ev {
    audit_event_t ev;
    uint8_t id[16];
    uint8_t hash[32];
} s_ev_t;

static void
s_make(uint64_t i, s_ev_t *x)
{
    static const Remiss__AuditEvent flow[] = {REMISS__AUDIT_EVENT__EV_ACCEPTED,
                                              REMISS__AUDIT_EVENT__EV_DELIVERED,
                                              REMISS__AUDIT_EVENT__EV_ACKNOWLEDGED};
    static const Remiss__AuditEvent odd[] = {REMISS__AUDIT_EVENT__EV_REFUSED,
                                             REMISS__AUDIT_EVENT__EV_CONSENT_GRANTED,
                                             REMISS__AUDIT_EVENT__EV_ADMIN_ACTION};
    uint64_t m = i / 3;
    bool refused = m % 5 == 4;

    memset(x, 0, sizeof *x);
    for (int b = 0; b < 8; b++)
        x->id[b] = (uint8_t)(m >> (8 * b));
    memset(x->id + 8, 0xa5, 8);
    memset(x->hash, (int)(m & 0xff), sizeof x->hash);
    x->ev.time = 1790000000000 + (int64_t)i * 1000;
    x->ev.event = refused ? odd[i % 3] : flow[i % 3];
    x->ev.sender = s_parties[m % 5];
    x->ev.recipient = s_parties[(m + 1) % 5];
    x->ev.type = (Remiss__MessageType)(1 + m % 8);
    x->ev.purpose = s_purposes[m % 4];
    x->ev.categories = (catset_t)((m * 37) & CATSET_ALL) | 1u;
    x->ev.code = refused && i % 3 == 0 ? REMISS_E_NO_CONSENT : REMISS_OK;
    x->ev.subject = s_subjects[m % 4];
    if (!refused || i % 3 == 0) {
        x->ev.message_id = x->id;
        x->ev.envelope_sha256 = x->hash;
    } else if (i % 3 == 1) {
        x->ev.recipient = "broker";
        x->ev.detail = "c-2026-0007";
    } else {
        x->ev.sender = "admin";
        x->ev.recipient = "";
        x->ev.subject = NULL;
        x->ev.detail = "dead letter re-queued";
    }
}

static bool
s_is_intake(uint64_t i)
{
    return i % 3 == 0;
}

static void
s_append(uint64_t i)
{
    s_ev_t x;
    uint64_t index = UINT64_MAX;
    remiss_err_t err;
    s_make(i, &x);
    cr_assert_eq(audit_append(s_audit, &x.ev, &index, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(index, i);
}

/* Appends entries [from, to) in one transaction, signing a head every
 * `every` entries (0: never) and, if force, at the end. */
static void
s_fill(uint64_t from, uint64_t to, uint64_t every, bool force)
{
    remiss_err_t err;
    cr_assert_eq(store_begin(s_store, &err), REMISS_OK, "%s", err.text);
    for (uint64_t i = from; i < to; i++) {
        s_append(i);
        cr_assert_eq(audit_sign_head(s_audit, false, 0, every, &err), REMISS_OK, "%s", err.text);
    }
    if (force)
        cr_assert_eq(audit_sign_head(s_audit, true, 0, 0, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(store_commit(s_store, &err), REMISS_OK, "%s", err.text);
}

/* ---------------------------------------------------------------- reference */

static remiss_code_t
s_get(void *ctx, unsigned level, uint64_t index, uint8_t out[HL])
{
    return store_audit_node_get(ctx, level, index, out, NULL);
}

/* MTH(D[0:n]) straight from RFC 9162 2.1.1. */
static void
s_mth(const uint8_t (*lh)[HL], uint64_t n, uint8_t out[HL])
{
    uint8_t l[HL], r[HL];
    uint64_t k = 1;
    if (n == 0) {
        merkle_empty_root(out);
        return;
    }
    if (n == 1) {
        memcpy(out, lh[0], HL);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    s_mth(lh, k, l);
    s_mth(lh + k, n - k, r);
    cr_assert_eq(merkle_node_hash(l, r, out), REMISS_OK);
}

/* Leaf hashes of the stored entries [0, n), recomputed from their bytes. */
static void
s_leaves(uint64_t n, uint8_t (*lh)[HL])
{
    remiss_err_t err;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *e = NULL;
        size_t len = 0;
        cr_assert_eq(store_audit_get(s_store, i, &e, &len, &err), REMISS_OK, "%s", err.text);
        cr_assert_eq(merkle_leaf_hash(e, len, lh[i]), REMISS_OK);
        free(e);
    }
}

static Remiss__AuditEntry *
s_entry(uint64_t i)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    remiss_err_t err;
    cr_assert_eq(store_audit_get(s_store, i, &bytes, &len, &err), REMISS_OK, "%s", err.text);
    Remiss__AuditEntry *e = audit_entry_decode(bytes, len);
    free(bytes);
    cr_assert_not_null(e);
    return e;
}

/* The latest stored head, verified. */
static audit_tree_head_t
s_latest_head(void)
{
    audit_tree_head_t th;
    uint8_t *sth = NULL;
    size_t len = 0;
    remiss_err_t err;
    cr_assert_eq(store_audit_sth_latest(s_store, &sth, &len, &err), REMISS_OK);
    cr_assert_gt(len, 0);
    cr_assert_eq(audit_verify_tree_head_bytes(sth, len, s_pub, &th, &err), REMISS_OK, "%s",
                 err.text);
    free(sth);
    return th;
}

/* ---------------------------------------------------------------- the log */

Test(audit, roots_equal_a_from_scratch_recomputation)
{
    static uint8_t lh[N_MAX][HL];
    uint8_t want[HL], got[HL];
    const uint64_t n = 160;

    s_fill(0, n, 0, true);
    cr_assert_eq(audit_size(s_audit), n);
    s_leaves(n, lh);
    for (uint64_t size = 0; size <= n; size++) {
        s_mth(lh, size, want);
        cr_assert_eq(merkle_root(size, s_get, s_store, got), REMISS_OK);
        cr_assert_arr_eq(got, want, HL, "root of the first %llu entries", (unsigned long long)size);
    }
    /* The stored leaf nodes are the RFC leaf hashes of the stored bytes. */
    for (uint64_t i = 0; i < n; i++) {
        cr_assert_eq(store_audit_node_get(s_store, 0, i, got, NULL), REMISS_OK);
        cr_assert_arr_eq(got, lh[i], HL);
    }
    audit_tree_head_t th = s_latest_head();
    s_mth(lh, n, want);
    cr_assert_eq(th.size, n);
    cr_assert_arr_eq(th.root, want, HL);
    cr_assert_gt(th.timestamp, 0);
}

Test(audit, entries_hold_the_event_and_no_clear_text_subject)
{
    uint8_t pseudonym[32];
    char cats[128];
    s_ev_t x;

    s_fill(0, 30, 0, false);
    for (uint64_t i = 0; i < 30; i++) {
        Remiss__AuditEntry *e = s_entry(i);
        s_make(i, &x);
        cr_assert_eq(e->index, i);
        cr_assert_eq(e->time, x.ev.time);
        cr_assert_eq(e->event, x.ev.event);
        cr_assert_str_eq(e->sender, x.ev.sender);
        cr_assert_str_eq(e->recipient, x.ev.recipient);
        cr_assert_eq(e->type, x.ev.type);
        cr_assert_str_eq(e->purpose, x.ev.purpose);
        cr_assert_eq((int)e->code, (int)x.ev.code);
        category_format(x.ev.categories, cats, sizeof cats);
        char got[128] = "";
        for (size_t c = 0; c < e->n_categories; c++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", c ? "," : "",
                     e->categories[c]);
        cr_assert_str_eq(got, cats);
        if (x.ev.message_id) {
            cr_assert_eq(e->message_id.len, 16);
            cr_assert_arr_eq(e->message_id.data, x.id, 16);
            cr_assert_eq(e->envelope_sha256.len, 32);
        } else {
            cr_assert_eq(e->message_id.len, 0);
        }
        if (x.ev.subject) {
            cr_assert(audit_pseudonym(s_audit, x.ev.subject, pseudonym));
            cr_assert_eq(e->subject_pseudonym.len, 32);
            cr_assert_arr_eq(e->subject_pseudonym.data, pseudonym, 32);
        } else {
            cr_assert_eq(e->subject_pseudonym.len, 0);
        }
        cr_assert_str_eq(e->detail, x.ev.detail ? x.ev.detail : "");
        remiss__audit_entry__free_unpacked(e, NULL);
    }
}

Test(audit, long_strings_are_cut_at_a_character_boundary)
{
    char detail[2000], sender[400];
    remiss_err_t err;
    uint64_t index;

    /* "x" then two-byte "ö"s: a cut at 512 bytes falls inside a character. */
    detail[0] = 'x';
    for (size_t i = 1; i + 2 < sizeof detail; i += 2)
        memcpy(detail + i, "\xc3\xb6", 2);
    detail[sizeof detail - 1] = '\0';
    memset(sender, 'a', sizeof sender - 1);
    sender[sizeof sender - 1] = '\0';
    audit_event_t ev = {
        .event = REMISS__AUDIT_EVENT__EV_ADMIN_ACTION, .sender = sender, .detail = detail};
    cr_assert_eq(audit_append(s_audit, &ev, &index, &err), REMISS_OK, "%s", err.text);
    Remiss__AuditEntry *e = s_entry(index);
    cr_assert_eq(strlen(e->detail), 511);
    cr_assert_eq(strlen(e->sender), STORE_NAME_MAX - 1);
    cr_assert(utf8_valid(e->detail, strlen(e->detail)));
    remiss__audit_entry__free_unpacked(e, NULL);
}

Test(audit, a_subject_that_is_not_canonical_is_refused)
{
    s_ev_t x;
    remiss_err_t err;
    const char *bad[] = {"20060115-2382", "0601152382", "2006011523820", "Kim Andersson", ""};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_make(0, &x);
        x.ev.subject = bad[i];
        cr_assert_eq(audit_append(s_audit, &x.ev, NULL, &err), REMISS_E_USAGE, "%s", bad[i]);
    }
    cr_assert_eq(audit_size(s_audit), 0);
    uint64_t size = 1;
    cr_assert_eq(store_audit_size(s_store, &size, &err), REMISS_OK);
    cr_assert_eq(size, 0);
}

Test(audit, heads_are_signed_every_n_entries_and_by_interval)
{
    remiss_err_t err;
    audit_tree_head_t th;

    s_fill(0, 25, 10, false);
    th = s_latest_head();
    cr_assert_eq(th.size, 20);
    /* Nothing new: force signs nothing more. */
    s_fill(25, 25, 0, true);
    cr_assert_eq(s_latest_head().size, 25);
    cr_assert_eq(audit_sign_head(s_audit, true, 0, 0, &err), REMISS_OK);
    cr_assert_eq(s_latest_head().size, 25);
    s_append(25);
    cr_assert_eq(audit_sign_head(s_audit, false, 3600 * 1000, 0, &err), REMISS_OK);
    cr_assert_eq(s_latest_head().size, 25, "the interval has not passed");
    cr_assert_eq(audit_sign_head(s_audit, false, 1, 0, &err), REMISS_OK);
    usleep(5000);
    cr_assert_eq(audit_sign_head(s_audit, false, 1, 0, &err), REMISS_OK);
    cr_assert_eq(s_latest_head().size, 26);
}

/* ---------------------------------------------------------------- proofs */

/* Asks for and verifies the proof of index as party, with a consistency
 * proof from m (root_m) if m > 0. */
static void
s_prove(uint64_t index, const char *party, uint64_t size, const uint8_t *root, uint64_t m,
        const uint8_t *root_m)
{
    Remiss__ProofReply reply;
    audit_tree_head_t th;
    remiss_err_t err;

    cr_assert_eq(audit_proof(s_audit, party, NULL, index, m, &reply, &err), REMISS_OK,
                 "index %llu: %s", (unsigned long long)index, err.text);
    cr_assert_eq(reply.leaf_index, index);
    cr_assert_eq(audit_verify_tree_head(reply.tree_head, s_pub, &th, &err), REMISS_OK);
    cr_assert_eq(th.size, size);
    cr_assert_arr_eq(th.root, root, HL);
    cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, m > 0 ? root_m : NULL, &err), REMISS_OK,
                 "index %llu of %llu from %llu: %s", (unsigned long long)index,
                 (unsigned long long)size, (unsigned long long)m, err.text);
    audit_proof_clear(&reply);
}

Test(audit, proofs_for_every_index_at_many_tree_sizes)
{
    static const uint64_t sizes[] = {1,  2,  3,  4,  5,  6,  7,   8,   9,   15,  16,  17,
                                     31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 150, 160};
    static uint8_t lh[N_MAX][HL], roots[N_MAX][HL];
    uint64_t done = 0, proofs = 0;
    s_ev_t x;

    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint64_t n = sizes[k];
        s_fill(done, n, 0, true);
        done = n;
        s_leaves(n, lh);
        s_mth(lh, n, roots[n]);
        for (uint64_t i = 0; i < n; i++) {
            s_make(i, &x);
            /* Consistency from every earlier signed size, in turn. */
            uint64_t m = k > 0 ? sizes[i % k] : 0;
            s_prove(i, x.ev.sender, n, roots[n], m, roots[m]);
            proofs++;
        }
    }
    cr_assert_geq(proofs, 1000);
}

Test(audit, proof_by_message_id_finds_the_intake_entry)
{
    Remiss__ProofReply reply;
    remiss_err_t err;
    uint8_t other[16];
    s_ev_t x;

    s_fill(0, 60, 0, false);
    for (uint64_t i = 0; i < 60; i++) {
        s_make(i, &x);
        if (!s_is_intake(i))
            continue;
        /* The recipient of a message never delivered to it (no message
         * rows here) may not ask; the sender may. */
        if (strcmp(x.ev.recipient, x.ev.sender) != 0)
            cr_assert_eq(audit_proof(s_audit, x.ev.recipient, x.id, 0, 0, &reply, &err),
                         REMISS_E_POLICY_DENIED);
        cr_assert_eq(audit_proof(s_audit, x.ev.sender, x.id, 0, 0, &reply, &err), REMISS_OK, "%s",
                     err.text);
        cr_assert_eq(reply.leaf_index, i);
        cr_assert_eq(audit_verify_proof(&reply, s_pub, x.id, NULL, &err), REMISS_OK, "%s",
                     err.text);
        memcpy(other, x.id, 16);
        other[15] ^= 1;
        cr_assert_eq(audit_verify_proof(&reply, s_pub, other, NULL, &err), REMISS_E_BAD_SIGNATURE);
        audit_proof_clear(&reply);
    }
    /* The proof asked for signed a head covering the log, and only once. */
    cr_assert_eq(s_latest_head().size, 60);
}

Test(audit, a_proof_signs_a_head_when_the_latest_does_not_cover_the_entry)
{
    Remiss__ProofReply reply;
    remiss_err_t err;
    s_ev_t x;

    s_fill(0, 10, 0, true);
    s_fill(10, 17, 0, false);
    cr_assert_eq(s_latest_head().size, 10);
    s_make(15, &x);
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 15, 10, &reply, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(s_latest_head().size, 17);
    cr_assert_eq(reply.consistency_from, 10);
    audit_proof_clear(&reply);
    /* The stored-head variant never signs. */
    s_fill(17, 20, 0, false);
    cr_assert_eq(audit_proof_stored(s_store, 18, 0, &reply, &err), REMISS_E_USAGE);
    cr_assert_null(reply.tree_head);
    cr_assert_eq(audit_proof_stored(s_store, 16, 3, &reply, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_OK, "%s", err.text);
    audit_proof_clear(&reply);
    cr_assert_eq(audit_proof_stored(s_store, 16, 18, &reply, &err), REMISS_E_MALFORMED);
}

Test(audit, consistency_proofs_between_signed_heads)
{
    static uint8_t lh[N_MAX][HL];
    static const uint64_t heads[] = {1, 2, 3, 7, 8, 13, 32, 33, 64, 100, 101, 150};
    uint8_t roots[sizeof heads / sizeof heads[0]][HL], wrong[HL];
    Remiss__ProofReply reply;
    remiss_err_t err;
    uint64_t done = 0;
    s_ev_t x;

    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        s_fill(done, heads[k], 0, true);
        done = heads[k];
        memcpy(roots[k], s_latest_head().root, HL);
    }
    s_leaves(done, lh);
    s_make(0, &x);
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        uint8_t want[HL];
        s_mth(lh, heads[k], want);
        cr_assert_arr_eq(roots[k], want, HL);
        cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 0, heads[k], &reply, &err), REMISS_OK,
                     "%s", err.text);
        cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, roots[k], &err), REMISS_OK,
                     "from %llu: %s", (unsigned long long)heads[k], err.text);
        memcpy(wrong, roots[k], HL);
        wrong[0] ^= 0x80;
        cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, wrong, &err), REMISS_E_BAD_SIGNATURE);
        audit_proof_clear(&reply);
    }
    /* A caller that expects a consistency proof and gets none. */
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 0, 0, &reply, &err), REMISS_OK);
    cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, roots[0], &err), REMISS_E_MALFORMED);
    audit_proof_clear(&reply);
}

Test(audit, a_party_that_is_neither_sender_nor_recipient_is_denied)
{
    Remiss__ProofReply reply;
    remiss_err_t err;
    uint8_t unknown[16] = {0xff};
    s_ev_t x;

    s_fill(0, 30, 0, true);
    for (uint64_t i = 0; i < 30; i++) {
        s_make(i, &x);
        const char *outsider = "sdf-norrmalm";
        cr_assert_eq(audit_proof(s_audit, outsider, NULL, i, 0, &reply, &err),
                     REMISS_E_POLICY_DENIED);
        cr_assert_null(reply.tree_head);
        cr_assert_eq(reply.leaf_entry.len, 0);
        if (s_is_intake(i)) {
            cr_assert_eq(audit_proof(s_audit, outsider, x.id, 0, 0, &reply, &err),
                         REMISS_E_POLICY_DENIED);
            /* Another party of the federation, too. */
            const char *third = s_parties[(i / 3 + 2) % 5];
            cr_assert_eq(audit_proof(s_audit, third, x.id, 0, 0, &reply, &err),
                         REMISS_E_POLICY_DENIED);
        }
    }
    /* Unknown message and unknown index get the very same answer. */
    remiss_err_t err2;
    s_make(0, &x);
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, unknown, 0, 0, &reply, &err),
                 REMISS_E_POLICY_DENIED);
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 5000, 0, &reply, &err2),
                 REMISS_E_POLICY_DENIED);
    cr_assert_str_eq(err.text, err2.text);
    cr_assert_eq(audit_proof(s_audit, NULL, x.id, 0, 0, &reply, &err), REMISS_E_USAGE);
}

Test(audit, damaged_proofs_are_rejected)
{
    Remiss__ProofReply reply, bad;
    ProtobufCBinaryData path[MERKLE_MAX_PROOF + 1];
    uint8_t hashes[MERKLE_MAX_PROOF + 1][HL] = {{0}};
    remiss_err_t err;
    s_ev_t x;

    s_fill(0, 77, 0, true);
    s_make(40, &x);
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 40, 0, &reply, &err), REMISS_OK);
    cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_OK);
    cr_assert_geq(reply.n_inclusion_path, 6);

    /* Each byte of the entry, each path hash, each signature byte. */
    for (size_t i = 0; i < reply.leaf_entry.len; i++) {
        reply.leaf_entry.data[i] ^= 0x01;
        cr_assert_neq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_OK);
        reply.leaf_entry.data[i] ^= 0x01;
    }
    for (size_t i = 0; i < reply.n_inclusion_path; i++) {
        reply.inclusion_path[i].data[7] ^= 0x10;
        cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
        reply.inclusion_path[i].data[7] ^= 0x10;
    }
    for (size_t i = 0; i < reply.tree_head->signature.len; i++) {
        reply.tree_head->signature.data[i] ^= 0x04;
        cr_assert_neq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_OK);
        reply.tree_head->signature.data[i] ^= 0x04;
    }
    for (size_t i = 0; i < reply.tree_head->tree_head.len; i++) {
        reply.tree_head->tree_head.data[i] ^= 0x02;
        cr_assert_eq(audit_verify_proof(&reply, s_pub, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
        reply.tree_head->tree_head.data[i] ^= 0x02;
    }
    /* Wrong index, short path, long path, wrong hash size, huge entry. */
    bad = reply;
    bad.leaf_index = 41;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
    bad.leaf_index = 77;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
    bad = reply;
    bad.n_inclusion_path--;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
    for (size_t i = 0; i <= MERKLE_MAX_PROOF; i++)
        path[i] = (ProtobufCBinaryData){HL, hashes[i]};
    bad.inclusion_path = path;
    bad.n_inclusion_path = MERKLE_MAX_PROOF + 1;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_MALFORMED);
    bad.n_inclusion_path = reply.n_inclusion_path;
    for (size_t i = 0; i < bad.n_inclusion_path; i++)
        memcpy(hashes[i], reply.inclusion_path[i].data, HL);
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_OK);
    path[2].len = HL - 1;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_MALFORMED);
    bad = reply;
    bad.leaf_entry.len = AUDIT_ENTRY_MAX + 1;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_MALFORMED);
    bad = reply;
    bad.tree_head = NULL;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_MALFORMED);
    bad = reply;
    bad.code = REMISS__REASON_CODE__E_POLICY_DENIED;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_POLICY_DENIED);
    bad.code = (Remiss__ReasonCode)77;
    cr_assert_eq(audit_verify_proof(&bad, s_pub, NULL, NULL, &err), REMISS_E_MALFORMED);
    /* Another broker's key. */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    cr_assert_eq(audit_verify_proof(&reply, other, NULL, NULL, &err), REMISS_E_BAD_SIGNATURE);
    EVP_PKEY_free(other);
    audit_proof_clear(&reply);
}

Test(audit, random_damage_to_a_packed_proof_never_verifies_as_something_else)
{
    Remiss__ProofReply reply;
    remiss_err_t err;
    uint8_t buf[8192], mutated[8192];
    unsigned seed = 20261101;
    s_ev_t x;

    s_fill(0, 50, 0, true);
    s_make(21, &x);
    cr_assert_eq(audit_proof(s_audit, x.ev.sender, NULL, 21, 13, &reply, &err), REMISS_OK);
    size_t len = remiss__proof_reply__get_packed_size(&reply);
    cr_assert_leq(len, sizeof buf);
    remiss__proof_reply__pack(&reply, buf);
    for (int round = 0; round < 2000; round++) {
        size_t n = len;
        memcpy(mutated, buf, len);
        if (round % 4 == 0) {
            n = (size_t)rand_r(&seed) % len; /* truncated */
        } else {
            for (int k = 0; k <= round % 3; k++)
                mutated[(size_t)rand_r(&seed) % len] ^= (uint8_t)(1 + rand_r(&seed) % 255);
        }
        Remiss__ProofReply *m = remiss__proof_reply__unpack(NULL, n, mutated);
        if (m == NULL)
            continue;
        if (audit_verify_proof(m, s_pub, NULL, NULL, &err) == REMISS_OK) {
            /* Only a change the proof does not cover may pass (none here
             * but an identical re-encoding). */
            cr_assert_eq(m->leaf_index, reply.leaf_index);
            cr_assert_eq(m->leaf_entry.len, reply.leaf_entry.len);
            cr_assert_arr_eq(m->leaf_entry.data, reply.leaf_entry.data, m->leaf_entry.len);
            cr_assert_eq(m->tree_head->tree_head.len, reply.tree_head->tree_head.len);
            cr_assert_arr_eq(m->tree_head->tree_head.data, reply.tree_head->tree_head.data,
                             m->tree_head->tree_head.len);
        }
        remiss__proof_reply__free_unpacked(m, NULL);
    }
    audit_proof_clear(&reply);
}

Test(audit, tree_head_and_entry_decoders_refuse_bad_bytes)
{
    audit_tree_head_t th;
    remiss_err_t err;
    uint8_t junk[AUDIT_STH_MAX + 1];
    unsigned seed = 7;

    memset(junk, 0x0a, sizeof junk);
    cr_assert_eq(audit_verify_tree_head_bytes(junk, sizeof junk, s_pub, &th, &err),
                 REMISS_E_TOO_LARGE);
    cr_assert_eq(audit_verify_tree_head_bytes(NULL, 0, s_pub, &th, &err), REMISS_E_MALFORMED);
    cr_assert_eq(audit_verify_tree_head_bytes(NULL, 3, s_pub, &th, &err), REMISS_E_USAGE);
    cr_assert_null(audit_entry_decode(NULL, 0));
    cr_assert_null(audit_entry_decode(junk, 0));
    for (int round = 0; round < 5000; round++) {
        size_t n = 1 + (size_t)rand_r(&seed) % 200;
        for (size_t i = 0; i < n; i++)
            junk[i] = (uint8_t)rand_r(&seed);
        cr_assert_neq(audit_verify_tree_head_bytes(junk, n, s_pub, &th, &err), REMISS_OK);
        Remiss__AuditEntry *e = audit_entry_decode(junk, n);
        if (e != NULL)
            remiss__audit_entry__free_unpacked(e, NULL);
    }
}

/* ---------------------------------------------------------------- pseudonyms */

Test(audit, pseudonym_is_deterministic_per_key_and_differs_across_keys)
{
    uint8_t a[32], b[32], c[32], other_key[32];
    remiss_err_t err;

    cr_assert(audit_pseudonym(s_audit, s_subjects[0], a));
    cr_assert(audit_pseudonym(s_audit, s_subjects[0], b));
    cr_assert_arr_eq(a, b, 32);
    cr_assert(audit_pseudonym_key(s_secret, s_subjects[0], c));
    cr_assert_arr_eq(a, c, 32);
    cr_assert(audit_pseudonym(s_audit, s_subjects[1], b));
    cr_assert_arr_neq(a, b, 32);
    memcpy(other_key, s_secret, 32);
    other_key[31] ^= 1;
    cr_assert(audit_pseudonym_key(other_key, s_subjects[0], c));
    cr_assert_arr_neq(a, c, 32);
    /* A second log with another key gives other pseudonyms. */
    audit_t *second = audit_open(s_store, s_key, other_key, &err);
    cr_assert_not_null(second, "%s", err.text);
    cr_assert(audit_pseudonym(second, s_subjects[0], b));
    cr_assert_arr_eq(b, c, 32);
    audit_close(&second);
    cr_assert_null(second);
    cr_assert_not(audit_pseudonym(s_audit, "20060115-2382", a));
    cr_assert_not(audit_pseudonym(s_audit, "2006011523821", a));
    cr_assert_not(audit_pseudonym_key(s_secret, "060115238", a));
}

Test(audit, entries_about_a_subject_are_found_by_pseudonym)
{
    uint64_t found[N_MAX];
    uint8_t p[32];
    size_t n = 0;
    remiss_err_t err;
    s_ev_t x;

    s_fill(0, 90, 0, false);
    for (size_t k = 0; k < 4; k++) {
        cr_assert(audit_pseudonym(s_audit, s_subjects[k], p));
        cr_assert_eq(store_audit_find(s_store, p, NULL, found, N_MAX, &n, &err), REMISS_OK);
        size_t want = 0;
        for (uint64_t i = 0; i < 90; i++) {
            s_make(i, &x);
            if (x.ev.subject && strcmp(x.ev.subject, s_subjects[k]) == 0) {
                cr_assert_lt(want, n);
                cr_assert_eq(found[want], i);
                want++;
            }
        }
        cr_assert_eq(n, want);
    }
}

Test(audit, secret_file_must_be_private_and_hex)
{
    char path[256];
    uint8_t key[32];
    remiss_err_t err;
    FILE *f;

    snprintf(path, sizeof path, "%s/s.secret", s_dir);
    cr_assert_not_null(f = fopen(path, "w"));
    fprintf(f, "%064x\n", 0);
    fclose(f);
    chmod(path, 0644);
    cr_assert_eq(audit_secret_load(path, key, &err), REMISS_E_CONFIG);
    cr_assert(strstr(err.text, "chmod 600") != NULL);
    chmod(path, 0600);
    cr_assert_eq(audit_secret_load(path, key, &err), REMISS_OK, "%s", err.text);
    cr_assert_not_null(f = fopen(path, "w"));
    fprintf(f, "%063x\n", 0);
    fclose(f);
    cr_assert_eq(audit_secret_load(path, key, &err), REMISS_E_CONFIG);
    cr_assert_not_null(f = fopen(path, "w"));
    fprintf(f, "%063xg", 0);
    fclose(f);
    cr_assert_eq(audit_secret_load(path, key, &err), REMISS_E_CONFIG);
    snprintf(path, sizeof path, "%s/none.secret", s_dir);
    cr_assert_eq(audit_secret_load(path, key, &err), REMISS_E_CONFIG);
}

/* ---------------------------------------------------------------- tampering */

/* The attacker: a plain sqlite3 connection to the database file. */
static sqlite3 *
s_raw(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(s_db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void
s_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg ? msg : "");
}

/* Reads a blob cell into buf; returns its length. */
static size_t
s_blob(sqlite3 *db, const char *sql, uint8_t *buf, size_t cap)
{
    sqlite3_stmt *st;
    size_t n;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    n = (size_t)sqlite3_column_bytes(st, 0);
    cr_assert_leq(n, cap);
    memcpy(buf, sqlite3_column_blob(st, 0), n);
    sqlite3_finalize(st);
    return n;
}

static void
s_set_blob(sqlite3 *db, const char *sql, const uint8_t *buf, size_t n)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sql);
    sqlite3_bind_blob(st, 1, buf, (int)n, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sql);
    cr_assert_eq(sqlite3_changes(db), 1, "%s", sql);
    sqlite3_finalize(st);
}

/* The standard log of the tamper tests: 150 entries, heads at 40, 80, 120
 * and 150. */
static void
s_tamper_log(void)
{
    uint64_t entries = 0, heads = 0, bad = 0;
    remiss_err_t err;
    s_fill(0, N_LOG, 40, true);
    cr_assert_eq(audit_verify_store(s_store, s_pub, &entries, &heads, &bad, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(entries, N_LOG);
    cr_assert_eq(heads, 4);
}

static void
s_expect_bad(uint64_t want, const char *reason)
{
    uint64_t entries = 0, heads = 0, bad = 0;
    remiss_err_t err;
    cr_assert_eq(audit_verify_store(s_store, s_pub, &entries, &heads, &bad, &err),
                 REMISS_E_BAD_SIGNATURE, "tampering (%s) went unnoticed", reason);
    cr_assert_eq(bad, want, "%s: first bad index %llu, wanted %llu (%s)", reason,
                 (unsigned long long)bad, (unsigned long long)want, err.text);
}

static void
s_expect_ok(void)
{
    uint64_t entries = 0, heads = 0, bad = 0;
    remiss_err_t err;
    cr_assert_eq(audit_verify_store(s_store, s_pub, &entries, &heads, &bad, &err), REMISS_OK, "%s",
                 err.text);
}

Test(audit, verify_store_accepts_an_untouched_log)
{
    uint64_t entries = 0, heads = 0, bad = 0;
    remiss_err_t err;

    /* Empty first. */
    cr_assert_eq(audit_verify_store(s_store, s_pub, &entries, &heads, &bad, &err), REMISS_OK);
    cr_assert_eq(entries, 0);
    cr_assert_eq(heads, 0);
    s_tamper_log();
    /* With another broker's key nothing verifies, from the first head on. */
    EVP_PKEY *other = EVP_EC_gen("P-256");
    cr_assert_eq(audit_verify_store(s_store, other, &entries, &heads, &bad, &err),
                 REMISS_E_BAD_SIGNATURE);
    cr_assert_eq(bad, 0);
    EVP_PKEY_free(other);
}

Test(audit, tamper_changed_byte_of_an_entry)
{
    uint8_t entry[AUDIT_ENTRY_MAX];
    sqlite3 *db;
    size_t n;

    s_tamper_log();
    db = s_raw();
    n = s_blob(db, "SELECT entry FROM audit WHERE idx = 57", entry, sizeof entry);
    /* Every byte position: in the index, a string, a hash, a length. */
    for (size_t i = 0; i < n; i++) {
        entry[i] ^= 0x20;
        s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 57", entry, n);
        s_expect_bad(57, "one byte of entry 57");
        entry[i] ^= 0x20;
    }
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 57", entry, n);
    s_expect_ok();
    /* An entry in the tail no head covers yet is caught by its leaf node. */
    n = s_blob(db, "SELECT entry FROM audit WHERE idx = 149", entry, sizeof entry);
    entry[n - 1] ^= 1;
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 149", entry, n);
    s_expect_bad(149, "last entry");
    sqlite3_close(db);
}

Test(audit, tamper_deleted_entry)
{
    sqlite3 *db;
    s_tamper_log();
    db = s_raw();
    s_exec(db, "DELETE FROM audit WHERE idx = 90");
    s_expect_bad(90, "entry 90 deleted");
    s_exec(db, "DELETE FROM audit WHERE idx = 0");
    s_expect_bad(0, "entries 0 and 90 deleted");
    sqlite3_close(db);
}

Test(audit, tamper_deleted_and_renumbered_entries)
{
    sqlite3 *db;
    s_tamper_log();
    db = s_raw();
    /* Close the gap by moving the rows down: their bytes name the old index. */
    s_exec(db, "DELETE FROM audit WHERE idx = 90");
    s_exec(db, "UPDATE audit SET idx = idx - 1 WHERE idx > 90");
    s_expect_bad(90, "entry 90 deleted and the rest renumbered");
    sqlite3_close(db);
}

Test(audit, tamper_swapped_entries)
{
    uint8_t a[AUDIT_ENTRY_MAX], b[AUDIT_ENTRY_MAX];
    sqlite3 *db;
    size_t na, nb;

    s_tamper_log();
    db = s_raw();
    na = s_blob(db, "SELECT entry FROM audit WHERE idx = 30", a, sizeof a);
    nb = s_blob(db, "SELECT entry FROM audit WHERE idx = 31", b, sizeof b);
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 30", b, nb);
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 31", a, na);
    s_expect_bad(30, "entries 30 and 31 swapped");
    /* Swapped by their keys instead of their bytes, far apart. */
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 30", a, na);
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 31", b, nb);
    s_expect_ok();
    s_exec(db, "UPDATE audit SET idx = -1 WHERE idx = 12");
    s_exec(db, "UPDATE audit SET idx = 12 WHERE idx = 130");
    s_exec(db, "UPDATE audit SET idx = 130 WHERE idx = -1");
    s_expect_bad(12, "entries 12 and 130 swapped");
    sqlite3_close(db);
}

Test(audit, tamper_truncated_below_the_last_signed_head)
{
    remiss_err_t err;
    sqlite3 *db;

    s_tamper_log();
    db = s_raw();
    s_exec(db, "DELETE FROM audit WHERE idx >= 100");
    s_expect_bad(100, "truncated to 100, nodes left");
    /* A careful attacker removes the nodes too: the heads still tell. */
    s_exec(db, "DELETE FROM audit_nodes WHERE ((idx + 1) << level) > 100");
    s_expect_bad(100, "truncated to 100 with its nodes");
    /* The broker refuses to extend such a log. */
    cr_assert_eq(audit_reload(s_audit, &err), REMISS_E_STORAGE);
    cr_assert(strstr(err.text, "signed tree head") != NULL, "%s", err.text);
    audit_t *again = audit_open(s_store, s_key, s_secret, &err);
    cr_assert_null(again);
    /* Truncating the heads as well leaves heads 40 and 80, both good. */
    s_exec(db, "DELETE FROM tree_heads WHERE tree_size > 100");
    s_expect_ok();
    sqlite3_close(db);
}

Test(audit, tamper_altered_tree_head_signature)
{
    uint8_t sth[AUDIT_STH_MAX];
    sqlite3 *db;
    size_t n;

    s_tamper_log();
    db = s_raw();
    n = s_blob(db, "SELECT sth FROM tree_heads WHERE tree_size = 80", sth, sizeof sth);
    /* The signature is the last field: its last byte. */
    sth[n - 1] ^= 0x01;
    s_set_blob(db, "UPDATE tree_heads SET sth = ?1 WHERE tree_size = 80", sth, n);
    s_expect_bad(40, "signature of head 80 (first covering entries 40..79)");
    sth[n - 1] ^= 0x01;
    s_set_blob(db, "UPDATE tree_heads SET sth = ?1 WHERE tree_size = 80", sth, n);
    s_expect_ok();
    n = s_blob(db, "SELECT sth FROM tree_heads WHERE tree_size = 40", sth, sizeof sth);
    sth[n - 5] ^= 0x40;
    s_set_blob(db, "UPDATE tree_heads SET sth = ?1 WHERE tree_size = 40", sth, n);
    s_expect_bad(0, "signature of head 40");
    sqlite3_close(db);
}

Test(audit, tamper_head_moved_to_another_size)
{
    sqlite3 *db;
    s_tamper_log();
    db = s_raw();
    s_exec(db, "UPDATE tree_heads SET tree_size = 130 WHERE tree_size = 120");
    s_expect_bad(80, "head of 120 stored as 130");
    sqlite3_close(db);
}

/* Flips one bit of stored node level/index, checks, and restores it. */
static void
s_flip_node(sqlite3 *db, unsigned level, uint64_t index, uint64_t want)
{
    char get[128], set[128], what[64];
    uint8_t h[HL];

    snprintf(get, sizeof get, "SELECT hash FROM audit_nodes WHERE level = %u AND idx = %llu", level,
             (unsigned long long)index);
    snprintf(set, sizeof set, "UPDATE audit_nodes SET hash = ?1 WHERE level = %u AND idx = %llu",
             level, (unsigned long long)index);
    snprintf(what, sizeof what, "node %u/%llu", level, (unsigned long long)index);
    s_blob(db, get, h, sizeof h);
    h[index % HL] ^= 1;
    s_set_blob(db, set, h, HL);
    s_expect_bad(want, what);
    h[index % HL] ^= 1;
    s_set_blob(db, set, h, HL);
    s_expect_ok();
}

Test(audit, tamper_altered_stored_node)
{
    sqlite3 *db;

    s_tamper_log();
    db = s_raw();
    /* A node stands for the leaves under it: the first of them is bad. */
    s_flip_node(db, 0, 70, 70);
    s_flip_node(db, 0, 149, 149);
    s_flip_node(db, 1, 10, 20);
    s_flip_node(db, 3, 5, 40);
    s_flip_node(db, 4, 8, 128);
    s_flip_node(db, 7, 0, 0);
    s_exec(db, "DELETE FROM audit_nodes WHERE level = 2 AND idx = 9");
    s_expect_bad(36, "node 2/9 deleted");
    sqlite3_close(db);
}

Test(audit, a_schema_1_store_is_migrated_and_its_log_still_verifies)
{
    sqlite3 *db;
    uint8_t before[HL], after[HL];
    remiss_err_t err;

    s_tamper_log();
    s_close();
    /* Schema 1 kept the nodes in a table keyed by (level, idx). */
    db = s_raw();
    s_blob(db, "SELECT hash FROM audit_nodes WHERE level = 3 AND idx = 5", before, HL);
    s_exec(db, "BEGIN;"
               "CREATE TABLE v1(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
               " PRIMARY KEY(level, idx)) WITHOUT ROWID;"
               "INSERT INTO v1 SELECT level, idx, hash FROM audit_nodes;"
               "DROP TABLE audit_nodes; ALTER TABLE v1 RENAME TO audit_nodes;"
               "UPDATE meta SET value = '1' WHERE key = 'schema_version'; COMMIT;");
    sqlite3_close(db);

    s_open();
    s_expect_ok();
    cr_assert_eq(audit_size(s_audit), N_LOG);
    db = s_raw();
    s_blob(db, "SELECT hash FROM audit_nodes WHERE level = 3 AND idx = 5", after, HL);
    cr_assert_arr_eq(before, after, HL);
    s_blob(db, "SELECT value FROM meta WHERE key = 'schema_version'", after, HL);
    cr_assert_eq(after[0], '2');
    /* Every node sits at its creation position: dense from 0, and the first
     * ones as the frontier makes them (leaf 0, leaf 1, their parent, ...). */
    static const struct {
        int level, idx, pos;
    } first[] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 2}, {0, 2, 3},
                 {0, 3, 4}, {1, 1, 5}, {2, 0, 6}, {0, 4, 7}};
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT min(pos), max(pos), count(*) FROM audit_nodes", -1,
                                    &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 0);
    cr_assert_eq(sqlite3_column_int(st, 1), sqlite3_column_int(st, 2) - 1);
    sqlite3_finalize(st);
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
        cr_assert_eq(sqlite3_prepare_v2(db,
                                        "SELECT pos FROM audit_nodes WHERE level = ?1 AND idx = ?2",
                                        -1, &st, NULL),
                     SQLITE_OK);
        sqlite3_bind_int(st, 1, first[i].level);
        sqlite3_bind_int(st, 2, first[i].idx);
        cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
        cr_assert_eq(sqlite3_column_int(st, 0), first[i].pos, "node %d/%d", first[i].level,
                     first[i].idx);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    /* And the log grows on from there. */
    s_fill(N_LOG, N_LOG + 20, 0, true);
    s_expect_ok();
    cr_assert_eq(audit_reload(s_audit, &err), REMISS_OK, "%s", err.text);
}

/* emit callback: the attacker rewrites every node to match changed entries. */
static remiss_code_t
s_forge_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[HL])
{
    sqlite3_stmt *st;
    cr_assert_eq(
        sqlite3_prepare_v2(ctx, "UPDATE audit_nodes SET hash = ?3 WHERE level = ?1 AND idx = ?2",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int(st, 1, (int)level);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
    sqlite3_bind_blob(st, 3, hash, HL, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    cr_assert_eq(sqlite3_changes(ctx), 1, "node %u/%llu exists", level, (unsigned long long)index);
    sqlite3_finalize(st);
    return REMISS_OK;
}

Test(audit, tamper_entry_rewritten_with_every_node)
{
    Remiss__AuditEntry *e;
    uint8_t buf[AUDIT_ENTRY_MAX], leaf[HL];
    merkle_frontier_t f;
    sqlite3 *db;
    size_t n;

    s_tamper_log();
    /* Entry 100 now says the message went elsewhere; it keeps its index, so
     * only the signed heads can tell. */
    e = s_entry(100);
    char *recipient = e->recipient;
    e->recipient = (char *)"sdf-norrmalm";
    n = remiss__audit_entry__pack(e, buf);
    e->recipient = recipient;
    remiss__audit_entry__free_unpacked(e, NULL);
    db = s_raw();
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 100", buf, n);
    s_expect_bad(100, "entry 100 against its leaf node");
    merkle_frontier_init(&f);
    for (uint64_t i = 0; i < N_LOG; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT entry FROM audit WHERE idx = %llu",
                 (unsigned long long)i);
        n = s_blob(db, sql, buf, sizeof buf);
        cr_assert_eq(merkle_leaf_hash(buf, n, leaf), REMISS_OK);
        cr_assert_eq(merkle_frontier_append(&f, leaf, s_forge_node, db), REMISS_OK);
    }
    /* Heads 40 and 80 still hold; 120 was the first to cover entry 100. */
    s_expect_bad(80, "entry 100 and all nodes rewritten");
    sqlite3_close(db);
}

/* ---------------------------------------------------------------- transactions */

Test(audit, savepoint_rollback_keeps_frontier_and_store_consistent)
{
    static uint8_t lh[N_MAX][HL];
    uint8_t want[HL];
    remiss_err_t err;
    audit_mark_t mark;

    s_fill(0, 13, 0, true);
    cr_assert_eq(store_begin(s_store, &err), REMISS_OK);
    for (int round = 0; round < 5; round++) {
        uint64_t base = audit_size(s_audit);
        /* One message that works, one that fails after three entries and
         * a tree head. */
        mark = audit_mark(s_audit);
        cr_assert_eq(store_savepoint(s_store, &err), REMISS_OK);
        s_append(base);
        store_release(s_store);
        mark = audit_mark(s_audit);
        cr_assert_eq(mark.size, base + 1);
        cr_assert_eq(store_savepoint(s_store, &err), REMISS_OK);
        s_append(base + 1);
        s_append(base + 2);
        cr_assert_eq(audit_sign_head(s_audit, true, 0, 0, &err), REMISS_OK);
        s_append(base + 3);
        store_rollback_to(s_store);
        audit_rollback_to(s_audit, mark);
        cr_assert_eq(audit_size(s_audit), base + 1);
    }
    cr_assert_eq(store_commit(s_store, &err), REMISS_OK, "%s", err.text);
    s_fill(audit_size(s_audit), audit_size(s_audit) + 7, 0, true);
    uint64_t n = audit_size(s_audit);
    cr_assert_eq(n, 13 + 5 + 7);
    s_expect_ok();
    s_leaves(n, lh);
    s_mth(lh, n, want);
    audit_tree_head_t th = s_latest_head();
    cr_assert_eq(th.size, n);
    cr_assert_arr_eq(th.root, want, HL);
    /* A fresh open reads the same frontier the running log holds. */
    audit_t *again = audit_open(s_store, s_key, s_secret, &err);
    cr_assert_not_null(again, "%s", err.text);
    cr_assert_eq(audit_size(again), n);
    audit_close(&again);
}

Test(audit, failed_transaction_then_reload)
{
    remiss_err_t err;

    s_fill(0, 9, 0, true);
    cr_assert_eq(store_begin(s_store, &err), REMISS_OK);
    for (uint64_t i = 9; i < 20; i++)
        s_append(i);
    cr_assert_eq(audit_sign_head(s_audit, true, 0, 0, &err), REMISS_OK);
    store_rollback(s_store);
    cr_assert_eq(audit_reload(s_audit, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(audit_size(s_audit), 9);
    s_fill(9, 12, 0, true);
    cr_assert_eq(s_latest_head().size, 12);
    s_expect_ok();
}

Test(audit, verify_reads_one_snapshot_while_the_broker_writes)
{
    remiss_err_t err;
    uint64_t size = 0, entries = 0, heads = 0, bad = 0;
    bool started = false;

    s_fill(0, 20, 0, true);
    /* remissctl's own connection, as `audit verify` opens it. */
    store_t *ctl = store_open(s_db, &err);
    cr_assert_not_null(ctl, "%s", err.text);
    cr_assert_eq(store_begin_read(ctl, &started, &err), REMISS_OK, "%s", err.text);
    cr_assert(started);
    cr_assert_eq(store_audit_size(ctl, &size, &err), REMISS_OK);
    cr_assert_eq(size, 20);
    s_fill(20, 30, 0, true);
    cr_assert_eq(store_audit_size(ctl, &size, &err), REMISS_OK);
    cr_assert_eq(size, 20, "the snapshot does not move");
    /* Inside a transaction verify uses it and leaves it open. */
    cr_assert_eq(audit_verify_store(ctl, s_pub, &entries, &heads, &bad, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(entries, 20);
    cr_assert_eq(heads, 1);
    store_rollback(ctl);
    cr_assert_eq(audit_verify_store(ctl, s_pub, &entries, &heads, &bad, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(entries, 30);
    cr_assert_eq(heads, 2);
    store_close(&ctl);
}

/* ---------------------------------------------------------------- privacy */

static uint8_t *
s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    *len = 0;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    cr_assert_geq(n, 0);
    cr_assert_not_null(buf = malloc((size_t)n + 1));
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void
s_assert_no_person(const uint8_t *bytes, size_t len, const char *where)
{
    for (size_t k = 0; k < sizeof s_subjects / sizeof s_subjects[0]; k++) {
        cr_assert_null(memmem(bytes, len, s_subjects[k], 12), "%s holds a personnummer", where);
        /* The 10-digit form, without the century. */
        cr_assert_null(memmem(bytes, len, s_subjects[k] + 2, 10), "%s holds a personnummer", where);
    }
    for (size_t k = 0; k < sizeof s_written / sizeof s_written[0]; k++)
        cr_assert_null(memmem(bytes, len, s_written[k], strlen(s_written[k])), "%s holds %s", where,
                       s_written[k]);
}

/* Two nodes append to one log on PostgreSQL, taking turns. The one whose
 * turn it is reads the tree's frontier again, all its nodes in one round
 * trip (they cost one each before: 2 to 5 here, more as the log grows),
 * and the log the two wrote verifies: the tree did not fork. */
Test(audit, two_nodes_on_postgresql_take_turns_and_catch_up_in_one_read, .timeout = 120)
{
    pgtest_t server;
    remiss_err_t err;
    store_t *st[2];
    audit_t *log[2];
    uint64_t entries = 0, heads = 0, bad = UINT64_MAX;
    pgtest_start(&server);
    for (int k = 0; k < 2; k++) {
        cr_assert_not_null(st[k] = store_open(server.uri, &err), "%s", err.text);
        cr_assert_not_null(log[k] = audit_open(st[k], s_key, s_secret, &err), "%s", err.text);
    }
    for (uint64_t i = 0; i < 40; i++) {
        int k = (int)(i / 4 % 2); /* four entries each in turn */
        s_ev_t x;
        uint64_t index = UINT64_MAX;
        store_stats_t a, b;
        s_make(i, &x);
        cr_assert_eq(store_begin(st[k], &err), REMISS_OK, "%s", err.text);
        store_stats(st[k], &a);
        cr_assert_eq(audit_append(log[k], &x.ev, &index, &err), REMISS_OK, "%s", err.text);
        store_stats(st[k], &b);
        cr_assert_eq(index, i, "one index for two entries: the tree forked");
        /* The turn's first append: the lock (with the log's size), the
         * frontier, the latest head. */
        if (i >= 4 && i % 4 == 0)
            cr_assert_eq(b.round_trips - a.round_trips, 3,
                         "%llu round trips to catch up with a log of %llu entries",
                         (unsigned long long)(b.round_trips - a.round_trips),
                         (unsigned long long)i);
        cr_assert_eq(audit_sign_head(log[k], false, 0, 8, &err), REMISS_OK, "%s", err.text);
        cr_assert_eq(store_commit(st[k], &err), REMISS_OK, "%s", err.text);
    }
    cr_assert_eq(audit_verify_store(st[0], s_pub, &entries, &heads, &bad, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert_eq(entries, 40);
    cr_assert_gt(heads, 0);
    for (int k = 0; k < 2; k++) {
        audit_close(&log[k]);
        store_close(&st[k]);
    }
    pgtest_stop(&server);
}

Test(audit, no_personnummer_or_name_in_the_database_file)
{
    char wal[160];
    size_t len = 0;
    uint8_t *bytes;

    s_fill(0, N_LOG, 40, true);
    /* Also what is still in the WAL before the checkpoint at close. */
    snprintf(wal, sizeof wal, "%s-wal", s_db);
    bytes = s_read_file(wal, &len);
    if (bytes != NULL)
        s_assert_no_person(bytes, len, "the WAL");
    free(bytes);
    s_close();
    cr_assert_not_null(bytes = s_read_file(s_db, &len));
    cr_assert_gt(len, 4096);
    /* The scan does see what is there. */
    cr_assert_not_null(memmem(bytes, len, "sdf-rinkeby-kista", 17));
    s_assert_no_person(bytes, len, "the database");
    free(bytes);
    s_open();
}

/* ---------------------------------------------------------------- remissctl audit */

/* Runs ctl_audit_main on the NULL-terminated arguments, capturing stdout
 * and stderr into malloc'd strings. */
static int
s_ctl(char **out, char **errs, ...)
{
    char *argv[16];
    int argc = 0, rc, saved_out, saved_err;
    FILE *fo = tmpfile(), *fe = tmpfile();
    va_list ap;
    size_t n;

    va_start(ap, errs);
    while (argc < 15 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    cr_assert(fo && fe);
    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    rc = ctl_audit_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    rewind(fo);
    rewind(fe);
    *out = calloc(1, 1 << 20);
    *errs = calloc(1, 1 << 16);
    n = fread(*out, 1, (1 << 20) - 1, fo);
    (*out)[n] = '\0';
    n = fread(*errs, 1, (1 << 16) - 1, fe);
    (*errs)[n] = '\0';
    fclose(fo);
    fclose(fe);
    return rc;
}

Test(audit, ctl_verify)
{
    uint8_t entry[AUDIT_ENTRY_MAX];
    char *out, *err;
    sqlite3 *db;
    size_t n;

    s_tamper_log();
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", s_db, "--pki", s_pki, NULL), 0, "%s", err);
    cr_assert_str_eq(out, "OK: 150 entries, 4 signed tree heads\n");
    free(out);
    free(err);
    db = s_raw();
    n = s_blob(db, "SELECT entry FROM audit WHERE idx = 57", entry, sizeof entry);
    entry[n / 2] ^= 0x20;
    s_set_blob(db, "UPDATE audit SET entry = ?1 WHERE idx = 57", entry, n);
    sqlite3_close(db);
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", s_db, "--pki", s_pki, NULL), 1);
    cr_assert(strncmp(err, "error: E_BAD_SIGNATURE: first bad index 57: ", 44) == 0, "%s", err);
    cr_assert_str_eq(out, "");
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", "/nonexistent.db", "--pki", s_pki, NULL), 1);
    cr_assert(strncmp(err, "error: E_IO: ", 13) == 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", s_db, "--pki", s_dir, NULL), 1);
    cr_assert(strncmp(err, "error: E_CONFIG: ", 17) == 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", s_db, NULL), 2);
    cr_assert(strncmp(err, "error: E_USAGE: ", 16) == 0, "%s", err);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "frobnicate", NULL), 2);
    free(out);
    free(err);
}

/* Runs `audit verify` with stderr on a pseudo-terminal, as a person at a
 * terminal runs it (with --json if json); returns what the terminal got. */
static char *
s_verify_on_tty(bool json)
{
    char *argv[] = {"verify", "--db", s_db, "--pki", s_pki, json ? "--json" : NULL, NULL};
    int master, slave, saved;
    char *got = calloc(1, 1 << 16);
    size_t len = 0;
    ssize_t n;

    cr_assert_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    fflush(stderr);
    saved = dup(2);
    dup2(slave, 2);
    int rc = ctl_audit_main(json ? 6 : 5, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(slave);
    cr_assert_eq(rc, 0);
    /* The slave is closed: read what is buffered until EIO. */
    while (len < (1 << 16) - 1 && (n = read(master, got + len, (1 << 16) - 1 - len)) > 0)
        len += (size_t)n;
    close(master);
    return got;
}

Test(audit, ctl_verify_shows_progress_on_a_terminal_only)
{
    const uint64_t total = 2 * AUDIT_PROGRESS_EVERY + 100;
    char want[128], *out, *err, *tty;

    s_fill(0, total, 1000, true);
    tty = s_verify_on_tty(false);
    snprintf(want, sizeof want, "\rverifying: %d of %llu entries (49%%)", AUDIT_PROGRESS_EVERY,
             (unsigned long long)total);
    cr_expect_not_null(strstr(tty, want), "no progress on the terminal: \"%s\"", tty);
    snprintf(want, sizeof want, "\rverifying: %d of %llu entries (98%%)", 2 * AUDIT_PROGRESS_EVERY,
             (unsigned long long)total);
    cr_expect_not_null(strstr(tty, want), "\"%s\"", tty);
    cr_expect_not_null(strstr(tty, "\r\033[K"), "the progress line is not cleared");
    free(tty);
    tty = s_verify_on_tty(true);
    cr_expect_str_eq(tty, "", "progress with --json");
    free(tty);
    /* Not a terminal (a pipe, a file, cron): quiet. */
    cr_assert_eq(s_ctl(&out, &err, "verify", "--db", s_db, "--pki", s_pki, NULL), 0, "%s", err);
    cr_expect_str_eq(err, "");
    free(out);
    free(err);
}

Test(audit, ctl_subject_answers_an_access_request)
{
    char *out, *err;
    cJSON *doc;
    size_t want = 0;
    s_ev_t x;

    s_tamper_log();
    for (uint64_t i = 0; i < N_LOG; i++) {
        s_make(i, &x);
        want += x.ev.subject && strcmp(x.ev.subject, s_subjects[0]) == 0;
    }
    cr_assert_eq(
        s_ctl(&out, &err, "subject", "20060115-2382", "--db", s_db, "--pki", s_pki, "--json", NULL),
        0, "%s", err);
    cr_assert_not_null(doc = cJSON_Parse(out), "%s", out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "entries")), (int)want);
    cr_assert_eq(cJSON_GetObjectItem(doc, "count")->valuedouble, (double)want);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "entries"), 0);
    s_make(0, &x);
    cr_assert_str_eq(cJSON_GetObjectItem(first, "event")->valuestring, "accepted");
    cr_assert_str_eq(cJSON_GetObjectItem(first, "from")->valuestring, x.ev.sender);
    cr_assert_str_eq(cJSON_GetObjectItem(first, "to")->valuestring, x.ev.recipient);
    cr_assert_str_eq(cJSON_GetObjectItem(first, "type")->valuestring, "referral");
    cr_assert_str_eq(cJSON_GetObjectItem(first, "purpose")->valuestring, "anvisning");
    cr_assert_str_eq(cJSON_GetObjectItem(first, "code")->valuestring, "OK");
    cr_assert_str_eq(cJSON_GetObjectItem(first, "time")->valuestring, "2026-09-21T14:13:20.000Z");
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(first, "categories")));
    cJSON_Delete(doc);
    s_assert_no_person((const uint8_t *)out, strlen(out), "subject --json");
    free(out);
    free(err);
    /* The 10-digit way of writing the same person, as a table. */
    cr_assert_eq(s_ctl(&out, &err, "subject", "0601152382", "--db", s_db, "--pki", s_pki, NULL), 0,
                 "%s", err);
    cr_assert(strstr(out, "audit entries about this person") != NULL);
    cr_assert(strstr(out, "E_NO_CONSENT") != NULL || strstr(out, "OK") != NULL);
    s_assert_no_person((const uint8_t *)out, strlen(out), "subject");
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "subject", "20060115-2383", "--db", s_db, "--pki", s_pki, NULL),
                 1);
    cr_assert(strncmp(err, "error: E_INVALID_PERSONNUMMER: ", 31) == 0, "%s", err);
    cr_assert_null(strstr(err, "2383"), "errors never repeat the number");
    free(out);
    free(err);
    char secret[256];
    s_path(secret, sizeof secret, "broker.secret");
    chmod(secret, 0640);
    cr_assert_eq(s_ctl(&out, &err, "subject", "20060115-2382", "--db", s_db, "--pki", s_pki, NULL),
                 1);
    cr_assert(strncmp(err, "error: E_CONFIG: ", 17) == 0, "%s", err);
    free(out);
    free(err);
}

Test(audit, ctl_export_is_json_lines_without_personnummer)
{
    char *out, *err, *line, *save = NULL;
    uint64_t expect = 100;

    s_tamper_log();
    cr_assert_eq(s_ctl(&out, &err, "export", "--db", s_db, "--since", "100", NULL), 0, "%s", err);
    s_assert_no_person((const uint8_t *)out, strlen(out), "export");
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o, "%s", line);
        cr_assert_eq(cJSON_GetObjectItem(o, "index")->valuedouble, (double)expect);
        cr_assert_eq(strlen(cJSON_GetObjectItem(o, "subject_pseudonym")
                                ? cJSON_GetObjectItem(o, "subject_pseudonym")->valuestring
                                : "0000000000000000000000"
                                  "000000000000000000000"
                                  "000000000000000000000"),
                     64);
        cJSON_Delete(o);
        expect++;
    }
    cr_assert_eq(expect, N_LOG);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "export", "--db", s_db, "--since", "x1", NULL), 2);
    free(out);
    free(err);
}

Test(audit, ctl_proof_prints_and_verifies)
{
    char *out, *err;
    cJSON *doc;

    s_tamper_log();
    cr_assert_eq(s_ctl(&out, &err, "proof", "--db", s_db, "17", "--pki", s_pki, NULL), 0, "%s",
                 err);
    cr_assert(strstr(out, "entry 17 in the signed tree of 150 entries") != NULL, "%s", out);
    cr_assert(strstr(out, "verified") != NULL);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "proof", "--db", s_db, "149", "--pki", s_pki, "--json", NULL), 0,
                 "%s", err);
    cr_assert_not_null(doc = cJSON_Parse(out), "%s", out);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(doc, "verified")));
    cr_assert_eq(cJSON_GetObjectItem(doc, "tree_size")->valuedouble, 150);
    /* 150 = 128 + 16 + 4 + 2: leaf 149's path is 148, 144..147, 128..143, 0..127. */
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "inclusion_path")), 4);
    cJSON_Delete(doc);
    free(out);
    free(err);
    cr_assert_eq(s_ctl(&out, &err, "proof", "--db", s_db, "150", "--pki", s_pki, NULL), 1);
    cr_assert(strncmp(err, "error: E_USAGE: ", 16) == 0, "%s", err);
    free(out);
    free(err);
}

/* ---------------------------------------------------------------- cost */

static double
s_us(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

Test(audit, append_cost)
{
    static uint8_t envelope[1500];
    struct timespec t0, t1, t2;
    const uint64_t batches = 300, per = 64;
    double audit_us = 0, insert_us = 0;
    remiss_err_t err;

    /* As the broker works: a transaction per batch of messages. Each batch
     * also stores as many messages, so the audit cost reads against the
     * cost of storing a message on the same machine at the same moment.
     * Printed, not asserted: the benchmark judges. */
    for (uint64_t b = 0; b < batches; b++) {
        cr_assert_eq(store_begin(s_store, &err), REMISS_OK);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint64_t i = b * per; i < (b + 1) * per; i++)
            s_append(i);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        for (uint64_t i = b * per; i < (b + 1) * per; i++) {
            store_msg_t m = {.type = 1, .envelope = envelope, .envelope_len = sizeof envelope};
            memcpy(m.message_id, &i, sizeof i);
            strcpy(m.sender, "sdf-rinkeby-kista");
            strcpy(m.recipient, "jobbtorg");
            m.receipt = envelope;
            m.receipt_len = 200;
            cr_assert_eq(store_insert(s_store, &m, &err), REMISS_OK, "%s", err.text);
        }
        clock_gettime(CLOCK_MONOTONIC, &t2);
        cr_assert_eq(audit_sign_head(s_audit, false, 0, 1000, &err), REMISS_OK);
        cr_assert_eq(store_commit(s_store, &err), REMISS_OK);
        audit_us += s_us(&t0, &t1);
        insert_us += s_us(&t1, &t2);
    }
    fprintf(stderr, "audit_append: %.2f us per entry; store_insert of a message: %.2f us\n",
            audit_us / (double)(batches * per), insert_us / (double)(batches * per));
    s_expect_ok();
}
