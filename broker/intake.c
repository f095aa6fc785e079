/* intake: policy and consent decisions against the store's registry. */
#include "intake.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decide.h"
#include "pnr.h"
#include "pseudonym.h"

#define S_MAX_PER_PARTY 64 /* consents in force one party may register per subject */
#define S_CACHE         64 /* subjects whose consents are kept decoded */

typedef struct s_consents s_consents_t;

/* A subject's pseudonym and decoded consents as of one day. Every message
 * is decided twice (at intake and at delivery), so reading and decoding
 * them again each time was a tenth of the broker's work. The registry
 * changes only through intake_consent, which empties the cache, and the
 * broker calls intake_forget when a transaction is undone. */
typedef struct {
    bool used;
    char canonical[13];
    pnr_date_t today;
    uint8_t pseudonym[32];
    s_consents_t *c;
} s_cached_t;

struct intake {
    store_t *store;         /* consent registry (borrowed) */
    const policy_t *policy; /* in force (borrowed) */
    const pseudonym_t *ps;  /* subject pseudonyms (borrowed, or own_ps) */
    pseudonym_t *own_ps;    /* keyed by intake_new */
    s_cached_t cache[S_CACHE];
    uint64_t gen; /* store_consent_gen the cache was filled under */
};

static void s_consents_clear(s_consents_t *c);

intake_t *
intake_new_with(store_t *store, const policy_t *policy, const pseudonym_t *ps)
{
    intake_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->policy = policy;
    self->ps = ps;
    return self;
}

intake_t *
intake_new(store_t *store, const policy_t *policy, const uint8_t hmac_key[32])
{
    pseudonym_t *ps = pseudonym_new(hmac_key);
    intake_t *self = ps ? intake_new_with(store, policy, ps) : NULL;
    if (self)
        self->own_ps = ps;
    else
        pseudonym_free(&ps);
    return self;
}

void
intake_forget(intake_t *self)
{
    for (size_t i = 0; self && i < S_CACHE; i++) {
        s_cached_t *e = &self->cache[i];
        if (!e->used)
            continue;
        s_consents_clear(e->c);
        free(e->c);
        OPENSSL_cleanse(e, sizeof *e);
    }
}

void
intake_free(intake_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_forget(*self_p);
    pseudonym_free(&(*self_p)->own_ps);
    free(*self_p);
    *self_p = NULL;
}

void
intake_set_policy(intake_t *self, const policy_t *policy)
{
    self->policy = policy;
}

void
intake_pseudonym(const intake_t *self, const char *canonical, uint8_t out[32])
{
    pseudonym_of(self->ps, canonical, out);
}

static void
s_result(intake_result_t *out, remiss_code_t code, const remiss_err_t *err)
{
    out->code = code;
    snprintf(out->sentence, sizeof out->sentence, "%s",
             !err || !err->text[0] ? remiss_code_sentence(code) : err->text);
}

/* The registered consents of a subject, decoded for decide. The store
 * keeps each grant's whole Envelope, so the subject of a consent is known
 * without keeping personnummer anywhere else. */
struct s_consents {
    store_consent_t *rows;
    Remiss__Envelope **env;
    pnr_t *subject;
    consent_rec_t *rec;
    size_t n;
};

/* Room for max consents (all of a subject's: there is no silent cap). */
static s_consents_t *
s_consents_new(size_t max)
{
    s_consents_t *c = calloc(1, sizeof *c);
    size_t m = max ? max : 1;
    if (c &&
        (!(c->rows = calloc(m, sizeof *c->rows)) || !(c->env = calloc(m, sizeof *c->env)) ||
         !(c->subject = calloc(m, sizeof *c->subject)) || !(c->rec = calloc(m, sizeof *c->rec)))) {
        s_consents_clear(c);
        free(c);
        return NULL;
    }
    return c;
}

static void
s_consents_clear(s_consents_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        remiss__envelope__free_unpacked(c->env[i], NULL);
        store_consent_clear(&c->rows[i]);
    }
    c->n = 0;
    free(c->rows);
    free(c->env);
    free(c->subject);
    free(c->rec);
    c->rows = NULL;
    c->env = NULL;
    c->subject = NULL;
    c->rec = NULL;
}

/* The id a party gave a consent: the stored key is PARTY/ID. */
static const char *
s_local_id(const store_consent_t *row)
{
    size_t n = strlen(row->granted_by);
    if (strncmp(row->consent_id, row->granted_by, n) == 0 && row->consent_id[n] == '/')
        return row->consent_id + n + 1;
    return row->consent_id;
}

/* Decodes the stored rows into consent records; drops damaged ones. */
static void
s_consents_decode(s_consents_t *c, size_t nrows, pnr_date_t today)
{
    size_t k = 0;
    for (size_t i = 0; i < nrows; i++) {
        Remiss__Envelope *env =
            remiss__envelope__unpack(NULL, c->rows[i].grant_len, c->rows[i].grant);
        pnr_t p;
        /* consent_grant shares a union with the other bodies: only the
         * body case says which one a damaged row decoded to. */
        if (!env || env->body_case != REMISS__ENVELOPE__BODY_CONSENT_GRANT || !env->consent_grant ||
            !env->subject || pnr_parse(env->subject->personnummer, today, &p, NULL) != REMISS_OK) {
            remiss__envelope__free_unpacked(env, NULL);
            store_consent_clear(&c->rows[i]);
            continue;
        }
        if (k != i)
            c->rows[k] = c->rows[i];
        c->env[k] = env;
        c->subject[k] = p;
        c->rec[k] = (consent_rec_t){.consent_id = s_local_id(&c->rows[k]),
                                    .granted_by = c->rows[k].granted_by,
                                    .subject = c->subject[k].canonical,
                                    .grant = env->consent_grant,
                                    .revoked = c->rows[k].revoked_at != 0,
                                    .revoked_at_ms = c->rows[k].revoked_at};
        k++;
    }
    c->n = k;
}

/* The decoded consents of the subject canonical as of today, from the cache
 * or the store; its pseudonym into pseudonym. NULL with err on failure. */
static const s_consents_t *
s_lookup(intake_t *self, const char *canonical, pnr_date_t today, uint8_t pseudonym[32],
         remiss_err_t *err)
{
    size_t h = 5381, nrows = 0;
    for (const char *p = canonical; *p; p++)
        h = h * 33 + (unsigned char)*p;
    s_cached_t *e = &self->cache[h % S_CACHE];
    store_sync_t sync;
    /* Decided under the store's write lock (the message is written after
     * anyway), so a consent another node withdrew is seen: nothing kept
     * from before its generation changed may decide (store.h). */
    if (store_sync(self->store, &sync, err) != REMISS_OK)
        return NULL;
    if (store_consent_gen(self->store) != self->gen) {
        intake_forget(self);
        self->gen = store_consent_gen(self->store);
    }
    if (e->used && strcmp(e->canonical, canonical) == 0 &&
        memcmp(&e->today, &today, sizeof today) == 0) {
        memcpy(pseudonym, e->pseudonym, 32);
        return e->c;
    }
    intake_pseudonym(self, canonical, pseudonym);
    uint64_t count = 0;
    if (store_consent_count(self->store, pseudonym, NULL, &count, err) != REMISS_OK)
        return NULL;
    s_consents_t *c = s_consents_new((size_t)count);
    if (!c) {
        remiss_err_set(err, REMISS_E_INTERNAL, "out of memory");
        return NULL;
    }
    if (store_consents_for(self->store, pseudonym, (size_t)count, c->rows, &nrows, err) !=
        REMISS_OK) {
        s_consents_clear(c);
        free(c);
        return NULL;
    }
    s_consents_decode(c, nrows, today);
    if (e->used) {
        s_consents_clear(e->c);
        free(e->c);
    }
    e->used = true;
    snprintf(e->canonical, sizeof e->canonical, "%s", canonical);
    e->today = today;
    memcpy(e->pseudonym, pseudonym, 32);
    e->c = c;
    return c;
}

remiss_code_t
intake_decide(intake_t *self, const char *sender, const Remiss__Envelope *env, int64_t now_ms,
              intake_result_t *out)
{
    remiss_err_t err = {0};
    decision_t d;
    pnr_t subj;
    pnr_date_t today = pnr_date_from_ms(now_ms);
    static const s_consents_t none;
    const s_consents_t *c = &none;
    memset(out, 0, sizeof *out);
    /* Find the subject's consents by pseudonym before deciding; an invalid
     * number is reported by decide itself. */
    if (env->subject && pnr_parse(env->subject->personnummer, today, &subj, NULL) == REMISS_OK) {
        out->has_subject = true;
        if (!(c = s_lookup(self, subj.canonical, today, out->pseudonym, &err))) {
            s_result(out, err.code == REMISS_E_STORAGE ? REMISS_E_STORAGE : REMISS_E_INTERNAL,
                     NULL);
            return out->code;
        }
    }
    remiss_code_t r = decide_envelope(self->policy, sender, env, today, c->rec, c->n, &d, &err);
    s_result(out, r, &err);
    out->categories = d.categories ? d.categories : category_of_envelope(env);
    if (r == REMISS_OK && d.consent)
        snprintf(out->consent_used, sizeof out->consent_used, "%s/%s", d.consent->granted_by,
                 d.consent->consent_id);
    if (d.rule && d.consent)
        snprintf(out->detail, sizeof out->detail, "rule=%s consent=%s registered_by=%s",
                 d.rule->name, d.consent->consent_id, d.consent->granted_by);
    else if (d.rule)
        snprintf(out->detail, sizeof out->detail, "rule=%s", d.rule->name);
    return r;
}

/* The last millisecond (UTC) of a YYYY-MM-DD day; 0 if unreadable. */
static int64_t
s_day_end_ms(const char *day)
{
    pnr_date_t d;
    if (!pnr_date_parse(day, &d))
        return 0;
    struct tm tm = {.tm_year = d.year - 1900, .tm_mon = d.month - 1, .tm_mday = d.day + 1};
    return (int64_t)timegm(&tm) * 1000 - 1;
}

/* A party may hold S_MAX_PER_PARTY consents in force per person; another
 * party's registrations never count against it. */
static remiss_code_t
s_grant_cap(intake_t *self, const char *sender, intake_result_t *out)
{
    remiss_err_t err = {0};
    uint64_t n = 0;
    if (store_consent_count(self->store, out->pseudonym, sender, &n, &err) != REMISS_OK) {
        s_result(out, REMISS_E_STORAGE, NULL);
        return out->code;
    }
    if (n < S_MAX_PER_PARTY)
        return REMISS_OK;
    out->code = REMISS_E_RATE_LIMITED;
    snprintf(out->sentence, sizeof out->sentence,
             "%s already has %d consents in force for this person; withdraw one before "
             "registering another.",
             sender, S_MAX_PER_PARTY);
    return out->code;
}

/* A grant: decide_consent_grant, and its id must be new (ids are never
 * reused: a withdrawn consent granted again is a new consent with a new
 * id, so the evidence trail stays unambiguous). */
static remiss_code_t
s_grant_check(intake_t *self, const char *sender, const Remiss__Envelope *env, int64_t now_ms,
              intake_result_t *out)
{
    remiss_err_t err = {0};
    store_consent_t row;
    bool exists = false;
    pnr_t subj;
    char key[STORE_NAME_MAX];
    remiss_code_t r =
        decide_consent_grant(self->policy, sender, env, pnr_date_from_ms(now_ms), &subj, &err);
    if (r != REMISS_OK) {
        s_result(out, r, &err);
        return r;
    }
    out->has_subject = true;
    intake_pseudonym(self, subj.canonical, out->pseudonym);
    if ((r = s_grant_cap(self, sender, out)) != REMISS_OK)
        return r;
    /* Scoped by the registering party: only the sender's own
     * registrations can collide. */
    snprintf(key, sizeof key, "%s/%s", sender, env->consent_id);
    if (store_consent_get(self->store, key, &exists, &row, &err) != REMISS_OK) {
        s_result(out, REMISS_E_STORAGE, NULL);
        return out->code;
    }
    if (exists) {
        store_consent_clear(&row);
        snprintf(out->sentence, sizeof out->sentence,
                 "You already registered a consent with the id %s; a new consent needs a new "
                 "id.",
                 env->consent_id);
        out->code = REMISS_E_REPLAY;
        return out->code;
    }
    snprintf(out->detail, sizeof out->detail, "consent=%s registered_by=%s", env->consent_id,
             sender);
    s_result(out, REMISS_OK, NULL);
    snprintf(out->sentence, sizeof out->sentence, "The consent %s is registered.", env->consent_id);
    return REMISS_OK;
}

/* The rows a revocation may be about, decoded: PARTY/ID as named, else the
 * sender's own ID, else every consent about the subject named (decide
 * picks the one of that ID and refuses an ambiguous one). NULL on error. */
static s_consents_t *
s_revoke_rows(intake_t *self, const char *sender, const Remiss__Envelope *env, pnr_date_t today,
              remiss_err_t *err)
{
    char key[STORE_NAME_MAX * 2];
    bool found = false, qualified = strchr(env->consent_id, '/') != NULL;
    uint64_t count = 1;
    uint8_t ps[32];
    pnr_t p;
    size_t nrows = 0;
    snprintf(key, sizeof key, qualified ? "%s%s" : "%s/%s", qualified ? "" : sender,
             env->consent_id);
    bool by_subject = !qualified && env->subject &&
                      pnr_parse(env->subject->personnummer, today, &p, NULL) == REMISS_OK;
    if (by_subject) {
        intake_pseudonym(self, p.canonical, ps);
        if (store_consent_count(self->store, ps, NULL, &count, err) != REMISS_OK)
            return NULL;
    }
    s_consents_t *c = s_consents_new((size_t)count);
    if (!c)
        return NULL;
    remiss_code_t r = store_consent_get(self->store, key, &found, &c->rows[0], err);
    if (r == REMISS_OK && found)
        nrows = 1;
    else if (r == REMISS_OK && by_subject)
        r = store_consents_for(self->store, ps, (size_t)count, c->rows, &nrows, err);
    if (r != REMISS_OK) {
        s_consents_clear(c);
        free(c);
        return NULL;
    }
    s_consents_decode(c, nrows, today);
    return c;
}

/* A revocation: decide_consent_revoke against the registered grants. */
static remiss_code_t
s_revoke_check(intake_t *self, const char *sender, const Remiss__Envelope *env, int64_t now_ms,
               intake_result_t *out)
{
    remiss_err_t err = {0};
    const consent_rec_t *target = NULL;
    pnr_date_t today = pnr_date_from_ms(now_ms);
    s_consents_t *c =
        env->consent_id ? s_revoke_rows(self, sender, env, today, &err) : s_consents_new(0);
    if (!c) {
        s_result(out, err.code == REMISS_E_STORAGE ? REMISS_E_STORAGE : REMISS_E_INTERNAL, NULL);
        return out->code;
    }
    remiss_code_t r =
        decide_consent_revoke(self->policy, sender, env, today, c->rec, c->n, &target, &err);
    if (r == REMISS_OK && target) {
        size_t k = (size_t)(target - c->rec);
        out->has_subject = true;
        intake_pseudonym(self, c->subject[k].canonical, out->pseudonym);
        out->withhold_pending = true;
        snprintf(out->consent_used, sizeof out->consent_used, "%s", c->rows[k].consent_id);
        snprintf(out->detail, sizeof out->detail, "consent=%s registered_by=%s", target->consent_id,
                 target->granted_by);
    }
    s_result(out, r, &err);
    if (r == REMISS_OK)
        snprintf(out->sentence, sizeof out->sentence,
                 "The consent %s is withdrawn; messages resting on it are withheld.",
                 env->consent_id);
    s_consents_clear(c);
    free(c);
    return r;
}

remiss_code_t
intake_consent_check(intake_t *self, const char *sender, const Remiss__Envelope *env,
                     int64_t now_ms, intake_result_t *out)
{
    memset(out, 0, sizeof *out);
    out->categories = category_of_envelope(env);
    if (env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT)
        return s_grant_check(self, sender, env, now_ms, out);
    if (env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE)
        return s_revoke_check(self, sender, env, now_ms, out);
    s_result(out, REMISS_E_MALFORMED, NULL);
    return out->code;
}

remiss_code_t
intake_consent_write(intake_t *self, const char *sender, const Remiss__Envelope *env,
                     const uint8_t *envelope, size_t len, int64_t now_ms,
                     const intake_result_t *decided, remiss_err_t *err)
{
    intake_forget(self); /* the registry is about to change */
    if (env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE)
        return decided->withhold_pending
                   ? store_consent_revoke(self->store, decided->consent_used, now_ms, err)
                   : REMISS_OK;
    store_consent_t row;
    bool exists = false;
    memset(&row, 0, sizeof row);
    snprintf(row.consent_id, sizeof row.consent_id, "%s/%s", sender, env->consent_id);
    snprintf(row.granted_by, sizeof row.granted_by, "%s", sender);
    memcpy(row.subject, decided->pseudonym, 32);
    row.grant = (uint8_t *)envelope;
    row.grant_len = len;
    row.granted_at = now_ms;
    row.valid_until = s_day_end_ms(env->consent_grant->valid_until);
    remiss_code_t r = store_consent_put(self->store, &row, &exists, err);
    if (r == REMISS_OK && exists) /* intake_consent_check saw no such id */
        r = remiss_err_set(err, REMISS_E_STORAGE, "the consent id %s appeared meanwhile",
                           env->consent_id);
    return r;
}

remiss_code_t
intake_consent(intake_t *self, const char *sender, const Remiss__Envelope *env,
               const uint8_t *envelope, size_t len, int64_t now_ms, intake_result_t *out)
{
    remiss_err_t err;
    remiss_code_t r = intake_consent_check(self, sender, env, now_ms, out);
    if (r == REMISS_OK &&
        intake_consent_write(self, sender, env, envelope, len, now_ms, out, &err) != REMISS_OK) {
        out->withhold_pending = false;
        s_result(out, REMISS_E_STORAGE, NULL);
        r = out->code;
    }
    return r;
}
