/* category: data categories (include/category.h). */
#include "category.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_cat_names[CAT_COUNT] = {
    "identity", "contact", "education", "employment", "social", "health", "criminal", "free_text",
};

const char *
category_name(category_t cat)
{
    return (unsigned)cat < CAT_COUNT ? s_cat_names[cat] : NULL;
}

bool
category_parse(const char *name, category_t *out)
{
    for (unsigned i = 0; name && i < CAT_COUNT; i++)
        if (strcmp(name, s_cat_names[i]) == 0) {
            *out = (category_t)i;
            return true;
        }
    return false;
}

/* A block counts only when it holds data: a field set to something other
 * than its default, or a nested message that does (recursively). A present
 * but empty nested block, and fields no version of the contract defines,
 * are not data: nobody can read anything in them. */
static bool s_filled(const void *block);

static bool
s_field_filled(const ProtobufCFieldDescriptor *f, const void *member, const void *qmember)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *)qmember > 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(const char *const *)member;
        return str && str[0];
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)member)->len > 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return s_filled(*(const void *const *)member);
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)member != 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const uint64_t *)member != 0;
    default: /* 32-bit integers, enums, float */
        return *(const uint32_t *)member != 0;
    }
}

static bool
s_filled(const void *block)
{
    const ProtobufCMessage *m = block;
    if (!m || !m->descriptor)
        return false;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        /* A oneof member counts only when it is the one set. */
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (s_field_filled(f, base + f->offset, base + f->quantifier_offset))
            return true;
    }
    return false;
}

catset_t
category_of_envelope(const Remiss__Envelope *env)
{
    catset_t set = 0;
    if (!env)
        return 0;
    if (s_filled(env->subject))
        set |= 1u << CAT_IDENTITY;
    if (env->subject && s_filled(env->subject->contact))
        set |= 1u << CAT_CONTACT;
    if (s_filled(env->education))
        set |= 1u << CAT_EDUCATION;
    if (s_filled(env->employment))
        set |= 1u << CAT_EMPLOYMENT;
    if (s_filled(env->social))
        set |= 1u << CAT_SOCIAL;
    if (s_filled(env->health))
        set |= 1u << CAT_HEALTH;
    if (s_filled(env->criminal))
        set |= 1u << CAT_CRIMINAL;
    if (env->free_text && env->free_text[0])
        set |= 1u << CAT_FREE_TEXT;
    return set;
}

size_t
category_format(catset_t set, char *buf, size_t size)
{
    size_t need = 0;
    if (size > 0)
        buf[0] = '\0';
    for (unsigned i = 0; i < CAT_COUNT; i++) {
        if (!(set & (1u << i)))
            continue;
        int n = snprintf(buf ? buf + (need < size ? need : size) : NULL,
                         need < size ? size - need : 0, "%s%s", need ? "," : "", s_cat_names[i]);
        need += (size_t)n;
    }
    return need;
}
