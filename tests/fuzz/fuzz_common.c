/* fuzz_common: shared helpers of the fuzz targets (see fuzz_common.h). */
#include "fuzz_common.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "category.h"
#include "msgjson.h"

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

void
fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz invariant failed at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

size_t
fuzz_split(const uint8_t *data, size_t size, fuzz_part_t *parts, size_t max)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; n + 1 < max && size >= FUZZ_SEP_LEN && i <= size - FUZZ_SEP_LEN;) {
        if (memcmp(data + i, FUZZ_SEP, FUZZ_SEP_LEN) == 0) {
            parts[n++] = (fuzz_part_t){data + start, i - start};
            i += FUZZ_SEP_LEN;
            start = i;
        } else {
            i++;
        }
    }
    parts[n++] = (fuzz_part_t){data + start, size - start};
    return n;
}

uint8_t *
fuzz_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    FUZZ_CHECK(buf, "out of memory");
    size_t n = protobuf_c_message_pack(m, buf);
    FUZZ_CHECK(n == *len, "%s packs to %zu bytes, not the %zu it announced", m->descriptor->name, n,
               *len);
    return buf;
}

static bool s_any_sub(const ProtobufCMessage *m,
                      bool (*fn)(const ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
                                 const ProtobufCMessage *sub));

static bool
s_tag0_fn(const ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
          const ProtobufCMessage *sub)
{
    (void)parent;
    (void)f;
    return fuzz_has_unknown_tag0(sub);
}

bool
fuzz_has_unknown_tag0(const ProtobufCMessage *m)
{
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0)
            return true;
    return s_any_sub(m, s_tag0_fn);
}

void
fuzz_check_repack(const ProtobufCMessage *m)
{
    size_t len1, len2;
    if (fuzz_has_unknown_tag0(m))
        return; /* protobuf-c's own bug, see fuzz_common.h */
    uint8_t *b1 = fuzz_pack(m, &len1);
    ProtobufCMessage *m2 = protobuf_c_message_unpack(m->descriptor, NULL, len1, b1);
    FUZZ_CHECK(m2, "%s does not unpack what it packed", m->descriptor->name);
    uint8_t *b2 = fuzz_pack(m2, &len2);
    FUZZ_CHECK(len1 == len2 && memcmp(b1, b2, len1) == 0, "%s packs differently after a repack",
               m->descriptor->name);
    protobuf_c_message_free_unpacked(m2, NULL);
    free(b1);
    free(b2);
}

/* Calls fn on every message value of m's fields (the selected oneof
 * member only); stops at the first true. */
static bool
s_any_sub(const ProtobufCMessage *m,
          bool (*fn)(const ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
                     const ProtobufCMessage *sub))
{
    const char *base = (const char *)m;
    for (unsigned i = 0; i < m->descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &m->descriptor->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            ProtobufCMessage *const *arr = *(ProtobufCMessage *const *const *)(base + f->offset);
            for (size_t k = 0; arr && k < n; k++)
                if (arr[k] && fn(m, f, arr[k]))
                    return true;
            continue;
        }
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + f->offset);
        if (sub && fn(m, f, sub))
            return true;
    }
    return false;
}

static bool
s_unknown_fn(const ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
             const ProtobufCMessage *sub)
{
    (void)parent;
    (void)f;
    return fuzz_has_unknown(sub);
}

bool
fuzz_has_unknown(const ProtobufCMessage *m)
{
    return m->n_unknown_fields > 0 || s_any_sub(m, s_unknown_fn);
}

static bool
s_empty_fn(const ProtobufCMessage *parent, const ProtobufCFieldDescriptor *f,
           const ProtobufCMessage *sub)
{
    (void)parent;
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->label != PROTOBUF_C_LABEL_REPEATED &&
        protobuf_c_message_get_packed_size(sub) == 0)
        return true;
    return fuzz_has_empty_block(sub);
}

bool
fuzz_has_empty_block(const ProtobufCMessage *m)
{
    return s_any_sub(m, s_empty_fn);
}

/* Parses text that msgjson_format made; it must parse. */
static Remiss__Envelope *
s_reparse(const char *text, const char *what)
{
    Remiss__Envelope *env = NULL;
    remiss_err_t err = {0};
    remiss_code_t r = msgjson_parse(text, strlen(text), &env, &err);
    FUZZ_CHECK(r == REMISS_OK && env, "%s output does not parse back: %s: %s", what,
               remiss_code_name(r), err.text);
    return env;
}

void
fuzz_check_json(const Remiss__Envelope *env)
{
    char *j1 = msgjson_format(env, NULL);
    if (!j1)
        return; /* cannot be shown faithfully: allowed by msgjson.h */
    Remiss__Envelope *e2 = s_reparse(j1, "msgjson_format");
    char *j2 = msgjson_format(e2, NULL);
    FUZZ_CHECK(j2, "the parsed form of formatted JSON cannot be formatted: %s", j1);
    FUZZ_CHECK(strcmp(j1, j2) == 0, "JSON round trip changed the text:\n%s\n%s", j1, j2);
    /* Unknown fields have no JSON form; a block holding only those counts
     * as filled in binary (category.c) and vanishes from the text. */
    bool unknown = fuzz_has_unknown(&env->base);
    FUZZ_CHECK(unknown || category_of_envelope(e2) == category_of_envelope(env),
               "JSON round trip changed the categories: %s", j1);
    size_t l1, l2;
    uint8_t *b2 = fuzz_pack(&e2->base, &l2);
    if (!unknown && !fuzz_has_empty_block(&env->base)) {
        uint8_t *b1 = fuzz_pack(&env->base, &l1);
        FUZZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0,
                   "JSON round trip does not pack to the same bytes: %s", j1);
        free(b1);
    }
    char *pretty = msgjson_format_pretty(env, NULL);
    FUZZ_CHECK(pretty, "msgjson_format shows what msgjson_format_pretty cannot");
    Remiss__Envelope *e3 = s_reparse(pretty, "msgjson_format_pretty");
    uint8_t *b3 = fuzz_pack(&e3->base, &l1);
    FUZZ_CHECK(l1 == l2 && memcmp(b2, b3, l1) == 0, "the pretty form reads differently: %s", j1);
    free(b3);
    free(b2);
    free(pretty);
    free(j1);
    free(j2);
    msgjson_free(&e2);
    msgjson_free(&e3);
}

static int
s_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
fuzz_rmtree(const char *dir)
{
    nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fuzz_src_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("REMISS_SRCDIR");
    snprintf(buf, sizeof buf, "%s/%s", dir && *dir ? dir : FUZZ_SRCDIR, rel);
    return buf;
}
