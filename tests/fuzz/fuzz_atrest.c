/* fuzz_atrest: sealed blobs as the store reads them back (include/atrest.h).
 * The input is a stored blob; it must be refused unless it authenticates,
 * and a blob sealed here must open to the same bytes and refuse with a
 * flipped byte or another record id. The KEK file is made once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atrest.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static atrest_t *s_keys;

static atrest_t *
s_open(void)
{
    char dir[] = "/tmp/fuzz-atrest-XXXXXX", path[64];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/broker.kek", dir);
    atrest_t *k = atrest_open(path, NULL);
    FUZZ_CHECK(k != NULL, "cannot make the key file");
    /* The keys stay in memory; leave nothing behind. */
    unlink(path);
    rmdir(dir);
    return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t aad[16] = "0123456789abcdef";
    uint8_t *out = NULL, *sealed = NULL;
    size_t olen = 0, slen = 0;
    if (!s_keys)
        s_keys = s_open();
    if (size > 1 << 16)
        return 0;
    /* Whatever is stored: opened only if it authenticates (never here). */
    FUZZ_CHECK(!atrest_open_blob(s_keys, aad, sizeof aad, data, size, &out, &olen),
               "a forged blob opened");
    FUZZ_CHECK(atrest_seal(s_keys, aad, sizeof aad, data, size, &sealed, &slen), "seal failed");
    FUZZ_CHECK(atrest_open_blob(s_keys, aad, sizeof aad, sealed, slen, &out, &olen) &&
                   olen == size && memcmp(out, data, size) == 0,
               "a sealed blob does not open to its bytes");
    free(out);
    FUZZ_CHECK(!atrest_open_blob(s_keys, aad, sizeof aad - 1, sealed, slen, &out, &olen),
               "opened with another record id");
    sealed[size % slen] ^= 1;
    FUZZ_CHECK(!atrest_open_blob(s_keys, aad, sizeof aad, sealed, slen, &out, &olen),
               "opened with a flipped byte");
    free(sealed);
    return 0;
}
