/* decide: the consent and secrecy decision (see decide.h for the order). */
#include "decide.h"

#include <string.h>

#define S_CONSENT_ID_MAX 64
#define S_ROLE_PREFIX    "role:"

/* Why one consent fails to cover one message, as bits. */
enum {
    S_MISS_SUBJECT = 1u << 0,   /* another person's consent */
    S_MISS_SENDER = 1u << 1,    /* sender not in from_parties */
    S_MISS_RECIPIENT = 1u << 2, /* recipient not in to_parties */
    S_MISS_PURPOSE = 1u << 3,   /* purpose not in purposes */
    S_MISS_CATEGORY = 1u << 4,  /* a present category not in categories */
    S_MISS_DATES = 1u << 5,     /* today outside valid_from..valid_until */
    S_MISS_REVOKED = 1u << 6,   /* withdrawn */
    S_MISS_GUARDIAN = 1u << 7,  /* minor, but not given with a guardian */
};
#define S_MISS_PARTIES (S_MISS_SENDER | S_MISS_RECIPIENT | S_MISS_PURPOSE)

/* Everything the consent step needs about the message. */
typedef struct {
    const policy_t *policy;
    const char *sender;         /* sender party id */
    const char *sender_role;    /* its role */
    const char *recipient;      /* recipient party id */
    const char *recipient_role; /* its role */
    const char *purpose;        /* envelope purpose (known to the policy) */
    catset_t present;           /* categories present */
    const char *subject;        /* canonical number */
    int age;                    /* age today */
    pnr_date_t today;           /* the day of the decision */
} s_msg_t;

/* One consent measured against the message. */
typedef struct {
    unsigned miss;      /* S_MISS_* */
    catset_t uncovered; /* present categories the consent lacks */
    bool not_yet;       /* S_MISS_DATES because valid_from is after today */
} s_eval_t;

/* ------------------------------------------------------------ small checks */

/* Consent ids are echoed in sentences and audit details: short ASCII that
 * starts with a letter, so a personnummer cannot pass as one. */
static bool
s_consent_id_ok(const char *id)
{
    size_t n = id ? strnlen(id, S_CONSENT_ID_MAX + 1) : 0;
    if (n == 0 || n > S_CONSENT_ID_MAX)
        return false;
    if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool
s_hex64(const char *s)
{
    if (!s || strnlen(s, 65) != 64)
        return false;
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

static bool
s_empty(const char *s)
{
    return !s || !s[0];
}

/* True if a from_parties / to_parties list names the party or its role. */
static bool
s_names_party(char *const *list, size_t n, const char *party, const char *role)
{
    size_t plen = strlen(S_ROLE_PREFIX);
    for (size_t i = 0; i < n; i++) {
        const char *e = list[i];
        if (!e)
            continue;
        if (strcmp(e, party) == 0)
            return true;
        if (role && strncmp(e, S_ROLE_PREFIX, plen) == 0 && strcmp(e + plen, role) == 0)
            return true;
    }
    return false;
}

static bool
s_has_string(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* The categories a grant names; names it does not know are ignored, since
 * they were validated at registration and ignoring can only narrow. */
static catset_t
s_grant_categories(const Remiss__ConsentGrant *g)
{
    catset_t set = 0;
    for (size_t i = 0; i < g->n_categories; i++) {
        category_t c;
        if (category_parse(g->categories[i], &c))
            set |= 1u << c;
    }
    return set;
}

/* Writes "health and criminal data" style text for a set. */
static const char *
s_cats(catset_t set, char *buf, size_t size)
{
    category_format(set, buf, size);
    return buf;
}

static const char *
s_given_by_name(Remiss__GivenBy who)
{
    return who == REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN ? "subject_and_guardian" : "subject";
}

/* True when the person is a minor whose consent must include a guardian
 * and this consent does not. */
static bool
s_guardian_missing(const policy_t *policy, int age, Remiss__GivenBy given_by)
{
    if (age >= policy_minor_age(policy))
        return false;
    if (policy_minor_given_by(policy) == REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN)
        return given_by != REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN;
    return given_by == REMISS__GIVEN_BY__GIVEN_BY_UNSPECIFIED;
}

/* ------------------------------------------------------------ consent evaluation */

static s_eval_t
s_evaluate(const s_msg_t *m, const consent_rec_t *c)
{
    s_eval_t ev = {0, 0, false};
    const Remiss__ConsentGrant *g = c->grant;
    if (!g || !c->subject || strcmp(c->subject, m->subject) != 0) {
        /* A record without its grant or subject can cover nothing. */
        ev.miss = S_MISS_SUBJECT;
        return ev;
    }
    if (!s_names_party(g->from_parties, g->n_from_parties, m->sender, m->sender_role))
        ev.miss |= S_MISS_SENDER;
    if (!s_names_party(g->to_parties, g->n_to_parties, m->recipient, m->recipient_role))
        ev.miss |= S_MISS_RECIPIENT;
    if (!s_has_string(g->purposes, g->n_purposes, m->purpose))
        ev.miss |= S_MISS_PURPOSE;
    ev.uncovered = m->present & ~s_grant_categories(g);
    if (ev.uncovered)
        ev.miss |= S_MISS_CATEGORY;
    pnr_date_t from, until;
    /* An unreadable date cannot show the consent to be in force. */
    if (!pnr_date_parse(g->valid_from, &from) || !pnr_date_parse(g->valid_until, &until)) {
        ev.miss |= S_MISS_DATES;
    } else if (pnr_date_cmp(m->today, from) < 0) {
        ev.miss |= S_MISS_DATES;
        ev.not_yet = true;
    } else if (pnr_date_cmp(m->today, until) > 0) {
        ev.miss |= S_MISS_DATES;
    }
    if (c->revoked)
        ev.miss |= S_MISS_REVOKED;
    if (s_guardian_missing(m->policy, m->age, g->given_by))
        ev.miss |= S_MISS_GUARDIAN;
    return ev;
}

static remiss_code_t
s_report_revoked(const consent_rec_t *c, remiss_err_t *err)
{
    if (c->revoked_at_ms > 0) {
        pnr_date_t d = pnr_date_from_ms(c->revoked_at_ms);
        return remiss_err_set(err, REMISS_E_CONSENT_REVOKED,
                              "Consent %s was withdrawn on %04d-%02d-%02d; it no longer allows "
                              "this message.",
                              c->consent_id, d.year, d.month, d.day);
    }
    return remiss_err_set(err, REMISS_E_CONSENT_REVOKED,
                          "Consent %s has been withdrawn; it no longer allows this message.",
                          c->consent_id);
}

static remiss_code_t
s_report_dates(const consent_rec_t *c, const s_eval_t *ev, remiss_err_t *err)
{
    const Remiss__ConsentGrant *g = c->grant;
    pnr_date_t from, until;
    if (!pnr_date_parse(g->valid_from, &from) || !pnr_date_parse(g->valid_until, &until))
        return remiss_err_set(err, REMISS_E_CONSENT_EXPIRED,
                              "Consent %s has no readable validity dates.", c->consent_id);
    if (ev->not_yet)
        return remiss_err_set(err, REMISS_E_CONSENT_EXPIRED,
                              "Consent %s is not in force yet: it starts on %s.", c->consent_id,
                              g->valid_from);
    return remiss_err_set(err, REMISS_E_CONSENT_EXPIRED,
                          "Consent %s is no longer in force: its last day was %s.", c->consent_id,
                          g->valid_until);
}

static remiss_code_t
s_report_category(const consent_rec_t *c, const s_eval_t *ev, remiss_err_t *err)
{
    char cats[128];
    return remiss_err_set(err, REMISS_E_CATEGORY_NOT_COVERED,
                          "Consent %s does not cover the %s data in this message.", c->consent_id,
                          s_cats(ev->uncovered, cats, sizeof cats));
}

static remiss_code_t
s_report_guardian(const s_msg_t *m, const consent_rec_t *c, remiss_err_t *err)
{
    return remiss_err_set(err, REMISS_E_NO_CONSENT,
                          "Consent %s was not given by the person together with a guardian, "
                          "which the policy requires for a person under %d.",
                          c->consent_id, policy_minor_age(m->policy));
}

static remiss_code_t
s_report_parties(const s_msg_t *m, const consent_rec_t *c, unsigned miss, remiss_err_t *err)
{
    const char *what = (miss & S_MISS_SENDER)      ? "the sender"
                       : (miss & S_MISS_RECIPIENT) ? "the recipient"
                                                   : "the purpose";
    return remiss_err_set(err, REMISS_E_NO_CONSENT,
                          "Consent %s does not cover %s (sender %s, recipient %s, purpose %s).",
                          c->consent_id, what, m->sender, m->recipient, m->purpose);
}

/* True if c was registered by the disclosing side of this message: the
 * sender itself, or a party of the sender's role that the consent names
 * as a discloser (from_parties) and not as a recipient. Secrecy binds the
 * disclosing authority (OSL 10 kap. 1 §), so only such a consent may be
 * relied on without the sender naming it (DESIGN.md §2). */
static bool
s_disclosing_side(const s_msg_t *m, const consent_rec_t *c)
{
    const Remiss__ConsentGrant *g = c->grant;
    if (!c->granted_by || !g)
        return false;
    if (strcmp(c->granted_by, m->sender) == 0)
        return true;
    const char *role = policy_party_role(m->policy, c->granted_by);
    return role && strcmp(role, m->sender_role) == 0 &&
           s_names_party(g->from_parties, g->n_from_parties, c->granted_by, role) &&
           !s_names_party(g->to_parties, g->n_to_parties, c->granted_by, role);
}

/* The consent a message names: "ID" (the sender's own registration first,
 * else the only one of that id for this person) or "PARTY/ID" (consent
 * ids are scoped by the registering party). NULL if none or ambiguous. */
static const consent_rec_t *
s_find_named(const s_msg_t *m, const char *id, const consent_rec_t *consents, size_t n,
             bool *ambiguous)
{
    const char *slash = strchr(id, '/');
    const char *local = slash ? slash + 1 : id;
    size_t plen = slash ? (size_t)(slash - id) : 0;
    const consent_rec_t *own = NULL, *other = NULL;
    *ambiguous = false;
    for (size_t i = 0; i < n; i++) {
        const consent_rec_t *c = &consents[i];
        if (!c->consent_id || !c->granted_by || strcmp(c->consent_id, local) != 0)
            continue;
        if (slash && (strlen(c->granted_by) != plen || strncmp(c->granted_by, id, plen) != 0))
            continue;
        if (strcmp(c->granted_by, m->sender) == 0)
            own = c;
        else if (other)
            *ambiguous = true;
        else
            other = c;
    }
    if (own)
        return *ambiguous = false, own;
    return *ambiguous ? NULL : other;
}

/* A consent the receiving side registered may not lift secrecy for the
 * categories the policy reserves to the discloser's own consents. */
static remiss_code_t
s_report_authority(const s_msg_t *m, const consent_rec_t *c, remiss_err_t *err)
{
    catset_t banned = m->present & policy_recipient_consent_forbidden(m->policy);
    char cats[128];
    if (!banned || s_disclosing_side(m, c))
        return REMISS_OK;
    return remiss_err_set(err, REMISS_E_NO_CONSENT,
                          "Consent %s was registered by %s, not by the disclosing side; the "
                          "policy does not let such a consent lift secrecy for %s data.",
                          c->consent_id, c->granted_by, s_cats(banned, cats, sizeof cats));
}

/* The consent the sender named: its own first failure, in the order of
 * decide.h. There is no fallback to other consents: a sender that names a
 * consent states what it relies on, and silently using another one would
 * hide a mix-up (for instance a message about the wrong person). */
static remiss_code_t
s_named_consent(const s_msg_t *m, const char *id, const consent_rec_t *consents, size_t n,
                const consent_rec_t **used, remiss_err_t *err)
{
    bool ambiguous;
    const consent_rec_t *c = s_find_named(m, id, consents, n, &ambiguous);
    if (ambiguous)
        return remiss_err_set(err, REMISS_E_NO_CONSENT,
                              "Several parties registered a consent of the id named in the "
                              "message for this person; name it as PARTY/ID.");
    if (!c)
        return remiss_err_set(err, REMISS_E_NO_CONSENT,
                              "The consent named in the message is not registered for this "
                              "person.");
    s_eval_t ev = s_evaluate(m, c);
    *used = c;
    if (ev.miss & S_MISS_SUBJECT)
        return remiss_err_set(err, REMISS_E_NO_CONSENT,
                              "Consent %s is not registered for this person.", c->consent_id);
    if (ev.miss & S_MISS_REVOKED)
        return s_report_revoked(c, err);
    if (ev.miss & S_MISS_DATES)
        return s_report_dates(c, &ev, err);
    if (ev.miss & S_MISS_PARTIES)
        return s_report_parties(m, c, ev.miss, err);
    if (ev.miss & S_MISS_CATEGORY)
        return s_report_category(c, &ev, err);
    if (ev.miss & S_MISS_GUARDIAN)
        return s_report_guardian(m, c, err);
    return s_report_authority(m, c, err);
}

/* Any covering consent wins; otherwise the closest failure (decide.h). */
static remiss_code_t
s_any_consent(const s_msg_t *m, const policy_rule_t *rule, const consent_rec_t *consents, size_t n,
              const consent_rec_t **used, remiss_err_t *err)
{
    const consent_rec_t *revoked = NULL, *dated = NULL, *category = NULL, *guardian = NULL;
    s_eval_t dated_ev = {0, 0, false}, category_ev = {0, 0, false};
    bool recipient_side = false;
    for (size_t i = 0; i < n; i++) {
        /* Without a named consent only the disclosing side's count. */
        if (!s_disclosing_side(m, &consents[i])) {
            recipient_side = recipient_side || s_evaluate(m, &consents[i]).miss == 0;
            continue;
        }
        s_eval_t ev = s_evaluate(m, &consents[i]);
        if (ev.miss == 0) {
            *used = &consents[i];
            return REMISS_OK;
        }
        /* A withdrawn consent is reported as withdrawn even if it also
         * lapsed: "withdrawn" tells the sender that asking again is the
         * only way, "expired" would suggest a renewal. */
        if ((ev.miss & ~S_MISS_DATES) == S_MISS_REVOKED && !revoked)
            revoked = &consents[i];
        else if (ev.miss == S_MISS_DATES && !dated) {
            dated = &consents[i];
            dated_ev = ev;
        } else if (ev.miss == S_MISS_CATEGORY && !category) {
            category = &consents[i];
            category_ev = ev;
        } else if (ev.miss == S_MISS_GUARDIAN && !guardian)
            guardian = &consents[i];
    }
    if (revoked) {
        *used = revoked;
        return s_report_revoked(revoked, err);
    }
    if (dated) {
        *used = dated;
        return s_report_dates(dated, &dated_ev, err);
    }
    if (category) {
        *used = category;
        return s_report_category(category, &category_ev, err);
    }
    if (guardian) {
        *used = guardian;
        return s_report_guardian(m, guardian, err);
    }
    if (recipient_side)
        return remiss_err_set(err, REMISS_E_NO_CONSENT,
                              "Only a consent registered by the receiving side covers this "
                              "message; the sender must name it (consent_id) to rely on it.");
    return remiss_err_set(err, REMISS_E_NO_CONSENT,
                          "No registered consent covers sender %s, recipient %s and purpose %s "
                          "for this person (rule %s needs consent).",
                          m->sender, m->recipient, m->purpose, rule->name);
}

/* ------------------------------------------------------------ decide_envelope steps */

/* Step 0: something the policy can be asked about at all. */
static remiss_code_t
s_routable(s_msg_t *m, const char *sender, const Remiss__Envelope *env, remiss_err_t *err)
{
    const char *tname = msgtype_name(env->type);
    if (!tname)
        return remiss_err_set(err, REMISS_E_MALFORMED, "The message has no known type.");
    if (env->type == REMISS__MESSAGE_TYPE__CONSENT_GRANT ||
        env->type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "A %s message is addressed to the broker, not routed to a party.",
                              tname);
    if (env->body_case != msgtype_body_case(env->type))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "The message body does not match its type %s.", tname);
    if (!(m->sender_role = policy_party_role(m->policy, sender)))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "The sender %s has no role in the secrecy policy.", sender);
    m->sender = sender;
    if (s_empty(env->recipient))
        return remiss_err_set(err, REMISS_E_MALFORMED, "The message has no recipient.");
    /* The recipient is the sender's text: echo it only once it is known. */
    if (!(m->recipient_role = policy_party_role(m->policy, env->recipient)))
        return remiss_err_set(err, REMISS_E_UNKNOWN_RECIPIENT,
                              "The recipient is not a party of the secrecy policy.");
    m->recipient = env->recipient;
    if (s_empty(env->purpose))
        return remiss_err_set(err, REMISS_E_MALFORMED, "The message has no purpose.");
    m->purpose = env->purpose;
    return REMISS_OK;
}

/* Steps 3 and 4: the rule for this flow, then its age scope. With
 * overlapping rules refused at load, at most one rule fits the age. */
static remiss_code_t
s_find_rule(const s_msg_t *m, const Remiss__Envelope *env, const policy_rule_t **out,
            remiss_err_t *err)
{
    const policy_rule_t *flow = NULL;
    const char *tname = msgtype_name(env->type);
    if (!policy_purpose_known(m->policy, env->purpose))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "The purpose of the message is not one the secrecy policy knows.");
    for (size_t i = 0; i < policy_rule_count(m->policy); i++) {
        const policy_rule_t *r = policy_rule_at(m->policy, i);
        if (r->type != env->type || strcmp(r->from_role, m->sender_role) != 0 ||
            strcmp(r->to_role, m->recipient_role) != 0 || !policy_rule_has_purpose(r, m->purpose))
            continue;
        if (policy_rule_age_ok(r, m->age)) {
            *out = r;
            return REMISS_OK;
        }
        if (!flow)
            flow = r;
    }
    if (!flow)
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "No rule in the secrecy policy allows %s from role %s to role %s "
                              "for purpose %s.",
                              tname, m->sender_role, m->recipient_role, m->purpose);
    *out = flow;
    /* Say the scope, not the age: the age is personal data. */
    if (flow->min_age >= 0 && flow->max_age >= 0)
        return remiss_err_set(err, REMISS_E_AGE_OUT_OF_SCOPE,
                              "Rule %s covers only people aged %d to %d.", flow->name,
                              flow->min_age, flow->max_age);
    if (flow->max_age >= 0)
        return remiss_err_set(err, REMISS_E_AGE_OUT_OF_SCOPE,
                              "Rule %s covers only people aged %d or younger.", flow->name,
                              flow->max_age);
    return remiss_err_set(err, REMISS_E_AGE_OUT_OF_SCOPE,
                          "Rule %s covers only people aged %d or older.", flow->name,
                          flow->min_age);
}

remiss_code_t
decide_envelope(const policy_t *policy, const char *sender, const Remiss__Envelope *env,
                pnr_date_t today, const consent_rec_t *consents, size_t n_consents, decision_t *out,
                remiss_err_t *err)
{
    s_msg_t m = {.policy = policy, .today = today};
    remiss_code_t r;
    char cats[128];

    if (!out)
        return remiss_err_set(err, REMISS_E_INTERNAL, "decide_envelope needs a decision.");
    memset(out, 0, sizeof *out);
    if (!policy || !sender || !env || (n_consents > 0 && !consents))
        return remiss_err_set(err, REMISS_E_INTERNAL, "decide_envelope was called wrongly.");
    out->categories = m.present = category_of_envelope(env);

    if ((r = s_routable(&m, sender, env, err)) != REMISS_OK)
        return r;

    /* Step 1. */
    if (!env->subject || s_empty(env->subject->personnummer))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "The message has no subject personnummer; a %s is always about "
                              "one person.",
                              msgtype_name(env->type));
    if ((r = pnr_parse(env->subject->personnummer, today, &out->subject, err)) != REMISS_OK)
        return r == REMISS_E_INVALID_PERSONNUMMER ? r
                                                  : remiss_err_set(err, REMISS_E_INTERNAL, NULL);
    m.subject = out->subject.canonical;
    m.age = pnr_age(&out->subject, today);

    /* Step 2. */
    if (env->subject->protected_identity && (m.present & (1u << CAT_CONTACT)))
        return remiss_err_set(err, REMISS_E_PROTECTED_IDENTITY,
                              "The person has protected identity; remove the contact data "
                              "(address, phone, e-mail) and send again.");

    /* Steps 3 and 4. */
    if ((r = s_find_rule(&m, env, &out->rule, err)) != REMISS_OK)
        return r;

    /* Step 5. */
    catset_t extra = m.present & ~out->rule->categories;
    if (extra)
        return remiss_err_set(err, REMISS_E_CATEGORY_NOT_COVERED,
                              "Rule %s does not allow %s data in this flow.", out->rule->name,
                              s_cats(extra, cats, sizeof cats));

    if (out->rule->basis == POLICY_BASIS_STATUTE)
        return remiss_err_set(err, REMISS_OK, "Allowed by rule %s on the basis of %s.",
                              out->rule->name, out->rule->statute);

    /* Step 6. */
    if (!s_empty(env->consent_id))
        r = s_named_consent(&m, env->consent_id, consents, n_consents, &out->consent, err);
    else
        r = s_any_consent(&m, out->rule, consents, n_consents, &out->consent, err);
    if (r != REMISS_OK)
        return r;
    return remiss_err_set(err, REMISS_OK, "Allowed by rule %s with consent %s registered by %s.",
                          out->rule->name, out->consent->consent_id, out->consent->granted_by);
}

/* ------------------------------------------------------------ consent messages */

/* What consent grants and revocations share: type, recipient, sender,
 * consent id. */
/* A revocation may name a consent as PARTY/ID (ids are scoped by the
 * registering party): the party must be known and ID well formed. */
static bool
s_qualified_id_ok(const policy_t *policy, const char *id)
{
    const char *slash = id ? strchr(id, '/') : NULL;
    char party[S_CONSENT_ID_MAX + 1];
    if (!slash)
        return s_consent_id_ok(id);
    if ((size_t)(slash - id) >= sizeof party)
        return false;
    memcpy(party, id, (size_t)(slash - id));
    party[slash - id] = '\0';
    return policy_party_role(policy, party) && s_consent_id_ok(slash + 1);
}

static remiss_code_t
s_consent_envelope(const policy_t *policy, const char *sender, const Remiss__Envelope *env,
                   Remiss__MessageType type, remiss_err_t *err)
{
    bool revoke = type == REMISS__MESSAGE_TYPE__CONSENT_REVOKE;
    const char *tname = msgtype_name(type);
    if (env->type != type || env->body_case != msgtype_body_case(type))
        return remiss_err_set(err, REMISS_E_MALFORMED, "The message is not a complete %s.", tname);
    if (s_empty(env->recipient) || strcmp(env->recipient, "broker") != 0)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "A %s is addressed to the broker (recipient \"broker\").", tname);
    if (!policy_party_role(policy, sender))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "The sender %s has no role in the secrecy policy.", sender);
    if (revoke ? !s_qualified_id_ok(policy, env->consent_id) : !s_consent_id_ok(env->consent_id))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "The consent_id is missing or not 1 to %d letters, digits, '.', "
                              "'_' or '-' starting with a letter.",
                              S_CONSENT_ID_MAX);
    /* Its purpose field, if set, is recorded: only a known one. */
    if (!s_empty(env->purpose) && !policy_purpose_known(policy, env->purpose))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "The purpose of the %s is not one the secrecy policy knows.", tname);
    /* A consent message is about the consent, not the case: only the
     * subject's identity may travel with it. */
    catset_t extra = category_of_envelope(env) & ~(1u << CAT_IDENTITY);
    if (extra) {
        char cats[128];
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "A %s carries only the person's identity, not %s data.", tname,
                              s_cats(extra, cats, sizeof cats));
    }
    return REMISS_OK;
}

/* Each entry of from_parties / to_parties: a known party or role:ROLE. */
static remiss_code_t
s_party_list(const policy_t *policy, const char *field, char *const *list, size_t n,
             remiss_err_t *err)
{
    size_t plen = strlen(S_ROLE_PREFIX);
    if (n == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "The consent has no %s.", field);
    for (size_t i = 0; i < n; i++) {
        const char *e = list[i];
        bool ok = e && (policy_party_role(policy, e) || (strncmp(e, S_ROLE_PREFIX, plen) == 0 &&
                                                         policy_role_known(policy, e + plen)));
        if (!ok)
            return remiss_err_set(err, REMISS_E_MALFORMED,
                                  "Entry %zu of %s is neither a party of the policy nor "
                                  "role:ROLE of a known role.",
                                  i + 1, field);
    }
    return REMISS_OK;
}

static remiss_code_t
s_grant_lists(const policy_t *policy, const char *sender, const Remiss__ConsentGrant *g,
              remiss_err_t *err)
{
    remiss_code_t r;
    if ((r = s_party_list(policy, "from_parties", g->from_parties, g->n_from_parties, err)) ||
        (r = s_party_list(policy, "to_parties", g->to_parties, g->n_to_parties, err)))
        return r;
    const char *role = policy_party_role(policy, sender);
    if (!s_names_party(g->from_parties, g->n_from_parties, sender, role) &&
        !s_names_party(g->to_parties, g->n_to_parties, sender, role))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "A party may register consent only for exchanges it takes part "
                              "in; %s is in neither from_parties nor to_parties.",
                              sender);
    if (g->n_purposes == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "The consent names no purpose.");
    for (size_t i = 0; i < g->n_purposes; i++)
        if (!policy_purpose_known(policy, g->purposes[i]))
            return remiss_err_set(err, REMISS_E_MALFORMED,
                                  "Purpose %zu of the consent is not one the secrecy policy "
                                  "knows.",
                                  i + 1);
    if (g->n_categories == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "The consent names no data category.");
    for (size_t i = 0; i < g->n_categories; i++) {
        category_t c;
        if (!category_parse(g->categories[i], &c))
            return remiss_err_set(err, REMISS_E_MALFORMED,
                                  "Category %zu of the consent is not a data category.", i + 1);
    }
    if (!(s_grant_categories(g) & (1u << CAT_IDENTITY)))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "The consent must cover identity, which every message carries.");
    return REMISS_OK;
}

static remiss_code_t
s_grant_terms(const policy_t *policy, const Remiss__ConsentGrant *g, const pnr_t *subject,
              pnr_date_t today, remiss_err_t *err)
{
    pnr_date_t from, until;
    if (!pnr_date_parse(g->valid_from, &from))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "valid_from is not a real date written YYYY-MM-DD.");
    if (!pnr_date_parse(g->valid_until, &until))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "valid_until is not a real date written YYYY-MM-DD.");
    if (pnr_date_cmp(from, until) > 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "valid_from is after valid_until.");
    if (g->given_by != REMISS__GIVEN_BY__SUBJECT &&
        g->given_by != REMISS__GIVEN_BY__SUBJECT_AND_GUARDIAN)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "given_by must be subject or subject_and_guardian.");
    if (!s_hex64(g->evidence_sha256))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "evidence_sha256 must be 64 hexadecimal digits.");
    if (pnr_date_cmp(until, today) < 0)
        return remiss_err_set(err, REMISS_E_CONSENT_EXPIRED,
                              "The consent ended on %s, before today.", g->valid_until);
    /* The minor rule applies on the first day the consent is in force: a
     * consent that starts on the 18th birthday needs no guardian. */
    pnr_date_t first = pnr_date_cmp(from, today) > 0 ? from : today;
    if (s_guardian_missing(policy, pnr_age(subject, first), g->given_by))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "The person is under %d when the consent starts, so it must be "
                              "given_by %s.",
                              policy_minor_age(policy),
                              s_given_by_name(policy_minor_given_by(policy)));
    return REMISS_OK;
}

remiss_code_t
decide_consent_grant(const policy_t *policy, const char *sender, const Remiss__Envelope *env,
                     pnr_date_t today, pnr_t *subject, remiss_err_t *err)
{
    pnr_t pnr;
    remiss_code_t r;
    if (subject)
        memset(subject, 0, sizeof *subject);
    if (!policy || !sender || !env)
        return remiss_err_set(err, REMISS_E_INTERNAL, "decide_consent_grant was called wrongly.");
    if ((r = s_consent_envelope(policy, sender, env, REMISS__MESSAGE_TYPE__CONSENT_GRANT, err)))
        return r;
    if (!env->subject || s_empty(env->subject->personnummer))
        return remiss_err_set(err, REMISS_E_MALFORMED, "The consent has no subject personnummer.");
    if ((r = pnr_parse(env->subject->personnummer, today, &pnr, err)) != REMISS_OK)
        return r == REMISS_E_INVALID_PERSONNUMMER ? r
                                                  : remiss_err_set(err, REMISS_E_INTERNAL, NULL);
    const Remiss__ConsentGrant *g = env->consent_grant;
    if ((r = s_grant_lists(policy, sender, g, err)) ||
        (r = s_grant_terms(policy, g, &pnr, today, err)))
        return r;
    if (subject)
        *subject = pnr;
    return remiss_err_set(err, REMISS_OK, "Consent %s is registered.", env->consent_id);
}

remiss_code_t
decide_consent_revoke(const policy_t *policy, const char *sender, const Remiss__Envelope *env,
                      pnr_date_t today, const consent_rec_t *consents, size_t n_consents,
                      const consent_rec_t **target, remiss_err_t *err)
{
    const consent_rec_t *c = NULL;
    remiss_code_t r;
    if (target)
        *target = NULL;
    if (!policy || !sender || !env || (n_consents > 0 && !consents))
        return remiss_err_set(err, REMISS_E_INTERNAL, "decide_consent_revoke was called wrongly.");
    if ((r = s_consent_envelope(policy, sender, env, REMISS__MESSAGE_TYPE__CONSENT_REVOKE, err)))
        return r;
    const char *slash = strchr(env->consent_id, '/');
    const char *local = slash ? slash + 1 : env->consent_id;
    size_t plen = slash ? (size_t)(slash - env->consent_id) : 0;
    size_t matches = 0;
    for (size_t i = 0; i < n_consents; i++)
        if (consents[i].consent_id && strcmp(consents[i].consent_id, local) == 0 &&
            (!slash || (consents[i].granted_by && strlen(consents[i].granted_by) == plen &&
                        strncmp(consents[i].granted_by, env->consent_id, plen) == 0))) {
            c = c ? c : &consents[i];
            matches++;
        }
    if (matches > 1)
        return remiss_err_set(err, REMISS_E_NO_CONSENT,
                              "Several parties registered a consent %s for this person; name "
                              "it as PARTY/%s.",
                              local, local);
    if (!c || !c->grant)
        return remiss_err_set(err, REMISS_E_NO_CONSENT, "No consent %s is registered.",
                              env->consent_id);
    if (env->subject && !s_empty(env->subject->personnummer)) {
        pnr_t pnr;
        if ((r = pnr_parse(env->subject->personnummer, today, &pnr, err)) != REMISS_OK)
            return r == REMISS_E_INVALID_PERSONNUMMER
                       ? r
                       : remiss_err_set(err, REMISS_E_INTERNAL, NULL);
        if (!c->subject || strcmp(c->subject, pnr.canonical) != 0)
            return remiss_err_set(err, REMISS_E_NO_CONSENT,
                                  "Consent %s is not registered for this person.", c->consent_id);
    }
    const char *role = policy_party_role(policy, sender);
    const Remiss__ConsentGrant *g = c->grant;
    if (!(c->granted_by && strcmp(c->granted_by, sender) == 0) &&
        !s_names_party(g->from_parties, g->n_from_parties, sender, role) &&
        !s_names_party(g->to_parties, g->n_to_parties, sender, role))
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "Only the party that registered consent %s or a party it covers "
                              "may withdraw it.",
                              c->consent_id);
    if (c->revoked)
        return remiss_err_set(err, REMISS_E_CONSENT_REVOKED,
                              "Consent %s has already been withdrawn.", c->consent_id);
    if (target)
        *target = c;
    return remiss_err_set(err, REMISS_OK, "Consent %s is withdrawn.", c->consent_id);
}
