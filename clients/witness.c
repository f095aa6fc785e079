/* remiss-witness: a C2SP tlog-witness that another authority runs for the
 * remiss audit log. The HTTP layer of wit_core: it collects request bodies
 * (bounded), hands them over and sends the answer back. */
#include <arpa/inet.h>
#include <getopt.h>
#include <ini.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "note.h"
#include "wit_core.h"

static volatile sig_atomic_t s_stop = 0;

/* Settings from the command line and the [witness] section of a config. */
typedef struct s_opts {
    char name[NOTE_NAME_MAX]; /* the witness's key name */
    char key[1024];           /* its Ed25519 key file */
    char db[1024];            /* its state database */
    char listen[64];          /* ADDR:PORT */
    note_verifier_t logs[WIT_LOGS_MAX];
    size_t n_logs;
    bool bad; /* a setting did not parse */
} s_opts_t;

/* One request body being received. */
typedef struct s_body {
    char *data;
    size_t len;
    bool too_large;
} s_body_t;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: remiss-witness keygen --key FILE --name NAME\n"
                 "       remiss-witness vkey --key FILE --name NAME\n"
                 "       remiss-witness serve [--config FILE] --key FILE --name NAME --db FILE\n"
                 "                            --listen ADDR:PORT --log VKEY [--log VKEY ...]\n"
                 "\n"
                 "A C2SP tlog-witness (c2sp.org/tlog-witness) for remiss audit logs: it cosigns\n"
                 "a log's checkpoint only if it is consistent with the last one it cosigned.\n"
                 "\n"
                 "  keygen            create the witness's Ed25519 key (0600) and print its vkey\n"
                 "  vkey              print the vkey of an existing key\n"
                 "  serve             answer POST /add-checkpoint and GET /checkpoint/ORIGIN\n"
                 "  --config FILE     read the [witness] section: name, key, db, listen, log\n"
                 "  --key FILE        Ed25519 private key (PEM)\n"
                 "  --name NAME       the witness's key name, e.g. witness.revision.stockholm.se\n"
                 "  --db FILE         state database (created 0600)\n"
                 "  --listen ADDR:PORT  address to listen on (e.g. 127.0.0.1:8086)\n"
                 "  --log VKEY        a log this witness follows (the vkey's name is its origin)\n"
                 "  -h, --help        this text\n");
}

static int
s_fail(const remiss_err_t *err)
{
    fprintf(stderr, "error: %s: %s\n", remiss_code_name(err->code), err->text);
    return 1;
}

static int
s_usage_error(const char *what)
{
    fprintf(stderr, "error: E_USAGE: %s (see remiss-witness --help)\n", what);
    return 2;
}

/* ---------------------------------------------------------------- settings */

static void
s_set(s_opts_t *o, const char *key, const char *value)
{
    if (strcmp(key, "name") == 0)
        o->bad |= snprintf(o->name, sizeof o->name, "%s", value) >= (int)sizeof o->name;
    else if (strcmp(key, "key") == 0)
        o->bad |= snprintf(o->key, sizeof o->key, "%s", value) >= (int)sizeof o->key;
    else if (strcmp(key, "db") == 0)
        o->bad |= snprintf(o->db, sizeof o->db, "%s", value) >= (int)sizeof o->db;
    else if (strcmp(key, "listen") == 0)
        o->bad |= snprintf(o->listen, sizeof o->listen, "%s", value) >= (int)sizeof o->listen;
    else if (strcmp(key, "log") == 0 && o->n_logs < WIT_LOGS_MAX)
        o->bad |= note_vkey_parse(value, &o->logs[o->n_logs++]) != REMISS_OK ||
                  o->logs[o->n_logs - 1].type != NOTE_TYPE_ED25519;
    else
        o->bad = true;
}

static int
s_ini(void *ctx, const char *section, const char *key, const char *value)
{
    if (strcmp(section, "witness") == 0)
        s_set(ctx, key, value);
    return 1;
}

static int
s_parse(s_opts_t *o, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"key", required_argument, NULL, 'k'},
        {"name", required_argument, NULL, 'n'},   {"db", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'}, {"log", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    static const char *const keys[] = {
        ['k'] = "key", ['n'] = "name", ['d'] = "db", ['l'] = "listen", ['L'] = "log"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (c == 'c' && ini_parse(optarg, s_ini, o) != 0)
            return s_usage_error("--config: cannot read the file or a line in it");
        else if (c != 'c' && (c == '?' || c >= (int)(sizeof keys / sizeof keys[0]) || !keys[c]))
            return s_usage_error("unknown option");
        else if (c != 'c')
            s_set(o, keys[c], optarg);
    }
    if (o->bad)
        return s_usage_error("a setting is invalid (a vkey of a log, or a value too long)");
    if (optind != argc)
        return s_usage_error("unexpected argument");
    if (!o->key[0] || !note_name_valid(o->name))
        return s_usage_error("--key FILE and --name NAME are required");
    return 0;
}

/* ---------------------------------------------------------------- HTTP */

static enum MHD_Result
s_send(struct MHD_Connection *conn, const wit_reply_t *r)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->body_len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->content_type);
    enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Collects the body in pieces; false once it passed the bound. */
static void
s_collect(s_body_t *b, const char *data, size_t n)
{
    char *p;
    if (b->too_large || n > WIT_BODY_MAX - b->len) {
        b->too_large = true;
        return;
    }
    if ((p = realloc(b->data, b->len + n + 1)) == NULL) {
        b->too_large = true;
        return;
    }
    memcpy(p + b->len, data, n);
    b->data = p;
    b->len += n;
}

static enum MHD_Result
s_answer_post(wit_t *w, struct MHD_Connection *conn, s_body_t *b)
{
    static wit_reply_t r;
    if (b->too_large) {
        memset(&r, 0, sizeof r);
        r.status = 413;
        r.content_type = "text/plain";
        r.body_len = (size_t)snprintf(r.body, sizeof r.body, "request too large\n");
    } else {
        wit_add_checkpoint(w, b->data ? b->data : "", b->len, (uint64_t)time(NULL), &r);
    }
    log_emit(r.status == 200 ? LOG_INFO : LOG_WARN, "add_checkpoint", "status=%u bytes=%zu",
             r.status, b->len);
    return s_send(conn, &r);
}

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *data, size_t *size, void **con_cls)
{
    static wit_reply_t r;
    s_body_t *b = *con_cls;
    (void)version;

    if (strcmp(method, "POST") == 0 && strcmp(url, "/add-checkpoint") == 0) {
        if (b == NULL) {
            if ((b = calloc(1, sizeof *b)) == NULL)
                return MHD_NO;
            *con_cls = b;
            return MHD_YES;
        }
        if (*size > 0) {
            s_collect(b, data, *size);
            *size = 0;
            return MHD_YES;
        }
        return s_answer_post(cls, conn, b);
    }
    memset(&r, 0, sizeof r);
    r.content_type = "text/plain";
    if (strcmp(method, "GET") == 0 && strncmp(url, "/checkpoint/", 12) == 0)
        wit_latest(cls, url + 12, &r);
    else
        r.status = strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0 ? 404 : 405;
    return s_send(conn, &r);
}

static void
s_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
    s_body_t *b = *con_cls;
    (void)cls, (void)conn, (void)t;
    if (b != NULL) {
        free(b->data);
        free(b);
        *con_cls = NULL;
    }
}

static struct MHD_Daemon *
s_listen(const char *listen, wit_t *w)
{
    struct sockaddr_in sin;
    char addr[64];
    const char *colon = strrchr(listen, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    memset(&sin, 0, sizeof sin);
    if (colon == NULL || port <= 0 || port > 65535 || (size_t)(colon - listen) >= sizeof addr)
        return NULL;
    memcpy(addr, listen, (size_t)(colon - listen));
    addr[colon - listen] = '\0';
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
        return NULL;
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
                            NULL, NULL, s_answer, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                            MHD_OPTION_NOTIFY_COMPLETED, s_done, NULL, MHD_OPTION_CONNECTION_LIMIT,
                            64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536, MHD_OPTION_END);
}

/* ---------------------------------------------------------------- commands */

static int
s_print_vkey(const note_signer_t *s)
{
    char vkey[NOTE_VKEY_MAX];
    if (!note_vkey_format(&s->pub, vkey, sizeof vkey))
        return 1;
    printf("%s\n", vkey);
    return 0;
}

static int
s_keygen(s_opts_t *o, bool create)
{
    note_signer_t s;
    remiss_err_t err;
    if (create && note_key_generate(o->key, &err) != REMISS_OK)
        return s_fail(&err);
    if (note_signer_load(o->key, o->name, NOTE_TYPE_COSIG, &s, &err) != REMISS_OK)
        return s_fail(&err);
    int rc = s_print_vkey(&s);
    note_signer_clear(&s);
    return rc;
}

static int
s_serve(s_opts_t *o)
{
    note_signer_t s;
    remiss_err_t err;
    struct MHD_Daemon *d = NULL;
    wit_t *w = NULL;

    if (!o->db[0] || !o->listen[0] || o->n_logs == 0)
        return s_usage_error("serve needs --db, --listen and at least one --log");
    if (note_signer_load(o->key, o->name, NOTE_TYPE_COSIG, &s, &err) != REMISS_OK)
        return s_fail(&err);
    w = wit_open(o->db, &s, o->logs, o->n_logs, &err);
    note_signer_clear(&s);
    if (w == NULL)
        return s_fail(&err);
    if ((d = s_listen(o->listen, w)) == NULL) {
        wit_close(&w);
        remiss_err_set(&err, REMISS_E_CONFIG, "cannot listen on %s", o->listen);
        return s_fail(&err);
    }
    log_emit(LOG_INFO, "witness_started", "logs=%zu", o->n_logs);
    while (!s_stop)
        pause();
    MHD_stop_daemon(d);
    wit_close(&w);
    log_emit(LOG_INFO, "witness_stopped", "reason=signal");
    return 0;
}

int
main(int argc, char **argv)
{
    static s_opts_t o;
    struct sigaction sa;
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if ((rc = s_parse(&o, argc - 1, argv + 1)) != 0) {
        if (rc == 1)
            s_usage(stdout);
        return rc == 1 ? 0 : rc;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "keygen") == 0)
        return s_keygen(&o, true);
    if (strcmp(argv[1], "vkey") == 0)
        return s_keygen(&o, false);
    if (strcmp(argv[1], "serve") == 0)
        return s_serve(&o);
    return s_usage_error("the command is keygen, vkey or serve");
}
