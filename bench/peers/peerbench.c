/* peerbench: shared options, payload, counters, watchdog and report for the
 * MQTT and AMQP peer benchmarks. See peerbench.h. */
#include "peerbench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* "remissPB" read as a little-endian u64: marks our payloads. */
#define PB_MAGIC UINT64_C(0x42507373696d6572)
/* The watchdog gives threads this long past the timeout to wind down. */
#define PB_GRACE_NS (5 * UINT64_C(1000000000))
#define NS_PER_S    1000000000.0
/* Broker processes whose CPU a run may account (BENCH_BROKER_PIDS). */
#define PB_MAX_PIDS 8

struct pb_run {
    const pb_opts_t *opts;       /* borrowed, outlives the run */
    const char *peer;            /* "mosquitto" or "rabbitmq", for the report */
    char tag[48];                /* unique per run: names topics and queues */
    uint64_t deadline_ns;        /* monotonic time the timeout hits */
    _Atomic uint64_t start_ns;   /* first publish may happen; 0 before go */
    _Atomic uint64_t last_ns;    /* latest first receipt */
    _Atomic uint64_t sent;       /* acknowledged by the broker */
    _Atomic uint64_t received;   /* distinct messages received */
    _Atomic uint64_t dups;       /* repeated deliveries */
    _Atomic uint64_t bad;        /* payloads that are not ours */
    _Atomic int stop;            /* set on failure, timeout or completion */
    _Atomic int reported;        /* the report is printed once */
    _Atomic int exit_code;       /* what the printed report said */
    _Atomic uint64_t *lat_ns;    /* per message id: latency + 1, 0 = not yet */
    _Atomic uint8_t *confirmed;  /* per message id: the broker acknowledged it */
    _Atomic int by_id;           /* confirmations come per id (pb_run_confirm) */
    pthread_mutex_t err_lock;    /* guards err */
    char err[256];               /* first error, empty while none */
    pthread_t watchdog;          /* prints and exits if the run hangs */
    int watchdog_started;        /* whether watchdog needs joining */
    pthread_t sigwaiter;         /* turns SIGINT/SIGTERM into a failed run */
    int sigwaiter_started;       /* whether sigwaiter needs joining */
    _Atomic int closing;         /* tells watchdog and sigwaiter to return */
    int npids;                   /* broker processes named by BENCH_BROKER_PIDS */
    long pids[PB_MAX_PIDS];      /* their pids */
    double broker_cpu0;          /* their user + system seconds at go, -1 unknown */
    double broker_cpu1;          /* the same when the run ended */
    double self_cpu0, self_cpu1; /* this process's user + system seconds */
    _Atomic int cpu_ended;       /* broker_cpu1 / self_cpu1 taken */
};

static void
s_usage(FILE *f, const char *prog)
{
    fprintf(f,
            "usage: %s --senders S --receivers R --count N --size BYTES --rate MSGS_PER_S\n"
            "       --timeout S --certs DIR --port P [--window W]\n"
            "S publishers and R consumers, each its own TLS connection with its own client\n"
            "certificate (client-0 .. client-(S+R-1) in DIR, made by pki.sh) to %s:P.\n"
            "--rate 0 = saturation; --window: unacknowledged publishes per sender and\n"
            "consumer prefetch (default 64). S, R: 1..256; N: 1..1e8; BYTES: %d..%d.\n"
            "Prints one JSON line; exit 1 when incomplete, 2 on bad usage.\n",
            prog, PB_HOST, PB_HEADER_SIZE, PB_MAX_SIZE);
}

/* Parses a number in [lo, hi]; -1 when it is not one. */
static int
s_parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* As s_parse_num, for whole numbers only. */
static int
s_parse_int(const char *s, double lo, double hi, double *out)
{
    if (s_parse_num(s, lo, hi, out) != 0 || *out != floor(*out))
        return -1;
    return 0;
}

int
pb_parse_args(int argc, char **argv, const char *prog, pb_opts_t *opts, int *exit_code)
{
    static const struct option longopts[] = {{"senders", required_argument, NULL, 's'},
                                             {"receivers", required_argument, NULL, 'r'},
                                             {"count", required_argument, NULL, 'n'},
                                             {"size", required_argument, NULL, 'b'},
                                             {"rate", required_argument, NULL, 'q'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"certs", required_argument, NULL, 'c'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    double v = 0;
    int c, idx = 0;

    *opts = (pb_opts_t){.senders = 1,
                        .receivers = 1,
                        .count = 1000,
                        .size = 1024,
                        .rate = 0,
                        .timeout_s = 60,
                        .certs = NULL,
                        .port = 0,
                        .window = 64};
    *exit_code = 2;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        int bad = 0;
        switch (c) {
        case 's':
            bad = s_parse_int(optarg, 1, 256, &v);
            opts->senders = (int)v;
            break;
        case 'r':
            bad = s_parse_int(optarg, 1, 256, &v);
            opts->receivers = (int)v;
            break;
        case 'n':
            bad = s_parse_int(optarg, 1, 1e8, &v);
            opts->count = (uint64_t)v;
            break;
        case 'b':
            bad = s_parse_int(optarg, PB_HEADER_SIZE, PB_MAX_SIZE, &v);
            opts->size = (size_t)v;
            break;
        case 'q':
            bad = s_parse_num(optarg, 0, 1e7, &v);
            opts->rate = v;
            break;
        case 't':
            bad = s_parse_num(optarg, 0.1, 86400, &v);
            opts->timeout_s = v;
            break;
        case 'c':
            opts->certs = optarg;
            break;
        case 'p':
            bad = s_parse_int(optarg, 1, 65535, &v);
            opts->port = (int)v;
            break;
        case 'w':
            bad = s_parse_int(optarg, 1, 65535, &v);
            opts->window = (int)v;
            break;
        case 'h':
            s_usage(stdout, prog);
            *exit_code = 0;
            return -1;
        default:
            s_usage(stderr, prog);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "error: %s: bad value '%s' for --%s (see --help)\n", prog, optarg,
                    longopts[idx].name);
            return -1;
        }
    }
    if (optind != argc || opts->certs == NULL || opts->port == 0) {
        fprintf(stderr, "error: %s: --certs and --port are required\n", prog);
        s_usage(stderr, prog);
        return -1;
    }
    return 0;
}

/* Joins dir and name into out; -1 if it does not fit or is unreadable. */
static int
s_cert_path(const char *dir, const char *name, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= len)
        return -1;
    return access(out, R_OK);
}

int
pb_client_files(const pb_opts_t *opts, int i, char *crt, char *key, size_t len)
{
    char name[32];

    snprintf(name, sizeof(name), "client-%d.crt", i);
    if (s_cert_path(opts->certs, name, crt, len) != 0)
        return -1;
    snprintf(name, sizeof(name), "client-%d.key", i);
    return s_cert_path(opts->certs, name, key, len);
}

int
pb_ca_file(const pb_opts_t *opts, char *ca, size_t len)
{
    return s_cert_path(opts->certs, "ca.crt", ca, len);
}

uint64_t
pb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Sleeps until monotonic time t_ns. */
static void
s_sleep_until(uint64_t t_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000),
                          .tv_nsec = (long)(t_ns % 1000000000)};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *
s_watchdog(void *arg)
{
    pb_run_t *self = arg;

    /* Slices rather than one long sleep, so pb_run_free can end this thread
     * without pthread_cancel. */
    while (pb_now_ns() < self->deadline_ns + PB_GRACE_NS) {
        if (atomic_load(&self->closing))
            return NULL;
        s_sleep_until(pb_now_ns() + 100000000);
    }
    /* Something is stuck in a blocking library call: report what we have (if
     * main has not) and leave without joining, so the wall time stays bounded. */
    pb_run_fail(self, "timeout: threads still busy %.0f s after --timeout, gave up",
                (double)PB_GRACE_NS / NS_PER_S);
    int r = pb_run_report(self);
    _exit(r >= 0 ? r : atomic_load(&self->exit_code));
    return NULL;
}

static void *
s_sigwaiter(void *arg)
{
    pb_run_t *self = arg;
    const struct timespec slice = {0, 100000000};
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    while (!atomic_load(&self->closing)) {
        int sig = sigtimedwait(&set, NULL, &slice);
        if (sig > 0) {
            pb_run_fail(self, "interrupted by signal %d", sig);
            break;
        }
    }
    return NULL;
}

/* user + system seconds of process pid, all its threads, from
 * /proc/PID/stat (fields 14 and 15, after the parenthesised name); -1 if
 * unreadable. */
static double
s_proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    /* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime (fields 3..15). */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Sum over the broker pids; -1 if none is named or one is unreadable. */
static double
s_broker_cpu_s(const pb_run_t *self)
{
    double sum = 0;

    if (self->npids == 0)
        return -1;
    for (int i = 0; i < self->npids; i++) {
        double v = s_proc_cpu_s(self->pids[i]);
        if (v < 0)
            return -1;
        sum += v;
    }
    return sum;
}

static double
s_self_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* BENCH_BROKER_PIDS: whitespace- or comma-separated pids of the broker's
 * processes (remissd; mosquitto; beam.smp; nats-server). */
static void
s_read_pids(pb_run_t *self)
{
    const char *s = getenv("BENCH_BROKER_PIDS");
    char *end;

    while (s != NULL && *s != '\0' && self->npids < PB_MAX_PIDS) {
        if (*s == ' ' || *s == ',' || *s == '\t') {
            s++;
            continue;
        }
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            break;
        self->pids[self->npids++] = v;
        s = end;
    }
}

/* Takes the end-of-run CPU figures once (the run finished or stopped). */
static void
s_cpu_end(pb_run_t *self)
{
    int expected = 0;

    if (!atomic_compare_exchange_strong(&self->cpu_ended, &expected, 1))
        return;
    self->broker_cpu1 = s_broker_cpu_s(self);
    self->self_cpu1 = s_self_cpu_s();
}

pb_run_t *
pb_run_new(const pb_opts_t *opts, const char *peer)
{
    pb_run_t *self = calloc(1, sizeof(*self));
    sigset_t set;

    if (self == NULL)
        return NULL;
    self->opts = opts;
    self->peer = peer;
    self->lat_ns = calloc(opts->count, sizeof(*self->lat_ns));
    self->confirmed = calloc(opts->count, sizeof(*self->confirmed));
    if (self->lat_ns == NULL || self->confirmed == NULL) {
        free(self->lat_ns);
        free(self->confirmed);
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->err_lock, NULL);
    s_read_pids(self);
    snprintf(self->tag, sizeof(self->tag), "%ld-%" PRIu64, (long)getpid(),
             pb_now_ns() / 1000000 % 100000000);
    self->deadline_ns = pb_now_ns() + (uint64_t)(opts->timeout_s * NS_PER_S);
    /* Blocked here, before any thread starts (ours or a client library's),
     * so every thread inherits the mask and only the waiter sees the signal:
     * an interrupted run still prints what it measured. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (pthread_create(&self->watchdog, NULL, s_watchdog, self) == 0)
        self->watchdog_started = 1;
    if (pthread_create(&self->sigwaiter, NULL, s_sigwaiter, self) == 0)
        self->sigwaiter_started = 1;
    return self;
}

void
pb_run_free(pb_run_t **self_p)
{
    pb_run_t *self = self_p ? *self_p : NULL;

    if (self == NULL)
        return;
    atomic_store(&self->closing, 1);
    if (self->watchdog_started)
        pthread_join(self->watchdog, NULL);
    if (self->sigwaiter_started)
        pthread_join(self->sigwaiter, NULL);
    pthread_mutex_destroy(&self->err_lock);
    free(self->lat_ns);
    free(self->confirmed);
    free(self);
    *self_p = NULL;
}

const char *
pb_run_tag(const pb_run_t *self)
{
    return self->tag;
}

void
pb_run_fail(pb_run_t *self, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&self->err_lock);
    if (self->err[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(self->err, sizeof(self->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&self->err_lock);
    atomic_store(&self->stop, 1);
}

int
pb_run_stopping(const pb_run_t *self)
{
    return atomic_load(&self->stop);
}

double
pb_run_remaining_s(const pb_run_t *self)
{
    uint64_t now = pb_now_ns();

    return now >= self->deadline_ns ? 0 : (double)(self->deadline_ns - now) / NS_PER_S;
}

void
pb_run_go(pb_run_t *self)
{
    self->broker_cpu0 = s_broker_cpu_s(self);
    self->self_cpu0 = s_self_cpu_s();
    atomic_store(&self->start_ns, pb_now_ns());
}

int
pb_run_wait_go(const pb_run_t *self)
{
    while (atomic_load(&self->start_ns) == 0) {
        if (atomic_load(&self->stop))
            return -1;
        s_sleep_until(pb_now_ns() + 1000000);
    }
    return atomic_load(&self->stop) ? -1 : 0;
}

uint64_t
pb_run_due_ns(const pb_run_t *self, uint64_t g)
{
    if (self->opts->rate <= 0)
        return 0;
    /* Message g is due g/rate after the start, whichever sender sends it, so
     * the senders together send evenly at --rate. */
    return atomic_load(&self->start_ns) + (uint64_t)((double)g / self->opts->rate * NS_PER_S);
}

int
pb_run_pace(const pb_run_t *self, uint64_t g)
{
    if (self->opts->rate <= 0)
        return atomic_load(&self->stop) ? -1 : 0;
    /* Sleep in slices to notice a stop. */
    uint64_t due = pb_run_due_ns(self, g);
    for (;;) {
        if (atomic_load(&self->stop))
            return -1;
        uint64_t now = pb_now_ns();
        if (now >= due)
            return 0;
        s_sleep_until(due - now > 100000000 ? now + 100000000 : due);
    }
}

uint64_t
pb_run_expected(const pb_run_t *self, int r)
{
    uint64_t n = self->opts->count, rr = (uint64_t)self->opts->receivers;

    return n / rr + ((uint64_t)r < n % rr ? 1 : 0);
}

static void
s_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
s_get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t
pb_payload_stamp(uint8_t *buf, size_t size, uint64_t g)
{
    uint64_t t = pb_now_ns();

    (void)size; /* the rest of the buffer is filler, written once by the caller */
    s_put_u64(buf, PB_MAGIC);
    s_put_u64(buf + 8, g);
    s_put_u64(buf + 16, t);
    return t;
}

void
pb_run_sent(pb_run_t *self, uint64_t n)
{
    atomic_fetch_add(&self->sent, n);
}

void
pb_run_confirm_by_id(pb_run_t *self)
{
    atomic_store(&self->by_id, 1);
}

int
pb_run_confirm(pb_run_t *self, uint64_t g)
{
    uint8_t expect = 0;

    atomic_store(&self->by_id, 1);
    if (g >= self->opts->count)
        return -1;
    if (!atomic_compare_exchange_strong(&self->confirmed[g], &expect, 1))
        return 0;
    atomic_fetch_add(&self->sent, 1);
    return 1;
}

int
pb_run_record(pb_run_t *self, const void *payload, size_t len, uint64_t t_ns)
{
    const uint8_t *p = payload;

    if (len != self->opts->size || len < PB_HEADER_SIZE || s_get_u64(p) != PB_MAGIC) {
        atomic_fetch_add(&self->bad, 1);
        return -1;
    }
    return pb_run_record_stamp(self, s_get_u64(p + 8), s_get_u64(p + 16), t_ns);
}

int
pb_run_record_stamp(pb_run_t *self, uint64_t g, uint64_t t0, uint64_t t_ns)
{
    if (g >= self->opts->count || t0 > t_ns) {
        atomic_fetch_add(&self->bad, 1);
        return -1;
    }
    uint64_t expect = 0;
    /* +1 so that 0 keeps meaning "not received"; the CAS makes a duplicate
     * delivery racing the first one count once. */
    if (!atomic_compare_exchange_strong(&self->lat_ns[g], &expect, t_ns - t0 + 1)) {
        atomic_fetch_add(&self->dups, 1);
        return 0;
    }
    uint64_t last = atomic_load(&self->last_ns);
    while (t_ns > last && !atomic_compare_exchange_weak(&self->last_ns, &last, t_ns))
        ;
    atomic_fetch_add(&self->received, 1);
    return 1;
}

void
pb_run_wait_done(pb_run_t *self)
{
    uint64_t n = self->opts->count;

    while (!atomic_load(&self->stop)) {
        if (atomic_load(&self->received) >= n && atomic_load(&self->sent) >= n)
            break;
        if (pb_now_ns() >= self->deadline_ns) {
            pb_run_fail(self,
                        "timeout: %.1f s passed with %" PRIu64 " of %" PRIu64 " messages received",
                        self->opts->timeout_s, atomic_load(&self->received), n);
            break;
        }
        s_sleep_until(pb_now_ns() + 5000000);
    }
    atomic_store(&self->stop, 1);
    s_cpu_end(self);
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

/* Prints percentile q (0..1, nearest rank) of the sorted samples in ms. */
static void
s_print_pct(const char *name, const uint64_t *v, size_t n, double q)
{
    if (n == 0) {
        printf(",\"%s\":null", name);
        return;
    }
    size_t rank = (size_t)ceil(q * (double)n);
    printf(",\"%s\":%.3f", name, (double)v[rank > 0 ? rank - 1 : 0] / 1e6);
}

/* BENCH_LATENCY_FILE: the sorted latencies (v[0..k)) as "ms fraction"
 * lines for a CDF plot: every rank of the top 1 %, about 2,000 below. */
static void
s_write_latencies(const uint64_t *v, size_t k)
{
    const char *path = getenv("BENCH_LATENCY_FILE");
    size_t step = k / 2000 + 1;
    FILE *f;

    if (path == NULL || *path == '\0' || k == 0 || (f = fopen(path, "w")) == NULL)
        return;
    for (size_t i = 0; i < k; i++)
        if (i % step == 0 || i + k / 100 >= k || i + 1 == k)
            fprintf(f, "%.4f %.6f\n", (double)v[i] / 1e6, (double)(i + 1) / (double)k);
    fclose(f);
}

/* BENCH_LATENCY_SERIES: every message's latency in sending order, as
 * "g ms" lines (0 ms: it did not count), to see when a tail happened. */
static void
s_write_series(pb_run_t *self, uint64_t n)
{
    const char *path = getenv("BENCH_LATENCY_SERIES");
    FILE *f;

    if (path == NULL || *path == '\0' || (f = fopen(path, "w")) == NULL)
        return;
    for (uint64_t g = 0; g < n; g++) {
        uint64_t x = atomic_load(&self->lat_ns[g]);
        fprintf(f, "%" PRIu64 " %.4f\n", g, x ? (double)(x - 1) / 1e6 : 0.0);
    }
    fclose(f);
}

/* The CPU keys: broker seconds and microseconds per message carried, and
 * this load generator's own microseconds per message; null when unknown. */
static void
s_print_cpu(pb_run_t *self, double good)
{
    s_cpu_end(self);
    double b = self->broker_cpu0 >= 0 && self->broker_cpu1 >= 0 && self->npids > 0
                   ? self->broker_cpu1 - self->broker_cpu0
                   : -1;
    double c =
        self->self_cpu0 >= 0 && self->self_cpu1 >= 0 ? self->self_cpu1 - self->self_cpu0 : -1;

    if (atomic_load(&self->start_ns) == 0)
        b = c = -1;
    if (b >= 0 && good > 0)
        printf(",\"broker_cpu_s\":%.3f,\"cpu_us_per_msg\":%.1f", b, b * 1e6 / good);
    else
        printf(",\"broker_cpu_s\":null,\"cpu_us_per_msg\":null");
    if (c >= 0 && good > 0)
        printf(",\"client_cpu_us_per_msg\":%.1f", c * 1e6 / good);
    else
        printf(",\"client_cpu_us_per_msg\":null");
}

int
pb_run_report(pb_run_t *self)
{
    int expected = 0;

    if (!atomic_compare_exchange_strong(&self->reported, &expected, 1))
        return -1;
    uint64_t n = self->opts->count;
    uint64_t sent = atomic_load(&self->sent), received = atomic_load(&self->received);
    uint64_t start = atomic_load(&self->start_ns), last = atomic_load(&self->last_ns);
    uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
    uint64_t unconfirmed = 0;
    int by_id = atomic_load(&self->by_id);
    size_t k = 0;

    /* With per-id confirmations a message counts only if the broker
     * acknowledged it and it arrived. */
    for (uint64_t g = 0; v != NULL && g < n; g++) {
        uint64_t x = atomic_load(&self->lat_ns[g]);
        if (x != 0 && by_id && !atomic_load(&self->confirmed[g]))
            unconfirmed++;
        else if (x != 0)
            v[k++] = x - 1;
    }
    s_write_series(self, n);
    qsort(v, k, sizeof(*v), s_cmp_u64);
    double secs = start != 0 && last > start ? (double)(last - start) / NS_PER_S : 0;
    pthread_mutex_lock(&self->err_lock);
    int complete = self->err[0] == '\0' && sent >= n && received >= n && unconfirmed == 0;
    if (!complete && self->err[0] == '\0')
        snprintf(self->err, sizeof(self->err),
                 "incomplete: %" PRIu64 " sent, %" PRIu64 " received of %" PRIu64, sent, received,
                 n);
    /* k: the messages that count (all received ones unless confirmed per id). */
    double good = by_id ? (double)k : (double)received;
    printf("{\"peer\":\"%s\",\"sent\":%" PRIu64 ",\"received\":%" PRIu64
           ",\"seconds\":%.3f,\"msgs_per_s\":%.1f",
           self->peer, sent, received, secs, secs > 0 ? good / secs : 0.0);
    s_print_pct("p50_ms", v, k, 0.50);
    s_print_pct("p99_ms", v, k, 0.99);
    s_print_pct("p999_ms", v, k, 0.999);
    s_print_cpu(self, good);
    if (by_id)
        printf(",\"unconfirmed\":%" PRIu64, unconfirmed);
    printf(",\"duplicates\":%" PRIu64 ",\"complete\":%s}\n", atomic_load(&self->dups),
           complete ? "true" : "false");
    fflush(stdout);
    if (!complete)
        fprintf(stderr, "error: %s\n", self->err);
    if (atomic_load(&self->bad) != 0)
        fprintf(stderr, "warning: %" PRIu64 " foreign payloads ignored\n", atomic_load(&self->bad));
    pthread_mutex_unlock(&self->err_lock);
    if (v != NULL)
        s_write_latencies(v, k);
    free(v);
    atomic_store(&self->exit_code, complete ? 0 : 1);
    return complete ? 0 : 1;
}
