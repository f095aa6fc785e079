/* flood: per-party frame bucket and refusal aggregation (include/flood.h). */
#include "flood.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CODES 32 /* reason codes counted (remiss_code_t values) */
#define S_PARTY 64

typedef struct {
    char party[S_PARTY + 1];
    double tokens;          /* frames it may still have decoded */
    int64_t refilled_at;    /* ms */
    int64_t interval_start; /* ms: current refusal interval */
    uint32_t individual;    /* refusals audited one by one in it */
    uint64_t counted;       /* refusals counted for the aggregate */
    uint64_t by_code[S_CODES];
} s_party_t;

struct flood {
    double rate, burst; /* frames per second; 0 = off */
    s_party_t *p;
    size_t n;
};

flood_t *
flood_new(int64_t rate_per_s, int64_t burst)
{
    flood_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->rate = (double)rate_per_s * FLOOD_FRAME_FACTOR;
    self->burst = (double)burst * FLOOD_FRAME_FACTOR;
    return self;
}

void
flood_free(flood_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->p);
    free(*self_p);
    *self_p = NULL;
}

static s_party_t *
s_party(flood_t *self, const char *party, int64_t now)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->p[i].party, party) == 0)
            return &self->p[i];
    s_party_t *grown = realloc(self->p, (self->n + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    self->p = grown;
    s_party_t *p = &self->p[self->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->party, sizeof p->party, "%s", party);
    p->tokens = self->burst;
    p->refilled_at = p->interval_start = now;
    return p;
}

bool
flood_frame_ok(flood_t *self, const char *party, int64_t now_ms)
{
    if (!self || self->rate <= 0)
        return true;
    s_party_t *p = s_party(self, party, now_ms);
    if (!p)
        return false;
    p->tokens += (double)(now_ms - p->refilled_at) * self->rate / 1000.0;
    if (p->tokens > self->burst)
        p->tokens = self->burst;
    p->refilled_at = now_ms;
    if (p->tokens < 1.0)
        return false;
    p->tokens -= 1.0;
    return true;
}

bool
flood_refusal_individual(flood_t *self, const char *party, remiss_code_t code, int64_t now_ms)
{
    s_party_t *p = self && party ? s_party(self, party, now_ms) : NULL;
    if (!p)
        return true; /* unknown to the accounting: never silently dropped */
    if (p->individual < FLOOD_INDIVIDUAL) {
        p->individual++;
        return true;
    }
    p->counted++;
    p->by_code[(unsigned)code < S_CODES ? (unsigned)code : 0]++;
    return false;
}

/* "aggregated N refusals in S s: E_MALFORMED=n,E_RATE_LIMITED=m" */
static void
s_detail(const s_party_t *p, int64_t secs, char *buf, size_t size)
{
    int k =
        snprintf(buf, size, "aggregated %llu refusals in %lld s:", (unsigned long long)p->counted,
                 (long long)secs);
    const char *sep = " ";
    for (unsigned c = 0; c < S_CODES && k > 0 && (size_t)k < size; c++)
        if (p->by_code[c]) {
            k += snprintf(buf + k, size - (size_t)k, "%s%s=%llu", sep,
                          remiss_code_name((remiss_code_t)c), (unsigned long long)p->by_code[c]);
            sep = ",";
        }
}

void
flood_flush(flood_t *self, int64_t now_ms, flood_emit_fn emit, void *ctx)
{
    char detail[512];
    for (size_t i = 0; self && i < self->n; i++) {
        s_party_t *p = &self->p[i];
        if (now_ms - p->interval_start < FLOOD_INTERVAL_MS)
            continue;
        if (p->counted) {
            s_detail(p, (now_ms - p->interval_start) / 1000, detail, sizeof detail);
            emit(ctx, p->party, p->counted, detail);
        }
        p->interval_start = now_ms;
        p->individual = 0;
        p->counted = 0;
        memset(p->by_code, 0, sizeof p->by_code);
    }
}
