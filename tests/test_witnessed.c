/* test_witnessed: the witnessed audit log with real processes: a remissd and
 * two remiss-witness processes on 127.0.0.1, each with its own key and
 * state, the broker submitting checkpoints over HTTP and clients checking
 * the cosigned checkpoint served with every proof. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "interop.h"
#include "merkle.h"
#include "note.h"
#include "pki_admin.h"
#include "witness_proc.h"
#include "witnesspolicy.h"

#define ORIGIN "remiss.test/audit"

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

/* One test's world. */
typedef struct s_world {
    harness_t h;
    witness_proc_t w[2];
    char log_vkey[NOTE_VKEY_MAX];
    char list[192];        /* witness list for the broker (with URLs) */
    witness_list_t policy; /* the same list as a client reads it */
    remiss_client_t *from;
    int sent;
} s_world_t;

static const char *s_broker_args[] = {"--audit-origin", ORIGIN,     "--witnesses", NULL,
                                      "--sth-interval", "1",        "--sth-every", "5",
                                      "--metrics",      "@metrics", NULL};

static void
s_log_vkey(s_world_t *x)
{
    char path[256];
    note_signer_t s;
    remiss_err_t err;
    snprintf(path, sizeof path, "%s/broker.logkey", x->h.pki);
    cr_assert_eq(note_signer_load(path, ORIGIN, NOTE_TYPE_ED25519, &s, &err), REMISS_OK, "%s",
                 err.text);
    cr_assert(note_vkey_format(&s.pub, x->log_vkey, sizeof x->log_vkey));
    note_signer_clear(&s);
}

/* Writes the witness list (URLs of both witnesses, quorum 2) and reads it
 * back as a client would. */
static void
s_write_list(s_world_t *x)
{
    remiss_err_t err;
    FILE *f;
    snprintf(x->list, sizeof x->list, "%s/witnesses", x->h.dir);
    cr_assert_not_null(f = fopen(x->list, "w"));
    fprintf(f, "# the broker's log key\nlog %s\n", x->log_vkey);
    for (int i = 0; i < 2; i++)
        fprintf(f, "%s %s\n", x->w[i].vkey, x->w[i].url);
    fprintf(f, "quorum 2\n");
    fclose(f);
    cr_assert_eq(witness_list_load(x->list, &x->policy, &err), REMISS_OK, "%s", err.text);
}

static void
s_start_broker(s_world_t *x, bool restart)
{
    s_broker_args[3] = x->list;
    if (restart)
        harness_restart(&x->h, s_broker_args);
    else
        harness_start(&x->h, s_broker_args);
    x->from = harness_client(&x->h, "sdf-rinkeby-kista", false);
}

static void
s_setup(s_world_t *x, bool second_running)
{
    memset(x, 0, sizeof *x);
    harness_init(&x->h, s_parties);
    s_log_vkey(x);
    witness_proc_init(&x->w[0], x->h.dir, "w1.test");
    witness_proc_init(&x->w[1], x->h.dir, "w2.test");
    witness_proc_start(&x->w[0], x->log_vkey);
    if (second_running)
        witness_proc_start(&x->w[1], x->log_vkey);
    else
        snprintf(x->w[1].url, sizeof x->w[1].url, "http://127.0.0.1:%d", x->w[1].port);
    s_write_list(x);
    s_start_broker(x, false);
    cr_assert_eq(harness_grant(x->from, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
}

static void
s_teardown(s_world_t *x)
{
    remiss_close(&x->from);
    witness_proc_stop(&x->w[0]);
    witness_proc_stop(&x->w[1]);
    harness_stop(&x->h);
}

/* Sends n referrals; returns the id of the last. */
static void
s_traffic_kept(s_world_t *x, int n, uint8_t id[REMISS_ID_LEN], const char *receipt_path)
{
    remiss_err_t err;
    for (int i = 0; i < n; i++) {
        Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
        remiss_receipt_t rc;
        cr_assert_eq(remiss_send(x->from, env, &rc, &err), REMISS_OK, "%s", err.text);
        memcpy(id, rc.message_id, REMISS_ID_LEN);
        if (receipt_path) /* as remiss send --save-receipt does */
            cr_assert_eq(remiss_receipt_save(&rc, receipt_path, &err), REMISS_OK, "%s", err.text);
        remiss_receipt_clear(&rc);
        harness_envelope_free(env);
        x->sent++;
    }
}

/* n messages; the last one's id in id. */
static void
s_traffic(s_world_t *x, int n, uint8_t id[REMISS_ID_LEN])
{
    s_traffic_kept(x, n, id, NULL);
}

/* Asks for the proof of id and checks its checkpoint against the client's
 * witness list: the checkpoint is the proof's tree head and the log signed
 * it. Returns the number of cosignatures; *size gets the tree size. */
static size_t
s_cosigned_note(s_world_t *x, const uint8_t id[REMISS_ID_LEN], uint64_t *size, char *note,
                size_t cap)
{
    Remiss__ProofReply *pr = NULL;
    Remiss__TreeHead *th;
    witness_result_t res;
    remiss_err_t err;

    cr_assert_eq(remiss_proof(x->from, id, 0, &pr, &err), REMISS_OK, "%s", err.text);
    cr_assert(pr->checkpoint && pr->checkpoint[0], "no checkpoint with the proof");
    cr_assert_eq(witness_check(pr->checkpoint, strlen(pr->checkpoint), &x->policy, &res), REMISS_OK,
                 "checkpoint:\n%s", pr->checkpoint);
    cr_assert(res.log_signed);
    cr_assert_str_eq(res.cp.origin, ORIGIN);
    th = remiss__tree_head__unpack(NULL, pr->tree_head->tree_head.len,
                                   pr->tree_head->tree_head.data);
    cr_assert_not_null(th);
    cr_assert_eq(res.cp.size, th->tree_size);
    cr_assert_arr_eq(res.cp.root, th->root_hash.data, 32);
    remiss__tree_head__free_unpacked(th, NULL);
    if (note != NULL)
        snprintf(note, cap, "%s", pr->checkpoint);
    remiss__proof_reply__free_unpacked(pr, NULL);
    *size = res.cp.size;
    return res.cosigned;
}

static size_t
s_cosigned(s_world_t *x, const uint8_t id[REMISS_ID_LEN], uint64_t *size)
{
    return s_cosigned_note(x, id, size, NULL, 0);
}

/* Polls the proof until want cosignatures show (about 30 s at most). */
static uint64_t
s_wait_cosigned(s_world_t *x, const uint8_t id[REMISS_ID_LEN], size_t want)
{
    uint64_t size = 0;
    size_t got = 0;
    for (int i = 0; i < 300 && (got = s_cosigned(x, id, &size)) < want; i++)
        usleep(100000);
    cr_assert_geq(got, want, "only %zu of %zu cosignatures", got, want);
    return size;
}

static uint64_t
s_witness_size(witness_proc_t *w)
{
    char url[256], buf[8192];
    note_t n;
    checkpoint_t cp;
    snprintf(url, sizeof url, "%s/checkpoint/" ORIGIN, w->url);
    cr_assert_eq(witness_proc_http_get(url, buf, sizeof buf), 200, "%s", buf);
    cr_assert_eq(note_parse(buf, strlen(buf), &n), REMISS_OK, "%s", buf);
    cr_assert_eq(checkpoint_parse(n.text, n.text_len, &cp), REMISS_OK);
    return cp.size;
}

Test(witnessed, two_witnesses_cosign_the_checkpoint_served_with_proofs, .timeout = 120)
{
    s_world_t x;
    uint8_t id[REMISS_ID_LEN];
    s_setup(&x, true);
    s_traffic(&x, 6, id);
    uint64_t size = s_wait_cosigned(&x, id, 2);
    cr_assert_gt(size, 6);
    /* Monitors read the same state from each witness. */
    cr_assert_geq(s_witness_size(&x.w[0]), size);
    cr_assert_geq(s_witness_size(&x.w[1]), size);
    /* More traffic: the witnesses follow with consistency proofs. */
    s_traffic(&x, 12, id);
    uint64_t later = s_wait_cosigned(&x, id, 2);
    cr_assert_gt(later, size);
    cr_assert_not(witness_proc_log_has(&x.w[0], "status=422"));
    /* Go's sumdb/note reads the checkpoint and both cosignatures too. */
    char note[8192], out[256];
    const char *wv[] = {x.w[0].vkey, x.w[1].vkey};
    cr_assert_eq(s_cosigned_note(&x, id, &size, note, sizeof note), 2);
    cr_assert_eq(interop_cpverify(x.h.dir, note, x.log_vkey, wv, 2, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "ok origin=" ORIGIN), "%s", out);
    s_teardown(&x);
}

/* The attacker's rewrite, as in test_audit: entry idx changed, every node
 * recomputed, the old tree heads dropped so the broker signs new ones. */
static remiss_code_t
s_forge_node(void *ctx, unsigned level, uint64_t index, const uint8_t hash[32])
{
    sqlite3_stmt *st;
    cr_assert_eq(
        sqlite3_prepare_v2(ctx, "UPDATE audit_nodes SET hash = ?3 WHERE level = ?1 AND idx = ?2",
                           -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int(st, 1, (int)level);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)index);
    sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    return REMISS_OK;
}

static void
s_rewrite(const char *db_path, uint64_t idx)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    merkle_frontier_t f;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
                              "UPDATE audit SET entry = CAST(entry AS BLOB) || x'00' "
                              "WHERE idx = 2; DELETE FROM tree_heads;",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(db));
    (void)idx;
    merkle_frontier_init(&f);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT entry FROM audit ORDER BY idx", -1, &st, NULL),
                 SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        uint8_t leaf[32];
        merkle_leaf_hash(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), leaf);
        cr_assert_eq(merkle_frontier_append(&f, leaf, s_forge_node, db), REMISS_OK);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Runs a shell command; its first output line (stdout and stderr) goes to
 * out. Returns the exit status. */
static int
s_run(const char *cmd, char *out, size_t cap)
{
    char full[2048];
    FILE *f;
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    cr_assert_not_null(f = popen(full, "r"));
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int status = pclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `remiss --witnesses LIST proof ID`: exit status and output. */
static int
s_cli(s_world_t *x, const char *what, const uint8_t id[REMISS_ID_LEN], const char *tail, char *out,
      size_t cap)
{
    char bin[256], cmd[2048], hex[33];
    for (int i = 0; i < REMISS_ID_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    /* --witnesses is an option of proof only (evidence carries the checkpoint as it is). */
    bool proof = strstr(what, "proof") != NULL;
    snprintf(cmd, sizeof cmd, "%s --pki %s --as sdf-rinkeby-kista --broker %s %s%s %s %s %s",
             harness_bin("remiss", bin, sizeof bin), x->h.pki, x->h.endpoint,
             proof ? "--witnesses " : "", proof ? x->list : "", what, hex, tail);
    return s_run(cmd, out, cap);
}

static int
s_verify_evidence(s_world_t *x, const char *file, const char *list, char *out, size_t cap)
{
    char bin[256], cmd[1024];
    snprintf(cmd, sizeof cmd, "%s verify-evidence %s --ca %s/ca.crt%s%s --json",
             harness_bin("remissctl", bin, sizeof bin), file, x->h.pki, list ? " --witnesses " : "",
             list ? list : "");
    return s_run(cmd, out, cap);
}

Test(witnessed, proof_json_and_evidence_checked_offline, .timeout = 120)
{
    s_world_t x;
    uint8_t id[REMISS_ID_LEN], first[REMISS_ID_LEN];
    static char out[65536];
    char file[256], bad[300], cmd[4096], rcpt[256], rcpt1[256], file1[256];
    s_setup(&x, true);
    snprintf(rcpt1, sizeof rcpt1, "%s/first.receipt", x.h.dir);
    snprintf(rcpt, sizeof rcpt, "%s/last.receipt", x.h.dir);
    s_traffic_kept(&x, 1, first, rcpt1);
    s_traffic_kept(&x, 5, id, rcpt);
    s_wait_cosigned(&x, id, 2);
    cr_assert_eq(s_cli(&x, "--json proof", id, "", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"witnesses\":{\"cosigned\":2,\"witnesses\":2,\"quorum\":2,"
                          "\"satisfied\":true"),
              "%s", out);
    cr_assert_eq(s_cli(&x, "proof", id, "", out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "cosigned by 2 of 2 witnesses (quorum 2): w1.test, w2.test"), "%s", out);
    snprintf(file, sizeof file, "%s/evidence.json", x.h.dir);
    snprintf(file1, sizeof file1, "%s/evidence1.json", x.h.dir);
    /* The receipt of another message is refused. */
    snprintf(cmd, sizeof cmd, "--receipt %s > %s", rcpt1, file);
    cr_assert_eq(s_cli(&x, "evidence", id, cmd, out, sizeof out), 1, "%s", out);
    snprintf(cmd, sizeof cmd, "cat %s/evidence.json", x.h.dir);
    cr_assert_eq(s_run(cmd, out, sizeof out), 0);
    cr_assert(strstr(out, "another message"), "%s", out);
    snprintf(cmd, sizeof cmd, "--receipt %s > %s", rcpt1, file1);
    cr_assert_eq(s_cli(&x, "evidence", first, cmd, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "--receipt %s > %s", rcpt, file);
    cr_assert_eq(s_cli(&x, "evidence", id, cmd, out, sizeof out), 0, "%s", out);
    /* Offline: the broker is stopped, only the CA and the list count. */
    remiss_close(&x.from);
    cr_assert_eq(harness_stop_broker(&x.h), 0);
    cr_assert_eq(s_verify_evidence(&x, file, x.list, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "\"verified\":true") && strstr(out, "\"cosigned\":2") &&
                  strstr(out, "\"signed_receipt\":true"),
              "%s", out);
    /* By hand, with openssl, jq and sha256sum only (README.md). */
    snprintf(cmd, sizeof cmd, "scripts/check-evidence.sh %s %s/ca.crt '%s' '%s'", file, x.h.pki,
             x.w[0].vkey, x.w[1].vkey);
    cr_assert_eq(s_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "ok: cosigned by w2.test") &&
                  strstr(out, "ok: the broker's signed receipt names the message"),
              "%s", out);
    /* The receipt of the first message spliced into the last one's evidence:
     * its signature holds, but it names another message. */
    snprintf(cmd, sizeof cmd,
             "jq --slurpfile o %s '.signed_receipt = $o[0].signed_receipt | .receipt = "
             "$o[0].receipt | .receipt_signature = $o[0].receipt_signature' %s > %s.splice",
             file1, file, file);
    cr_assert_eq(s_run(cmd, out, sizeof out), 0, "%s", out);
    snprintf(bad, sizeof bad, "%s.splice", file);
    cr_assert_eq(s_verify_evidence(&x, bad, x.list, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "another message"), "%s", out);
    snprintf(cmd, sizeof cmd, "scripts/check-evidence.sh %s %s/ca.crt", bad, x.h.pki);
    cr_assert_neq(s_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "FAILED: the receipt is for another message"), "%s", out);
    /* A changed byte in the signed receipt (for the checker) and in the
     * receipt signature (for the script) is caught. */
    snprintf(cmd, sizeof cmd,
             "jq '.signed_receipt |= (.[0:40] + (if .[40:41] == \"A\" then \"B\" else \"A\" "
             "end) + .[41:]) | .receipt_signature |= (.[0:20] + (if .[20:21] == \"A\" then \"B\" "
             "else \"A\" end) + .[21:])' %s > %s",
             file, bad);
    cr_assert_eq(s_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_neq(s_verify_evidence(&x, bad, x.list, out, sizeof out), 0, "%s", out);
    snprintf(cmd, sizeof cmd, "scripts/check-evidence.sh %s %s/ca.crt", bad, x.h.pki);
    cr_assert_neq(s_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "FAILED: receipt signature"), "%s", out);
    /* One changed base64 character anywhere in the proof is caught. */
    snprintf(bad, sizeof bad, "%s/bad.json", x.h.dir);
    for (int pos = 40; pos < 400; pos += 90) {
        FILE *f = fopen(file, "r");
        static char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        char *p = strstr(text, "\"proof_reply\":");
        cr_assert_not_null(p);
        p = strchr(p + 14, '"') + 1 + pos;
        *p = *p == 'A' ? 'B' : 'A';
        cr_assert_not_null(f = fopen(bad, "w"));
        fputs(text, f);
        fclose(f);
        cr_assert_neq(s_verify_evidence(&x, bad, x.list, out, sizeof out), 0, "pos %d: %s", pos,
                      out);
    }
    /* And by hand: a changed inclusion path hash. */
    snprintf(
        cmd, sizeof cmd,
        "jq '.inclusion_path[0] |= (.[0:63] + (if .[63:64] == \"0\" then \"1\" else \"0\" end))' "
        "%s > %s.path && scripts/check-evidence.sh %s.path %s/ca.crt",
        file, bad, bad, x.h.pki);
    cr_assert_neq(s_run(cmd, out, sizeof out), 0, "%s", out);
    cr_assert(strstr(out, "FAILED: inclusion path"), "%s", out);
    /* Another CA does not vouch for this broker. */
    char other[256];
    snprintf(other, sizeof other, "%s/otherpki", x.h.dir);
    remiss_err_t err;
    cr_assert_eq(pki_init(other, &err), REMISS_OK);
    snprintf(cmd, sizeof cmd, "%s verify-evidence %s --ca %s/ca.crt",
             harness_bin("remissctl", bad, sizeof bad), file, other);
    cr_assert_neq(s_run(cmd, out, sizeof out), 0, "%s", out);
    /* A list naming a witness that did not cosign, with quorum 2. */
    FILE *f;
    snprintf(bad, sizeof bad, "%s/strict", x.h.dir);
    cr_assert_not_null(f = fopen(bad, "w"));
    witness_proc_t w3;
    witness_proc_init(&w3, x.h.dir, "w3.test");
    fprintf(f, "%s\n%s\nquorum 2\n", x.w[0].vkey, w3.vkey);
    fclose(f);
    cr_assert_eq(s_verify_evidence(&x, file, bad, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "E_POLICY_DENIED"), "%s", out);
    x.h.pid = 0;
    witness_proc_stop(&x.w[0]);
    witness_proc_stop(&x.w[1]);
    harness_stop(&x.h);
}

Test(witnessed, a_rewritten_log_is_refused_and_fails_the_client_policy, .timeout = 120)
{
    s_world_t x;
    uint8_t id[REMISS_ID_LEN];
    uint64_t size;
    s_setup(&x, true);
    s_traffic(&x, 6, id);
    uint64_t good = s_wait_cosigned(&x, id, 2);
    remiss_close(&x.from);
    cr_assert_eq(harness_stop_broker(&x.h), 0);
    s_rewrite(x.h.db, 2);
    s_start_broker(&x, true);
    /* The broker signs the rewritten tree with its real keys; the proof
     * verifies against that head, but no witness cosigns it. */
    for (int i = 0; i < 30; i++) {
        cr_assert_eq(s_cosigned(&x, id, &size), 0, "a witness cosigned the rewritten log");
        usleep(100000);
    }
    size_t k = witness_list_quorum(&x.policy);
    cr_assert_eq(k, 2);
    cr_assert_lt(s_cosigned(&x, id, &size), k, "the client policy must fail");
    static char out[65536];
    cr_assert_eq(s_cli(&x, "proof", id, "", out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "E_POLICY_DENIED") && strstr(out, "cosigned by 0 of 2"), "%s", out);
    /* Both witnesses said no (422 bad proof or 409 conflict) and kept the
     * honest checkpoint. */
    for (int i = 0; i < 2; i++) {
        cr_assert(witness_proc_log_has(&x.w[i], "status=422") ||
                      witness_proc_log_has(&x.w[i], "status=409"),
                  "witness %d did not refuse", i);
        cr_assert_eq(s_witness_size(&x.w[i]), good);
    }
    s_teardown(&x);
}

Test(witnessed, a_restarted_witness_resumes_from_its_stored_size, .timeout = 120)
{
    s_world_t x;
    uint8_t id[REMISS_ID_LEN];
    s_setup(&x, true);
    s_traffic(&x, 6, id);
    s_wait_cosigned(&x, id, 2);
    uint64_t stored = s_witness_size(&x.w[0]);
    witness_proc_kill(&x.w[0]); /* a crash, mid-stream */
    s_traffic(&x, 12, id);
    uint64_t size;
    for (int i = 0; i < 300 && s_witness_size(&x.w[1]) <= stored; i++)
        usleep(100000);
    cr_assert_lt(s_cosigned(&x, id, &size), 2);
    witness_proc_start(&x.w[0], x.log_vkey);
    cr_assert_geq(s_witness_size(&x.w[0]), stored, "the witness forgot its state");
    uint64_t later = s_wait_cosigned(&x, id, 2);
    cr_assert_gt(later, stored);
    /* It went on from the stored size: the broker's old size matched. */
    cr_assert_not(witness_proc_log_has(&x.w[0], "status=409"));
    s_teardown(&x);
}

Test(witnessed, a_witness_that_is_down_does_not_stop_traffic, .timeout = 120)
{
    s_world_t x;
    uint8_t id[REMISS_ID_LEN];
    char url[128], buf[8192];
    s_setup(&x, false);
    s_traffic(&x, 20, id);
    cr_assert_eq(x.sent, 20);
    s_wait_cosigned(&x, id, 1);
    uint64_t size;
    cr_assert_eq(s_cosigned(&x, id, &size), 1);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", x.h.port + 1);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(witness_proc_http_get(url, buf, sizeof buf), 200, "%s", buf);
        if (strstr(buf, "witnesses=1/2 quorum=2"))
            break;
        usleep(100000);
    }
    cr_assert(strstr(buf, "witnesses=1/2 quorum=2"), "%s", buf);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", x.h.port + 1);
    cr_assert_eq(witness_proc_http_get(url, buf, sizeof buf), 200);
    cr_assert(strstr(buf, "remiss_witness_failures_total ") &&
                  !strstr(buf, "remiss_witness_failures_total 0\n"),
              "%s", buf);
    s_teardown(&x);
}
