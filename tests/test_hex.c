/* hex: the one hex encoder/decoder (issue 13). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

Test(hex, encodes_lowercase_and_round_trips)
{
    const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof bytes + 1];
    cr_assert_str_eq(hex_encode(out, bytes, sizeof bytes), "00017f80abff");
    uint8_t back[sizeof bytes];
    cr_assert(hex_decode("00017F80ABff", back, sizeof back));
    cr_assert_arr_eq(back, bytes, sizeof bytes);
    cr_assert_str_eq(hex_encode(out, bytes, 0), "");
}

Test(hex, refuses_wrong_length_and_non_digits_without_writing)
{
    uint8_t out[4] = {9, 9, 9, 9};
    const char *const bad[] = {NULL,       "",         "0011223",  "001122334",
                               "0011223g", "00 11223", "-0112233", "0x112233"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(hex_decode(bad[i], out, sizeof out), "case %zu accepted", i);
    for (size_t i = 0; i < sizeof out; i++)
        cr_expect_eq(out[i], 9, "out was written");
    cr_expect_eq(hex_digit('/'), -1);
    cr_expect_eq(hex_digit(':'), -1);
    cr_expect_eq(hex_digit('G'), -1);
    cr_expect_eq(hex_digit('F'), 15);
}

Test(hex, random_round_trip)
{
    uint64_t x = 0x12345678abcdefULL;
    for (int iter = 0; iter < 2000; iter++) {
        uint8_t in[32], back[32];
        char text[65];
        size_t n = (size_t)(iter % 33);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (uint8_t)x;
        }
        hex_encode(text, in, n);
        cr_assert_eq(strlen(text), 2 * n);
        cr_assert(hex_decode(text, back, n));
        cr_assert_arr_eq(back, in, n);
    }
}
