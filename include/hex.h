/* hex: lowercase hexadecimal of bytes, the one encoder and decoder of the
 * tree (message ids, hashes, pseudonyms, keys in logs). */
#ifndef HEX_H
#define HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2n lowercase digits and a NUL into out (2n+1 bytes). Returns out. */
char *hex_encode(char *out, const uint8_t *data, size_t n);

/* The value of one hex digit (either case), or -1. */
int hex_digit(char c);

/* Decodes exactly 2n digits of text (either case) into out[n]. False, with
 * out untouched, if text is NULL, has another length or a non-digit. */
bool hex_decode(const char *text, uint8_t *out, size_t n);

#endif
