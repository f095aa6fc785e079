/* mqtt_bench: end-to-end load against Mosquitto over TLS with client
 * certificates, the MQTT peer of the remiss benchmark.
 *
 * R subscribers (clean_session false, QoS 1, one topic each) and S publishers
 * (QoS 1), every one its own TLS connection with its own certificate. Message
 * g goes from publisher g % S to subscriber g % R. A publisher keeps at most
 * --window messages without PUBACK, and the broker's max_inflight_messages
 * (mosquitto.sh) gives each subscriber the same window. Latency runs from just
 * before mosquitto_publish() to the subscriber's message callback. */
#include "peerbench.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEPALIVE_S 30

typedef struct {
    pb_run_t *run;          /* shared counters, borrowed */
    const pb_opts_t *opts;  /* borrowed */
    struct mosquitto *mosq; /* owned client */
    int cert;               /* client certificate index */
    int receiver;           /* receiver index, or -1 for a publisher */
    int sender;             /* publisher index, or -1 for a receiver */
    char topic[96];         /* receiver's topic */
    pthread_mutex_t lock;   /* guards the fields below and signals cond */
    pthread_cond_t cond;    /* CONNACK, SUBACK or PUBACK arrived */
    int connack;            /* -1 until CONNACK, then its code */
    int subscribed;         /* SUBACK granted QoS 1 */
    int outstanding;        /* published, not yet acknowledged */
    int loop_started;       /* network thread running */
} mq_client_t;

typedef struct {
    mq_client_t *clients; /* receivers first, then senders */
    int n;                /* S + R */
    pthread_t *threads;   /* one per sender */
    int threads_started;  /* how many of them to join */
} mq_bench_t;

/* Absolute CLOCK_MONOTONIC time ms from now, for condition waits. */
static struct timespec
s_in_ms(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void
s_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    mq_client_t *c = obj;

    pthread_mutex_lock(&c->lock);
    c->connack = rc;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (rc != 0) {
        pb_run_fail(c->run, "mosquitto refused client-%d: %s", c->cert,
                    mosquitto_connack_string(rc));
        return;
    }
    /* Subscribing on every CONNACK also covers a reconnect. */
    if (c->receiver >= 0 && mosquitto_subscribe(mosq, NULL, c->topic, 1) != MOSQ_ERR_SUCCESS)
        pb_run_fail(c->run, "subscribe %s failed", c->topic);
}

static void
s_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int qos_count, const int *granted)
{
    mq_client_t *c = obj;

    (void)mosq;
    (void)mid;
    if (qos_count < 1 || granted[0] != 1) {
        pb_run_fail(c->run, "subscription to %s not granted at QoS 1", c->topic);
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->subscribed = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* For QoS 1 libmosquitto calls this when the PUBACK arrives. */
static void
s_on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    mq_client_t *c = obj;

    (void)mosq;
    (void)mid;
    pb_run_sent(c->run, 1);
    pthread_mutex_lock(&c->lock);
    c->outstanding--;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void
s_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    uint64_t t = pb_now_ns();
    mq_client_t *c = obj;

    (void)mosq;
    pb_run_record(c->run, msg->payload, (size_t)msg->payloadlen, t);
}

static void
s_on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    mq_client_t *c = obj;

    (void)mosq;
    /* rc 0 is our own disconnect at the end; anything else loses the run's
     * fairness (libmosquitto would reconnect and redeliver), so it fails. */
    if (rc != 0 && !pb_run_stopping(c->run))
        pb_run_fail(c->run, "client-%d lost its connection to 127.0.0.1:%d: %s", c->cert,
                    c->opts->port, mosquitto_strerror(rc));
}

/* libmosquitto reports TLS failures (untrusted certificate, handshake alert)
 * only through its log and then keeps reconnecting; turn them into a prompt
 * failure that names the cause. */
static void
s_on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    mq_client_t *c = obj;

    (void)mosq;
    if ((level & MOSQ_LOG_ERR) != 0 && !pb_run_stopping(c->run))
        pb_run_fail(c->run, "client-%d: %s", c->cert, str);
}

/* Creates, configures and connects client c; starts its network thread. */
static int
s_client_open(mq_client_t *c)
{
    char ca[4096], crt[4096], key[4096], id[128];
    int rc;

    if (pb_ca_file(c->opts, ca, sizeof(ca)) != 0 ||
        pb_client_files(c->opts, c->cert, crt, key, sizeof(crt)) != 0) {
        pb_run_fail(c->run, "no ca.crt or client-%d.{crt,key} in %s (run pki.sh with N >= S+R)",
                    c->cert, c->opts->certs);
        return -1;
    }
    snprintf(id, sizeof(id), "rb-%s-%c%d", pb_run_tag(c->run), c->receiver >= 0 ? 'r' : 's',
             c->receiver >= 0 ? c->receiver : c->sender);
    /* Subscribers keep a persistent session so the broker queues for them. */
    c->mosq = mosquitto_new(id, c->receiver < 0, c);
    if (c->mosq == NULL) {
        pb_run_fail(c->run, "mosquitto_new: out of memory");
        return -1;
    }
    mosquitto_connect_callback_set(c->mosq, s_on_connect);
    mosquitto_subscribe_callback_set(c->mosq, s_on_subscribe);
    mosquitto_publish_callback_set(c->mosq, s_on_publish);
    mosquitto_message_callback_set(c->mosq, s_on_message);
    mosquitto_disconnect_callback_set(c->mosq, s_on_disconnect);
    mosquitto_log_callback_set(c->mosq, s_on_log);
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    /* The library's own queue stays empty: we never exceed the window. */
    mosquitto_max_inflight_messages_set(c->mosq, (unsigned int)c->opts->window);
    if ((rc = mosquitto_tls_set(c->mosq, ca, NULL, crt, key, NULL)) != MOSQ_ERR_SUCCESS ||
        (rc = mosquitto_tls_opts_set(c->mosq, 1 /* SSL_VERIFY_PEER */, NULL, NULL)) !=
            MOSQ_ERR_SUCCESS) {
        pb_run_fail(c->run, "TLS setup for client-%d: %s", c->cert, mosquitto_strerror(rc));
        return -1;
    }
    /* When the log callback already named the cause, this adds nothing: the
     * first error recorded is the one reported. */
    if ((rc = mosquitto_connect(c->mosq, PB_HOST, c->opts->port, KEEPALIVE_S)) !=
        MOSQ_ERR_SUCCESS) {
        pb_run_fail(c->run, "cannot connect to mosquitto at %s:%d: %s", PB_HOST, c->opts->port,
                    mosquitto_strerror(rc));
        return -1;
    }
    if ((rc = mosquitto_loop_start(c->mosq)) != MOSQ_ERR_SUCCESS) {
        pb_run_fail(c->run, "mosquitto_loop_start: %s", mosquitto_strerror(rc));
        return -1;
    }
    c->loop_started = 1;
    return 0;
}

/* Waits until c is connected (and subscribed, for a receiver). */
static int
s_client_wait_ready(mq_client_t *c)
{
    int ready = 0;

    pthread_mutex_lock(&c->lock);
    while (!pb_run_stopping(c->run)) {
        ready = c->connack == 0 && (c->receiver < 0 || c->subscribed);
        if (ready)
            break;
        if (pb_run_remaining_s(c->run) <= 0) {
            pb_run_fail(c->run, "timeout: client-%d got no %s from 127.0.0.1:%d", c->cert,
                        c->connack < 0 ? "CONNACK" : "SUBACK", c->opts->port);
            break;
        }
        struct timespec ts = s_in_ms(50);
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    pthread_mutex_unlock(&c->lock);
    return ready ? 0 : -1;
}

static void
s_client_close(mq_client_t *c)
{
    if (c->mosq != NULL) {
        if (c->loop_started) {
            pthread_mutex_lock(&c->lock);
            int connected = c->connack == 0;
            pthread_mutex_unlock(&c->lock);
            int rc = mosquitto_disconnect(c->mosq);
            /* A client that never got its CONNACK may sit in a TLS handshake
             * or a reconnect and never see the DISCONNECT: cancel its thread
             * rather than wait for it. */
            mosquitto_loop_stop(c->mosq, !connected || rc != MOSQ_ERR_SUCCESS);
        }
        mosquitto_destroy(c->mosq);
        c->mosq = NULL;
    }
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

typedef struct {
    mq_client_t *self;      /* this publisher */
    mq_client_t *receivers; /* the R receivers, for their topics */
} mq_sender_arg_t;

static void *
s_sender(void *arg)
{
    mq_sender_arg_t *a = arg;
    mq_client_t *c = a->self;
    const pb_opts_t *o = c->opts;
    uint8_t *buf = malloc(o->size);

    if (buf == NULL) {
        pb_run_fail(c->run, "out of memory");
        return NULL;
    }
    memset(buf, 'x', o->size);
    if (pb_run_wait_go(c->run) != 0)
        goto out;
    for (uint64_t g = (uint64_t)c->sender; g < o->count; g += (uint64_t)o->senders) {
        pthread_mutex_lock(&c->lock);
        while (c->outstanding >= o->window && !pb_run_stopping(c->run)) {
            struct timespec ts = s_in_ms(100);
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        }
        pthread_mutex_unlock(&c->lock);
        if (pb_run_pace(c->run, g) != 0)
            goto out;
        const mq_client_t *to = &a->receivers[g % (uint64_t)o->receivers];
        pb_payload_stamp(buf, o->size, g);
        /* Counted before the call: the PUBACK may beat mosquitto_publish's return. */
        pthread_mutex_lock(&c->lock);
        c->outstanding++;
        pthread_mutex_unlock(&c->lock);
        int rc = mosquitto_publish(c->mosq, NULL, to->topic, (int)o->size, buf, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            pb_run_fail(c->run, "publish from client-%d: %s", c->cert, mosquitto_strerror(rc));
            goto out;
        }
    }
out:
    free(buf);
    return NULL;
}

static int
s_bench_open(mq_bench_t *b, pb_run_t *run, const pb_opts_t *o)
{
    int r = o->receivers;

    b->n = o->senders + r;
    b->clients = calloc((size_t)b->n, sizeof(*b->clients));
    b->threads = calloc((size_t)o->senders, sizeof(*b->threads));
    if (b->clients == NULL || b->threads == NULL) {
        free(b->clients);
        free(b->threads);
        *b = (mq_bench_t){0};
        pb_run_fail(run, "out of memory");
        return -1;
    }
    for (int i = 0; i < b->n; i++) {
        mq_client_t *c = &b->clients[i];
        *c = (mq_client_t){.run = run,
                           .opts = o,
                           .cert = i,
                           .receiver = i < r ? i : -1,
                           .sender = i < r ? -1 : i - r,
                           .connack = -1};
        pthread_mutex_init(&c->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->cond, &ca);
        pthread_condattr_destroy(&ca);
        if (c->receiver >= 0)
            snprintf(c->topic, sizeof(c->topic), "remiss-bench/%s/r%d", pb_run_tag(run), i);
    }
    /* Receivers first: a publish before the SUBACK would go nowhere. */
    for (int i = 0; i < b->n; i++)
        if (s_client_open(&b->clients[i]) != 0)
            return -1;
    for (int i = 0; i < b->n; i++)
        if (s_client_wait_ready(&b->clients[i]) != 0)
            return -1;
    return 0;
}

static int
s_bench_run(mq_bench_t *b, pb_run_t *run, const pb_opts_t *o, mq_sender_arg_t *args)
{
    for (int s = 0; s < o->senders; s++) {
        args[s] = (mq_sender_arg_t){.self = &b->clients[o->receivers + s], .receivers = b->clients};
        if (pthread_create(&b->threads[s], NULL, s_sender, &args[s]) != 0) {
            pb_run_fail(run, "cannot start publisher thread");
            return -1;
        }
        b->threads_started++;
    }
    pb_run_go(run);
    pb_run_wait_done(run);
    return 0;
}

static void
s_bench_close(mq_bench_t *b, pb_run_t *run)
{
    pb_run_fail(run, "stopping"); /* no-op when an error was already recorded */
    for (int s = 0; s < b->threads_started; s++)
        pthread_join(b->threads[s], NULL);
    for (int i = 0; b->clients != NULL && i < b->n; i++)
        s_client_close(&b->clients[i]);
    free(b->clients);
    free(b->threads);
}

int
main(int argc, char **argv)
{
    pb_opts_t opts;
    mq_bench_t bench = {0};
    mq_sender_arg_t *args = NULL;
    pb_run_t *run = NULL;
    int code;

    if (pb_parse_args(argc, argv, "mqtt_bench", &opts, &code) != 0)
        return code;
    mosquitto_lib_init();
    if ((run = pb_run_new(&opts, "mosquitto")) == NULL ||
        (args = calloc((size_t)opts.senders, sizeof(*args))) == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    if (s_bench_open(&bench, run, &opts) == 0)
        s_bench_run(&bench, run, &opts, args);
    else
        pb_run_wait_done(run); /* records nothing new: the error is set */
    code = pb_run_report(run);
    s_bench_close(&bench, run);
    pb_run_free(&run);
    free(args);
    mosquitto_lib_cleanup();
    return code;
}
