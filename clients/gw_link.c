/* gw_link: the gateway's broker connection, inbox and idempotency journal. */
#include "gw_link.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "msgjson.h"

#define S_IDLE_MS   10 /* receiver: pause between looks when nothing came */
#define S_KEEP_DAYS 30 /* idempotency keys are kept this long */

/* A delivered message the case system has not yet acknowledged. */
typedef struct s_entry {
    struct s_entry *next;
    uint8_t id[REMISS_ID_LEN];
    cJSON *json;          /* what the inbox shows */
    int64_t leased_until; /* ms; hidden from inbox calls until then */
} s_entry_t;

struct gw_link {
    char party[128];             /* who we are */
    remiss_client_t *client;     /* the broker connection */
    pthread_mutex_t client_lock; /* one thread at a time on client */
    sqlite3 *db;                 /* idempotency journal (under client_lock) */
    time_t cert_not_after;       /* our certificate's end, for /healthz */
    int lease_ms;
    pthread_t receiver;
    volatile int running;       /* receiver runs while set */
    pthread_mutex_t inbox_lock; /* guards everything below */
    pthread_cond_t inbox_cond;  /* signalled when a message arrives */
    s_entry_t *head, *tail;     /* inbox in arrival order */
    size_t pending;
    uint64_t n_sent, n_refused, n_received, n_acked, n_push_ok, n_push_failed;
};

/* ------------------------------------------------------------ helpers */

static char *
s_base64(const uint8_t *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

static void
s_add_base64(cJSON *o, const char *name, const uint8_t *data, size_t len)
{
    char *b = s_base64(data, len);
    if (b)
        cJSON_AddStringToObject(o, name, b);
    free(b);
}

static void
s_add_hex(cJSON *o, const char *name, const uint8_t *data, size_t len)
{
    char hex[2 * 64 + 1] = "";
    for (size_t i = 0; i < len && i < 64; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    cJSON_AddStringToObject(o, name, hex);
}

static void
s_add_id(cJSON *o, const char *name, const uint8_t id[REMISS_ID_LEN])
{
    char hex[2 * REMISS_ID_LEN + 1];
    remiss_id_to_hex(id, hex);
    cJSON_AddStringToObject(o, name, hex);
}

static void
s_add_time(cJSON *o, const char *name, int64_t ms)
{
    char t[MSGJSON_TIME_LEN];
    if (ms > 0 && msgjson_time_format(ms, t, sizeof t))
        cJSON_AddStringToObject(o, name, t);
}

/* ------------------------------------------------------------ journal */

static remiss_code_t
s_db_open(gw_link_t *self, const char *dir, remiss_err_t *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/gateway.db", dir);
    /* Created 0600 before SQLite opens it (its -wal takes the same mode). */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return remiss_err_set(err, REMISS_E_IO, "cannot open %s: %s", path, strerror(errno));
    fchmod(fd, 0600);
    close(fd);
    if (sqlite3_open(path, &self->db) != SQLITE_OK ||
        sqlite3_exec(self->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS sent(key TEXT PRIMARY KEY, body_sha256 BLOB "
                     "NOT NULL, signed BLOB NOT NULL, created_at INTEGER NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK)
        return remiss_err_set(err, REMISS_E_IO, "cannot use %s: %s", path,
                              sqlite3_errmsg(self->db));
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM sent WHERE created_at < %lld",
             (long long)(log_now_ms() - (int64_t)S_KEEP_DAYS * 86400000));
    sqlite3_exec(self->db, sql, NULL, NULL, NULL);
    return REMISS_OK;
}

/* The SignedEnvelope kept under key: *found, and *same when the body
 * hash matches. *signed_env is malloc'd. */
static remiss_code_t
s_db_find(gw_link_t *self, const char *key, const uint8_t sha[32], bool *found, bool *same,
          uint8_t **signed_env, size_t *len)
{
    sqlite3_stmt *st = NULL;
    remiss_code_t r = REMISS_E_STORAGE;
    *found = *same = false;
    *signed_env = NULL;
    if (sqlite3_prepare_v2(self->db, "SELECT body_sha256, signed FROM sent WHERE key = ?", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *found = true;
        *same =
            sqlite3_column_bytes(st, 0) == 32 && memcmp(sqlite3_column_blob(st, 0), sha, 32) == 0;
        *len = (size_t)sqlite3_column_bytes(st, 1);
        if (!(*signed_env = malloc(*len ? *len : 1)))
            goto out;
        memcpy(*signed_env, sqlite3_column_blob(st, 1), *len);
    } else if (step != SQLITE_DONE) {
        goto out;
    }
    r = REMISS_OK;
out:
    sqlite3_finalize(st);
    return r;
}

static remiss_code_t
s_db_put(gw_link_t *self, const char *key, const uint8_t sha[32], const uint8_t *signed_env,
         size_t len)
{
    sqlite3_stmt *st = NULL;
    bool ok = sqlite3_prepare_v2(self->db,
                                 "INSERT INTO sent(key, body_sha256, signed, created_at) "
                                 "VALUES (?, ?, ?, ?)",
                                 -1, &st, NULL) == SQLITE_OK &&
              sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_blob(st, 2, sha, 32, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_blob(st, 3, signed_env, (int)len, SQLITE_STATIC) == SQLITE_OK &&
              sqlite3_bind_int64(st, 4, log_now_ms()) == SQLITE_OK &&
              sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return ok ? REMISS_OK : REMISS_E_STORAGE;
}

/* ------------------------------------------------------------ sending */

static cJSON *
s_receipt_json(const remiss_receipt_t *rc)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    s_add_id(o, "message_id", rc->message_id);
    cJSON_AddStringToObject(o, "code", remiss_code_name(rc->code));
    cJSON_AddStringToObject(o, "sentence", rc->sentence);
    cJSON_AddNumberToObject(o, "audit_index", (double)rc->audit_index);
    s_add_time(o, "broker_time", rc->broker_time);
    s_add_base64(o, "signed_receipt", rc->signed_receipt, rc->signed_len);
    return o;
}

/* The bytes to send: those kept under key, or env sealed now (and kept). */
static remiss_code_t
s_sealed(gw_link_t *self, Remiss__Envelope *env, const char *key, const uint8_t sha[32],
         uint8_t **out, size_t *len, remiss_err_t *err)
{
    bool found = false, same = false;
    if (key && s_db_find(self, key, sha, &found, &same, out, len) != REMISS_OK)
        return remiss_err_set(err, REMISS_E_STORAGE, "The gateway cannot read its journal.");
    if (found && !same) {
        free(*out);
        *out = NULL;
        return remiss_err_set(err, REMISS_E_REPLAY,
                              "This Idempotency-Key (or message id) was used for another body.");
    }
    if (found)
        return REMISS_OK;
    if (env->sender && env->sender[0] && strcmp(env->sender, self->party) != 0)
        return remiss_err_set(err, REMISS_E_SENDER_MISMATCH,
                              "The message says it is from another party than this gateway's.");
    remiss_code_t r = remiss_seal(self->client, env, out, len, err);
    if (r == REMISS_OK && key && s_db_put(self, key, sha, *out, *len) != REMISS_OK) {
        free(*out);
        *out = NULL;
        r = remiss_err_set(err, REMISS_E_STORAGE, "The gateway cannot write its journal.");
    }
    return r;
}

static remiss_code_t
s_op_send(void *ctx, Remiss__Envelope *env, const char *key, const uint8_t sha[32], cJSON **out,
          remiss_err_t *err)
{
    gw_link_t *self = ctx;
    uint8_t *signed_env = NULL;
    size_t len = 0;
    remiss_receipt_t rc;
    memset(&rc, 0, sizeof rc);
    *out = NULL;
    pthread_mutex_lock(&self->client_lock);
    remiss_code_t r = s_sealed(self, env, key, sha, &signed_env, &len, err);
    if (r == REMISS_OK)
        r = remiss_send_raw(self->client, signed_env, len, &rc, err);
    pthread_mutex_unlock(&self->client_lock);
    if (rc.signed_receipt)
        *out = s_receipt_json(&rc);
    pthread_mutex_lock(&self->inbox_lock);
    if (r == REMISS_OK)
        self->n_sent++;
    else
        self->n_refused++;
    pthread_mutex_unlock(&self->inbox_lock);
    remiss_receipt_clear(&rc);
    free(signed_env);
    return r;
}

/* ------------------------------------------------------------ inbox */

/* The inbox JSON of a delivery: recv --json's object plus the signed
 * envelope and the delivery attempt. */
static cJSON *
s_message_json(const remiss_message_t *m)
{
    msgjson_meta_t meta = {.message_id = remiss_message_id(m),
                           .from = remiss_message_sender(m),
                           .received_at = remiss_message_accepted_at(m)};
    char *text = msgjson_format(remiss_message_envelope(m), &meta);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    size_t len = 0;
    uint8_t *se = o ? remiss_message_signed_envelope(m, &len) : NULL;
    if (se)
        s_add_base64(o, "signed_envelope", se, len);
    free(se);
    if (o)
        cJSON_AddNumberToObject(o, "attempt", remiss_message_attempt(m));
    return o;
}

static void
s_inbox_add(gw_link_t *self, remiss_message_t *m)
{
    s_entry_t *e = calloc(1, sizeof *e);
    if (e && (e->json = s_message_json(m))) {
        memcpy(e->id, remiss_message_id(m), REMISS_ID_LEN);
        pthread_mutex_lock(&self->inbox_lock);
        if (self->tail)
            self->tail->next = e;
        else
            self->head = e;
        self->tail = e;
        self->pending++;
        self->n_received++;
        pthread_cond_broadcast(&self->inbox_cond);
        pthread_mutex_unlock(&self->inbox_lock);
        return;
    }
    /* Cannot be shown (or no memory): leave it unacknowledged. The broker
     * delivers it again; libremiss keeps it back while this run lasts. */
    log_emit(LOG_WARN, "gateway.inbox", "what=unshowable");
    free(e);
}

static void *
s_receiver(void *arg)
{
    gw_link_t *self = arg;
    while (self->running) {
        remiss_message_t *m = NULL;
        remiss_err_t err;
        pthread_mutex_lock(&self->client_lock);
        remiss_code_t r = remiss_recv(self->client, 1, &m, &err);
        pthread_mutex_unlock(&self->client_lock);
        if (r == REMISS_OK)
            s_inbox_add(self, m);
        remiss_message_free(&m);
        if (r != REMISS_OK) {
            struct timespec ts = {0, S_IDLE_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void
s_deadline(struct timespec *ts, int wait_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += wait_ms / 1000;
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Up to max entries not leased now, leased from now on (inbox_lock held). */
static cJSON *
s_take(gw_link_t *self, int max, int64_t now)
{
    cJSON *arr = cJSON_CreateArray();
    int n = 0;
    for (s_entry_t *e = self->head; e && arr && n < max; e = e->next) {
        if (e->leased_until > now)
            continue;
        cJSON *copy = cJSON_Duplicate(e->json, true);
        if (!copy)
            break;
        cJSON_AddItemToArray(arr, copy);
        e->leased_until = now + self->lease_ms;
        n++;
    }
    return arr;
}

static bool
s_any_free(const gw_link_t *self, int64_t now)
{
    for (const s_entry_t *e = self->head; e; e = e->next)
        if (e->leased_until <= now)
            return true;
    return false;
}

static remiss_code_t
s_op_inbox(void *ctx, int wait_ms, int max, cJSON **out, remiss_err_t *err)
{
    gw_link_t *self = ctx;
    struct timespec until;
    s_deadline(&until, wait_ms);
    pthread_mutex_lock(&self->inbox_lock);
    while (!s_any_free(self, log_now_ms()) && self->running &&
           pthread_cond_timedwait(&self->inbox_cond, &self->inbox_lock, &until) == 0)
        ;
    cJSON *arr = s_take(self, max, log_now_ms());
    pthread_mutex_unlock(&self->inbox_lock);
    *out = cJSON_CreateObject();
    if (!arr || !*out) {
        cJSON_Delete(arr);
        cJSON_Delete(*out);
        *out = NULL;
        return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    }
    cJSON_AddItemToObject(*out, "messages", arr);
    return REMISS_OK;
}

remiss_code_t
gw_link_peek(gw_link_t *self, int wait_ms, uint8_t id[REMISS_ID_LEN], char **json)
{
    struct timespec until;
    s_deadline(&until, wait_ms);
    *json = NULL;
    pthread_mutex_lock(&self->inbox_lock);
    while (!self->head && self->running &&
           pthread_cond_timedwait(&self->inbox_cond, &self->inbox_lock, &until) == 0)
        ;
    if (self->head) {
        memcpy(id, self->head->id, REMISS_ID_LEN);
        *json = cJSON_PrintUnformatted(self->head->json);
    }
    pthread_mutex_unlock(&self->inbox_lock);
    return *json ? REMISS_OK : REMISS_E_TIMEOUT;
}

static bool
s_inbox_has(gw_link_t *self, const uint8_t id[REMISS_ID_LEN])
{
    bool found = false;
    pthread_mutex_lock(&self->inbox_lock);
    for (const s_entry_t *e = self->head; e && !found; e = e->next)
        found = memcmp(e->id, id, REMISS_ID_LEN) == 0;
    pthread_mutex_unlock(&self->inbox_lock);
    return found;
}

static void
s_inbox_remove(gw_link_t *self, const uint8_t id[REMISS_ID_LEN])
{
    pthread_mutex_lock(&self->inbox_lock);
    for (s_entry_t **pp = &self->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        s_entry_t *e = *pp;
        if (memcmp(e->id, id, REMISS_ID_LEN) != 0)
            continue;
        *pp = e->next;
        if (self->tail == e)
            self->tail = prev;
        cJSON_Delete(e->json);
        free(e);
        self->pending--;
        self->n_acked++;
        break;
    }
    pthread_mutex_unlock(&self->inbox_lock);
}

remiss_code_t
gw_link_ack(gw_link_t *self, const uint8_t id[REMISS_ID_LEN], const char *reason, remiss_err_t *err)
{
    if (!s_inbox_has(self, id))
        return remiss_err_set(err, GW_E_NOT_FOUND,
                              "No delivered message with this id waits for acknowledgement here.");
    pthread_mutex_lock(&self->client_lock);
    remiss_code_t r = reason ? remiss_refuse(self->client, id, reason, err)
                             : remiss_ack_sync(self->client, id, err);
    pthread_mutex_unlock(&self->client_lock);
    if (r == REMISS_OK)
        s_inbox_remove(self, id);
    return r;
}

static remiss_code_t
s_op_ack(void *ctx, const uint8_t id[REMISS_ID_LEN], const char *reason, remiss_err_t *err)
{
    return gw_link_ack(ctx, id, reason, err);
}

void
gw_link_count_push(gw_link_t *self, bool ok)
{
    pthread_mutex_lock(&self->inbox_lock);
    if (ok)
        self->n_push_ok++;
    else
        self->n_push_failed++;
    pthread_mutex_unlock(&self->inbox_lock);
}

/* ------------------------------------------------------------ queries */

static const char *const s_states[] = {"unspecified", "queued",   "delivered", "acknowledged",
                                       "refused",     "withheld", "unknown"};
static const char *const s_decisions[] = {"", "accepted", "rejected", "needs_info"};

static cJSON *
s_status_json(const Remiss__StatusReply *st, const uint8_t id[REMISS_ID_LEN])
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    unsigned s = st->state < 7 ? (unsigned)st->state : 0;
    unsigned d = st->transfer_decision < 4 ? (unsigned)st->transfer_decision : 0;
    s_add_id(o, "message_id", id);
    cJSON_AddStringToObject(o, "state", s_states[s]);
    cJSON_AddStringToObject(o, "code", remiss_code_name((remiss_code_t)st->code));
    if (st->sentence && st->sentence[0])
        cJSON_AddStringToObject(o, "sentence", st->sentence);
    cJSON_AddStringToObject(o, "recipient", st->recipient ? st->recipient : "");
    cJSON_AddNumberToObject(o, "attempts", st->attempts);
    s_add_time(o, "accepted_at", st->accepted_at);
    s_add_time(o, "delivered_at", st->delivered_at);
    s_add_time(o, "acked_at", st->acked_at);
    if (d)
        cJSON_AddStringToObject(o, "transfer_decision", s_decisions[d]);
    if (st->receiving_unit && st->receiving_unit[0])
        cJSON_AddStringToObject(o, "receiving_unit", st->receiving_unit);
    if (st->transfer_ack_id.len == REMISS_ID_LEN)
        s_add_id(o, "transfer_ack_id", st->transfer_ack_id.data);
    if (st->refuse_reason && st->refuse_reason[0])
        cJSON_AddStringToObject(o, "refuse_reason", st->refuse_reason);
    return o;
}

static remiss_code_t
s_op_status(void *ctx, const uint8_t id[REMISS_ID_LEN], cJSON **out, remiss_err_t *err)
{
    gw_link_t *self = ctx;
    Remiss__StatusReply *st = NULL;
    *out = NULL;
    pthread_mutex_lock(&self->client_lock);
    remiss_code_t r = remiss_status(self->client, id, &st, err);
    pthread_mutex_unlock(&self->client_lock);
    if (r != REMISS_OK)
        return r;
    if (st->state == REMISS__MESSAGE_STATE__UNKNOWN)
        r = remiss_err_set(err, GW_E_NOT_FOUND, "No message with this id from or to %s.",
                           self->party);
    else if (!(*out = s_status_json(st, id)))
        r = remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    remiss__status_reply__free_unpacked(st, NULL);
    return r;
}

static cJSON *
s_proof_json(const Remiss__ProofReply *pr, const uint8_t id[REMISS_ID_LEN])
{
    const Remiss__SignedTreeHead *sth = pr->tree_head;
    Remiss__TreeHead *th =
        sth ? remiss__tree_head__unpack(NULL, sth->tree_head.len, sth->tree_head.data) : NULL;
    cJSON *o = cJSON_CreateObject(), *path = cJSON_AddArrayToObject(o, "inclusion_path");
    if (!o || !th || !path) {
        cJSON_Delete(o);
        remiss__tree_head__free_unpacked(th, NULL);
        return NULL;
    }
    s_add_id(o, "message_id", id);
    cJSON_AddNumberToObject(o, "audit_index", (double)pr->leaf_index);
    cJSON_AddNumberToObject(o, "tree_size", (double)th->tree_size);
    s_add_hex(o, "root_hash", th->root_hash.data, th->root_hash.len);
    s_add_time(o, "tree_time", th->timestamp);
    for (size_t i = 0; i < pr->n_inclusion_path; i++) {
        cJSON *h = cJSON_CreateObject();
        s_add_hex(h, "h", pr->inclusion_path[i].data, pr->inclusion_path[i].len);
        cJSON_AddItemToArray(path, cJSON_DetachItemFromObject(h, "h"));
        cJSON_Delete(h);
    }
    s_add_base64(o, "leaf_entry", pr->leaf_entry.data, pr->leaf_entry.len);
    s_add_base64(o, "signed_tree_head", sth->tree_head.data, sth->tree_head.len);
    s_add_base64(o, "tree_head_signature", sth->signature.data, sth->signature.len);
    cJSON_AddBoolToObject(o, "verified", true);
    remiss__tree_head__free_unpacked(th, NULL);
    return o;
}

static remiss_code_t
s_op_proof(void *ctx, const uint8_t id[REMISS_ID_LEN], cJSON **out, remiss_err_t *err)
{
    gw_link_t *self = ctx;
    Remiss__ProofReply *pr = NULL;
    *out = NULL;
    pthread_mutex_lock(&self->client_lock);
    /* remiss_proof checks the broker's signature and the path itself. */
    remiss_code_t r = remiss_proof(self->client, id, 0, &pr, err);
    pthread_mutex_unlock(&self->client_lock);
    if (r != REMISS_OK)
        return r;
    if (!(*out = s_proof_json(pr, id)))
        r = remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
    remiss__proof_reply__free_unpacked(pr, NULL);
    return r;
}

/* ------------------------------------------------------------ health */

static remiss_code_t
s_op_health(void *ctx, cJSON **out, remiss_err_t *err)
{
    gw_link_t *self = ctx;
    static const uint8_t zero[REMISS_ID_LEN];
    Remiss__StatusReply *st = NULL;
    /* Any answer to a status query shows the broker is there and knows us. */
    pthread_mutex_lock(&self->client_lock);
    remiss_code_t r = remiss_status(self->client, zero, &st, err);
    pthread_mutex_unlock(&self->client_lock);
    remiss__status_reply__free_unpacked(st, NULL);
    long days = (long)((self->cert_not_after - time(NULL)) / 86400);
    bool ok = r == REMISS_OK && self->cert_not_after > time(NULL);
    *out = cJSON_CreateObject();
    if (*out) {
        cJSON_AddStringToObject(*out, "status", ok ? "ok" : "unavailable");
        cJSON_AddStringToObject(*out, "party", self->party);
        cJSON_AddBoolToObject(*out, "broker_reachable", r == REMISS_OK);
        cJSON_AddNumberToObject(*out, "certificate_days_left", (double)days);
        pthread_mutex_lock(&self->inbox_lock);
        cJSON_AddNumberToObject(*out, "inbox_pending", (double)self->pending);
        pthread_mutex_unlock(&self->inbox_lock);
    }
    if (ok)
        return REMISS_OK;
    return r != REMISS_OK ? r : remiss_err_set(err, REMISS_E_CERT_REVOKED, "certificate expired");
}

static char *
s_op_metrics(void *ctx)
{
    gw_link_t *self = ctx;
    char *out = malloc(1024);
    if (!out)
        return NULL;
    pthread_mutex_lock(&self->inbox_lock);
    snprintf(out, 1024,
             "# TYPE remiss_gateway_sent_total counter\nremiss_gateway_sent_total %llu\n"
             "# TYPE remiss_gateway_refused_total counter\nremiss_gateway_refused_total %llu\n"
             "# TYPE remiss_gateway_received_total counter\nremiss_gateway_received_total %llu\n"
             "# TYPE remiss_gateway_acked_total counter\nremiss_gateway_acked_total %llu\n"
             "# TYPE remiss_gateway_push_total counter\n"
             "remiss_gateway_push_total{result=\"ok\"} %llu\n"
             "remiss_gateway_push_total{result=\"failed\"} %llu\n"
             "# TYPE remiss_gateway_inbox_pending gauge\nremiss_gateway_inbox_pending %zu\n",
             (unsigned long long)self->n_sent, (unsigned long long)self->n_refused,
             (unsigned long long)self->n_received, (unsigned long long)self->n_acked,
             (unsigned long long)self->n_push_ok, (unsigned long long)self->n_push_failed,
             self->pending);
    pthread_mutex_unlock(&self->inbox_lock);
    return out;
}

void
gw_link_ops(gw_link_t *self, gw_ops_t *ops)
{
    *ops = (gw_ops_t){.ctx = self,
                      .send = s_op_send,
                      .inbox = s_op_inbox,
                      .ack = s_op_ack,
                      .status = s_op_status,
                      .proof = s_op_proof,
                      .health = s_op_health,
                      .metrics = s_op_metrics};
}

/* ------------------------------------------------------------ lifecycle */

static remiss_code_t
s_load_cert_end(gw_link_t *self, const char *pki, remiss_err_t *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/parties/%s.crt", pki, self->party);
    FILE *f = fopen(path, "r");
    X509 *cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    struct tm tm;
    if (f)
        fclose(f);
    bool ok = cert && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1;
    X509_free(cert);
    if (!ok)
        return remiss_err_set(err, REMISS_E_CONFIG, "cannot read the certificate %s", path);
    self->cert_not_after = timegm(&tm);
    return REMISS_OK;
}

gw_link_t *
gw_link_open(const gw_link_opts_t *o, remiss_err_t *err)
{
    char seen[1100];
    gw_link_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(self->party, sizeof self->party, "%s", o->party);
    self->lease_ms = o->lease_ms;
    pthread_mutex_init(&self->client_lock, NULL);
    pthread_mutex_init(&self->inbox_lock, NULL);
    pthread_cond_init(&self->inbox_cond, NULL);
    snprintf(seen, sizeof seen, "%s/%s.seen", o->state_dir, o->party);
    remiss_opts_t ro = {.pki_dir = o->pki_dir,
                        .party = o->party,
                        .endpoint = o->endpoint,
                        .timeout_ms = o->timeout_ms,
                        .state_path = seen};
    if (s_load_cert_end(self, o->pki_dir, err) != REMISS_OK ||
        s_db_open(self, o->state_dir, err) != REMISS_OK ||
        !(self->client = remiss_connect(&ro, err))) {
        gw_link_close(&self);
        return NULL;
    }
    self->running = 1;
    if (pthread_create(&self->receiver, NULL, s_receiver, self) != 0) {
        self->running = 0;
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot start the receiver thread");
        gw_link_close(&self);
    }
    return self;
}

void
gw_link_close(gw_link_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_link_t *self = *self_p;
    if (self->running) {
        pthread_mutex_lock(&self->inbox_lock);
        self->running = 0;
        pthread_cond_broadcast(&self->inbox_cond);
        pthread_mutex_unlock(&self->inbox_lock);
        pthread_join(self->receiver, NULL);
    }
    for (s_entry_t *e = self->head, *next; e; e = next) {
        next = e->next;
        cJSON_Delete(e->json);
        free(e);
    }
    remiss_close(&self->client);
    sqlite3_close(self->db);
    pthread_cond_destroy(&self->inbox_cond);
    pthread_mutex_destroy(&self->inbox_lock);
    pthread_mutex_destroy(&self->client_lock);
    free(self);
    *self_p = NULL;
}
