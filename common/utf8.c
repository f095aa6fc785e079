/* utf8: strict UTF-8 validation, by hand and across protobuf-c messages. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

/* Deeper than any message in remiss.proto; stops a recursive schema from
 * turning untrusted nesting into unbounded recursion. */
#define S_MAX_DEPTH 32

bool
utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    if (n > 0 && !s)
        return false;
    while (i < n) {
        unsigned c = p[i];
        size_t more;
        uint32_t cp, min;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        /* 0x80..0xBF are continuation bytes, 0xC0/0xC1 can only start an
         * overlong form, 0xF5.. would encode beyond U+10FFFF. */
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (more > n - i - 1)
            return false;
        for (size_t k = 1; k <= more; k++) {
            unsigned cc = p[i + k];
            if ((cc & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

static bool
s_string_ok(const char *s, size_t max_len)
{
    if (!s)
        return true;
    /* strnlen stops at max_len + 1, so an over-long string is not scanned
     * to its end; SIZE_MAX would wrap and means "no limit". */
    size_t n = max_len == SIZE_MAX ? strlen(s) : strnlen(s, max_len + 1);
    return n <= max_len && utf8_valid(s, n);
}

static bool s_message_ok(const ProtobufCMessage *m, size_t max_len, int depth);

/* One value of field f stored at p: a char * or a ProtobufCMessage *. */
static bool
s_value_ok(const ProtobufCFieldDescriptor *f, const void *p, size_t max_len, int depth)
{
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return s_string_ok(*(char *const *)p, max_len);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return s_message_ok(*(ProtobufCMessage *const *)p, max_len, depth + 1);
    return true;
}

static bool
s_field_ok(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, size_t max_len, int depth)
{
    const char *base = (const char *)m;

    if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        return true;
    /* The union slot of an unselected oneof member holds another member's
     * pointer (or garbage): only the selected one may be read. */
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + f->quantifier_offset) != f->id)
        return true;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        void *const *arr = *(void *const *const *)(base + f->offset);
        for (size_t i = 0; arr && i < n; i++)
            if (!s_value_ok(f, &arr[i], max_len, depth))
                return false;
        return true;
    }
    return s_value_ok(f, base + f->offset, max_len, depth);
}

static bool
s_message_ok(const ProtobufCMessage *m, size_t max_len, int depth)
{
    if (!m)
        return true;
    if (depth > S_MAX_DEPTH || !m->descriptor)
        return false;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++)
        if (!s_field_ok(m, &m->descriptor->fields[i], max_len, depth))
            return false;
    return true;
}

bool
utf8_message_valid(const ProtobufCMessage *m, size_t max_string_len)
{
    return s_message_ok(m, max_string_len, 0);
}
