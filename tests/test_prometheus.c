/* The Prometheus alerting rules and the Grafana dashboard in docs/: promtool
 * accepts the rules and passes their unit tests, a real remissd's /metrics
 * passes `promtool check metrics`, the dashboard is a Grafana dashboard, and
 * every remiss_* metric the rules and the dashboard query is one the broker
 * exports, except those in s_not_yet_exported (which must then be absent:
 * the list shrinks as the broker gains them). Run from the top of the tree. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define S_RULES      "docs/prometheus/remiss-rules.yml"
#define S_RULE_TESTS "docs/prometheus/remiss-rules.test.yml"
#define S_DASHBOARD  "docs/grafana/remiss.json"
#define S_NAME_MAX   96
#define S_NAMES_MAX  256

/* ALLOW-LIST: metrics the rules and the dashboard query that remissd does
 * not export yet (docs/prometheus/README.md says what each must be). Take
 * a name out when the broker exports it; the test fails until you do. */
static const char *const s_not_yet_exported[] = {
    NULL, /* empty: remissd exports every metric docs/prometheus/README.md names */
};

static const char *const s_parties[] = {"sdf-rinkeby-kista:sdf", "jobbtorg:jobbtorg", NULL};

typedef struct s_names {
    char name[S_NAMES_MAX][S_NAME_MAX];
    size_t n;
} s_names_t;

static int
s_run(const char *cmd)
{
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool
s_has(const s_names_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return true;
    return false;
}

static void
s_add(s_names_t *s, const char *name, size_t len)
{
    char buf[S_NAME_MAX];
    cr_assert_lt(len, sizeof buf, "metric name too long");
    memcpy(buf, name, len);
    buf[len] = '\0';
    if (!s_has(s, buf)) {
        cr_assert_lt(s->n, S_NAMES_MAX);
        memcpy(s->name[s->n++], buf, len + 1);
    }
}

static size_t
s_name_len(const char *p)
{
    size_t n = 0;
    while (isalnum((unsigned char)p[n]) || p[n] == '_' || p[n] == ':')
        n++;
    return n;
}

/* Every remiss_* name in a PromQL expression. */
static void
s_scan_expr(s_names_t *s, const char *expr)
{
    for (const char *p = expr; (p = strstr(p, "remiss_")) != NULL;) {
        size_t n = s_name_len(p);
        if (p == expr || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            s_add(s, p, n);
        p += n;
    }
}

static char *
s_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert(size >= 0 && size < (1L << 24), "%s: size %ld", path, size);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, (size_t)size, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The names the rules query: the remiss_* names on their "expr:" lines. */
static void
s_rule_names(s_names_t *s)
{
    char *text = s_slurp(S_RULES);
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *expr = strstr(line, "expr:");
        if (expr != NULL)
            s_scan_expr(s, expr);
    }
    free(text);
}

/* Every "expr" string anywhere in a JSON document. */
static void
s_json_exprs(s_names_t *s, const cJSON *node, size_t *nexpr)
{
    for (const cJSON *c = node ? node->child : NULL; c != NULL; c = c->next) {
        if (c->string != NULL && strcmp(c->string, "expr") == 0 && cJSON_IsString(c)) {
            s_scan_expr(s, c->valuestring);
            (*nexpr)++;
        }
        s_json_exprs(s, c, nexpr);
    }
}

static cJSON *
s_dashboard(void)
{
    char *text = s_slurp(S_DASHBOARD);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(doc, "%s is not valid JSON (near: %.40s)", S_DASHBOARD,
                       cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
    return doc;
}

/* Starts a remissd with --metrics, sends a consent and a referral (so the
 * per-recipient gauges have a sample) and saves /metrics to dir/metrics. */
static void
s_live_metrics(harness_t *h, char *path, size_t size)
{
    const char *const extra[] = {"--metrics", "@metrics", NULL};
    remiss_err_t err;
    remiss_receipt_t rc;
    char cmd[512];

    harness_init(h, s_parties);
    harness_start(h, extra);
    remiss_client_t *sdf = harness_client(h, "sdf-rinkeby-kista", false);
    cr_assert_eq(harness_grant(sdf, "c-test-1", "sdf-rinkeby-kista", "jobbtorg", "anvisning",
                               "identity,social"),
                 REMISS_OK);
    Remiss__Envelope *env = harness_referral("jobbtorg", "anvisning");
    remiss_code_t sent = remiss_send(sdf, env, &rc, &err);
    cr_assert_eq(sent, REMISS_OK, "send: %s %s", remiss_code_name(sent), err.text);
    remiss_receipt_clear(&rc);
    harness_envelope_free(env);
    remiss_close(&sdf);
    snprintf(path, size, "%s/metrics", h->dir);
    /* The gauges refresh each second: wait for the queue to show. */
    snprintf(cmd, sizeof cmd,
             "for i in $(seq 50); do curl -sf http://127.0.0.1:%d/metrics -o '%s' && "
             "grep -q '^remiss_queue_depth{' '%s' && exit 0; sleep 0.2; done; exit 1",
             h->port + 1, path, path);
    cr_assert_eq(s_run(cmd), 0, "no queue depth in /metrics");
}

/* The metric names of a scrape: every sample's name, and every family a
 * "# TYPE" line declares (with _bucket, _sum and _count for histograms). */
static void
s_exported_names(const char *path, s_names_t *s)
{
    char *text = s_slurp(path);
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            const char *name = line + 7;
            size_t n = s_name_len(name);
            s_add(s, name, n);
            if (strcmp(name + n, " histogram") == 0) {
                char full[S_NAME_MAX + 8];
                const char *const suffix[] = {"_bucket", "_sum", "_count"};
                for (size_t i = 0; i < 3; i++) {
                    int len = snprintf(full, sizeof full, "%.*s%s", (int)n, name, suffix[i]);
                    s_add(s, full, (size_t)len);
                }
            }
        } else if (line[0] != '#') {
            s_add(s, line, s_name_len(line));
        }
    }
    free(text);
}

Test(prometheus, promtool_accepts_the_rules_and_their_unit_tests, .timeout = 120)
{
    cr_assert_eq(s_run("promtool check rules " S_RULES), 0, "promtool check rules failed");
    cr_assert_eq(s_run("promtool test rules " S_RULE_TESTS), 0, "promtool test rules failed");
}

Test(prometheus, live_metrics_pass_promtool_check_metrics, .timeout = 120)
{
    harness_t h;
    char path[256], cmd[1024];
    s_live_metrics(&h, path, sizeof path);
    /* check metrics reads stdin; lint problems are printed and fail too. */
    snprintf(cmd, sizeof cmd, "promtool check metrics <'%s' >'%s.lint' 2>&1", path, path);
    int rc = s_run(cmd);
    snprintf(cmd, sizeof cmd, "cat '%s.lint' >&2; test ! -s '%s.lint'", path, path);
    cr_expect_eq(s_run(cmd), 0, "promtool check metrics printed problems (above)");
    cr_expect_eq(rc, 0, "promtool check metrics exited with %d", rc);
    harness_stop(&h);
}

Test(prometheus, rules_and_dashboard_query_only_exported_metrics, .timeout = 120)
{
    static s_names_t live, queried;
    harness_t h;
    char path[256];
    size_t nexpr = 0;

    s_live_metrics(&h, path, sizeof path);
    s_exported_names(path, &live);
    harness_stop(&h);
    cr_assert(s_has(&live, "remiss_commit_seconds_bucket"), "histograms not found in /metrics");

    s_rule_names(&queried);
    cJSON *doc = s_dashboard();
    s_json_exprs(&queried, doc, &nexpr);
    cJSON_Delete(doc);
    cr_assert_gt(nexpr, 10, "the dashboard has only %zu queries", nexpr);

    for (size_t i = 0; i < queried.n; i++) {
        bool later = false;
        for (size_t j = 0; s_not_yet_exported[j] != NULL; j++)
            later = later || strcmp(queried.name[i], s_not_yet_exported[j]) == 0;
        cr_expect(later || s_has(&live, queried.name[i]),
                  "%s is queried but remissd does not export it", queried.name[i]);
    }
    for (size_t j = 0; s_not_yet_exported[j] != NULL; j++) {
        cr_expect(!s_has(&live, s_not_yet_exported[j]),
                  "remissd exports %s now: take it out of s_not_yet_exported",
                  s_not_yet_exported[j]);
        cr_expect(s_has(&queried, s_not_yet_exported[j]),
                  "%s is in s_not_yet_exported but nothing queries it", s_not_yet_exported[j]);
    }
}

/* What Grafana's import needs: a title, a schema version, a Prometheus data
 * source variable every panel uses, unique panel ids and grid positions. */
Test(grafana, dashboard_is_an_importable_grafana_dashboard)
{
    cJSON *doc = s_dashboard();
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(doc, "title")));
    cJSON *schema = cJSON_GetObjectItem(doc, "schemaVersion");
    cr_assert(cJSON_IsNumber(schema) && schema->valueint >= 36, "schemaVersion");
    bool has_ds = false;
    const cJSON *var;
    cJSON_ArrayForEach(var, cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "templating"), "list"))
    {
        const cJSON *type = cJSON_GetObjectItem(var, "type");
        const cJSON *query = cJSON_GetObjectItem(var, "query");
        has_ds = has_ds || (cJSON_IsString(type) && strcmp(type->valuestring, "datasource") == 0 &&
                            cJSON_IsString(query) && strcmp(query->valuestring, "prometheus") == 0);
    }
    cr_expect(has_ds, "no Prometheus data source variable");

    int ids[128], n = 0;
    const cJSON *panel;
    cJSON_ArrayForEach(panel, cJSON_GetObjectItem(doc, "panels"))
    {
        const cJSON *id = cJSON_GetObjectItem(panel, "id");
        const cJSON *type = cJSON_GetObjectItem(panel, "type");
        cr_assert(cJSON_IsNumber(id) && cJSON_IsString(type) && n < 128);
        for (int i = 0; i < n; i++)
            cr_expect_neq(ids[i], id->valueint, "panel id %d twice", id->valueint);
        ids[n++] = id->valueint;
        cr_expect(cJSON_IsObject(cJSON_GetObjectItem(panel, "gridPos")), "panel %d: no gridPos",
                  id->valueint);
        if (strcmp(type->valuestring, "row") == 0)
            continue;
        const cJSON *uid = cJSON_GetObjectItem(cJSON_GetObjectItem(panel, "datasource"), "uid");
        cr_expect(cJSON_IsString(uid) && strcmp(uid->valuestring, "${datasource}") == 0,
                  "panel %d does not use the data source variable", id->valueint);
        cr_expect_gt(cJSON_GetArraySize(cJSON_GetObjectItem(panel, "targets")), 0,
                     "panel %d has no query", id->valueint);
    }
    cr_expect_gt(n, 10);
    cJSON_Delete(doc);
}
