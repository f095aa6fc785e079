/* test_note: C2SP signed notes, checkpoints and cosignatures, with the
 * vectors of the C2SP specifications and of Go's golang.org/x/mod/sumdb/note. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "note.h"

/* Go's sumdb/note test key and its signature (note_test.go, TestSign). */
static const char s_go_vkey[] =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
static const char s_go_seed[] = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
static const char s_go_text[] = "If you think cryptography is the answer to your problem,\n"
                                "then you don't know what your problem is.\n";
static const char s_go_line[] = "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcE"
                                "lZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/* The cosigned checkpoint of c2sp.org/tlog-cosignature. */
static const char s_spec_cosigned[] =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\xe2\x80\x94 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

static void
s_signer_from_seed(const char *b64, const char *name, uint8_t type, note_signer_t *s)
{
    uint8_t raw[40];
    size_t n, len = 32;
    cr_assert_eq(note_b64_decode(b64, strlen(b64), raw, sizeof raw, &n), REMISS_OK);
    cr_assert_eq(n, 33);
    memset(s, 0, sizeof *s);
    s->key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 1, 32);
    cr_assert_not_null(s->key);
    cr_assert_eq(EVP_PKEY_get_raw_public_key(s->key, s->pub.pub, &len), 1);
    snprintf(s->pub.name, sizeof s->pub.name, "%s", name);
    s->pub.type = type;
    s->pub.id = note_key_id(name, type, s->pub.pub);
}

static void
s_fresh_signer(const char *name, uint8_t type, note_signer_t *s)
{
    char path[] = "/tmp/remiss-note-XXXXXX";
    remiss_err_t err;
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unlink(path);
    cr_assert_eq(note_key_generate(path, &err), REMISS_OK, "%s", err.text);
    cr_assert_eq(note_signer_load(path, name, type, s, &err), REMISS_OK, "%s", err.text);
    unlink(path);
}

Test(note, go_vector_vkey_and_signature)
{
    note_verifier_t v;
    note_signer_t s;
    note_t n;
    char line[NOTE_LINE_MAX], vkey[NOTE_VKEY_MAX], msg[512];

    cr_assert_eq(note_vkey_parse(s_go_vkey, &v), REMISS_OK);
    cr_assert_eq(v.id, 0xc74f20a3);
    cr_assert_str_eq(v.name, "PeterNeumann");
    cr_assert(note_vkey_format(&v, vkey, sizeof vkey));
    cr_assert_str_eq(vkey, s_go_vkey);
    s_signer_from_seed(s_go_seed, "PeterNeumann", NOTE_TYPE_ED25519, &s);
    cr_assert_eq(memcmp(s.pub.pub, v.pub, 32), 0);
    cr_assert_eq(note_sign(&s, s_go_text, strlen(s_go_text), 0, line), REMISS_OK);
    cr_assert_str_eq(line, s_go_line);
    snprintf(msg, sizeof msg, "%s\n%s", s_go_text, line);
    cr_assert_eq(note_parse(msg, strlen(msg), &n), REMISS_OK);
    cr_assert(note_sig_verify(&n, &n.sigs[0], &v, NULL));
    note_signer_clear(&s);
}

Test(note, go_vector_bad_vkeys)
{
    note_verifier_t v;
    /* From Go's TestNewVerifier: wrong hash, wrong length, unknown type. */
    cr_assert_neq(note_vkey_parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                  "LDE4izWy10TW",
                                  &v),
                  REMISS_OK);
    cr_assert_neq(note_vkey_parse("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                  "LDE4izWy10TWBADKEY==",
                                  &v),
                  REMISS_OK);
    cr_assert_neq(note_vkey_parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                  "LDE4izWy10TW",
                                  &v),
                  REMISS_OK);
    cr_assert_neq(note_vkey_parse("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v),
                  REMISS_OK);
    cr_assert_neq(note_vkey_parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                                  "LDE4izWy10TW",
                                  &v),
                  REMISS_OK);
}

Test(note, spec_cosigned_checkpoint_parses_with_its_timestamp)
{
    note_t n;
    checkpoint_t c;
    uint64_t ts = 0;

    cr_assert_eq(note_parse(s_spec_cosigned, strlen(s_spec_cosigned), &n), REMISS_OK);
    cr_assert_eq(n.n_sigs, 2);
    cr_assert_str_eq(n.sigs[0].name, "example.com/behind-the-sofa");
    cr_assert_eq(n.sigs[0].sig_len, 64);
    cr_assert_str_eq(n.sigs[1].name, "witness.example.com/w1");
    cr_assert_eq(n.sigs[1].sig_len, 72);
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | n.sigs[1].sig[i];
    /* The spec's signed message says "time 1679315147". */
    cr_assert_eq(ts, 1679315147);
    cr_assert_eq(checkpoint_parse(n.text, n.text_len, &c), REMISS_OK);
    cr_assert_str_eq(c.origin, "example.com/behind-the-sofa");
    cr_assert_eq(c.size, 20852163);
    cr_assert_eq(c.n_extensions, 0);
}

Test(note, cosignature_round_trip_and_exact_message)
{
    note_signer_t log, wit;
    note_t n;
    uint8_t root[32];
    char text[512], line[NOTE_LINE_MAX], wline[NOTE_LINE_MAX], msg[2048];
    uint64_t ts = 0;
    bool ok[2];
    size_t n_ok, tl;

    memset(root, 0xab, sizeof root);
    s_fresh_signer("remiss.test/audit", NOTE_TYPE_ED25519, &log);
    s_fresh_signer("witness.test/w1", NOTE_TYPE_COSIG, &wit);
    cr_assert_gt(tl = checkpoint_format("remiss.test/audit", 42, root, text, sizeof text), 0);
    cr_assert_eq(note_sign(&log, text, tl, 0, line), REMISS_OK);
    cr_assert_eq(note_sign(&wit, text, tl, 1700000000, wline), REMISS_OK);
    snprintf(msg, sizeof msg, "%s\n%s%s", text, line, wline);
    cr_assert_eq(note_parse(msg, strlen(msg), &n), REMISS_OK);
    note_verifier_t v[2] = {log.pub, wit.pub};
    cr_assert_eq(note_verify(&n, v, 2, ok, &n_ok), REMISS_OK);
    cr_assert_eq(n_ok, 2);
    cr_assert(note_sig_verify(&n, &n.sigs[1], &wit.pub, &ts));
    cr_assert_eq(ts, 1700000000);
    /* The cosignature is over "cosignature/v1\ntime T\n" || text: check it
     * with plain OpenSSL over that exact message. */
    char m[1024];
    int ml = snprintf(m, sizeof m, "cosignature/v1\ntime 1700000000\n%s", text);
    EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, wit.pub.pub, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    cr_assert_eq(EVP_DigestVerifyInit(c, NULL, NULL, NULL, pub), 1);
    cr_assert_eq(EVP_DigestVerify(c, n.sigs[1].sig + 8, 64, (uint8_t *)m, (size_t)ml), 1);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(pub);
    /* A witness key is not a log key: same key, other type, other ID. */
    note_verifier_t as_log = wit.pub;
    as_log.type = NOTE_TYPE_ED25519;
    as_log.id = note_key_id(as_log.name, as_log.type, as_log.pub);
    cr_assert_eq(note_verify(&n, &as_log, 1, NULL, &n_ok), REMISS_OK);
    cr_assert_eq(n_ok, 0);
    /* A changed text fails every known key: the note is rejected. */
    n.text[n.text_len - 3] ^= 1;
    cr_assert_eq(note_verify(&n, v, 2, ok, &n_ok), REMISS_E_BAD_SIGNATURE);
    note_signer_clear(&log);
    note_signer_clear(&wit);
}

Test(note, key_file_is_0600_whatever_the_umask_and_never_overwritten)
{
    char path[] = "/tmp/remiss-note-XXXXXX";
    struct stat st;
    remiss_err_t err;
    note_signer_t s;
    int fd = mkstemp(path);
    close(fd);
    unlink(path);
    mode_t old = umask(0);
    cr_assert_eq(note_key_generate(path, &err), REMISS_OK);
    umask(old);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(note_key_generate(path, &err), REMISS_E_CONFIG);
    chmod(path, 0644);
    cr_assert_eq(note_signer_load(path, "x.test/k", NOTE_TYPE_COSIG, &s, &err), REMISS_E_CONFIG);
    unlink(path);
}

Test(note, malformed_notes_are_refused)
{
    note_t n;
    static const char *const bad[] = {
        "",
        "\n",
        "\n\n",
        "text\n",
        "text\n\n",                                  /* no signature */
        "text\n\n\xe2\x80\x94 k AAAAAAAA\n",         /* 6 bytes: fine length, see below */
        "text\n\n- k AAAAAAAAAA==\n",                /* not an em dash */
        "text\n\n\xe2\x80\x94 k AAAAAAAAAA==",       /* no final newline */
        "text\n\n\xe2\x80\x94  AAAAAAAAAA==\n",      /* empty name */
        "text\n\n\xe2\x80\x94 a+b AAAAAAAAAA==\n",   /* plus in name */
        "text\n\n\xe2\x80\x94 k AAAAAAAAAA=\n",      /* bad base64 length */
        "text\n\n\xe2\x80\x94 k AAAAAAAAAB==\n",     /* non-canonical base64 */
        "te\txt\n\n\xe2\x80\x94 k AAAAAAAAAA==\n",   /* control character */
        "te\xffxt\n\n\xe2\x80\x94 k AAAAAAAAAA==\n", /* not UTF-8 */
        "text\n\n\xe2\x80\x94 k AAAA\n",             /* shorter than a key ID + 1 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (i == 5)
            continue;
        cr_assert_neq(note_parse(bad[i], strlen(bad[i]), &n), REMISS_OK, "case %zu", i);
    }
    cr_assert_eq(note_parse(bad[5], strlen(bad[5]), &n), REMISS_OK);
    cr_assert_eq(n.sigs[0].sig_len, 2);
}

Test(note, signature_count_and_size_bounds)
{
    static char buf[NOTE_MAX + 64];
    note_t n;
    size_t len = (size_t)snprintf(buf, sizeof buf, "t\n\n");
    for (int i = 0; i < NOTE_SIGS_MAX; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\xe2\x80\x94 k%d AAAAAAAAAA==\n", i);
    cr_assert_eq(note_parse(buf, len, &n), REMISS_OK);
    cr_assert_eq(n.n_sigs, NOTE_SIGS_MAX);
    len += (size_t)snprintf(buf + len, sizeof buf - len, "\xe2\x80\x94 k AAAAAAAAAA==\n");
    cr_assert_eq(note_parse(buf, len, &n), REMISS_E_TOO_LARGE);
    memset(buf, 'a', sizeof buf);
    cr_assert_eq(note_parse(buf, NOTE_MAX + 1, &n), REMISS_E_TOO_LARGE);
}

Test(note, checkpoints_strict)
{
    checkpoint_t c;
    static const char *const bad[] = {
        "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  /* leading zero */
        "o\n\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",    /* empty size */
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",    /* empty origin */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2\n",     /* short hash */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n", /* empty extension */
        "o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* 2^64 */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",                      /* no newline */
        "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(checkpoint_parse(bad[i], strlen(bad[i]), &c), REMISS_OK, "case %zu", i);
    const char *ok = "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next 1\n";
    cr_assert_eq(checkpoint_parse(ok, strlen(ok), &c), REMISS_OK);
    cr_assert_eq(c.size, 0);
    cr_assert_eq(c.n_extensions, 1);
    const char *max = "o\n18446744073709551615\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    cr_assert_eq(checkpoint_parse(max, strlen(max), &c), REMISS_OK);
    cr_assert_eq(c.size, UINT64_MAX);
    char buf[256];
    cr_assert_eq(checkpoint_format("bad origin\n", 1, c.root, buf, sizeof buf), 0);
    cr_assert_eq(checkpoint_format("", 1, c.root, buf, sizeof buf), 0);
}

Test(note, random_mutations_never_crash)
{
    char base[1024], m[1024];
    note_t n;
    checkpoint_t c;
    size_t len = (size_t)snprintf(base, sizeof base, "%s", s_spec_cosigned);
    srand(16);
    for (int round = 0; round < 20000; round++) {
        memcpy(m, base, len);
        size_t ml = len - (size_t)(rand() % 8);
        for (int k = 0; k < 1 + rand() % 4; k++)
            m[rand() % (int)ml] = (char)(rand() % 256);
        if (note_parse(m, ml, &n) == REMISS_OK)
            (void)checkpoint_parse(n.text, n.text_len, &c);
    }
}
