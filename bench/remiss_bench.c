/* remiss_bench: end-to-end load against remissd through libremiss, the
 * remiss side of the benchmark beside Mosquitto and RabbitMQ.
 *
 * S sending parties (bench-s0.., role sdf) and R receiving parties (bench-r0..,
 * role jobbtorg), each a thread with its own remiss_client_t and its own
 * certificate. Message g goes from sender g % S to receiver g % R, as with the
 * peers (bench/peers/README.md), and every run measures what the peers
 * measure with the same counters and report (peerbench.c).
 *
 * Each message is a REFERRAL envelope of --size bytes serialized: a subject
 * with a valid synthetic personnummer, purpose anvisning, a consent id, a
 * social block and free text. The free text starts with the message id g and
 * the CLOCK_MONOTONIC send time, taken just before remiss_submit (which signs),
 * and is padded to the size. A receiver takes the time as soon as remiss_recv
 * returns (the library has verified the sender's certificate and signature),
 * then acknowledges. So latency covers client signing, broker verification,
 * decision, durable commit, audit, delivery and recipient verification.
 *
 * A sender first registers a consent (CONSENT_GRANT to "broker") covering its
 * referrals. A broker that does not know consents yet may refuse or queue it;
 * that is reported on stderr and the run goes on. A referral that gets any
 * receipt but OK ends the run: a benchmark of refusals measures nothing.
 *
 * Message ids are chosen here: 8 bytes that mix g with a per-run secret
 * (well spread, as id hash tables expect random ids) and 8 bytes g XOR
 * another, so a receipt or a delivery names its message without a lookup.
 * Only messages that got an OK receipt AND arrived are counted. */
#include "peerbench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remiss.h"

#define RB_SUBJECT   "20060115-2382" /* synthetic, valid check digit, 20 in 2026 */
#define RB_PURPOSE   "anvisning"
#define RB_SLICE_MS  100 /* longest blocking call: notices a stop */
#define RB_STAMP_FMT "remiss-bench g=%016" PRIx64 " t=%016" PRIx64 " "
#define RB_STAMP_LEN 51 /* strlen of RB_STAMP_FMT once formatted */
#define RB_PARTY_MAX 32

typedef struct {
    pb_opts_t pb;         /* the options the peers share */
    const char *pki;      /* PKI directory (ca.crt, broker.crt, parties/) */
    const char *endpoint; /* broker endpoint */
    int idle;             /* parties bench-i0.. that connect, subscribe, idle */
    const char *recv_endpoint; /* receivers' endpoint (another node), or NULL */
} rb_opts_t;

typedef struct rb_bench rb_bench_t;

/* One party: a thread, a client handle and its certificate. */
typedef struct {
    rb_bench_t *bench;        /* borrowed */
    int index;                /* sender or receiver number */
    bool is_sender;           /* sender (sdf) or receiver (jobbtorg) */
    bool is_idle;             /* a receiver that only stays connected */
    char party[RB_PARTY_MAX]; /* bench-s<i> or bench-r<i> */
    remiss_client_t *client;  /* owned by the thread, used only there */
    pthread_t thread;         /* runs s_party */
    bool started;             /* thread needs joining */
} rb_party_t;

struct rb_bench {
    const rb_opts_t *opts;   /* borrowed */
    pb_run_t *run;           /* shared counters and report */
    uint64_t id_mix, id_xor; /* per-run secrets that make message ids */
    char tag[48];            /* unique per run: names consent ids */
    char today[11];          /* YYYY-MM-DD, consent validity */
    char until[11];          /* a year later */
    size_t text_len;         /* free_text bytes that make an envelope --size */
    rb_party_t *parties;     /* senders first, then receivers */
    int nparties;            /* S + R + idle */
    _Atomic int ready;       /* parties connected and set up */
};

/* ------------------------------------------------------------------ options */

static void
s_usage(FILE *f)
{
    fprintf(f,
            "usage: remiss_bench --senders S --receivers R --count N --size BYTES\n"
            "       --rate MSGS_PER_S --timeout S --pki DIR --endpoint E [--window W] [--idle N]\n"
            "       [--recv-endpoint E2]\n"
            "S sending parties bench-s0.. (role sdf) and R receiving parties bench-r0..\n"
            "(role jobbtorg), each its own connection and certificate from DIR/parties, send\n"
            "N signed referrals of BYTES serialized to remissd at E. --rate 0 = saturation;\n"
            "--window: receipts outstanding per sender and deliveries in flight per\n"
            "receiver (default 64). --idle N: N more parties bench-i0.. (role jobbtorg)\n"
            "connect and subscribe but get nothing. --recv-endpoint E2: receivers connect\n"
            "to E2 (another node on the same store: cross-node delivery). Prints one JSON\n"
            "line; exit 1 when incomplete, 2 on bad usage.\n");
}

/* Parses a number in [lo, hi], whole if whole is set; -1 when it is not one. */
static int
s_parse_num(const char *s, double lo, double hi, bool whole, double *out)
{
    char *end;

    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi ||
        (whole && v != floor(v)))
        return -1;
    *out = v;
    return 0;
}

/* Same options, ranges and defaults as the peers (pb_parse_args), with --pki
 * and --endpoint instead of --certs and --port. Returns 0 to run, else -1
 * with the exit status in *exit_code. */
static int
s_parse_args(int argc, char **argv, rb_opts_t *o, int *exit_code)
{
    static const struct option longopts[] = {
        {"senders", required_argument, NULL, 's'},  {"receivers", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},    {"size", required_argument, NULL, 'b'},
        {"rate", required_argument, NULL, 'q'},     {"timeout", required_argument, NULL, 't'},
        {"window", required_argument, NULL, 'w'},   {"pki", required_argument, NULL, 'k'},
        {"endpoint", required_argument, NULL, 'e'}, {"idle", required_argument, NULL, 'i'},
        {"recv-endpoint", required_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    double v = 0;
    int c, idx = 0;

    *o = (rb_opts_t){.pb = {.senders = 1,
                            .receivers = 1,
                            .count = 1000,
                            .size = 1024,
                            .timeout_s = 60,
                            .window = 64}};
    *exit_code = 2;
    while ((c = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
        int bad = 0;
        switch (c) {
        case 's':
            bad = s_parse_num(optarg, 1, 256, true, &v);
            o->pb.senders = (int)v;
            break;
        case 'r':
            bad = s_parse_num(optarg, 1, 256, true, &v);
            o->pb.receivers = (int)v;
            break;
        case 'n':
            bad = s_parse_num(optarg, 1, 1e8, true, &v);
            o->pb.count = (uint64_t)v;
            break;
        case 'b':
            bad = s_parse_num(optarg, PB_HEADER_SIZE, PB_MAX_SIZE, true, &v);
            o->pb.size = (size_t)v;
            break;
        case 'q':
            bad = s_parse_num(optarg, 0, 1e7, false, &v);
            o->pb.rate = v;
            break;
        case 't':
            bad = s_parse_num(optarg, 0.1, 86400, false, &v);
            o->pb.timeout_s = v;
            break;
        case 'w':
            bad = s_parse_num(optarg, 1, 65535, true, &v);
            o->pb.window = (int)v;
            break;
        case 'k':
            o->pki = optarg;
            break;
        case 'E':
            o->recv_endpoint = optarg;
            break;
        case 'e':
            o->endpoint = optarg;
            break;
        case 'i':
            bad = s_parse_num(optarg, 0, 4096, true, &v);
            o->idle = (int)v;
            break;
        case 'h':
            s_usage(stdout);
            *exit_code = 0;
            return -1;
        default:
            s_usage(stderr);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "error: remiss_bench: bad value '%s' for --%s (see --help)\n", optarg,
                    longopts[idx].name);
            return -1;
        }
    }
    if (optind != argc || o->pki == NULL || o->endpoint == NULL) {
        fprintf(stderr, "error: remiss_bench: --pki and --endpoint are required\n");
        s_usage(stderr);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ message ids */

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

/* splitmix64's finaliser: a bijection, so distinct g give distinct ids. */
static uint64_t
s_mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

static void
s_id_make(const rb_bench_t *b, uint64_t g, uint8_t id[REMISS_ID_LEN])
{
    s_put_u64(id, s_mix(g ^ b->id_mix));
    s_put_u64(id + 8, g ^ b->id_xor);
}

/* The message number an id of this run names; UINT64_MAX when it is none. */
static uint64_t
s_id_number(const rb_bench_t *b, const uint8_t *id)
{
    uint64_t g = s_get_u64(id + 8) ^ b->id_xor;

    if (g >= b->opts->pb.count || s_get_u64(id) != s_mix(g ^ b->id_mix))
        return UINT64_MAX;
    return g;
}

/* ------------------------------------------------------------ envelopes */

/* A referral from a sender, every pointer into the sender's own storage. */
typedef struct {
    Remiss__Envelope env;
    Remiss__Person subject;
    Remiss__Social social;
    Remiss__Referral referral;
    uint8_t id[REMISS_ID_LEN];
    char consent_id[96];
    char *text; /* free_text: stamp, then filler */
} rb_referral_t;

static int64_t
s_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fills r for sender p with len bytes of free text (r->text must hold len + 1). */
static void
s_referral_init(rb_referral_t *r, rb_party_t *p, size_t len)
{
    const rb_bench_t *b = p->bench;

    r->env = (Remiss__Envelope)REMISS__ENVELOPE__INIT;
    r->subject = (Remiss__Person)REMISS__PERSON__INIT;
    r->social = (Remiss__Social)REMISS__SOCIAL__INIT;
    r->referral = (Remiss__Referral)REMISS__REFERRAL__INIT;
    snprintf(r->consent_id, sizeof(r->consent_id), "c-bench-%s-s%d", b->tag, p->index);
    r->subject.personnummer = RB_SUBJECT;
    r->subject.name = "Kim Andersson";
    r->social.notes = "Ekonomiskt bistånd sedan mars; vill börja arbeta eller studera.";
    r->social.income_support = 1;
    r->social.decision_ref = "SoL 4:1 beslut 2026-0815";
    r->social.housing = "andrahandskontrakt";
    r->referral.reason = "Anvisning till Jobbtorg för coachning och studie- och yrkesvägledning.";
    r->referral.requested_support = "coach, SYV";
    r->referral.caseworker = "Handläggare, försörjningsstöd";
    memset(r->text, 'x', len);
    memcpy(r->text, "remiss-bench", 12 < len ? 12 : len);
    r->text[len] = '\0';
    r->env.message_id.data = r->id;
    r->env.message_id.len = REMISS_ID_LEN;
    r->env.sender = p->party;
    r->env.recipient = "bench-r0";
    r->env.created_at = s_wall_ms();
    r->env.type = REMISS__MESSAGE_TYPE__REFERRAL;
    r->env.purpose = RB_PURPOSE;
    r->env.consent_id = r->consent_id;
    r->env.subject = &r->subject;
    r->env.social = &r->social;
    r->env.free_text = r->text;
    r->env.body_case = REMISS__ENVELOPE__BODY_REFERRAL;
    r->env.referral = &r->referral;
}

/* Free-text length that makes the serialized referral size bytes; 0 when
 * even the stamp alone makes it larger. */
static size_t
s_text_len_for(rb_party_t *p, size_t size)
{
    rb_referral_t r;
    size_t len = RB_STAMP_LEN;
    char *text = malloc(size + RB_STAMP_LEN + 1);

    if (text == NULL)
        return 0;
    /* The length prefix of free_text grows by a byte at 128 and 16384, so
     * step towards the size a few times rather than solve for it. */
    for (int i = 0; i < 4; i++) {
        r.text = text;
        s_referral_init(&r, p, len);
        size_t have = remiss__envelope__get_packed_size(&r.env);
        if (have == size)
            break;
        if (have > size && len - RB_STAMP_LEN < have - size) {
            len = 0;
            break;
        }
        len = have > size ? len - (have - size) : len + (size - have);
    }
    free(text);
    return len;
}

/* Writes the stamp for message g at the start of the free text. */
static uint64_t
s_referral_stamp(rb_referral_t *r, const rb_bench_t *b, uint64_t g)
{
    char stamp[RB_STAMP_LEN + 1];
    uint64_t t = pb_now_ns();

    snprintf(stamp, sizeof(stamp), RB_STAMP_FMT, g, t);
    memcpy(r->text, stamp, RB_STAMP_LEN);
    s_id_make(b, g, r->id);
    r->env.created_at = s_wall_ms();
    return t;
}

/* Reads the stamp back; -1 if the text does not start with one. */
static int
s_stamp_parse(const char *text, uint64_t *g, uint64_t *t)
{
    char *end;

    if (text == NULL || strncmp(text, "remiss-bench g=", 15) != 0 || strlen(text) < RB_STAMP_LEN)
        return -1;
    errno = 0;
    *g = strtoull(text + 15, &end, 16);
    if (errno != 0 || end != text + 31 || strncmp(end, " t=", 3) != 0)
        return -1;
    *t = strtoull(end + 3, &end, 16);
    if (errno != 0 || end != text + RB_STAMP_LEN - 1 || *end != ' ')
        return -1;
    return 0;
}

/* Registers the consent the sender's referrals rely on. A broker that does
 * not handle consents yet may refuse it: that is only reported. Returns -1
 * when the broker could not be reached at all. */
static int
s_consent_grant(rb_party_t *p, const char *consent_id)
{
    const rb_bench_t *b = p->bench;
    Remiss__Envelope env = REMISS__ENVELOPE__INIT;
    Remiss__Person subject = REMISS__PERSON__INIT;
    Remiss__ConsentGrant grant = REMISS__CONSENT_GRANT__INIT;
    char *from[] = {"role:sdf"}, *to[] = {"role:jobbtorg"}, *purposes[] = {RB_PURPOSE};
    char *categories[] = {"identity", "social", "free_text"};
    uint8_t id[REMISS_ID_LEN], digest[32];
    char evidence[65];
    unsigned int dlen = sizeof(digest);
    remiss_receipt_t rc;
    remiss_err_t err;

    /* Evidence: the hash of what would be the signed consent form. */
    EVP_Digest(consent_id, strlen(consent_id), digest, &dlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(evidence + 2 * i, 3, "%02x", digest[i]);
    if (RAND_bytes(id, sizeof(id)) != 1) {
        pb_run_fail(b->run, "%s: no randomness for a message id", p->party);
        return -1;
    }
    subject.personnummer = RB_SUBJECT;
    grant.n_from_parties = 1;
    grant.from_parties = from;
    grant.n_to_parties = 1;
    grant.to_parties = to;
    grant.n_purposes = 1;
    grant.purposes = purposes;
    grant.n_categories = sizeof(categories) / sizeof(categories[0]);
    grant.categories = categories;
    grant.valid_from = (char *)b->today;
    grant.valid_until = (char *)b->until;
    grant.given_by = REMISS__GIVEN_BY__SUBJECT;
    grant.evidence_sha256 = evidence;
    env.message_id.data = id;
    env.message_id.len = sizeof(id);
    env.sender = p->party;
    env.recipient = "broker";
    env.type = REMISS__MESSAGE_TYPE__CONSENT_GRANT;
    env.consent_id = (char *)consent_id;
    env.subject = &subject;
    env.body_case = REMISS__ENVELOPE__BODY_CONSENT_GRANT;
    env.consent_grant = &grant;
    remiss_code_t r = remiss_send(p->client, &env, &rc, &err);
    bool answered = rc.signed_receipt != NULL || r < REMISS_E_USAGE;
    remiss_receipt_clear(&rc);
    if (r == REMISS_OK)
        return 0;
    if (!answered) {
        pb_run_fail(b->run, "%s: consent grant: %s: %s", p->party, remiss_code_name(r), err.text);
        return -1;
    }
    fprintf(stderr, "warning: %s: consent grant %s refused (%s: %s); going on without it\n",
            p->party, consent_id, remiss_code_name(r), err.text);
    return 0;
}

/* ------------------------------------------------------------ senders */

/* Handles one receipt for sender p; -1 ends the run. */
static int
s_on_receipt(rb_party_t *p, remiss_code_t r, const remiss_receipt_t *rc, const remiss_err_t *err,
             int *outstanding)
{
    const rb_bench_t *b = p->bench;

    if (r == REMISS_E_TIMEOUT)
        return 0;
    if (r != REMISS_OK) {
        pb_run_fail(b->run, "%s: receipt %s: %s", p->party, remiss_code_name(r), err->text);
        return -1;
    }
    uint64_t g = s_id_number(b, rc->message_id);
    if (g == UINT64_MAX || g % (uint64_t)b->opts->pb.senders != (uint64_t)p->index) {
        pb_run_fail(b->run, "%s: OK receipt for a message it did not send", p->party);
        return -1;
    }
    /* A repeated receipt (a resend) is not a second message. */
    if (pb_run_confirm(b->run, g) == 1)
        (*outstanding)--;
    return 0;
}

static void
s_send_loop(rb_party_t *p, rb_referral_t *ref)
{
    const rb_bench_t *b = p->bench;
    const pb_opts_t *o = &b->opts->pb;
    uint64_t g = (uint64_t)p->index;
    int outstanding = 0;
    char to[RB_PARTY_MAX];
    remiss_receipt_t rc;
    remiss_err_t err;

    ref->env.recipient = to;
    while (!pb_run_stopping(b->run) && (g < o->count || outstanding > 0)) {
        long wait_ms = RB_SLICE_MS;
        if (g < o->count && outstanding < o->window) {
            uint64_t due = pb_run_due_ns(b->run, g), now = pb_now_ns();
            if (due <= now) {
                uint8_t id[REMISS_ID_LEN];
                snprintf(to, sizeof(to), "bench-r%d", (int)(g % (uint64_t)o->receivers));
                s_referral_stamp(ref, b, g);
                remiss_code_t r = remiss_submit(p->client, &ref->env, id, &err);
                if (r != REMISS_OK) {
                    pb_run_fail(b->run, "%s: submit: %s: %s", p->party, remiss_code_name(r),
                                err.text);
                    break;
                }
                outstanding++;
                g += (uint64_t)o->senders;
                continue;
            }
            if (outstanding == 0) {
                if (pb_run_pace(b->run, g) != 0)
                    break;
                continue;
            }
            /* Collect receipts until the next message is due. A timeout of 0
             * would not read the socket at all, hence at least 1 ms. */
            wait_ms = (long)((due - now) / 1000000) + 1;
            if (wait_ms > RB_SLICE_MS)
                wait_ms = RB_SLICE_MS;
        }
        remiss_code_t r = remiss_next_receipt(p->client, (int)wait_ms, &rc, &err);
        int stop = s_on_receipt(p, r, &rc, &err, &outstanding);
        remiss_receipt_clear(&rc);
        if (stop)
            break;
    }
    ref->env.recipient = NULL;
}

/* ------------------------------------------------------------ receivers */

/* Records one verified delivery received at t_ns. */
static void
s_on_message(rb_party_t *p, const remiss_message_t *m, uint64_t t_ns)
{
    const rb_bench_t *b = p->bench;
    const pb_opts_t *o = &b->opts->pb;
    const Remiss__Envelope *env = remiss_message_envelope(m);
    uint64_t g, t0;
    char from[RB_PARTY_MAX];

    if (s_stamp_parse(env->free_text, &g, &t0) != 0 || s_id_number(b, remiss_message_id(m)) != g) {
        pb_run_record_stamp(b->run, UINT64_MAX, 0, t_ns); /* counted as foreign */
        return;
    }
    snprintf(from, sizeof(from), "bench-s%d", (int)(g % (uint64_t)o->senders));
    if (g % (uint64_t)o->receivers != (uint64_t)p->index ||
        strcmp(remiss_message_sender(m), from) != 0) {
        pb_run_fail(b->run, "%s: message %" PRIu64 " from %s arrived at the wrong party", p->party,
                    g, remiss_message_sender(m));
        return;
    }
    pb_run_record_stamp(b->run, g, t0, t_ns);
}

static void
s_recv_loop(rb_party_t *p)
{
    const rb_bench_t *b = p->bench;
    remiss_err_t err;

    /* Until the run stops, not until this receiver has its share: a
     * duplicate arriving later is counted too. */
    while (!pb_run_stopping(b->run)) {
        remiss_message_t *m = NULL;
        remiss_code_t r = remiss_recv(p->client, RB_SLICE_MS, &m, &err);
        if (r == REMISS_E_TIMEOUT)
            continue;
        if (r != REMISS_OK) {
            pb_run_fail(b->run, "%s: receive: %s: %s", p->party, remiss_code_name(r), err.text);
            break;
        }
        s_on_message(p, m, pb_now_ns());
        r = remiss_ack(p->client, remiss_message_id(m), &err);
        remiss_message_free(&m);
        if (r != REMISS_OK) {
            pb_run_fail(b->run, "%s: acknowledge: %s: %s", p->party, remiss_code_name(r), err.text);
            break;
        }
    }
}

/* ------------------------------------------------------------ parties */

/* An idle party: connected and subscribed, so the broker keeps its
 * connection, subscription and queue among the ones it serves. */
static void
s_idle_loop(rb_party_t *p)
{
    const struct timespec slice = {0, RB_SLICE_MS * 1000000L};

    while (!pb_run_stopping(p->bench->run))
        nanosleep(&slice, NULL);
}

/* Connects p and prepares it: a receiver subscribes, a sender registers its
 * consent. Both are round trips, so the party is really connected after. */
static int
s_party_open(rb_party_t *p, rb_referral_t *ref)
{
    const rb_bench_t *b = p->bench;
    double ms = b->opts->pb.timeout_s * 1000;
    remiss_opts_t co = {.pki_dir = b->opts->pki,
                        .party = p->party,
                        .endpoint = !p->is_sender && b->opts->recv_endpoint ? b->opts->recv_endpoint
                                                                            : b->opts->endpoint,
                        .timeout_ms = ms < 1000    ? 1000
                                      : ms > 10000 ? 10000
                                                   : (int)ms};
    remiss_err_t err;

    if ((p->client = remiss_connect(&co, &err)) == NULL) {
        pb_run_fail(b->run, "%s: connect: %s: %s", p->party, remiss_code_name(err.code), err.text);
        return -1;
    }
    if (!p->is_sender) {
        remiss_code_t r = remiss_subscribe(p->client, (unsigned)b->opts->pb.window, &err);
        if (r != REMISS_OK)
            pb_run_fail(b->run, "%s: subscribe: %s: %s", p->party, remiss_code_name(r), err.text);
        return r == REMISS_OK ? 0 : -1;
    }
    if ((ref->text = malloc(b->text_len + 1)) == NULL) {
        pb_run_fail(b->run, "out of memory");
        return -1;
    }
    s_referral_init(ref, p, b->text_len);
    return s_consent_grant(p, ref->consent_id);
}

static void *
s_party(void *arg)
{
    rb_party_t *p = arg;
    rb_referral_t ref = {.text = NULL};

    if (s_party_open(p, &ref) == 0) {
        atomic_fetch_add(&p->bench->ready, 1);
        if (pb_run_wait_go(p->bench->run) == 0) {
            if (p->is_idle)
                s_idle_loop(p);
            else if (p->is_sender)
                s_send_loop(p, &ref);
            else
                s_recv_loop(p);
        }
    }
    remiss_close(&p->client);
    free(ref.text);
    return NULL;
}

/* ------------------------------------------------------------ the run */

static void
s_dates(rb_bench_t *b)
{
    time_t now = time(NULL), later = now + 365 * 86400;
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(b->today, sizeof(b->today), "%Y-%m-%d", &tm);
    gmtime_r(&later, &tm);
    strftime(b->until, sizeof(b->until), "%Y-%m-%d", &tm);
}

static int
s_bench_init(rb_bench_t *b, const rb_opts_t *o, pb_run_t *run)
{
    uint8_t secret[16];

    *b = (rb_bench_t){.opts = o, .run = run};
    pb_run_confirm_by_id(run);
    if (RAND_bytes(secret, sizeof(secret)) != 1) {
        pb_run_fail(run, "no randomness for message ids");
        return -1;
    }
    b->id_mix = s_get_u64(secret);
    b->id_xor = s_get_u64(secret + 8);
    snprintf(b->tag, sizeof(b->tag), "%s", pb_run_tag(run));
    s_dates(b);
    b->nparties = o->pb.senders + o->pb.receivers + o->idle;
    if ((b->parties = calloc((size_t)b->nparties, sizeof(*b->parties))) == NULL) {
        pb_run_fail(run, "out of memory");
        return -1;
    }
    for (int i = 0; i < b->nparties; i++) {
        rb_party_t *p = &b->parties[i];
        p->bench = b;
        p->is_sender = i < o->pb.senders;
        p->is_idle = i >= o->pb.senders + o->pb.receivers;
        p->index = p->is_sender ? i
                   : p->is_idle ? i - o->pb.senders - o->pb.receivers
                                : i - o->pb.senders;
        snprintf(p->party, sizeof(p->party), "bench-%c%d",
                 p->is_sender ? 's' : (p->is_idle ? 'i' : 'r'), p->index);
    }
    b->text_len = s_text_len_for(&b->parties[0], o->pb.size);
    if (b->text_len == 0) {
        pb_run_fail(run, "--size %zu is smaller than a referral with its stamp", o->pb.size);
        return -1;
    }
    return 0;
}

/* Starts every party and waits until all are set up; -1 on failure. */
static int
s_bench_open(rb_bench_t *b)
{
    /* Receivers first, so they subscribe before anything is sent. */
    for (int k = 0; k < b->nparties; k++) {
        rb_party_t *p = &b->parties[(k + b->opts->pb.senders) % b->nparties];
        if (pthread_create(&p->thread, NULL, s_party, p) != 0) {
            pb_run_fail(b->run, "cannot start a thread for %s", p->party);
            return -1;
        }
        p->started = true;
    }
    while (atomic_load(&b->ready) < b->nparties) {
        if (pb_run_stopping(b->run))
            return -1;
        if (pb_run_remaining_s(b->run) <= 0) {
            pb_run_fail(b->run, "timeout: %d of %d parties connected to %s", atomic_load(&b->ready),
                        b->nparties, b->opts->endpoint);
            return -1;
        }
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void
s_bench_close(rb_bench_t *b)
{
    pb_run_fail(b->run, "stopping"); /* no-op when an error was already recorded */
    for (int i = 0; b->parties != NULL && i < b->nparties; i++)
        if (b->parties[i].started)
            pthread_join(b->parties[i].thread, NULL);
    free(b->parties);
    b->parties = NULL;
}

int
main(int argc, char **argv)
{
    rb_opts_t opts;
    rb_bench_t bench = {0};
    pb_run_t *run;
    int code;

    if (s_parse_args(argc, argv, &opts, &code) != 0)
        return code;
    if ((run = pb_run_new(&opts.pb, "remiss")) == NULL) {
        fprintf(stderr, "error: out of memory\n");
        return 1;
    }
    if (s_bench_init(&bench, &opts, run) == 0 && s_bench_open(&bench) == 0) {
        pb_run_go(run);
        pb_run_wait_done(run);
    } else {
        pb_run_wait_done(run); /* records nothing new: the error is set */
    }
    code = pb_run_report(run);
    s_bench_close(&bench);
    pb_run_free(&run);
    return code;
}
