/* fuzz_common: what the libFuzzer targets in tests/fuzz share.
 *
 * A target checks invariants with FUZZ_CHECK, which prints the reason and
 * aborts, so libFuzzer keeps the input as a crash file. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss.pb-c.h"

/* Separates the parts of a multi-part input (fuzz_consent). No valid
 * UTF-8 string and none of the seeds' varints holds four 0xFE bytes. */
#define FUZZ_SEP     "\xfe\xfe\xfe\xfe"
#define FUZZ_SEP_LEN 4

/* A signature of exactly these bytes is replaced by a real one over the
 * signed bytes, so inputs reach the code behind signature checks. */
#define FUZZ_SIGN     "SIGN"
#define FUZZ_SIGN_LEN 4

/* Prints "fuzz invariant: ..." and aborts. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                            \
    } while (0)

/* One part of a split input; points into the input. */
typedef struct fuzz_part {
    const uint8_t *data;
    size_t len;
} fuzz_part_t;

/* Splits data at each FUZZ_SEP into at most max parts (the last part
 * keeps the rest). Returns the number of parts, at least 1. */
size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part_t *parts, size_t max);

/* m packed into a new buffer (caller frees); *len its size. Aborts on
 * allocation failure. */
uint8_t *fuzz_pack(const ProtobufCMessage *m, size_t *len);

/* Packing what unpacking made must be stable: pack, unpack, pack again
 * gives the same bytes. Aborts otherwise. Skipped for messages with an
 * unknown field of tag 0 (see fuzz_has_unknown_tag0). */
void fuzz_check_repack(const ProtobufCMessage *m);

/* True if m or a message in it kept an unknown field with field number 0.
 * protobuf-c 1.4.1 accepts such a field when its tag is written over-long
 * ("80 00") and packs it as "00", which it then refuses to unpack: what
 * remiss re-encodes must not carry unknown fields (server.c refuses them
 * in a SignedEnvelope). */
bool fuzz_has_unknown_tag0(const ProtobufCMessage *m);

/* True if m or any message in it kept unknown fields from the wire. */
bool fuzz_has_unknown(const ProtobufCMessage *m);

/* True if m or any message in it has a non-oneof message field that is
 * present but empty, which the JSON form leaves out. */
bool fuzz_has_empty_block(const ProtobufCMessage *m);

/* The JSON contract of msgjson.h on a decoded envelope: when
 * msgjson_format shows it, the text parses back, shows the same again, has
 * the same categories and, without unknown fields or empty blocks, packs
 * to the same bytes; the pretty form reads the same. Aborts otherwise. */
void fuzz_check_json(const Remiss__Envelope *env);

/* Removes a directory tree (the fuzz targets' temporary PKI). */
void fuzz_rmtree(const char *dir);

/* Path of a file in the source tree: FUZZ_SRCDIR/rel. Static buffer. */
const char *fuzz_src_path(const char *rel);

#endif
