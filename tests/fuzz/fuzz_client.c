/* fuzz_client: the client library's handling of broker replies. Each
 * input is a BrokerFrame given to remiss_private_check_frame, which runs
 * the checks remiss_recv and remiss_send run on a frame from the socket.
 *
 * The client is connected at start against a temporary PKI (nothing is
 * sent: ZeroMQ connects lazily). So that inputs reach the code behind the
 * signature checks, a decoded frame is fixed up before the check: a
 * sender_cert of "CERT" becomes the certificate of sdf-rinkeby-kista,
 * "RVKD" that of a revoked party, and a signature of "SIGN" becomes a real
 * one by the matching key (the broker's, for a receipt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "pki.h"
#include "pki_admin.h"
#include "remiss.h"
#include "remiss_private.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static remiss_client_t *s_client;
static EVP_PKEY *s_broker_key, *s_sender_key, *s_revoked_key;
static uint8_t *s_sender_der, *s_revoked_der;
static size_t s_sender_len, s_revoked_len;

static void
s_load_party(const char *dir, const char *party, EVP_PKEY **key, uint8_t **der, size_t *len)
{
    char path[256];
    remiss_err_t err;
    snprintf(path, sizeof path, "%s/parties/%s.crt", dir, party);
    X509 *cert = pki_cert_load(path, &err);
    FUZZ_CHECK(cert, "%s", err.text);
    *der = pki_cert_to_der(cert, len);
    FUZZ_CHECK(*der, "cannot encode %s", path);
    X509_free(cert);
    snprintf(path, sizeof path, "%s/parties/%s.key", dir, party);
    *key = pki_key_load(path, &err);
    FUZZ_CHECK(*key, "%s", err.text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/remiss-fuzz-pki-XXXXXX", path[256];
    remiss_err_t err;
    FUZZ_CHECK(mkdtemp(dir), "mkdtemp");
    FUZZ_CHECK(pki_init(dir, &err) == REMISS_OK, "%s", err.text);
    FUZZ_CHECK(
        pki_issue(dir, "jobbtorg", "jobbtorg", PKI_KEY_P256, 30, &err) == REMISS_OK &&
            pki_issue(dir, "sdf-rinkeby-kista", "sdf", PKI_KEY_P256, 30, &err) == REMISS_OK &&
            pki_issue(dir, "sdf-spanga-tensta", "sdf", PKI_KEY_P256, 30, &err) == REMISS_OK &&
            pki_revoke(dir, "sdf-spanga-tensta", &err) == REMISS_OK,
        "%s", err.text);
    s_load_party(dir, "sdf-rinkeby-kista", &s_sender_key, &s_sender_der, &s_sender_len);
    s_load_party(dir, "sdf-spanga-tensta", &s_revoked_key, &s_revoked_der, &s_revoked_len);
    snprintf(path, sizeof path, "%s/broker.key", dir);
    s_broker_key = pki_key_load(path, &err);
    FUZZ_CHECK(s_broker_key, "%s", err.text);
    remiss_opts_t o = {.pki_dir = dir, .party = "jobbtorg", .endpoint = "tcp://127.0.0.1:1"};
    s_client = remiss_connect(&o, &err);
    FUZZ_CHECK(s_client, "%s", err.text);
    fuzz_rmtree(dir); /* everything is loaded */
    return 0;
}

static bool
s_is(const ProtobufCBinaryData *b, const char *marker)
{
    return b->len == 4 && memcmp(b->data, marker, 4) == 0;
}

/* Replaces a marker signature over signed with a real one by key. The
 * buffer sig (PKI_SIG_MAX bytes) outlives the frame's use. */
static void
s_sign(ProtobufCBinaryData *sigfield, const ProtobufCBinaryData *signed_bytes, EVP_PKEY *key,
       const char *ctx, uint8_t *sig)
{
    size_t len;
    if (!s_is(sigfield, FUZZ_SIGN))
        return;
    FUZZ_CHECK(pki_sign(key, ctx, signed_bytes->data, signed_bytes->len, sig, &len), "sign");
    sigfield->data = sig;
    sigfield->len = len;
}

/* Fixes up the markers; returns the frame to check (malloc'd) or NULL to
 * check the input as it is. */
static uint8_t *
s_fixup(const uint8_t *data, size_t size, size_t *len)
{
    Remiss__BrokerFrame *f = remiss__broker_frame__unpack(NULL, size, data);
    uint8_t sig[PKI_SIG_MAX], *out = NULL;
    ProtobufCBinaryData orig_sig = {0, NULL}, orig_cert = {0, NULL}, *sigfield = NULL,
                        *certfield = NULL;
    if (!f)
        return NULL;
    if (f->kind_case == REMISS__BROKER_FRAME__KIND_DELIVERY && f->delivery) {
        Remiss__Delivery *d = f->delivery;
        EVP_PKEY *key = s_sender_key;
        certfield = &d->sender_cert;
        orig_cert = *certfield;
        if (s_is(certfield, "CERT")) {
            certfield->data = s_sender_der;
            certfield->len = s_sender_len;
        } else if (s_is(certfield, "RVKD")) {
            certfield->data = s_revoked_der;
            certfield->len = s_revoked_len;
            key = s_revoked_key;
        }
        if (d->envelope) {
            sigfield = &d->envelope->signature;
            orig_sig = *sigfield;
            s_sign(sigfield, &d->envelope->envelope, key, PKI_CTX_ENVELOPE, sig);
        }
    } else if (f->kind_case == REMISS__BROKER_FRAME__KIND_RECEIPT && f->receipt) {
        sigfield = &f->receipt->signature;
        orig_sig = *sigfield;
        /* A batched receipt's signature is over its batch head. */
        if (f->receipt->batch.len > 0)
            s_sign(sigfield, &f->receipt->batch, s_broker_key, PKI_CTX_RECEIPTS, sig);
        else
            s_sign(sigfield, &f->receipt->receipt, s_broker_key, PKI_CTX_RECEIPT, sig);
    }
    out = fuzz_pack(&f->base, len);
    /* Put back what belongs to the frame before freeing it. */
    if (certfield)
        *certfield = orig_cert;
    if (sigfield)
        *sigfield = orig_sig;
    remiss__broker_frame__free_unpacked(f, NULL);
    return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = 0;
    uint8_t *fixed = s_fixup(data, size, &len);
    remiss_err_t err = {0};
    remiss_code_t r =
        remiss_private_check_frame(s_client, fixed ? fixed : data, fixed ? len : size, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "check: %s: %s\n", remiss_code_name(r), r == REMISS_OK ? "" : err.text);
    FUZZ_CHECK(r == REMISS_OK || err.code == r, "code %d but error %d", (int)r, (int)err.code);
    FUZZ_CHECK(r == REMISS_OK || r == REMISS_E_INTERNAL || remiss_code_is_wire((int)r) ||
                   r == REMISS_E_TIMEOUT,
               "unexpected code %d", (int)r);
    free(fixed);
    return 0;
}
