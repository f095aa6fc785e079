/* crypto_bench: the CPU time of one envelope signature and one verification
 * with the broker's key from a dev PKI (P-256 by default), measured in the
 * same `make bench` run as the brokers, so remissd's CPU per message can be
 * compared with what its one verification costs (bench/README.md).
 *
 *   crypto_bench --pki DIR [--count N]
 *
 * Prints {"key":"...","sign_us":S,"verify_us":V,"count":N}: process CPU
 * microseconds per operation over a 1,200-byte message. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pki.h"

static double
s_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Signs and verifies count times; -1 if any operation fails. */
static int
s_measure(EVP_PKEY *key, EVP_PKEY *pub, int count, double *sign_us, double *verify_us)
{
    uint8_t msg[1200], sig[PKI_SIG_MAX];
    size_t siglen = 0;
    memset(msg, 'x', sizeof msg);
    double t0 = s_cpu_us();
    for (int i = 0; i < count; i++) {
        msg[0] = (uint8_t)i;
        if (!pki_sign(key, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, &siglen))
            return -1;
    }
    double t1 = s_cpu_us();
    for (int i = 0; i < count; i++)
        if (!pki_verify(pub, PKI_CTX_ENVELOPE, msg, sizeof msg, sig, siglen))
            return -1;
    double t2 = s_cpu_us();
    *sign_us = (t1 - t0) / count;
    *verify_us = (t2 - t1) / count;
    return 0;
}

int
main(int argc, char **argv)
{
    char path[4096];
    remiss_err_t err = {0};
    int count = 2000, rc = 1;
    double s = 0, v = 0;

    if (argc >= 3 && strcmp(argv[1], "--pki") == 0 && (argc == 3 || argc == 5)) {
        if (argc == 5 && strcmp(argv[3], "--count") == 0)
            count = atoi(argv[4]);
    } else {
        fprintf(stderr, "usage: crypto_bench --pki DIR [--count N]\n");
        return 2;
    }
    if (count < 1 || count > 1000000)
        return 2;
    snprintf(path, sizeof path, "%s/broker.key", argv[2]);
    EVP_PKEY *key = pki_key_load(path, &err);
    snprintf(path, sizeof path, "%s/broker.crt", argv[2]);
    X509 *crt = key ? pki_cert_load(path, &err) : NULL;
    EVP_PKEY *pub = crt ? X509_get0_pubkey(crt) : NULL;
    if (pub != NULL && s_measure(key, pub, count, &s, &v) == 0) {
        printf("{\"key\":\"%s\",\"sign_us\":%.1f,\"verify_us\":%.1f,\"count\":%d}\n",
               EVP_PKEY_get0_type_name(pub), s, v, count);
        rc = 0;
    } else {
        fprintf(stderr, "error: crypto_bench: %s\n", err.text[0] ? err.text : "sign/verify failed");
    }
    X509_free(crt);
    EVP_PKEY_free(key);
    return rc;
}
