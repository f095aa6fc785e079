/* amqp_bench: end-to-end load against RabbitMQ over TLS with client
 * certificates (SASL EXTERNAL), the AMQP peer of the remiss benchmark.
 *
 * R consumers, each with its own durable queue, manual acks and a prefetch of
 * --window; S publishers with publisher confirms, persistent messages
 * (delivery_mode 2) through the default exchange, at most --window messages
 * unconfirmed each. Every client is its own thread and TLS connection with
 * its own certificate; librabbitmq connections are not shared across threads.
 * Message g goes from publisher g % S to the queue of consumer g % R. Latency
 * runs from just before amqp_basic_publish() to amqp_consume_message()'s
 * return in the consumer. */
#include "peerbench.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CHANNEL 1
/* How long one blocking wait lasts before the stop flag is looked at again. */
#define SLICE_MS 100

typedef struct {
    pb_run_t *run;         /* shared counters, borrowed */
    const pb_opts_t *opts; /* borrowed */
    _Atomic int *ready;    /* clients connected (and queue declared) */
    int cert;              /* client certificate index */
    int index;             /* receiver or sender index */
    char queue[96];        /* receiver's queue; unused by senders */
    char (*queues)[96];    /* all receivers' queue names, for senders */
} aq_client_t;

/* Publisher-confirm bookkeeping for one sender's channel. */
typedef struct {
    uint8_t *done;      /* per delivery tag (1-based): confirmed or nacked */
    uint64_t published; /* delivery tags handed out */
    uint64_t low;       /* every tag below this is done */
    uint64_t settled;   /* confirmed + nacked */
} aq_confirms_t;

static struct timeval
s_tv_ms(long ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* Describes a failed RPC reply in buf. */
static const char *
s_reply_str(amqp_rpc_reply_t r, char *buf, size_t len)
{
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(buf, len, "%s", amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        snprintf(buf, len, "server closed connection: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        snprintf(buf, len, "server closed channel: %u %.*s", m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
    } else {
        snprintf(buf, len, "unexpected reply type %d", (int)r.reply_type);
    }
    return buf;
}

/* Fails the run unless the last RPC on conn succeeded. */
static int
s_check_rpc(aq_client_t *c, amqp_connection_state_t conn, const char *what)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    char buf[256];

    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    pb_run_fail(c->run, "%s (client-%d): %s", what, c->cert, s_reply_str(r, buf, sizeof(buf)));
    return -1;
}

/* Opens a TLS connection with client certificate c->cert, logs in with SASL
 * EXTERNAL and opens CHANNEL. Returns the connection or NULL (run failed). */
static amqp_connection_state_t
s_connect(aq_client_t *c)
{
    char ca[4096], crt[4096], key[4096], buf[256];
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = NULL;
    double left = pb_run_remaining_s(c->run);
    struct timeval tv = s_tv_ms((long)(left * 1000) + 1);
    int rc;

    if (conn == NULL || (sock = amqp_ssl_socket_new(conn)) == NULL) {
        pb_run_fail(c->run, "cannot create TLS socket");
        goto fail;
    }
    if (pb_ca_file(c->opts, ca, sizeof(ca)) != 0 ||
        pb_client_files(c->opts, c->cert, crt, key, sizeof(crt)) != 0) {
        pb_run_fail(c->run, "no ca.crt or client-%d.{crt,key} in %s (run pki.sh with N >= S+R)",
                    c->cert, c->opts->certs);
        goto fail;
    }
    /* librabbitmq's own host check knows DNS names only and our server is
     * 127.0.0.1 (an IP SAN), so let OpenSSL check the address as part of
     * chain verification instead. */
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    SSL_CTX *ctx = amqp_ssl_socket_get_context(sock);
    if (ctx == NULL || X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), PB_HOST) != 1) {
        pb_run_fail(c->run, "cannot set the expected server address for TLS");
        goto fail;
    }
    if ((rc = amqp_ssl_socket_set_cacert(sock, ca)) != AMQP_STATUS_OK ||
        (rc = amqp_ssl_socket_set_key(sock, crt, key)) != AMQP_STATUS_OK ||
        (rc = amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST)) !=
            AMQP_STATUS_OK) {
        pb_run_fail(c->run, "TLS setup for client-%d: %s", c->cert, amqp_error_string2(rc));
        goto fail;
    }
    /* Every handshake and RPC is bounded by what is left of --timeout. */
    amqp_set_handshake_timeout(conn, &tv);
    amqp_set_rpc_timeout(conn, &tv);
    if ((rc = amqp_socket_open_noblock(sock, PB_HOST, c->opts->port, &tv)) != AMQP_STATUS_OK) {
        pb_run_fail(c->run, "cannot connect to rabbitmq at %s:%d: %s", PB_HOST, c->opts->port,
                    amqp_error_string2(rc));
        goto fail;
    }
    /* RabbitMQ takes the user from the certificate; the identity we send
     * must still be non-empty (librabbitmq 0.11 treats "" as out of memory). */
    char ident[32];
    snprintf(ident, sizeof(ident), "bench-client-%d", c->cert);
    amqp_rpc_reply_t r =
        amqp_login(conn, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_EXTERNAL, ident);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        pb_run_fail(c->run, "login as client-%d: %s", c->cert, s_reply_str(r, buf, sizeof(buf)));
        goto fail;
    }
    amqp_channel_open(conn, CHANNEL);
    if (s_check_rpc(c, conn, "channel.open") != 0)
        goto fail;
    return conn;
fail:
    if (conn != NULL)
        amqp_destroy_connection(conn);
    return NULL;
}

static void
s_disconnect(amqp_connection_state_t conn)
{
    if (conn == NULL)
        return;
    amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Marks delivery tag t done; returns 1 if it was not yet. */
static int
s_settle(aq_confirms_t *cf, uint64_t t)
{
    if (t == 0 || t > cf->published || cf->done[t])
        return 0;
    cf->done[t] = 1;
    cf->settled++;
    while (cf->low <= cf->published && cf->done[cf->low])
        cf->low++;
    return 1;
}

/* Handles one basic.ack / basic.nack (single or multiple). */
static void
s_on_confirm(aq_client_t *c, aq_confirms_t *cf, uint64_t tag, int multiple, int ack)
{
    uint64_t from = multiple ? cf->low : tag, n = 0;

    for (uint64_t t = from; t <= tag; t++)
        n += (uint64_t)s_settle(cf, t);
    if (ack)
        pb_run_sent(c->run, n);
    else if (n != 0)
        pb_run_fail(c->run, "rabbitmq refused (nack) %llu message(s) from client-%d",
                    (unsigned long long)n, c->cert);
}

/* Reads frames for up to ms milliseconds (0 = only what is already there)
 * and applies confirms. Returns -1 on a connection or channel error. */
static int
s_read_confirms(aq_client_t *c, amqp_connection_state_t conn, aq_confirms_t *cf, long ms)
{
    amqp_frame_t f;

    for (;;) {
        struct timeval tv = s_tv_ms(ms);
        int rc = amqp_simple_wait_frame_noblock(conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK) {
            pb_run_fail(c->run, "client-%d: %s", c->cert, amqp_error_string2(rc));
            return -1;
        }
        ms = 0; /* after one frame, take only what is already there */
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            s_on_confirm(c, cf, a->delivery_tag, a->multiple, 1);
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const amqp_basic_nack_t *a = f.payload.method.decoded;
            s_on_confirm(c, cf, a->delivery_tag, a->multiple, 0);
        } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                   f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            pb_run_fail(c->run, "rabbitmq closed the channel of client-%d", c->cert);
            return -1;
        }
    }
}

/* Publishes this sender's messages; every one persistent, at most --window
 * without a confirm. */
static void
s_publish_all(aq_client_t *c, amqp_connection_state_t conn, aq_confirms_t *cf, uint8_t *buf)
{
    const pb_opts_t *o = c->opts;
    amqp_basic_properties_t props = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                     .delivery_mode = AMQP_DELIVERY_PERSISTENT};
    amqp_bytes_t body = {.len = o->size, .bytes = buf};

    for (uint64_t g = (uint64_t)c->index; g < o->count; g += (uint64_t)o->senders) {
        if (s_read_confirms(c, conn, cf, 0) != 0)
            return;
        while (cf->published - cf->settled >= (uint64_t)o->window) {
            if (pb_run_stopping(c->run) || s_read_confirms(c, conn, cf, SLICE_MS) != 0)
                return;
        }
        if (pb_run_pace(c->run, g) != 0)
            return;
        const char *q = c->queues[g % (uint64_t)o->receivers];
        pb_payload_stamp(buf, o->size, g);
        int rc = amqp_basic_publish(conn, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(q), 0, 0,
                                    &props, body);
        if (rc != AMQP_STATUS_OK) {
            pb_run_fail(c->run, "publish from client-%d: %s", c->cert, amqp_error_string2(rc));
            return;
        }
        cf->published++;
    }
    while (cf->settled < cf->published && !pb_run_stopping(c->run))
        if (s_read_confirms(c, conn, cf, SLICE_MS) != 0)
            return;
}

static void *
s_sender(void *arg)
{
    aq_client_t *c = arg;
    const pb_opts_t *o = c->opts;
    uint64_t mine = o->count / (uint64_t)o->senders + 1;
    aq_confirms_t cf = {.low = 1};
    uint8_t *buf = malloc(o->size);
    amqp_connection_state_t conn = NULL;

    cf.done = calloc(mine + 1, 1);
    if (buf == NULL || cf.done == NULL) {
        pb_run_fail(c->run, "out of memory");
        goto out;
    }
    memset(buf, 'x', o->size);
    if ((conn = s_connect(c)) == NULL)
        goto out;
    amqp_confirm_select(conn, CHANNEL);
    if (s_check_rpc(c, conn, "confirm.select") != 0)
        goto out;
    atomic_fetch_add(c->ready, 1);
    if (pb_run_wait_go(c->run) == 0)
        s_publish_all(c, conn, &cf, buf);
out:
    s_disconnect(conn);
    free(cf.done);
    free(buf);
    return NULL;
}

/* Handles a frame that arrived instead of a delivery; -1 if it ends the run. */
static int
s_consumer_frame(aq_client_t *c, amqp_connection_state_t conn)
{
    amqp_frame_t f;
    struct timeval tv = s_tv_ms(SLICE_MS);
    int rc = amqp_simple_wait_frame_noblock(conn, &f, &tv);

    if (rc == AMQP_STATUS_TIMEOUT)
        return 0;
    if (rc != AMQP_STATUS_OK) {
        pb_run_fail(c->run, "consumer client-%d: %s", c->cert, amqp_error_string2(rc));
        return -1;
    }
    if (f.frame_type == AMQP_FRAME_METHOD && (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                                              f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
                                              f.payload.method.id == AMQP_BASIC_CANCEL_METHOD)) {
        pb_run_fail(c->run, "rabbitmq ended the consumer of %s", c->queue);
        return -1;
    }
    return 0;
}

/* Receives this consumer's share, acking each message after recording it.
 * Returns 0 once all of it arrived, -1 on stop or error. */
static int
s_consume_all(aq_client_t *c, amqp_connection_state_t conn)
{
    uint64_t want = pb_run_expected(c->run, c->index), got = 0;
    char buf[256];

    while (got < want) {
        if (pb_run_stopping(c->run))
            return -1;
        amqp_envelope_t env;
        struct timeval tv = s_tv_ms(SLICE_MS);

        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        uint64_t t = pb_now_ns();
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            if (pb_run_record(c->run, env.message.body.bytes, env.message.body.len, t) == 1)
                got++;
            int rc = amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 0);
            amqp_destroy_envelope(&env);
            if (rc != AMQP_STATUS_OK) {
                pb_run_fail(c->run, "ack on %s: %s", c->queue, amqp_error_string2(rc));
                return -1;
            }
        } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   r.library_error == AMQP_STATUS_TIMEOUT) {
            continue;
        } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
                   r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            if (s_consumer_frame(c, conn) != 0)
                return -1;
        } else {
            pb_run_fail(c->run, "consume on %s: %s", c->queue, s_reply_str(r, buf, sizeof(buf)));
            return -1;
        }
    }
    return 0;
}

static void *
s_receiver(void *arg)
{
    aq_client_t *c = arg;
    amqp_bytes_t q = amqp_cstring_bytes(c->queue);
    amqp_connection_state_t conn = s_connect(c);

    if (conn == NULL)
        return NULL;
    /* Durable, not exclusive, not auto-delete: it survives a broker restart
     * and this consumer going away, like a recipient's mailbox.
     * BENCH_AMQP_QUEUE_TYPE=quorum declares a quorum queue (replicated Raft
     * log, fsync before the confirm) instead of a classic one. */
    const char *type = getenv("BENCH_AMQP_QUEUE_TYPE");
    amqp_table_entry_t qt = {.key = amqp_cstring_bytes("x-queue-type"),
                             .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                       .value.bytes = amqp_cstring_bytes(type ? type : "")}};
    amqp_table_t args = {.num_entries = type != NULL && *type != '\0', .entries = &qt};
    amqp_queue_declare(conn, CHANNEL, q, 0, 1, 0, 0, args);
    if (s_check_rpc(c, conn, "queue.declare") != 0)
        goto out;
    amqp_basic_qos(conn, CHANNEL, 0, (uint16_t)c->opts->window, 0);
    if (s_check_rpc(c, conn, "basic.qos") != 0)
        goto out;
    amqp_basic_consume(conn, CHANNEL, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (s_check_rpc(c, conn, "basic.consume") != 0)
        goto out;
    atomic_fetch_add(c->ready, 1);
    /* A consumer that got its share leaves nothing behind; after a failure
     * the queue stays for inspection. */
    if (s_consume_all(c, conn) == 0) {
        amqp_queue_delete(conn, CHANNEL, q, 0, 0);
        amqp_get_rpc_reply(conn);
    }
out:
    s_disconnect(conn);
    return NULL;
}

/* Waits until n clients are ready; -1 on stop or timeout. */
static int
s_wait_ready(pb_run_t *run, _Atomic int *ready, int n, const char *what)
{
    while (atomic_load(ready) < n) {
        if (pb_run_stopping(run))
            return -1;
        if (pb_run_remaining_s(run) <= 0) {
            pb_run_fail(run, "timeout: only %d of %d %s ready", atomic_load(ready), n, what);
            return -1;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    pb_opts_t opts;
    pb_run_t *run = NULL;
    aq_client_t *clients = NULL;
    pthread_t *threads = NULL;
    char(*queues)[96] = NULL;
    _Atomic int ready = 0;
    int code, n, started = 0;

    if (pb_parse_args(argc, argv, "amqp_bench", &opts, &code) != 0)
        return code;
    n = opts.senders + opts.receivers;
    if ((run = pb_run_new(&opts, "rabbitmq")) == NULL ||
        (clients = calloc((size_t)n, sizeof(*clients))) == NULL ||
        (threads = calloc((size_t)n, sizeof(*threads))) == NULL ||
        (queues = calloc((size_t)opts.receivers, sizeof(*queues))) == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int rcv = i < opts.receivers;
        clients[i] = (aq_client_t){.run = run,
                                   .opts = &opts,
                                   .ready = &ready,
                                   .cert = i,
                                   .index = rcv ? i : i - opts.receivers,
                                   .queues = queues};
        if (rcv) {
            snprintf(queues[i], sizeof(queues[i]), "remiss-bench.%s.r%d", pb_run_tag(run), i);
            memcpy(clients[i].queue, queues[i], sizeof(clients[i].queue));
        }
    }
    /* Queues must exist before the first publish, or the default exchange
     * would drop (and still confirm) the messages: receivers first. */
    for (int i = 0; i < n; i++) {
        if (i == opts.receivers && s_wait_ready(run, &ready, opts.receivers, "consumers") != 0)
            break;
        if (pthread_create(&threads[i], NULL, i < opts.receivers ? s_receiver : s_sender,
                           &clients[i]) != 0) {
            pb_run_fail(run, "cannot start client thread");
            break;
        }
        started++;
    }
    if (started == n && s_wait_ready(run, &ready, n, "clients") == 0)
        pb_run_go(run);
    pb_run_wait_done(run);
    code = pb_run_report(run);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pb_run_free(&run);
    free(queues);
    free(threads);
    free(clients);
    return code;
}
