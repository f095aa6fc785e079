/* gateway_bench: HTTP in, HTTP out through two remiss-gateways, the row of
 * the benchmark for case systems that speak JSON over HTTP (bench/README.md).
 *
 *   gateway_bench --senders S --count N --size BYTES --rate R --timeout T
 *                 --send PORT --token-file FILE --push-port PORT
 *
 * The sending gateway (party bench-s0, on 127.0.0.1:--send) takes referrals
 * as POST /v1/messages on S keep-alive connections, each waiting for its
 * answer (the broker's receipt) before the next; the receiving gateway
 * (bench-r0, deliver_to = http://127.0.0.1:--push-port/push) POSTs each
 * message to this program's HTTP listener, which answers 200 so the
 * gateway acknowledges it. A consent is registered through the sending
 * gateway first. Latency runs from just before the POST to the push's
 * arrival; the referral's free_text carries the message number and the send
 * time and pads the JSON to about --size bytes. Prints the same JSON line
 * as the other load generators (peerbench). The push signature is not
 * checked (a case system would; it costs one HMAC). */
#include "peerbench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GB_STAMP     "remiss-bench g=%016" PRIx64 " t=%016" PRIx64 " "
#define GB_RESP_MAX  16384
#define GB_BODY_MAX  (PB_MAX_SIZE + 4096)
#define GB_BASE_SIZE 420 /* the referral's JSON without free_text */

typedef struct {
    pb_opts_t pb;
    int send_port;
    int push_port;
    char token[256];
    char consent_id[64];
} gb_opts_t;

typedef struct {
    const gb_opts_t *o;
    pb_run_t *run;
    int index;
    pthread_t thread;
} gb_sender_t;

/* One push being read: the body so far. */
typedef struct {
    char *buf;
    size_t len;
} gb_push_t;

/* ------------------------------------------------------------ HTTP client */

static int
s_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    inet_pton(AF_INET, PB_HOST, &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int
s_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0 && errno != EINTR)
            return -1;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

/* Reads one response into resp (NUL-terminated body); its status, or -1. */
static int
s_read_response(int fd, char *resp, size_t size)
{
    size_t have = 0, want = 0;
    char *body = NULL;

    while (body == NULL || have < (size_t)(body - resp) + want) {
        if (have + 1 >= size)
            return -1;
        ssize_t r = recv(fd, resp + have, size - 1 - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        resp[have] = '\0';
        char *end = body ? NULL : strstr(resp, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strcasestr(resp, "\r\nContent-Length:");
            want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            body = end + 4;
        }
    }
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    memmove(resp, body, want);
    resp[want] = '\0';
    return status;
}

/* POSTs body to path on a keep-alive connection (*fd, reconnected as
 * needed); the status, or -1. */
static int
s_post(const gb_opts_t *o, int *fd, const char *path, const char *body, char *resp, size_t size)
{
    char head[512];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     path, o->token, blen);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (*fd < 0 && (*fd = s_connect(o->send_port)) < 0)
            return -1;
        if (s_write_all(*fd, head, (size_t)n) == 0 && s_write_all(*fd, body, blen) == 0) {
            int st = s_read_response(*fd, resp, size);
            if (st > 0)
                return st;
        }
        close(*fd); /* the server closed a kept-alive connection: once more */
        *fd = -1;
    }
    return -1;
}

/* ------------------------------------------------------------ messages */

static void
s_dates(char today[11], char until[11])
{
    time_t now = time(NULL), later = now + 365 * 86400;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(today, 11, "%Y-%m-%d", &tm);
    gmtime_r(&later, &tm);
    strftime(until, 11, "%Y-%m-%d", &tm);
}

static int
s_consent(const gb_opts_t *o, pb_run_t *run)
{
    char body[1024], resp[GB_RESP_MAX], today[11], until[11];
    int fd = -1;

    s_dates(today, until);
    snprintf(body, sizeof body,
             "{\"type\":\"consent_grant\",\"to\":\"broker\",\"consent_id\":\"%s\","
             "\"subject\":{\"personnummer\":\"20060115-2382\"},\"from_parties\":[\"role:sdf\"],"
             "\"to_parties\":[\"role:jobbtorg\"],\"purposes\":[\"anvisning\"],"
             "\"categories\":[\"identity\",\"social\",\"free_text\"],\"valid_from\":\"%s\","
             "\"valid_until\":\"%s\",\"given_by\":\"subject\",\"evidence_sha256\":\"%064d\"}",
             o->consent_id, today, until, 0);
    int st = s_post(o, &fd, "/v1/consents", body, resp, sizeof resp);
    if (fd >= 0)
        close(fd);
    if (st != 200) {
        pb_run_fail(run, "consent through the gateway: HTTP %d: %.200s", st, st > 0 ? resp : "");
        return -1;
    }
    return 0;
}

/* The referral JSON of message g sent at t into buf. */
static void
s_referral(const gb_opts_t *o, uint64_t g, uint64_t t, char *buf, size_t size)
{
    size_t pad = o->pb.size > GB_BASE_SIZE + 64 ? o->pb.size - GB_BASE_SIZE : 64;
    int n = snprintf(buf, size,
                     "{\"type\":\"referral\",\"to\":\"bench-r0\",\"purpose\":\"anvisning\","
                     "\"consent_id\":\"%s\",\"subject\":{\"personnummer\":\"20060115-2382\","
                     "\"name\":\"Kim Andersson\"},\"social\":{\"income_support\":true,"
                     "\"notes\":\"Ekonomiskt bistånd sedan mars.\"},"
                     "\"reason\":\"Anvisning till Jobbtorg för coachning.\","
                     "\"requested_support\":\"coach, SYV\",\"free_text\":\"" GB_STAMP,
                     o->consent_id, g, t);
    size_t used = (size_t)n;
    while (used < size - 4 && used < (size_t)n + pad - 50)
        buf[used++] = 'x';
    snprintf(buf + used, size - used, "\"}");
}

static void *
s_sender(void *arg)
{
    gb_sender_t *s = arg;
    const gb_opts_t *o = s->o;
    char *body = malloc(GB_BODY_MAX), *resp = malloc(GB_RESP_MAX);
    int fd = -1;

    if (body == NULL || resp == NULL || pb_run_wait_go(s->run) != 0)
        goto out;
    for (uint64_t g = (uint64_t)s->index; g < o->pb.count; g += (uint64_t)o->pb.senders) {
        if (pb_run_pace(s->run, g) != 0)
            break;
        s_referral(o, g, pb_now_ns(), body, GB_BODY_MAX);
        int st = s_post(o, &fd, "/v1/messages", body, resp, GB_RESP_MAX);
        if (st != 200) {
            pb_run_fail(s->run, "send through the gateway: HTTP %d: %.200s", st,
                        st > 0 ? resp : "no answer");
            break;
        }
        pb_run_confirm(s->run, g);
    }
out:
    if (fd >= 0)
        close(fd);
    free(body);
    free(resp);
    return NULL;
}

/* ------------------------------------------------------------ push target */

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
         const char *version, const char *data, size_t *data_size, void **con_cls)
{
    pb_run_t *run = cls;
    gb_push_t *p = *con_cls;

    (void)url;
    (void)method;
    (void)version;
    if (p == NULL) {
        if ((p = calloc(1, sizeof *p)) == NULL)
            return MHD_NO;
        *con_cls = p;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (p->len + *data_size > GB_BODY_MAX)
            return MHD_NO;
        char *nb = realloc(p->buf, p->len + *data_size + 1);
        if (nb == NULL)
            return MHD_NO;
        memcpy(nb + p->len, data, *data_size);
        p->len += *data_size;
        nb[p->len] = '\0';
        p->buf = nb;
        *data_size = 0;
        return MHD_YES;
    }
    uint64_t t = pb_now_ns(), g, t0;
    const char *s = p->buf ? strstr(p->buf, "remiss-bench g=") : NULL;
    if (s != NULL && sscanf(s, "remiss-bench g=%16" SCNx64 " t=%16" SCNx64, &g, &t0) == 2)
        pb_run_record_stamp(run, g, t0, t);
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static void
s_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    gb_push_t *p = *con_cls;

    (void)cls;
    (void)c;
    (void)t;
    if (p != NULL)
        free(p->buf);
    free(p);
    *con_cls = NULL;
}

/* ------------------------------------------------------------ main */

static int
s_args(int argc, char **argv, gb_opts_t *o)
{
    static const struct option lo[] = {
        {"senders", 1, NULL, 's'},   {"count", 1, NULL, 'n'},     {"size", 1, NULL, 'b'},
        {"rate", 1, NULL, 'q'},      {"timeout", 1, NULL, 't'},   {"window", 1, NULL, 'w'},
        {"send", 1, NULL, 'p'},      {"push-port", 1, NULL, 'P'}, {"token-file", 1, NULL, 'T'},
        {"receivers", 1, NULL, 'r'}, {NULL, 0, NULL, 0}};
    int c;
    FILE *f;

    *o = (gb_opts_t){.pb = {.senders = 1,
                            .receivers = 1,
                            .count = 1000,
                            .size = 1024,
                            .timeout_s = 60,
                            .window = 1}};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            o->pb.senders = atoi(optarg);
            break;
        case 'n':
            o->pb.count = strtoull(optarg, NULL, 10);
            break;
        case 'b':
            o->pb.size = strtoul(optarg, NULL, 10);
            break;
        case 'q':
            o->pb.rate = strtod(optarg, NULL);
            break;
        case 't':
            o->pb.timeout_s = strtod(optarg, NULL);
            break;
        case 'p':
            o->send_port = atoi(optarg);
            break;
        case 'P':
            o->push_port = atoi(optarg);
            break;
        case 'w':
        case 'r':
            break; /* one gateway a side; each POST waits */
        case 'T':
            if ((f = fopen(optarg, "r")) == NULL || fgets(o->token, sizeof o->token, f) == NULL)
                o->token[0] = '\0';
            if (f != NULL)
                fclose(f);
            o->token[strcspn(o->token, "\r\n")] = '\0';
            break;
        default:
            return -1;
        }
    }
    return o->pb.senders >= 1 && o->pb.senders <= 256 && o->pb.count >= 1 &&
                   o->pb.count <= 100000000 && o->pb.size <= PB_MAX_SIZE && o->pb.rate >= 0 &&
                   o->pb.timeout_s > 0 && o->send_port > 0 && o->send_port < 65536 &&
                   o->push_port > 0 && o->push_port < 65536 && o->token[0] != '\0' && optind == argc
               ? 0
               : -1;
}

int
main(int argc, char **argv)
{
    gb_opts_t o;
    gb_sender_t *s = NULL;
    struct MHD_Daemon *d = NULL;
    int started = 0;

    if (s_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: gateway_bench --senders S --count N --size B --rate R --timeout T"
                        " --send PORT --push-port PORT --token-file FILE\n");
        return 2;
    }
    pb_run_t *run = pb_run_new(&o.pb, "gateway");
    if (run == NULL || (s = calloc((size_t)o.pb.senders, sizeof *s)) == NULL)
        return 1;
    snprintf(o.consent_id, sizeof o.consent_id, "c-gw-%s", pb_run_tag(run));
    pb_run_confirm_by_id(run);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.push_port)};
    inet_pton(AF_INET, PB_HOST, &la.sin_addr); /* loopback only */
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                         (uint16_t)o.push_port, NULL, NULL, s_answer, run, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&la, MHD_OPTION_NOTIFY_COMPLETED, s_done, NULL,
                         MHD_OPTION_END);
    if (d == NULL)
        pb_run_fail(run, "cannot listen on 127.0.0.1:%d for the pushes", o.push_port);
    else if (s_consent(&o, run) == 0) {
        for (int i = 0; i < o.pb.senders; i++) {
            s[i] = (gb_sender_t){.o = &o, .run = run, .index = i};
            if (pthread_create(&s[i].thread, NULL, s_sender, &s[i]) != 0)
                break;
            started++;
        }
        pb_run_go(run);
    }
    pb_run_wait_done(run);
    int code = pb_run_report(run);
    pb_run_fail(run, "stopping");
    for (int i = 0; i < started; i++)
        pthread_join(s[i].thread, NULL);
    if (d != NULL)
        MHD_stop_daemon(d);
    pb_run_free(&run);
    free(s);
    return code;
}
