/* witnesses: C2SP checkpoints of the audit log and their cosigning
 * witnesses (include/witnesses.h). */
#include "witnesses.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "merkle.h"
#include "note.h"
#include "pki.h"
#include "store.h"
#include "witnesspolicy.h"

#define S_CACHE       64   /* cosignatures kept in memory per witness */
#define S_POLL_MS     200  /* look for a new head this often */
#define S_BACKOFF_MS  1000 /* first retry after a failure, doubling */
#define S_BACKOFF_MAX 60000
#define S_REPLY_MAX   4096 /* largest witness answer read */
#define S_BODY_MAX    (64 + WLIST_MAX + 64 * 48 + NOTE_TEXT_MAX + NOTE_LINE_MAX)

/* One cosignature held for serving. */
typedef struct s_cosig {
    uint64_t size;
    char line[NOTE_LINE_MAX]; /* "" if the slot is empty */
} s_cosig_t;

/* What the thread knows of one witness (thread only). */
typedef struct s_peer {
    uint64_t known;   /* the witness's size, as we believe */
    uint64_t done;    /* size of our last cosignature from it, +1 (0 = none) */
    int64_t retry_at; /* ms; no submission before */
    int64_t backoff;  /* current back-off, ms */
} s_peer_t;

struct witnesses {
    note_signer_t log;             /* the log key, named by the origin */
    witness_list_t list;           /* witnesses and quorum */
    metrics_t *metrics;            /* borrowed, may be NULL */
    char db_path[CONFIG_PATH_MAX]; /* the broker's database */
    pthread_mutex_t lock;          /* guards cache, stop */
    pthread_cond_t wake;           /* poke or stop */
    bool stop, running;
    pthread_t thread;
    s_cosig_t cache[WLIST_MAX][S_CACHE]; /* by witness, ring by size */
    s_peer_t peers[WLIST_MAX];           /* thread only */
    store_t *store;                      /* thread's own store connection */
    sqlite3 *db;                         /* thread's own connection: cosignatures */
    CURL *curl;                          /* thread's HTTP client */
};

static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS witness_cosignatures(witness TEXT NOT NULL,"
    " tree_size INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY(witness, tree_size));";

static int64_t
s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- log key */

/* Loads PKI_DIR/broker.logkey, creating it on first start, and writes its
 * vkey to PKI_DIR/broker.vkey for the witnesses' operators. */
static remiss_code_t
s_log_key(witnesses_t *self, const broker_config_t *cfg, remiss_err_t *err)
{
    char path[CONFIG_PATH_MAX + 32], vkey[NOTE_VKEY_MAX];
    struct stat st;
    remiss_code_t r;
    FILE *f;

    if (!note_name_valid(cfg->audit_origin))
        return remiss_err_set(err, REMISS_E_CONFIG,
                              "audit-origin must be a name without spaces or '+'");
    snprintf(path, sizeof path, "%s/broker.logkey", cfg->pki);
    if (stat(path, &st) != 0 && (r = note_key_generate(path, err)) != REMISS_OK)
        return r;
    if ((r = note_signer_load(path, cfg->audit_origin, NOTE_TYPE_ED25519, &self->log, err)) !=
        REMISS_OK)
        return r;
    if (!note_vkey_format(&self->log.pub, vkey, sizeof vkey))
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot format the log vkey");
    snprintf(path, sizeof path, "%s/broker.vkey", cfg->pki);
    if ((f = fopen(path, "w")) != NULL) {
        fprintf(f, "%s\n", vkey);
        fclose(f);
    }
    log_emit(LOG_INFO, "checkpoint_key", "vkey=%s", vkey);
    return REMISS_OK;
}

/* ---------------------------------------------------------------- cache */

static void
s_cache_put(witnesses_t *self, size_t i, uint64_t size, const char *line)
{
    s_cosig_t *c = &self->cache[i][size % S_CACHE];
    pthread_mutex_lock(&self->lock);
    c->size = size;
    snprintf(c->line, sizeof c->line, "%s", line);
    pthread_mutex_unlock(&self->lock);
}

/* Appends the cosignature lines held for size to buf (NUL-terminated). */
static void
s_cache_lines(witnesses_t *self, uint64_t size, char *buf, size_t cap)
{
    size_t n = strlen(buf);
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->list.n; i++) {
        const s_cosig_t *c = &self->cache[i][size % S_CACHE];
        if (c->line[0] && c->size == size && strlen(c->line) < cap - n) {
            memcpy(buf + n, c->line, strlen(c->line) + 1);
            n += strlen(c->line);
        }
    }
    pthread_mutex_unlock(&self->lock);
}

/* The witness's index in the list, or WLIST_MAX. */
static size_t
s_index(const witnesses_t *self, const char *name)
{
    for (size_t i = 0; i < self->list.n; i++)
        if (strcmp(self->list.w[i].key.name, name) == 0)
            return i;
    return WLIST_MAX;
}

/* Loads the latest stored cosignatures into the cache and the peers'
 * sizes (each witness's largest cosigned size is where it stands). */
static remiss_code_t
s_load_cosigs(witnesses_t *self, remiss_err_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT witness, tree_size, line FROM witness_cosignatures"
                           " ORDER BY tree_size",
                           -1, &st, NULL) != SQLITE_OK)
        return remiss_err_set(err, REMISS_E_STORAGE, "cannot read cosignatures: %s",
                              sqlite3_errmsg(self->db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        const char *line = (const char *)sqlite3_column_text(st, 2);
        uint64_t size = (uint64_t)sqlite3_column_int64(st, 1);
        size_t i = name ? s_index(self, name) : WLIST_MAX;
        if (i == WLIST_MAX || line == NULL)
            continue;
        s_cache_put(self, i, size, line);
        self->peers[i].known = size;
        self->peers[i].done = size + 1;
    }
    sqlite3_finalize(st);
    return REMISS_OK;
}

/* ---------------------------------------------------------------- checkpoints */

/* The tree head inside a signed tree head's bytes. */
static bool
s_head(const Remiss__SignedTreeHead *sth, uint64_t *size, uint8_t root[32])
{
    Remiss__TreeHead *th;
    bool ok;
    if (sth == NULL || sth->tree_head.len > 256 ||
        (th = remiss__tree_head__unpack(NULL, sth->tree_head.len, sth->tree_head.data)) == NULL)
        return false;
    ok = th->root_hash.len == 32;
    if (ok) {
        *size = th->tree_size;
        memcpy(root, th->root_hash.data, 32);
    }
    remiss__tree_head__free_unpacked(th, NULL);
    return ok;
}

/* The checkpoint text of (size, root) and the log's signature line. */
static bool
s_checkpoint(witnesses_t *self, uint64_t size, const uint8_t root[32], char *text, size_t cap,
             size_t *text_len, char line[NOTE_LINE_MAX])
{
    *text_len = checkpoint_format(self->log.pub.name, size, root, text, cap);
    return *text_len > 0 && note_sign(&self->log, text, *text_len, 0, line) == REMISS_OK;
}

void
witnesses_attach(witnesses_t *self, Remiss__ProofReply *reply)
{
    char text[NOTE_TEXT_MAX], line[NOTE_LINE_MAX], *note;
    size_t text_len, cap = NOTE_MAX;
    uint8_t root[32];
    uint64_t size;

    if (self == NULL || reply == NULL || !s_head(reply->tree_head, &size, root) ||
        !s_checkpoint(self, size, root, text, sizeof text, &text_len, line) ||
        (note = malloc(cap)) == NULL)
        return;
    snprintf(note, cap, "%s\n%s", text, line);
    s_cache_lines(self, size, note, cap);
    reply->checkpoint = note;
}

void
witnesses_detach(Remiss__ProofReply *reply)
{
    if (reply != NULL && reply->checkpoint != NULL &&
        reply->checkpoint != (char *)protobuf_c_empty_string) {
        free(reply->checkpoint);
        reply->checkpoint = (char *)protobuf_c_empty_string;
    }
}

/* ---------------------------------------------------------------- HTTP */

/* A witness's answer, bounded. */
typedef struct s_answer {
    char data[S_REPLY_MAX + 1];
    size_t len;
    bool truncated;
} s_answer_t;

static size_t
s_on_data(char *p, size_t size, size_t n, void *ctx)
{
    s_answer_t *a = ctx;
    size_t len = size * n;
    if (len > S_REPLY_MAX - a->len) {
        a->truncated = true;
        return 0; /* stops the transfer */
    }
    memcpy(a->data + a->len, p, len);
    a->len += len;
    a->data[a->len] = '\0';
    return len;
}

/* POSTs body to URL/add-checkpoint; the HTTP status, or 0 when the witness
 * could not be reached or answered too much. */
static long
s_post(witnesses_t *self, const char *url, const char *body, size_t len, s_answer_t *a)
{
    char full[WLIST_URL_MAX + 32];
    long status = 0;
    memset(a, 0, sizeof *a);
    snprintf(full, sizeof full, "%s/add-checkpoint", url);
    curl_easy_reset(self->curl);
    curl_easy_setopt(self->curl, CURLOPT_URL, full);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(self->curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt(self->curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(self->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(self->curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(self->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(self->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (curl_easy_perform(self->curl) != CURLE_OK || a->truncated)
        return 0;
    curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* ---------------------------------------------------------------- submitting */

static remiss_code_t
s_get(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN])
{
    remiss_err_t err;
    return store_audit_node_get(ctx, level, index, out, &err);
}

/* The add-checkpoint body from old to the checkpoint (text + log line). */
static bool
s_body(witnesses_t *self, uint64_t old, uint64_t size, const char *note, char *buf, size_t cap,
       size_t *len)
{
    uint8_t path[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
    size_t n = 0, off;
    char b64[64];

    if (old > 0 && old < size &&
        merkle_consistency_proof(old, size, s_get, self->store, path, MERKLE_MAX_PROOF, &n) !=
            REMISS_OK)
        return false;
    off = (size_t)snprintf(buf, cap, "old %" PRIu64 "\n", old);
    for (size_t i = 0; i < n && off < cap; i++) {
        note_b64_encode(path[i], MERKLE_HASH_LEN, b64, sizeof b64);
        off += (size_t)snprintf(buf + off, cap - off, "%s\n", b64);
    }
    if (off < cap)
        off += (size_t)snprintf(buf + off, cap - off, "\n%s", note);
    *len = off;
    return off < cap;
}

/* Checks a 200 answer: one cosignature line by witness i over text. */
static bool
s_cosig_ok(witnesses_t *self, size_t i, const char *text, const s_answer_t *a, char *line)
{
    static note_t n;
    char note[NOTE_TEXT_MAX + S_REPLY_MAX + 2];
    bool ok = false;
    int len = snprintf(note, sizeof note, "%s\n%s", text, a->data);
    if (len < 0 || (size_t)len >= sizeof note || note_parse(note, (size_t)len, &n) != REMISS_OK)
        return false;
    for (size_t s = 0; s < n.n_sigs && !ok; s++)
        ok = note_sig_verify(&n, &n.sigs[s], &self->list.w[i].key, NULL);
    /* Keep the answer's line of this witness only. */
    const char *nl, *p = a->data;
    for (; ok && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        size_t ln = (size_t)(nl - p) + 1;
        size_t name_len = strlen(self->list.w[i].key.name);
        if (ln < NOTE_LINE_MAX && ln > 4 + name_len &&
            memcmp(p + 4, self->list.w[i].key.name, name_len) == 0 && p[4 + name_len] == ' ') {
            memcpy(line, p, ln);
            line[ln] = '\0';
            return true;
        }
    }
    return false;
}

static void
s_store_cosig(witnesses_t *self, size_t i, uint64_t size, const char *line)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db,
                           "INSERT OR REPLACE INTO witness_cosignatures(witness, tree_size, line)"
                           " VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, self->list.w[i].key.name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
        sqlite3_bind_text(st, 3, line, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            log_emit(LOG_WARN, "cosignature_not_stored", "witness=%zu", i);
    }
    sqlite3_finalize(st);
    s_cache_put(self, i, size, line);
}

static void
s_failed(witnesses_t *self, size_t i, long status)
{
    s_peer_t *p = &self->peers[i];
    p->backoff = p->backoff == 0 ? S_BACKOFF_MS : p->backoff * 2;
    if (p->backoff > S_BACKOFF_MAX)
        p->backoff = S_BACKOFF_MAX;
    p->retry_at = s_now_ms() + p->backoff;
    metrics_witness_failed(self->metrics);
    log_emit(LOG_WARN, "witness_refused", "witness=%zu status=%ld known=%" PRIu64, i, status,
             p->known);
}

/* One submission of the checkpoint of size to witness i, following a 409
 * once to the witness's size. */
static void
s_submit(witnesses_t *self, size_t i, uint64_t size, const char *text, const char *note)
{
    static char body[S_BODY_MAX];
    static s_answer_t a;
    char line[NOTE_LINE_MAX];
    s_peer_t *p = &self->peers[i];
    size_t len;
    long status = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (p->known > size || !s_body(self, p->known, size, note, body, sizeof body, &len))
            return s_failed(self, i, -1);
        status = s_post(self, self->list.w[i].url, body, len, &a);
        if (status != 409)
            break;
        uint64_t theirs = strtoull(a.data, NULL, 10);
        if (a.len == 0 || a.len > 21 || theirs == p->known)
            break;
        p->known = theirs;
    }
    if (status != 200 || !s_cosig_ok(self, i, text, &a, line))
        return s_failed(self, i, status);
    s_store_cosig(self, i, size, line);
    p->known = size;
    p->done = size + 1;
    p->backoff = 0;
}

/* The latest committed tree head (false if none or unreadable). */
static bool
s_latest(witnesses_t *self, uint64_t *size, uint8_t root[32])
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    remiss_err_t err;
    Remiss__SignedTreeHead *sth = NULL;
    bool ok = false;
    if (store_audit_sth_latest(self->store, &bytes, &len, &err) == REMISS_OK && len > 0 &&
        len < 4096 && (sth = remiss__signed_tree_head__unpack(NULL, len, bytes)) != NULL)
        ok = s_head(sth, size, root);
    if (sth)
        remiss__signed_tree_head__free_unpacked(sth, NULL);
    free(bytes);
    return ok;
}

/* One round: submit the latest head to every witness that lacks it. */
static void
s_round(witnesses_t *self)
{
    char text[NOTE_TEXT_MAX], line[NOTE_LINE_MAX], note[NOTE_TEXT_MAX + NOTE_LINE_MAX + 2];
    uint8_t root[32];
    uint64_t size;
    size_t text_len, cosigned = 0;
    int64_t now = s_now_ms();

    if (!s_latest(self, &size, root) ||
        !s_checkpoint(self, size, root, text, sizeof text, &text_len, line))
        return;
    snprintf(note, sizeof note, "%s\n%s", text, line);
    for (size_t i = 0; i < self->list.n; i++) {
        if (self->peers[i].done != size + 1 && now >= self->peers[i].retry_at)
            s_submit(self, i, size, text, note);
        cosigned += self->peers[i].done == size + 1;
    }
    metrics_set_witnesses(self->metrics, self->list.n, witness_list_quorum(&self->list), cosigned,
                          size);
}

static void *
s_thread(void *arg)
{
    witnesses_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        pthread_mutex_unlock(&self->lock);
        s_round(self);
        pthread_mutex_lock(&self->lock);
        if (self->stop)
            break;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += S_POLL_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static remiss_code_t
s_open_thread_state(witnesses_t *self, remiss_err_t *err)
{
    if ((self->store = store_open(self->db_path, err)) == NULL)
        return REMISS_E_STORAGE;
    if (sqlite3_open_v2(self->db_path, &self->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK ||
        sqlite3_exec(self->db, s_schema, NULL, NULL, NULL) != SQLITE_OK)
        return remiss_err_set(err, REMISS_E_STORAGE, "cannot open the cosignatures table: %s",
                              sqlite3_errmsg(self->db));
    if ((self->curl = curl_easy_init()) == NULL)
        return remiss_err_set(err, REMISS_E_INTERNAL, "cannot start an HTTP client");
    return s_load_cosigs(self, err);
}

witnesses_t *
witnesses_start(const broker_config_t *cfg, metrics_t *metrics, remiss_err_t *err)
{
    witnesses_t *self = calloc(1, sizeof *self);
    if (self == NULL) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    self->metrics = metrics;
    snprintf(self->db_path, sizeof self->db_path, "%s", cfg->db);
    if (s_log_key(self, cfg, err) != REMISS_OK ||
        (cfg->witnesses[0] && witness_list_load(cfg->witnesses, &self->list, err) != REMISS_OK)) {
        witnesses_stop(&self);
        return NULL;
    }
    if (cfg->witness_quorum > 0)
        self->list.quorum = (size_t)cfg->witness_quorum;
    if (self->list.n == 0)
        return self;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread, as libcurl asks */
    if (s_open_thread_state(self, err) != REMISS_OK ||
        pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        witnesses_stop(&self);
        return NULL;
    }
    self->running = true;
    log_emit(LOG_INFO, "witnesses_started", "witnesses=%zu quorum=%zu", self->list.n,
             witness_list_quorum(&self->list));
    return self;
}

void
witnesses_stop(witnesses_t **self_p)
{
    witnesses_t *self = self_p ? *self_p : NULL;
    if (self == NULL)
        return;
    if (self->running) {
        pthread_mutex_lock(&self->lock);
        self->stop = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);
    }
    if (self->curl)
        curl_easy_cleanup(self->curl);
    sqlite3_close(self->db);
    store_close(&self->store);
    note_signer_clear(&self->log);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
