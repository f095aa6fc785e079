/* hex: see hex.h. */
#include "hex.h"

#include <string.h>

char *
hex_encode(char *out, const uint8_t *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

int
hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
hex_decode(const char *text, uint8_t *out, size_t n)
{
    if (!text || strnlen(text, 2 * n + 1) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++)
        if (hex_digit(text[i]) < 0)
            return false;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]));
    return true;
}
