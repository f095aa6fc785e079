/* status: the broker's live status on a Unix socket (include/status.h). */
#include "status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "remiss.h"
#include "remiss.pb-c.h"

#define S_WHY_MAX 512

struct status {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* socket, "" = off */
    int fd;                                                 /* listening socket, -1 when off */
    pthread_t thread;                                       /* answers connections */
    bool running;                                           /* thread started */
    _Atomic bool stop;                                      /* asks the thread to end */
    pthread_mutex_t lock;                                   /* guards snapshot */
    char *snapshot;                                         /* latest JSON */
    metrics_t *metrics; /* reload gauges (borrowed, may be NULL) */
    char node[300];     /* hostname:pid */
    char engine[16];    /* store engine */
    int64_t started_at; /* Unix seconds */
    int64_t warn_s;     /* certificate warning period */
    char policy_path[CONFIG_PATH_MAX];
    char policy_sha256[65];   /* of the policy in force */
    int64_t policy_loaded_at; /* Unix seconds */
    bool policy_ok, certs_ok; /* the last load of each succeeded */
    char policy_why[S_WHY_MAX], certs_why[S_WHY_MAX];
    int64_t reload_at; /* last reload attempt, Unix seconds */
};

static int64_t
s_now(void)
{
    return (int64_t)time(NULL);
}

bool
status_socket_path(const broker_config_t *cfg, char *out, size_t size)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    const char *file = store_file(cfg->db);
    int n = 0;
    out[0] = '\0';
    if (strcmp(cfg->status_socket, "off") == 0)
        return true;
    if (cfg->status_socket[0]) {
        n = snprintf(out, size, "%s", cfg->status_socket);
    } else if (file) {
        const char *slash = strrchr(file, '/');
        int dirlen = slash ? (int)(slash - file) : 1;
        n = snprintf(out, size, "%.*s/%s", dirlen, slash ? file : ".", STATUS_SOCKET_NAME);
    }
    if (n < 0 || (size_t)n >= size || (size_t)n >= max) {
        out[0] = '\0';
        return false;
    }
    return true;
}

/* ------------------------------------------------------------ the socket */

/* Binds path 0660; a stale socket left by an earlier run is replaced,
 * anything else at path is refused. */
static int
s_bind(const char *path, remiss_err_t *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        remiss_err_set(err, REMISS_E_CONFIG, "status socket %s: exists and is not a socket", path);
        return -1;
    }
    unlink(path);
    memcpy(sun.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* No window in which others could connect: made 0600, then 0660. */
    mode_t old = umask(0177);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof sun);
    umask(old);
    if (rc != 0 || chmod(path, 0660) != 0 || listen(fd, 16) != 0) {
        remiss_err_set(err, REMISS_E_CONFIG, "status socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Writes the latest snapshot to one client and closes it. */
static void
s_answer(status_t *self, int c)
{
    struct timeval tv = {.tv_sec = 2};
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char *json = status_snapshot(self);
    const char *text = json ? json : "{\"error\":\"starting\"}";
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = send(c, text + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(json);
    close(c);
}

static void *
s_serve(void *arg)
{
    status_t *self = arg;
    while (!atomic_load(&self->stop)) {
        struct pollfd p = {.fd = self->fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept4(self->fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            s_answer(self, c);
    }
    return NULL;
}

status_t *
status_start(const broker_config_t *cfg, const char *store_engine, metrics_t *metrics,
             remiss_err_t *err)
{
    status_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    self->fd = -1;
    self->metrics = metrics;
    self->started_at = self->reload_at = s_now();
    self->warn_s = cfg->cert_warn_days * 86400;
    self->policy_ok = self->certs_ok = true;
    snprintf(self->engine, sizeof self->engine, "%s", store_engine);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(self->node, sizeof self->node, "%s:%ld", host, (long)getpid());
    if (!status_socket_path(cfg, self->path, sizeof self->path)) {
        remiss_err_set(err, REMISS_E_CONFIG,
                       "status socket path too long for a Unix socket; set status-socket");
        goto fail;
    }
    if (!self->path[0])
        return self;
    if ((self->fd = s_bind(self->path, err)) < 0)
        goto fail;
    if (pthread_create(&self->thread, NULL, s_serve, self) != 0) {
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot start the status thread");
        goto fail;
    }
    self->running = true;
    return self;
fail:
    status_stop(&self);
    return NULL;
}

void
status_stop(status_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    status_t *self = *self_p;
    atomic_store(&self->stop, true);
    if (self->running)
        pthread_join(self->thread, NULL);
    if (self->fd >= 0) {
        close(self->fd);
        unlink(self->path);
    }
    pthread_mutex_destroy(&self->lock);
    free(self->snapshot);
    free(self);
    *self_p = NULL;
}

char *
status_snapshot(status_t *self)
{
    pthread_mutex_lock(&self->lock);
    char *copy = self->snapshot ? strdup(self->snapshot) : NULL;
    pthread_mutex_unlock(&self->lock);
    return copy;
}

/* ------------------------------------------------------------ reloads */

/* SHA-256 of a file as hex into out[65]; false if unreadable. */
static bool
s_file_sha256(const char *path, char out[65])
{
    uint8_t md[32], buf[8192];
    unsigned mdlen = 0;
    size_t n;
    FILE *f = fopen(path, "rb");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = f && ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(ctx, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    if (ok)
        hex_encode(out, md, 32);
    if (f)
        fclose(f);
    EVP_MD_CTX_free(ctx);
    return ok;
}

static void
s_reloaded(status_t *self)
{
    self->reload_at = s_now();
    metrics_reload(self->metrics, self->policy_ok && self->certs_ok, self->reload_at);
}

void
status_policy(status_t *self, const char *path, bool ok, const char *why)
{
    if (!self)
        return;
    self->policy_ok = ok;
    snprintf(self->policy_why, sizeof self->policy_why, "%s", ok || !why ? "" : why);
    if (ok) {
        snprintf(self->policy_path, sizeof self->policy_path, "%s", path);
        if (!s_file_sha256(path, self->policy_sha256))
            self->policy_sha256[0] = '\0';
        self->policy_loaded_at = s_now();
    }
    s_reloaded(self);
}

void
status_certificates(status_t *self, bool ok, const char *why)
{
    if (!self)
        return;
    self->certs_ok = ok;
    snprintf(self->certs_why, sizeof self->certs_why, "%s", ok || !why ? "" : why);
    s_reloaded(self);
}

/* ------------------------------------------------------------ the snapshot */

static double
s_days_left(int64_t not_after, int64_t now)
{
    return not_after ? (double)(not_after - now) / 86400.0 : 0;
}

static void
s_add_cert(cJSON *o, const char *name, int64_t not_after, int64_t now)
{
    cJSON *c = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(c, "not_after", (double)not_after);
    cJSON_AddNumberToObject(c, "days_left", s_days_left(not_after, now));
}

/* One party: connected, its queue and its certificate. */
static cJSON *
s_party(const store_queue_t *q, delivery_t *delivery, const party_t *p, int64_t now_ms,
        int64_t *oldest)
{
    uint64_t depth = q ? q->depth : 0;
    cJSON *o = cJSON_CreateObject();
    *oldest = q ? q->oldest : 0;
    cJSON_AddStringToObject(o, "id", p->id);
    cJSON_AddStringToObject(o, "role", p->role);
    cJSON_AddBoolToObject(o, "connected", delivery_is_connected(delivery, p->id));
    cJSON_AddBoolToObject(o, "revoked", p->revoked);
    cJSON_AddNumberToObject(o, "queue_depth", (double)depth);
    cJSON_AddNumberToObject(o, "oldest_message_age_seconds",
                            *oldest > 0 && now_ms > *oldest ? (double)(now_ms - *oldest) / 1000.0
                                                            : 0);
    cJSON_AddNumberToObject(o, "certificate_not_after", (double)p->not_after);
    cJSON_AddNumberToObject(o, "certificate_days_left", s_days_left(p->not_after, now_ms / 1000));
    return o;
}

/* The parties array; the expiry and oldest-message gauges on the way. */
static void
s_parties(status_t *self, cJSON *root, const broker_env_t *env, delivery_t *delivery,
          X509 *broker_cert, int64_t now_ms, const store_queue_t *queues, size_t nqueues)
{
    size_t n = parties_count(env->parties);
    metrics_cert_t *certs = calloc(n + 2, sizeof *certs);
    const char **names = calloc(n + 1, sizeof *names);
    int64_t *oldest = calloc(n + 1, sizeof *oldest);
    cJSON *arr = cJSON_AddArrayToObject(root, "parties");
    for (size_t i = 0; certs && names && oldest && i < n; i++) {
        const party_t *p = parties_at(env->parties, i);
        cJSON_AddItemToArray(
            arr, s_party(store_queue_of(queues, nqueues, p->id), delivery, p, now_ms, &oldest[i]));
        names[i] = p->id;
        certs[i] = (metrics_cert_t){p->id, "party", p->not_after};
    }
    if (certs && names && oldest) {
        const pki_trust_t *trust = parties_trust(env->parties);
        certs[n] = (metrics_cert_t){"broker", "broker", pki_cert_not_after(broker_cert)};
        certs[n + 1] = (metrics_cert_t){"ca", "ca", pki_trust_ca_not_after(trust)};
        metrics_set_expiry(env->metrics, certs, n + 2, pki_trust_crl_next_update(trust),
                           self->warn_s);
        metrics_set_oldest(env->metrics, names, oldest, n);
    }
    free(certs);
    free(names);
    free(oldest);
}

static void
s_policy_json(const status_t *self, cJSON *root)
{
    cJSON *p = cJSON_AddObjectToObject(root, "policy");
    cJSON_AddStringToObject(p, "file", self->policy_path);
    cJSON_AddStringToObject(p, "sha256", self->policy_sha256);
    cJSON_AddNumberToObject(p, "loaded_at", (double)self->policy_loaded_at);
    cJSON *r = cJSON_AddObjectToObject(root, "last_reload");
    bool ok = self->policy_ok && self->certs_ok;
    cJSON_AddNumberToObject(r, "at", (double)self->reload_at);
    cJSON_AddBoolToObject(r, "refused", !ok);
    cJSON_AddStringToObject(r, "reason", !self->policy_ok ? self->policy_why : self->certs_why);
}

/* Latest signed tree head: size, root and time, or null. */
static void
s_audit_json(const broker_env_t *env, cJSON *root)
{
    uint8_t *sth = NULL;
    size_t len = 0;
    remiss_err_t err;
    cJSON *a = cJSON_AddObjectToObject(root, "audit");
    cJSON_AddBoolToObject(a, "on", env->audit != NULL);
    cJSON_AddNumberToObject(a, "tree_size", env->audit ? (double)audit_size(env->audit) : 0);
    Remiss__SignedTreeHead *s = NULL;
    Remiss__TreeHead *th = NULL;
    if (env->audit && store_audit_sth_latest(env->store, &sth, &len, &err) == REMISS_OK && len &&
        (s = remiss__signed_tree_head__unpack(NULL, len, sth)) &&
        (th = remiss__tree_head__unpack(NULL, s->tree_head.len, s->tree_head.data)) &&
        th->root_hash.len == 32) {
        char root_hex[65];
        cJSON *h = cJSON_AddObjectToObject(a, "signed_tree_head");
        cJSON_AddNumberToObject(h, "tree_size", (double)th->tree_size);
        cJSON_AddStringToObject(h, "root_hash", hex_encode(root_hex, th->root_hash.data, 32));
        cJSON_AddNumberToObject(h, "timestamp_ms", (double)th->timestamp);
    } else {
        cJSON_AddNullToObject(a, "signed_tree_head");
    }
    remiss__tree_head__free_unpacked(th, NULL);
    remiss__signed_tree_head__free_unpacked(s, NULL);
    free(sth);
}

static void
s_counters_json(const broker_env_t *env, cJSON *root)
{
    metrics_counts_t c;
    uint64_t dead = 0;
    remiss_err_t err;
    if (store_dead_count(env->store, &dead, &err) == REMISS_OK)
        metrics_set_dead_letters(env->metrics, dead);
    metrics_read(env->metrics, &c);
    cJSON *o = cJSON_AddObjectToObject(root, "messages");
    cJSON_AddNumberToObject(o, "accepted", (double)c.accepted);
    cJSON_AddNumberToObject(o, "refused", (double)c.refused);
    cJSON_AddNumberToObject(o, "delivered", (double)c.delivered);
    cJSON_AddNumberToObject(o, "acknowledged", (double)c.acked);
    cJSON_AddNumberToObject(o, "dead_letters", (double)dead);
    cJSON_AddNumberToObject(root, "connected_parties", (double)c.connected);
    cJSON_AddNumberToObject(root, "auth_refused", (double)c.auth_refused);
    cJSON_AddNumberToObject(root, "last_commit_seconds", c.last_commit_seconds);
    cJSON_AddNumberToObject(root, "audit_sign_failures", (double)c.sign_failures);
}

static void
s_head_json(const status_t *self, cJSON *root, const broker_env_t *env, int64_t now)
{
    char why[128];
    cJSON_AddStringToObject(root, "version", remiss_version());
    cJSON *node = cJSON_AddObjectToObject(root, "node");
    cJSON_AddStringToObject(node, "id", self->node);
    /* With a shared PostgreSQL store other nodes may run: the counters and
     * connections are this node's, the queues and the log the cluster's. */
    cJSON_AddStringToObject(node, "scope", "this node");
    cJSON_AddNumberToObject(root, "started_at", (double)self->started_at);
    cJSON_AddNumberToObject(root, "uptime_seconds", (double)(now - self->started_at));
    cJSON_AddNumberToObject(root, "generated_at", (double)now);
    cJSON_AddStringToObject(root, "store_engine", self->engine);
    metrics_degraded(env->metrics, why, sizeof why);
    cJSON_AddStringToObject(root, "health", why[0] ? "degraded" : "ok");
    cJSON_AddStringToObject(root, "degraded_because", why[0] ? why + 1 : "");
}

void
status_update(status_t *self, const broker_env_t *env, delivery_t *delivery, X509 *broker_cert,
              const store_queue_t *queues, size_t nqueues)
{
    if (!self)
        return;
    int64_t now_ms = log_now_ms(), now = now_ms / 1000;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return;
    s_parties(self, root, env, delivery, broker_cert, now_ms, queues, nqueues);
    s_head_json(self, root, env, now);
    s_policy_json(self, root);
    s_counters_json(env, root);
    s_audit_json(env, root);
    const pki_trust_t *trust = parties_trust(env->parties);
    cJSON *certs = cJSON_AddObjectToObject(root, "certificates");
    s_add_cert(certs, "broker", pki_cert_not_after(broker_cert), now);
    s_add_cert(certs, "ca", pki_trust_ca_not_after(trust), now);
    s_add_cert(certs, "crl_next_update", pki_trust_crl_next_update(trust), now);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return;
    pthread_mutex_lock(&self->lock);
    free(self->snapshot);
    self->snapshot = json;
    pthread_mutex_unlock(&self->lock);
}
