/* gw_push: at-least-once, in-order HTTP delivery to the case system. */
#include "gw_push.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define S_SECRET_MAX   256
#define S_BACKOFF_MIN  250   /* ms */
#define S_BACKOFF_MAX  30000 /* ms */
#define S_POST_TIMEOUT 30    /* s per attempt */

struct gw_push {
    gw_link_t *link;    /* the inbox (borrowed) */
    char url[1024];     /* where to POST */
    char ca_file[1024]; /* trust for https, "" = system default */
    uint8_t secret[S_SECRET_MAX];
    size_t secret_len;
    pthread_t thread;
    pthread_mutex_t lock; /* guards running and wakes the backoff */
    pthread_cond_t cond;
    int running;
};

void
gw_push_signature(const uint8_t *secret, size_t secret_len, const char *body, size_t len,
                  char out[72])
{
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)secret_len, (const uint8_t *)body, len, mac, &mac_len);
    memcpy(out, "sha256=", 7);
    for (unsigned i = 0; i < mac_len && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", mac[i]);
}

static size_t
s_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* One POST; true on a 2xx answer. */
static bool
s_post(gw_push_t *self, const uint8_t id[REMISS_ID_LEN], const char *body)
{
    char sig[72 + 32] = "X-Remiss-Signature: ", idh[64] = "X-Remiss-Message-Id: ";
    char hex[2 * REMISS_ID_LEN + 1];
    long status = 0;
    gw_push_signature(self->secret, self->secret_len, body, strlen(body), sig + strlen(sig));
    remiss_id_to_hex(id, hex);
    strcat(idh, hex);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, sig);
    h = curl_slist_append(h, idh);
    if (c && h) {
        curl_easy_setopt(c, CURLOPT_URL, self->url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)S_POST_TIMEOUT);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard);
        if (self->ca_file[0])
            curl_easy_setopt(c, CURLOPT_CAINFO, self->ca_file);
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    log_emit(status >= 200 && status < 300 ? LOG_DEBUG : LOG_WARN, "gateway.push",
             "message=%s status=%ld", hex, status);
    return status >= 200 && status < 300;
}

/* Sleeps ms unless stopped; false when stopped. */
static bool
s_pause(gw_push_t *self, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->lock);
    while (self->running && pthread_cond_timedwait(&self->cond, &self->lock, &until) == 0)
        ;
    bool running = self->running;
    pthread_mutex_unlock(&self->lock);
    return running;
}

static bool
s_running(gw_push_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool r = self->running;
    pthread_mutex_unlock(&self->lock);
    return r;
}

static void *
s_thread(void *arg)
{
    gw_push_t *self = arg;
    int backoff = S_BACKOFF_MIN;
    while (s_running(self)) {
        uint8_t id[REMISS_ID_LEN];
        char *body = NULL;
        remiss_err_t err;
        if (gw_link_peek(self->link, 500, id, &body) != REMISS_OK)
            continue;
        bool ok = s_post(self, id, body);
        free(body);
        gw_link_count_push(self->link, ok);
        /* Acknowledged only after the case system took it. NOT_FOUND: the
         * case system acknowledged it over the API meanwhile. */
        if (ok &&
            (gw_link_ack(self->link, id, NULL, &err) == REMISS_OK || err.code == GW_E_NOT_FOUND)) {
            backoff = S_BACKOFF_MIN;
            continue;
        }
        if (!s_pause(self, backoff))
            break;
        backoff = backoff >= S_BACKOFF_MAX / 2 ? S_BACKOFF_MAX : backoff * 2;
    }
    return NULL;
}

gw_push_t *
gw_push_start(gw_link_t *link, const char *url, const uint8_t *secret, size_t secret_len,
              const char *ca_file, remiss_err_t *err)
{
    if (secret_len == 0 || secret_len > S_SECRET_MAX) {
        remiss_err_set(err, REMISS_E_CONFIG, "the push secret must be 1 to 256 bytes");
        return NULL;
    }
    gw_push_t *self = calloc(1, sizeof *self);
    if (!self) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    self->link = link;
    snprintf(self->url, sizeof self->url, "%s", url);
    snprintf(self->ca_file, sizeof self->ca_file, "%s", ca_file ? ca_file : "");
    memcpy(self->secret, secret, secret_len);
    self->secret_len = secret_len;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->cond, NULL);
    self->running = 1;
    if (pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        self->running = 0;
        gw_push_stop(&self);
        remiss_err_set(err, REMISS_E_INTERNAL, "cannot start the push thread");
    }
    return self;
}

void
gw_push_stop(gw_push_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_push_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    bool was = self->running;
    self->running = 0;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
    if (was)
        pthread_join(self->thread, NULL);
    OPENSSL_cleanse(self->secret, sizeof self->secret);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
