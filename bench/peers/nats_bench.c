/* nats_bench: end-to-end load against NATS JetStream (Debian's nats-server
 * with file storage) over TLS with client certificates, with Debian's libnats
 * C client: the NATS peer of the remiss benchmark.
 *
 * One stream with file storage holds subjects remiss-bench.TAG.r<i>. R
 * receivers each subscribe to their subject with a push consumer, explicit
 * (manual) acks and MaxAckPending = --window; S senders publish with
 * js_PublishAsync, at most --window without their publish acknowledgement
 * (the PubAck, which JetStream sends once the message is in its file store:
 * written, not fsynced; nats-server syncs its files periodically). Message g
 * goes from sender g % S to receiver g % R. Every connection has its own
 * certificate. Latency runs from just before js_PublishAsync to the
 * receiver's message callback. */
#include "peerbench.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pb_run_t *run;         /* shared counters, borrowed */
    const pb_opts_t *opts; /* borrowed */
    natsConnection *nc;    /* owned connection */
    jsCtx *js;             /* its JetStream context */
    natsSubscription *sub; /* receivers: the push consumer */
    int index;             /* certificate index: receivers first */
    int sender;            /* sender index, or -1 for a receiver */
    char subject[96];      /* receiver's subject */
} nb_client_t;

typedef struct {
    nb_client_t *clients; /* receivers first, then senders */
    int n;                /* S + R */
    pthread_t *threads;   /* one per sender */
    int threads_started;  /* how many to join */
    char stream[64];      /* stream name, "" until made */
} nb_bench_t;

static uint64_t
s_u64_le(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The message id of one of our payloads, or UINT64_MAX. */
static uint64_t
s_msg_id(natsMsg *msg)
{
    const char *d = natsMsg_GetData(msg);

    if (d == NULL || natsMsg_GetDataLength(msg) < PB_HEADER_SIZE)
        return UINT64_MAX;
    return s_u64_le((const uint8_t *)d + 8);
}

static void
s_on_puback(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    nb_client_t *c = closure;

    (void)js;
    if (pa != NULL && pae == NULL) {
        if (pb_run_confirm(c->run, s_msg_id(msg)) < 0)
            pb_run_fail(c->run, "publish acknowledgement for an unknown message");
    } else {
        pb_run_fail(c->run, "publish refused: %s",
                    pae != NULL && pae->ErrText ? pae->ErrText : "no acknowledgement");
    }
    natsMsg_Destroy(msg);
}

static void
s_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    nb_client_t *c = closure;
    uint64_t t = pb_now_ns();

    (void)nc;
    (void)sub;
    pb_run_record(c->run, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), t);
    if (natsMsg_Ack(msg, NULL) != NATS_OK)
        pb_run_fail(c->run, "ack failed: %s", nats_GetLastError(NULL));
    natsMsg_Destroy(msg);
}

/* Connects client c with its own certificate; JetStream context with the
 * publish window for senders. */
static int
s_connect(nb_client_t *c)
{
    char url[64], ca[512], crt[512], key[512];
    natsOptions *no = NULL;
    natsStatus st;
    jsOptions jo;

    if (pb_ca_file(c->opts, ca, sizeof(ca)) != 0 ||
        pb_client_files(c->opts, c->index, crt, key, sizeof(crt)) != 0) {
        pb_run_fail(c->run, "certificates for client %d missing in %s", c->index, c->opts->certs);
        return -1;
    }
    snprintf(url, sizeof(url), "tls://%s:%d", PB_HOST, c->opts->port);
    st = natsOptions_Create(&no);
    if (st == NATS_OK)
        st = natsOptions_SetURL(no, url);
    if (st == NATS_OK)
        st = natsOptions_SetSecure(no, true);
    if (st == NATS_OK)
        st = natsOptions_LoadCATrustedCertificates(no, ca);
    if (st == NATS_OK)
        st = natsOptions_LoadCertificatesChain(no, crt, key);
    if (st == NATS_OK)
        st = natsOptions_SetMaxPendingMsgs(no, 1000000);
    if (st == NATS_OK)
        st = natsConnection_Connect(&c->nc, no);
    natsOptions_Destroy(no);
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = c->opts->window;
    jo.PublishAsync.AckHandler = s_on_puback;
    jo.PublishAsync.AckHandlerClosure = c;
    jo.PublishAsync.StallWait = 1000;
    if (st == NATS_OK)
        st = natsConnection_JetStream(&c->js, c->nc, &jo);
    if (st != NATS_OK) {
        pb_run_fail(c->run, "client %d: %s: %s", c->index, natsStatus_GetText(st),
                    nats_GetLastError(NULL));
        return -1;
    }
    return 0;
}

static int
s_make_stream(nb_bench_t *b, pb_run_t *run)
{
    char subj[96];
    const char *subjects[1] = {subj};
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;

    snprintf(b->stream, sizeof(b->stream), "RB-%s", pb_run_tag(run));
    snprintf(subj, sizeof(subj), "remiss-bench.%s.>", pb_run_tag(run));
    jsStreamConfig_Init(&sc);
    sc.Name = b->stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    natsStatus st = js_AddStream(&si, b->clients[0].js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    if (st != NATS_OK) {
        pb_run_fail(run, "cannot create the stream: %s (%d): %s", natsStatus_GetText(st), (int)jerr,
                    nats_GetLastError(NULL));
        b->stream[0] = '\0';
        return -1;
    }
    return 0;
}

static int
s_subscribe(nb_client_t *c)
{
    jsSubOptions so;
    jsErrCode jerr = 0;

    jsSubOptions_Init(&so);
    so.ManualAck = true;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = c->opts->window;
    natsStatus st = js_Subscribe(&c->sub, c->js, c->subject, s_on_msg, c, NULL, &so, &jerr);
    if (st != NATS_OK) {
        pb_run_fail(c->run, "subscribe %s: %s (%d)", c->subject, natsStatus_GetText(st), (int)jerr);
        return -1;
    }
    return 0;
}

static void *
s_sender(void *arg)
{
    nb_client_t *c = arg;
    const pb_opts_t *o = c->opts;
    uint8_t *buf = malloc(o->size);
    char subj[96];

    if (buf == NULL || pb_run_wait_go(c->run) != 0) {
        free(buf);
        return NULL;
    }
    for (uint64_t g = (uint64_t)c->sender; g < o->count; g += (uint64_t)o->senders) {
        if (pb_run_pace(c->run, g) != 0)
            break;
        snprintf(subj, sizeof(subj), "remiss-bench.%s.r%d", pb_run_tag(c->run),
                 (int)(g % (uint64_t)o->receivers));
        natsStatus st;
        do {
            pb_payload_stamp(buf, o->size, g);
            st = js_PublishAsync(c->js, subj, buf, (int)o->size, NULL);
        } while (st == NATS_TIMEOUT && !pb_run_stopping(c->run));
        if (st != NATS_OK) {
            if (!pb_run_stopping(c->run))
                pb_run_fail(c->run, "publish: %s", natsStatus_GetText(st));
            break;
        }
    }
    free(buf);
    return NULL;
}

static int
s_bench_open(nb_bench_t *b, pb_run_t *run, const pb_opts_t *o)
{
    int r = o->receivers;

    b->n = o->senders + r;
    b->clients = calloc((size_t)b->n, sizeof(*b->clients));
    b->threads = calloc((size_t)o->senders, sizeof(*b->threads));
    if (b->clients == NULL || b->threads == NULL) {
        pb_run_fail(run, "out of memory");
        return -1;
    }
    for (int i = 0; i < b->n; i++) {
        nb_client_t *c = &b->clients[i];
        *c = (nb_client_t){.run = run, .opts = o, .index = i, .sender = i < r ? -1 : i - r};
        snprintf(c->subject, sizeof(c->subject), "remiss-bench.%s.r%d", pb_run_tag(run), i);
        if (s_connect(c) != 0)
            return -1;
    }
    if (s_make_stream(b, run) != 0)
        return -1;
    for (int i = 0; i < r; i++)
        if (s_subscribe(&b->clients[i]) != 0)
            return -1;
    pb_run_confirm_by_id(run);
    for (int s = 0; s < o->senders; s++) {
        if (pthread_create(&b->threads[s], NULL, s_sender, &b->clients[r + s]) != 0) {
            pb_run_fail(run, "cannot start sender thread");
            return -1;
        }
        b->threads_started++;
    }
    return 0;
}

static void
s_bench_close(nb_bench_t *b, pb_run_t *run)
{
    pb_run_fail(run, "stopping"); /* no-op when an error was already recorded */
    for (int s = 0; s < b->threads_started; s++)
        pthread_join(b->threads[s], NULL);
    for (int i = 0; b->clients != NULL && i < b->n; i++) {
        nb_client_t *c = &b->clients[i];
        if (c->sub != NULL) {
            natsSubscription_Unsubscribe(c->sub);
            natsSubscription_Destroy(c->sub);
        }
    }
    if (b->stream[0] != '\0')
        js_DeleteStream(b->clients[0].js, b->stream, NULL, NULL);
    for (int i = 0; b->clients != NULL && i < b->n; i++) {
        jsCtx_Destroy(b->clients[i].js);
        natsConnection_Destroy(b->clients[i].nc);
    }
    free(b->clients);
    free(b->threads);
}

int
main(int argc, char **argv)
{
    pb_opts_t opts;
    nb_bench_t bench = {0};
    pb_run_t *run;
    int code;

    if (pb_parse_args(argc, argv, "nats_bench", &opts, &code) != 0)
        return code;
    if ((run = pb_run_new(&opts, "nats")) == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    if (s_bench_open(&bench, run, &opts) == 0)
        pb_run_go(run);
    pb_run_wait_done(run);
    code = pb_run_report(run);
    s_bench_close(&bench, run);
    pb_run_free(&run);
    nats_Close();
    return code;
}
