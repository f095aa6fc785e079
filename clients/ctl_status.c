/* ctl_status: remissctl status (include/ctl_status.h). */
#include "ctl_status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"

/* ------------------------------------------------------------ rendering */

static double
s_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* A string member for a terminal: control characters as '?', at most
 * size - 1 bytes; "" when absent. */
static const char *
s_str(const cJSON *o, const char *key, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    const char *s = cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
    size_t n = 0;
    for (; s[n] && n + 1 < size; n++)
        buf[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    buf[n] = '\0';
    return buf;
}

static bool
s_bool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const cJSON *
s_obj(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* Unix seconds as UTC RFC 3339 ("-" for 0 or out of range). */
static const char *
s_time(double t, char buf[32])
{
    struct tm tm;
    snprintf(buf, 32, "-");
    if (!(t > 0 && t < 253402300800.0)) /* year 10000 */
        return buf;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "-");
    return buf;
}

static void
s_render_head(const cJSON *r, FILE *out)
{
    char a[64], b[256], c[64], d[32], e[32], why[128], t[32];
    const cJSON *node = s_obj(r, "node");
    s_str(r, "degraded_because", why, sizeof why);
    fprintf(out, "remissd %s on %s (%s), up %.0f s, store %s, health %s%s%s\n",
            s_str(r, "version", a, sizeof a), s_str(node, "id", b, sizeof b),
            s_str(node, "scope", c, sizeof c), s_num(r, "uptime_seconds"),
            s_str(r, "store_engine", d, sizeof d), s_str(r, "health", e, sizeof e),
            why[0] ? ": " : "", why);
    const cJSON *p = s_obj(r, "policy");
    char file[512];
    fprintf(out, "policy      %s\n            sha256 %s, loaded %s\n",
            s_str(p, "file", file, sizeof file), s_str(p, "sha256", b, 65),
            s_time(s_num(p, "loaded_at"), t));
    const cJSON *l = s_obj(r, "last_reload");
    fprintf(out, "last reload %s: %s%s\n", s_time(s_num(l, "at"), t),
            s_bool(l, "refused") ? "REFUSED: " : "ok", s_str(l, "reason", file, sizeof file));
}

static void
s_render_counts(const cJSON *r, FILE *out)
{
    char root[80], t[32];
    const cJSON *m = s_obj(r, "messages");
    fprintf(out,
            "messages    %.0f accepted, %.0f refused, %.0f delivered, %.0f acknowledged, "
            "%.0f dead letters\n",
            s_num(m, "accepted"), s_num(m, "refused"), s_num(m, "delivered"),
            s_num(m, "acknowledged"), s_num(m, "dead_letters"));
    fprintf(out, "commit      last %.3f ms; %.0f parties connected\n",
            s_num(r, "last_commit_seconds") * 1000.0, s_num(r, "connected_parties"));
    const cJSON *au = s_obj(r, "audit"), *h = s_obj(au, "signed_tree_head");
    fprintf(out, "audit       %.0f entries", s_num(au, "tree_size"));
    if (cJSON_IsObject(h))
        fprintf(out, "; signed tree head: size %.0f, root %s, %s", s_num(h, "tree_size"),
                s_str(h, "root_hash", root, 65), s_time(s_num(h, "timestamp_ms") / 1000, t));
    fprintf(out, "\n");
    const cJSON *ce = s_obj(r, "certificates");
    fprintf(out, "certificates broker %.0f days, CA %.0f days, CRL next update in %.0f days\n",
            s_num(s_obj(ce, "broker"), "days_left"), s_num(s_obj(ce, "ca"), "days_left"),
            s_num(s_obj(ce, "crl_next_update"), "days_left"));
}

static void
s_render_parties(const cJSON *r, FILE *out)
{
    const cJSON *p;
    char id[80], role[80];
    fprintf(out, "\n%-28s %-18s %-9s %7s %10s %9s\n", "PARTY", "ROLE", "CONNECTED", "QUEUE",
            "OLDEST(s)", "CERT DAYS");
    cJSON_ArrayForEach(p, s_obj(r, "parties"))
    {
        fprintf(out, "%-28s %-18s %-9s %7.0f %10.0f %9.0f%s\n", s_str(p, "id", id, sizeof id),
                s_str(p, "role", role, sizeof role), s_bool(p, "connected") ? "yes" : "no",
                s_num(p, "queue_depth"), s_num(p, "oldest_message_age_seconds"),
                s_num(p, "certificate_days_left"), s_bool(p, "revoked") ? " revoked" : "");
    }
}

bool
ctl_status_render(const char *answer, size_t len, bool as_json, FILE *out)
{
    cJSON *r = cJSON_ParseWithLength(answer, len);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        return false;
    }
    if (as_json) {
        char *text = cJSON_PrintUnformatted(r);
        if (text)
            fprintf(out, "%s\n", text);
        free(text);
    } else {
        s_render_head(r, out);
        s_render_counts(r, out);
        s_render_parties(r, out);
    }
    cJSON_Delete(r);
    return true;
}

/* ------------------------------------------------------------ asking */

/* The socket the command line names. */
static remiss_code_t
s_socket_path(const ctl_args_t *a, char *out, size_t size, remiss_err_t *err)
{
    const char *file = a->db ? store_file(a->db) : NULL;
    int n;
    if (a->socket)
        n = snprintf(out, size, "%s", a->socket);
    else if (a->db && !file)
        return remiss_err_set(err, REMISS_E_USAGE,
                              "with a PostgreSQL store name the socket: --socket PATH");
    else if (file && strrchr(file, '/'))
        n = snprintf(out, size, "%.*s/remissd.sock", (int)(strrchr(file, '/') - file), file);
    else
        n = snprintf(out, size, "%s", file ? "remissd.sock" : CTL_STATUS_DEFAULT_SOCKET);
    if (n < 0 || (size_t)n >= size)
        return remiss_err_set(err, REMISS_E_USAGE, "the socket path is too long");
    return REMISS_OK;
}

/* Doubles buf up to CTL_STATUS_MAX; NULL (buf freed) past it. */
static char *
s_grow(char *buf, size_t *cap)
{
    char *grown = *cap < CTL_STATUS_MAX ? realloc(buf, *cap * 2) : NULL;
    if (!grown)
        free(buf);
    else
        *cap *= 2;
    return grown;
}

/* Reads the broker's whole answer (at most CTL_STATUS_MAX bytes). */
static char *
s_ask(const char *path, size_t *len, remiss_err_t *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 10};
    size_t cap = 1 << 16;
    char *buf = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *len = 0;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        remiss_err_set(err, REMISS_E_IO, "cannot reach remissd at %s: %s (is it running?)", path,
                       strerror(errno));
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!(buf = malloc(cap)))
        goto out;
    for (ssize_t n = 1; n > 0; *len += (size_t)n) {
        if (*len == cap && !(buf = s_grow(buf, &cap))) {
            remiss_err_set(err, REMISS_E_IO, "the answer from %s is too large", path);
            goto out;
        }
        if ((n = read(fd, buf + *len, cap - *len)) <= 0)
            break;
    }
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

int
ctl_status(const ctl_args_t *a)
{
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    remiss_err_t err;
    size_t len;
    if (a->npos != 0 || (a->given & ~(CTL_O_JSON | CTL_O_DB | CTL_O_SOCKET)))
        return cli_usage_error(&a->cli, "status [--socket PATH | --db STORE] [--json]");
    if (s_socket_path(a, path, sizeof path, &err) != REMISS_OK)
        return cli_usage_error(&a->cli, "%s", err.text);
    char *answer = s_ask(path, &len, &err);
    if (!answer)
        return cli_fail(&a->cli, &err);
    bool ok = ctl_status_render(answer, len, a->cli.json, stdout);
    free(answer);
    if (!ok) {
        remiss_err_set(&err, REMISS_E_IO, "remissd at %s answered something other than a status",
                       path);
        return cli_fail(&a->cli, &err);
    }
    return CLI_EXIT_OK;
}
