/* msgjson: the JSON form of an envelope, mapped through the protobuf-c
 * descriptors. See msgjson.h for the conventions. */
#include "msgjson.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "category.h"
#include "hex.h"
#include "rfc3339.h"
#include "utf8.h"

/* Longest field path kept in a sentence; a longer one is cut, which only
 * shortens the sentence. */
#define S_PATH_MAX 128

/* Longest enum value or field name this module derives. */
#define S_NAME_MAX 64

/* Nesting of proto messages below the envelope; remiss.proto needs 2. */
#define S_MAX_DEPTH 8

/* 2^53: every integer up to this is exact in a JSON (double) number. */
#define S_MAX_EXACT 9007199254740992.0

/* 9999-12-31T23:59:59.999Z in ms: the last time the ISO form can write. */
#define S_MAX_MS INT64_C(253402300799999)

#define S_TIME_RULE                                                                                \
    "must be milliseconds since 1970 or an ISO 8601 UTC time such as 2026-11-23T10:15:00.123Z"

/* Envelope fields whose JSON key differs from the proto name. */
static const struct {
    const char *json;
    const char *proto;
} s_renames[] = {
    {"to", "recipient"},
    {"from", "sender"},
};
#define S_NRENAMES (sizeof s_renames / sizeof s_renames[0])

/* Envelope fields s_envelope_json writes by hand (meta may override them,
 * "type" is a name, times are strings); the generic mapping skips them. */
static const char *const s_by_hand[] = {"type", "message_id", "sender", "recipient", "created_at"};
#define S_NBY_HAND (sizeof s_by_hand / sizeof s_by_hand[0])

/* Keys already seen in one JSON object, to reject duplicates: bit i is
 * field i of the descriptor. */
typedef struct {
    uint64_t env;     /* envelope fields (also for "to", "from", "type") */
    uint64_t body;    /* body fields, flattened at the top level */
    bool received_at; /* "received_at": not a proto field */
} s_seen_t;

static remiss_code_t s_parse_message(const cJSON *item, const ProtobufCMessageDescriptor *desc,
                                     ProtobufCMessage **slot, const char *path, int depth,
                                     remiss_err_t *err);
static cJSON *s_message_json(const ProtobufCMessage *m, int depth);

/* ------------------------------------------------------------ helpers */

static remiss_code_t
s_oom(remiss_err_t *err)
{
    return remiss_err_set(err, REMISS_E_INTERNAL, "out of memory while reading the message");
}

static void
s_child_path(char *buf, const char *parent, const char *name)
{
    if (parent && *parent)
        snprintf(buf, S_PATH_MAX, "%s.%s", parent, name);
    else
        snprintf(buf, S_PATH_MAX, "%s", name);
}

/* A key is repeated in a sentence only when it looks like a field name, so
 * an error can never echo text that might be personal data. */
static bool
s_key_printable(const char *key)
{
    size_t n = 0;
    for (; key[n]; n++)
        if (n >= 40 || !(isalnum((unsigned char)key[n]) || key[n] == '_' || key[n] == '-'))
            return false;
    return n > 0;
}

static remiss_code_t
s_unknown(const char *parent, const char *key, remiss_err_t *err)
{
    char path[S_PATH_MAX];
    if (!s_key_printable(key)) {
        if (parent && *parent)
            return remiss_err_set(err, REMISS_E_MALFORMED, "unknown field in \"%s\"", parent);
        return remiss_err_set(err, REMISS_E_MALFORMED, "unknown field at the top level");
    }
    s_child_path(path, parent, key);
    return remiss_err_set(err, REMISS_E_MALFORMED, "unknown field \"%s\"", path);
}

static remiss_code_t
s_mark_seen(uint64_t *seen, const ProtobufCMessageDescriptor *desc,
            const ProtobufCFieldDescriptor *f, const char *path, remiss_err_t *err)
{
    size_t idx = (size_t)(f - desc->fields);
    if (idx >= 64)
        return remiss_err_set(err, REMISS_E_INTERNAL, "message %s has too many fields for JSON",
                              desc->short_name);
    if (*seen & (UINT64_C(1) << idx))
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" appears more than once", path);
    *seen |= UINT64_C(1) << idx;
    return REMISS_OK;
}

/* Size of one element of a repeated field of this type. */
static size_t
s_elem_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(uint32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(uint64_t);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 0; /* float and double: not used by remiss.proto */
    }
}

/* The JSON name of an enum value: "NEEDS_INFO" of TransferDecision gives
 * "needs_info", "TRANSFER_DECISION_UNSPECIFIED" gives "unspecified" (proto
 * style prefixes zero values with the enum's name in UPPER_SNAKE case). */
static bool
s_enum_json_name(const ProtobufCEnumDescriptor *ed, const ProtobufCEnumValue *v, char *buf,
                 size_t size)
{
    char prefix[S_NAME_MAX];
    const char *sn = ed->short_name;
    const char *name = v->name;
    size_t p = 0, n = 0;

    for (size_t i = 0; sn[i]; i++) {
        unsigned char c = (unsigned char)sn[i];
        if (p + 3 > sizeof prefix)
            return false;
        if (i > 0 && isupper(c) &&
            (islower((unsigned char)sn[i - 1]) || isdigit((unsigned char)sn[i - 1])))
            prefix[p++] = '_';
        prefix[p++] = (char)toupper(c);
    }
    prefix[p++] = '_';
    if (strncmp(name, prefix, p) == 0 && name[p] != '\0')
        name += p;
    for (; name[n]; n++) {
        if (n + 1 >= size)
            return false;
        buf[n] = (char)tolower((unsigned char)name[n]);
    }
    buf[n] = '\0';
    return true;
}

/* -------------------------------------------------------- JSON -> proto */

static remiss_code_t
s_parse_string(const cJSON *item, char **dst, const char *path, remiss_err_t *err)
{
    if (!cJSON_IsString(item) || !item->valuestring)
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be a string", path);
    /* A \u0000 escape reaches here as invalid bytes (see s_load), so this
     * catches embedded NULs as well. */
    size_t n = strlen(item->valuestring);
    if (!utf8_valid(item->valuestring, n))
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "field \"%s\" must be valid UTF-8 text without NUL characters", path);
    char *copy = malloc(n + 1);
    if (!copy)
        return s_oom(err);
    memcpy(copy, item->valuestring, n + 1);
    *dst = copy;
    return REMISS_OK;
}

static remiss_code_t
s_parse_int(const cJSON *item, double min, double max, int64_t *out, const char *path,
            remiss_err_t *err)
{
    if (!cJSON_IsNumber(item))
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be an integer", path);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v))
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be an integer", path);
    if (v < min || v > max)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "field \"%s\" is out of range (%.0f to %.0f)", path, min, max);
    *out = (int64_t)v;
    return REMISS_OK;
}

static remiss_code_t
s_parse_enum(const cJSON *item, const ProtobufCEnumDescriptor *ed, int *dst, const char *path,
             remiss_err_t *err)
{
    char name[S_NAME_MAX], list[200] = "";
    size_t used = 0;

    for (unsigned i = 0; i < ed->n_values; i++) {
        const ProtobufCEnumValue *v = &ed->values[i];
        /* Zero means "not set" in proto3: the JSON leaves the field out. */
        if (v->value == 0 || !s_enum_json_name(ed, v, name, sizeof name))
            continue;
        if (cJSON_IsString(item) && item->valuestring && strcmp(item->valuestring, name) == 0) {
            *dst = v->value;
            return REMISS_OK;
        }
        if (used < sizeof list)
            used +=
                (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", name);
    }
    return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be one of %s", path, list);
}

static remiss_code_t
s_parse_id(const cJSON *item, ProtobufCBinaryData *dst, const char *path, remiss_err_t *err)
{
    const char *s = cJSON_IsString(item) ? item->valuestring : NULL;
    uint8_t *bytes;

    if (!s || strlen(s) != 2 * MSGJSON_ID_LEN)
        goto bad;
    for (size_t i = 0; i < 2 * MSGJSON_ID_LEN; i++)
        if (hex_digit(s[i]) < 0)
            goto bad;
    if (!(bytes = malloc(MSGJSON_ID_LEN)))
        return s_oom(err);
    for (size_t i = 0; i < MSGJSON_ID_LEN; i++)
        bytes[i] = (uint8_t)(hex_digit(s[2 * i]) << 4 | hex_digit(s[2 * i + 1]));
    dst->data = bytes;
    dst->len = MSGJSON_ID_LEN;
    return REMISS_OK;
bad:
    return remiss_err_set(err, REMISS_E_MALFORMED,
                          "field \"%s\" must be a message id of %d hexadecimal digits", path,
                          2 * MSGJSON_ID_LEN);
}

/* Parses item as one value of field f into dst: the struct member, or one
 * element of a repeated field's array. */
static remiss_code_t
s_parse_value(const ProtobufCFieldDescriptor *f, const cJSON *item, void *dst, const char *path,
              int depth, remiss_err_t *err)
{
    remiss_code_t r;
    int64_t v;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_parse_string(item, (char **)dst, path, err);
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(item))
            return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be true or false",
                                  path);
        *(protobuf_c_boolean *)dst = cJSON_IsTrue(item) ? 1 : 0;
        return REMISS_OK;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((r = s_parse_int(item, INT32_MIN, INT32_MAX, &v, path, err)) == REMISS_OK)
            *(int32_t *)dst = (int32_t)v;
        return r;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((r = s_parse_int(item, 0, UINT32_MAX, &v, path, err)) == REMISS_OK)
            *(uint32_t *)dst = (uint32_t)v;
        return r;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((r = s_parse_int(item, -S_MAX_EXACT, S_MAX_EXACT, &v, path, err)) == REMISS_OK)
            *(int64_t *)dst = v;
        return r;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((r = s_parse_int(item, 0, S_MAX_EXACT, &v, path, err)) == REMISS_OK)
            *(uint64_t *)dst = (uint64_t)v;
        return r;
    case PROTOBUF_C_TYPE_ENUM:
        return s_parse_enum(item, f->descriptor, (int *)dst, path, err);
    case PROTOBUF_C_TYPE_BYTES:
        return s_parse_id(item, (ProtobufCBinaryData *)dst, path, err);
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_parse_message(item, f->descriptor, (ProtobufCMessage **)dst, path, depth + 1, err);
    default:
        return remiss_err_set(err, REMISS_E_INTERNAL, "field \"%s\" has a type JSON cannot hold",
                              path);
    }
}

/* The array is attached to the message before its elements are parsed and
 * the count grows with each one, so on any error the message's own free
 * releases exactly what was made. */
static remiss_code_t
s_parse_repeated(const ProtobufCFieldDescriptor *f, const cJSON *item, ProtobufCMessage *msg,
                 const char *path, int depth, remiss_err_t *err)
{
    char *base = (char *)msg;
    size_t esz = s_elem_size(f->type), *count = (size_t *)(base + f->quantifier_offset);
    char elpath[S_PATH_MAX];
    remiss_code_t r;
    size_t n = 0, i = 0;

    if (!cJSON_IsArray(item))
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be an array", path);
    if (esz == 0)
        return remiss_err_set(err, REMISS_E_INTERNAL, "field \"%s\" has a type JSON cannot hold",
                              path);
    for (const cJSON *el = item->child; el; el = el->next)
        n++;
    if (n == 0)
        return REMISS_OK;
    char *arr = calloc(n, esz);
    if (!arr)
        return s_oom(err);
    *(void **)(base + f->offset) = arr;
    *count = 0;
    for (const cJSON *el = item->child; el; el = el->next, i++) {
        snprintf(elpath, sizeof elpath, "%s[%zu]", path, i);
        if ((r = s_parse_value(f, el, arr + i * esz, elpath, depth, err)) != REMISS_OK)
            return r;
        (*count)++;
    }
    return REMISS_OK;
}

static bool
s_is_empty(const ProtobufCMessage *m)
{
    return protobuf_c_message_get_packed_size(m) == 0;
}

/* Parses item into field f of msg. */
static remiss_code_t
s_parse_field(const ProtobufCFieldDescriptor *f, const cJSON *item, ProtobufCMessage *msg,
              const char *path, int depth, remiss_err_t *err)
{
    char *base = (char *)msg;
    void *slot = base + f->offset;
    bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    remiss_code_t r;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_parse_repeated(f, item, msg, path, depth, err);
    if (oneof) {
        uint32_t *which = (uint32_t *)(base + f->quantifier_offset);
        if (*which != 0)
            return remiss_err_set(err, REMISS_E_MALFORMED,
                                  "field \"%s\" cannot be combined with another field of its group",
                                  path);
        /* Select the member first: its slot (still NULL) is then what the
         * message's free looks at. */
        *which = f->id;
        memset(slot, 0, s_elem_size(f->type));
    }
    if ((r = s_parse_value(f, item, slot, path, depth, err)) != REMISS_OK)
        return r;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
    /* An empty block is no block (DESIGN.md section 4): drop it, so the
     * message packs the same whether the sender wrote {} or nothing. */
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && !oneof && s_is_empty(*(ProtobufCMessage **)slot)) {
        protobuf_c_message_free_unpacked(*(ProtobufCMessage **)slot, NULL);
        *(ProtobufCMessage **)slot = NULL;
    }
    return REMISS_OK;
}

static ProtobufCMessage *
s_message_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = malloc(desc->sizeof_message);
    if (m)
        protobuf_c_message_init(desc, m);
    return m;
}

static remiss_code_t
s_parse_fields(const cJSON *obj, ProtobufCMessage *msg, const char *path, int depth,
               remiss_err_t *err)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    char sub[S_PATH_MAX];
    uint64_t seen = 0;
    remiss_code_t r;

    for (const cJSON *item = obj->child; item; item = item->next) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(desc, item->string);
        if (!f)
            return s_unknown(path, item->string, err);
        s_child_path(sub, path, f->name);
        if ((r = s_mark_seen(&seen, desc, f, sub, err)) != REMISS_OK ||
            (r = s_parse_field(f, item, msg, sub, depth, err)) != REMISS_OK)
            return r;
    }
    return REMISS_OK;
}

/* Allocates the message and hangs it in *slot before filling it, so a
 * failure part way is freed with the parent. */
static remiss_code_t
s_parse_message(const cJSON *item, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **slot,
                const char *path, int depth, remiss_err_t *err)
{
    if (!cJSON_IsObject(item))
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" must be an object", path);
    if (depth > S_MAX_DEPTH)
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" is nested too deeply", path);
    if (!(*slot = s_message_new(desc)))
        return s_oom(err);
    return s_parse_fields(item, *slot, path, depth, err);
}

/* The envelope field a top-level key names, or NULL: the oneof bodies and
 * the renamed fields are not keys of their own. */
static const ProtobufCFieldDescriptor *
s_envelope_field(const char *key)
{
    const ProtobufCMessageDescriptor *ed = &remiss__envelope__descriptor;
    const ProtobufCFieldDescriptor *f;

    for (size_t i = 0; i < S_NRENAMES; i++) {
        if (strcmp(key, s_renames[i].json) == 0)
            return protobuf_c_message_descriptor_get_field_by_name(ed, s_renames[i].proto);
        if (strcmp(key, s_renames[i].proto) == 0)
            return NULL;
    }
    f = protobuf_c_message_descriptor_get_field_by_name(ed, key);
    return f && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ? f : NULL;
}

/* Names the type whose body has this field, for a clearer sentence than
 * "unknown field". NULL if none has. */
static const char *
s_body_owner(const char *key)
{
    const ProtobufCMessageDescriptor *ed = &remiss__envelope__descriptor;
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (protobuf_c_message_descriptor_get_field_by_name(f->descriptor, key))
            return f->name;
    }
    return NULL;
}

static remiss_code_t
s_parse_time(const cJSON *item, int64_t *ms, const char *path, remiss_err_t *err)
{
    int64_t v;
    if (cJSON_IsString(item) && item->valuestring && rfc3339_parse(item->valuestring, &v)) {
        *ms = v;
        return REMISS_OK;
    }
    if (cJSON_IsNumber(item)) {
        remiss_err_t ignored;
        if (s_parse_int(item, 0, (double)S_MAX_MS, &v, path, &ignored) == REMISS_OK) {
            *ms = v;
            return REMISS_OK;
        }
    }
    return remiss_err_set(err, REMISS_E_MALFORMED, "field \"%s\" " S_TIME_RULE, path);
}

static remiss_code_t
s_type_list_error(remiss_err_t *err)
{
    const ProtobufCEnumDescriptor *td = &remiss__message_type__descriptor;
    char list[200] = "";
    size_t used = 0;

    for (unsigned i = 0; i < td->n_values && used < sizeof list; i++) {
        const char *name = msgtype_name((Remiss__MessageType)td->values[i].value);
        if (name)
            used +=
                (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", name);
    }
    return remiss_err_set(err, REMISS_E_MALFORMED, "field \"type\" must be one of %s", list);
}

/* Reads "type", sets env->type and attaches the empty body it selects. */
static remiss_code_t
s_parse_type(const cJSON *root, Remiss__Envelope *env, ProtobufCMessage **body, remiss_err_t *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "type");
    const ProtobufCFieldDescriptor *f;
    Remiss__MessageType type;

    if (!item)
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"type\" is required");
    if (!cJSON_IsString(item) || !item->valuestring)
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"type\" must be a string");
    if (!msgtype_parse(item->valuestring, &type))
        return s_type_list_error(err);
    f = protobuf_c_message_descriptor_get_field(&remiss__envelope__descriptor,
                                                (unsigned)msgtype_body_case(type));
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return remiss_err_set(err, REMISS_E_INTERNAL, "message type %s has no body",
                              item->valuestring);
    if (!(*body = s_message_new(f->descriptor)))
        return s_oom(err);
    env->type = type;
    *(ProtobufCMessage **)((char *)env + f->offset) = *body;
    *(uint32_t *)((char *)env + f->quantifier_offset) = f->id;
    return REMISS_OK;
}

/* One top-level key: an envelope field, a time, or a field of the body. */
static remiss_code_t
s_parse_top(const cJSON *item, Remiss__Envelope *env, ProtobufCMessage *body, s_seen_t *seen,
            remiss_err_t *err)
{
    const ProtobufCMessageDescriptor *ed = &remiss__envelope__descriptor;
    const char *key = item->string;
    const ProtobufCFieldDescriptor *f;
    const char *owner;
    remiss_code_t r;

    if (strcmp(key, "received_at") == 0) {
        int64_t ignored;
        if (seen->received_at)
            return remiss_err_set(err, REMISS_E_MALFORMED,
                                  "field \"received_at\" appears more than once");
        seen->received_at = true;
        return s_parse_time(item, &ignored, key, err);
    }
    if ((f = s_envelope_field(key)) != NULL) {
        if ((r = s_mark_seen(&seen->env, ed, f, key, err)) != REMISS_OK)
            return r;
        if (strcmp(f->name, "type") == 0) /* read first, by s_parse_type */
            return REMISS_OK;
        if (strcmp(f->name, "created_at") == 0)
            return s_parse_time(item, &env->created_at, key, err);
        return s_parse_field(f, item, &env->base, key, 0, err);
    }
    f = protobuf_c_message_descriptor_get_field_by_name(body->descriptor, key);
    if (f)
        return (r = s_mark_seen(&seen->body, body->descriptor, f, key, err)) != REMISS_OK
                   ? r
                   : s_parse_field(f, item, body, key, 0, err);
    if ((owner = s_body_owner(key)) != NULL)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "field \"%s\" belongs to a %s message, not a %s", key, owner,
                              msgtype_name(env->type));
    return s_unknown(NULL, key, err);
}

static remiss_code_t
s_parse_envelope(const cJSON *root, Remiss__Envelope *env, remiss_err_t *err)
{
    ProtobufCMessage *body = NULL;
    s_seen_t seen = {0};
    remiss_code_t r;

    if ((r = s_parse_type(root, env, &body, err)) != REMISS_OK)
        return r;
    for (const cJSON *item = root->child; item; item = item->next)
        if ((r = s_parse_top(item, env, body, &seen, err)) != REMISS_OK)
            return r;
    if (!env->recipient || !env->recipient[0])
        return remiss_err_set(err, REMISS_E_MALFORMED, "field \"to\" is required");
    return REMISS_OK;
}

/* Copies the text with a NUL terminator. cJSON turns a \u0000 escape into
 * a NUL byte that would silently cut the string short; the copy has each
 * such escape replaced by six 0xFF bytes, which cJSON keeps as they are and
 * the UTF-8 check then rejects, naming the field. */
static remiss_code_t
s_load(const char *json, size_t len, char **out, remiss_err_t *err)
{
    char *text;

    if (len == 0)
        return remiss_err_set(err, REMISS_E_MALFORMED, "the message is empty");
    if (memchr(json, '\0', len))
        return remiss_err_set(err, REMISS_E_MALFORMED, "the message contains a NUL byte");
    if (!(text = malloc(len + 1)))
        return s_oom(err);
    memcpy(text, json, len);
    text[len] = '\0';
    /* Outside strings a backslash is a syntax error anyway, so stepping
     * over every escape pair is enough to find the real \u0000s. */
    for (size_t i = 0; i < len; i++) {
        if (text[i] != '\\')
            continue;
        if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0) {
            memset(text + i, 0xFF, 6);
            i += 5;
        } else {
            i++;
        }
    }
    *out = text;
    return REMISS_OK;
}

static remiss_code_t
s_parse_tree(const char *text, size_t len, cJSON **out, remiss_err_t *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

    if (!root) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the message is not valid JSON (error near byte %zu)", at);
    }
    *out = root;
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != text + len)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the message has more text after the JSON object");
    if (!cJSON_IsObject(root))
        return remiss_err_set(err, REMISS_E_MALFORMED, "the message must be a JSON object");
    return REMISS_OK;
}

remiss_code_t
msgjson_parse(const char *json, size_t len, Remiss__Envelope **out, remiss_err_t *err)
{
    Remiss__Envelope *env = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    remiss_code_t r;

    if (out)
        *out = NULL;
    if (!json || !out)
        return remiss_err_set(err, REMISS_E_USAGE, "msgjson_parse needs text and an output");
    if (len > MSGJSON_MAX_INPUT)
        return remiss_err_set(err, REMISS_E_TOO_LARGE,
                              "the message is %zu bytes; at most %d are accepted", len,
                              MSGJSON_MAX_INPUT);
    if ((r = s_load(json, len, &text, err)) != REMISS_OK ||
        (r = s_parse_tree(text, len, &root, err)) != REMISS_OK)
        goto out;
    if (!(env = malloc(sizeof *env))) {
        r = s_oom(err);
        goto out;
    }
    remiss__envelope__init(env);
    if ((r = s_parse_envelope(root, env, err)) != REMISS_OK)
        goto out;
    *out = env;
    env = NULL;
    r = REMISS_OK;
out:
    msgjson_free(&env);
    cJSON_Delete(root);
    free(text);
    return r;
}

void
msgjson_free(Remiss__Envelope **env_p)
{
    if (!env_p || !*env_p)
        return;
    protobuf_c_message_free_unpacked(&(*env_p)->base, NULL);
    *env_p = NULL;
}

/* -------------------------------------------------------- proto -> JSON */

static cJSON *
s_id_json(const uint8_t *id)
{
    char buf[2 * MSGJSON_ID_LEN + 1];
    return cJSON_CreateString(hex_encode(buf, id, MSGJSON_ID_LEN));
}

/* The value of an integer field at p as a double; false for other types. */
static bool
s_int_value(ProtobufCType type, const void *p, double *num)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *num = *(const int32_t *)p;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        *num = *(const uint32_t *)p;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        *num = (double)*(const int64_t *)p;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        *num = (double)*(const uint64_t *)p;
        return true;
    default:
        return false;
    }
}

/* True if the value of field f at p is the proto3 default (unset). */
static bool
s_is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
    double num;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return !*(char *const *)p || !**(char *const *)p;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)p;
    case PROTOBUF_C_TYPE_ENUM:
        return *(const int *)p == 0;
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return !*(ProtobufCMessage *const *)p;
    default:
        return s_int_value(f->type, p, &num) && num == 0;
    }
}

static cJSON *
s_enum_json(const ProtobufCEnumDescriptor *ed, int v)
{
    char name[S_NAME_MAX];
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);

    /* Zero is written by leaving the field out, and msgjson_parse refuses
     * it, so a zero that must be shown (in a list) cannot be. */
    if (v == 0 || !ev || !s_enum_json_name(ed, ev, name, sizeof name))
        return NULL;
    return cJSON_CreateString(name);
}

/* JSON for the value of field f at p; NULL if it cannot be shown or memory
 * ran out. */
static cJSON *
s_any_json(const ProtobufCFieldDescriptor *f, const void *p, int depth)
{
    const char *s;
    const ProtobufCBinaryData *bd;
    const ProtobufCMessage *sub;
    double num;

    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        s = *(char *const *)p ? *(char *const *)p : "";
        return utf8_valid(s, strlen(s)) ? cJSON_CreateString(s) : NULL;
    case PROTOBUF_C_TYPE_BOOL:
        return cJSON_CreateBool(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return s_enum_json(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_BYTES:
        bd = p;
        return bd->len == MSGJSON_ID_LEN && bd->data ? s_id_json(bd->data) : NULL;
    case PROTOBUF_C_TYPE_MESSAGE:
        sub = *(ProtobufCMessage *const *)p;
        return sub ? s_message_json(sub, depth + 1) : NULL;
    default:
        if (!s_int_value(f->type, p, &num) || num > S_MAX_EXACT || num < -S_MAX_EXACT)
            return NULL;
        return cJSON_CreateNumber(num);
    }
}

/* JSON for one value of field f stored at p. Returns 1 with *out set, 0
 * when the value is unset and omit_default is set, -1 when it cannot be
 * shown or memory ran out. */
static int
s_value_json(const ProtobufCFieldDescriptor *f, const void *p, bool omit_default, int depth,
             cJSON **out)
{
    *out = NULL;
    if (omit_default && s_is_default(f, p))
        return 0;
    if (!(*out = s_any_json(f, p, depth)))
        return -1;
    /* An empty block is no block, as in s_parse_field. */
    if (omit_default && f->type == PROTOBUF_C_TYPE_MESSAGE && !(*out)->child) {
        cJSON_Delete(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

static bool
s_add(cJSON *obj, const char *key, cJSON *v)
{
    if (!v)
        return false;
    if (!cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

static bool
s_add_repeated(cJSON *obj, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    const char *base = (const char *)m;
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(const char *const *)(base + f->offset);
    size_t esz = s_elem_size(f->type);
    cJSON *a, *e;

    if (n == 0)
        return true;
    if (!arr || esz == 0 || !(a = cJSON_CreateArray()))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s_value_json(f, arr + i * esz, false, depth, &e) != 1 || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            cJSON_Delete(a);
            return false;
        }
    }
    return s_add(obj, f->name, a);
}

/* Adds field f of m to obj under its proto name, unless it is unset. */
static bool
s_add_field(cJSON *obj, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int depth)
{
    const char *base = (const char *)m;
    bool oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
    bool has_flag = f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
                    f->type != PROTOBUF_C_TYPE_MESSAGE;
    cJSON *v;
    int r;

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return s_add_repeated(obj, m, f, depth);
    if (oneof && *(const uint32_t *)(base + f->quantifier_offset) != f->id)
        return true;
    if (has_flag && !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
        return true;
    /* Where presence is explicit, a default value was still set on purpose. */
    r = s_value_json(f, base + f->offset, !oneof && !has_flag, depth, &v);
    return r == 0 || (r == 1 && s_add(obj, f->name, v));
}

static cJSON *
s_message_json(const ProtobufCMessage *m, int depth)
{
    cJSON *obj;

    if (depth > S_MAX_DEPTH || !(obj = cJSON_CreateObject()))
        return NULL;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        if (!s_add_field(obj, m, &m->descriptor->fields[i], depth)) {
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

static bool
s_add_text(cJSON *obj, const char *key, const char *s)
{
    if (!s || !*s)
        return true;
    return utf8_valid(s, strlen(s)) && s_add(obj, key, cJSON_CreateString(s));
}

static bool
s_add_time(cJSON *obj, const char *key, int64_t ms)
{
    char buf[MSGJSON_TIME_LEN];
    if (ms == 0)
        return true;
    return rfc3339_format(ms, buf, sizeof buf) && s_add(obj, key, cJSON_CreateString(buf));
}

static bool
s_add_message_id(cJSON *obj, const Remiss__Envelope *env, const msgjson_meta_t *meta)
{
    if (meta && meta->message_id)
        return s_add(obj, "message_id", s_id_json(meta->message_id));
    if (env->message_id.len == 0)
        return true;
    return env->message_id.len == MSGJSON_ID_LEN && env->message_id.data &&
           s_add(obj, "message_id", s_id_json(env->message_id.data));
}

/* The envelope fields the generic mapping writes: all but the oneof
 * bodies and those added by hand in s_envelope_json. */
static bool
s_by_hand_field(const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < S_NBY_HAND; i++)
        if (strcmp(f->name, s_by_hand[i]) == 0)
            return true;
    return false;
}

static bool
s_add_envelope_rest(cJSON *obj, const Remiss__Envelope *env)
{
    const ProtobufCMessageDescriptor *ed = &remiss__envelope__descriptor;
    for (unsigned i = 0; i < ed->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || s_by_hand_field(f))
            continue;
        if (!s_add_field(obj, &env->base, f, 0))
            return false;
    }
    return true;
}

/* Finds the body (may be NULL: an empty one); false unless the body set
 * is the one "type" selects, since anything else would not read back. */
static bool
s_body(const Remiss__Envelope *env, const ProtobufCMessage **body)
{
    const ProtobufCFieldDescriptor *f;

    if (!msgtype_name(env->type) || env->body_case != msgtype_body_case(env->type))
        return false;
    f = protobuf_c_message_descriptor_get_field(&remiss__envelope__descriptor,
                                                (unsigned)env->body_case);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    *body = *(ProtobufCMessage *const *)((const char *)env + f->offset);
    return true;
}

static cJSON *
s_envelope_json(const Remiss__Envelope *env, const msgjson_meta_t *meta)
{
    const msgjson_meta_t none = {0};
    const ProtobufCMessage *body = NULL;
    cJSON *obj;
    bool ok;

    /* msgjson_parse requires "to": without a recipient the text would
     * not read back. */
    if (!env || !env->recipient || !env->recipient[0] || !s_body(env, &body) ||
        !(obj = cJSON_CreateObject()))
        return NULL;
    if (!meta)
        meta = &none;
    ok = s_add(obj, "type", cJSON_CreateString(msgtype_name(env->type))) &&
         s_add_message_id(obj, env, meta) &&
         s_add_text(obj, "from", meta->from ? meta->from : env->sender) &&
         s_add_text(obj, "to", env->recipient) &&
         s_add_time(obj, "created_at", meta->created_at ? meta->created_at : env->created_at) &&
         s_add_time(obj, "received_at", meta->received_at) && s_add_envelope_rest(obj, env);
    for (unsigned i = 0; ok && body && i < body->descriptor->n_fields; i++)
        ok = s_add_field(obj, body, &body->descriptor->fields[i], 0);
    if (!ok) {
        cJSON_Delete(obj);
        return NULL;
    }
    return obj;
}

char *
msgjson_format(const Remiss__Envelope *env, const msgjson_meta_t *meta)
{
    cJSON *obj = s_envelope_json(env, meta);
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return text;
}

char *
msgjson_format_pretty(const Remiss__Envelope *env, const msgjson_meta_t *meta)
{
    cJSON *obj = s_envelope_json(env, meta);
    char *text = obj ? cJSON_Print(obj) : NULL;
    cJSON_Delete(obj);
    return text;
}
