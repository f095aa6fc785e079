/* remiss.h: the agency client library (libremiss).
 *
 * A case-management system connects as one party, sends signed messages and
 * receives the messages addressed to it:
 *
 *     remiss_opts_t o = {.pki_dir = "/etc/remiss/pki", .party = "jobbtorg",
 *                        .endpoint = "tcp://broker.example:7400"};
 *     remiss_err_t err;
 *     remiss_client_t *c = remiss_connect(&o, &err);
 *     remiss_receipt_t rc;
 *     remiss_send_json(c, json, strlen(json), &rc, &err);   // rc.code == REMISS_OK
 *     remiss_message_t *m;
 *     remiss_recv(c, 5000, &m, &err);                        // verified, de-duplicated
 *     remiss_ack(c, remiss_message_id(m), &err);
 *     remiss_message_free(&m);
 *     remiss_close(&c);
 *
 * Trust: the broker's certificate (PKI_DIR/broker.crt) must chain to the
 * federation CA (PKI_DIR/ca.crt); the library takes the broker's CURVE key
 * from it, so the channel is authenticated both ways. Receipts must carry a
 * valid broker signature; deliveries a valid signature of the sender's
 * certificate, which must chain to the CA and name the envelope's sender.
 *
 * Errors: every function returns a remiss_code_t and fills err with the code
 * and one sentence. A handle is used by one thread at a time. */
#ifndef REMISS_H
#define REMISS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remiss.pb-c.h"
#include "remiss_code.h"

#define REMISS_ID_LEN 16

/* The version of this library and its programs. */
#define REMISS_VERSION "0.1.0"

typedef struct remiss_client remiss_client_t;
typedef struct remiss_message remiss_message_t;

typedef struct remiss_opts {
    const char *pki_dir;    /* ca.crt, broker.crt, [crl.pem], parties/PARTY.{crt,key,curve} */
    const char *party;      /* this party's id */
    const char *endpoint;   /* broker endpoint, e.g. tcp://127.0.0.1:7400, or the nodes of a
                               cluster, comma-separated: tcp://a:7400,tcp://b:7400 (the
                               client moves to the next when its node stops answering and
                               sends again what has no receipt yet) */
    int timeout_ms;         /* how long to wait for an answer; 0 = 10000 */
    const char *state_path; /* SQLite file remembering processed ids across runs (created
                               0600; ids older than 30 days dropped); NULL = memory */
} remiss_opts_t;

/* The library's version, REMISS_VERSION of the build (static string). */
const char *remiss_version(void);

/* What the broker answered to a message. */
typedef struct remiss_receipt {
    uint8_t message_id[REMISS_ID_LEN];
    remiss_code_t code; /* REMISS_OK: stored for delivery */
    char sentence[256];
    uint64_t audit_index;    /* the audit log entry recording the decision */
    int64_t broker_time;     /* ms */
    uint8_t *signed_receipt; /* SignedReceipt bytes, for the archive; owned by the caller
                                of remiss_receipt_clear */
    size_t signed_len;
} remiss_receipt_t;

/* Connects and authenticates. NULL with err on failure. */
remiss_client_t *remiss_connect(const remiss_opts_t *opts, remiss_err_t *err);
void remiss_close(remiss_client_t **self_p);

/* This party's id (borrowed). */
const char *remiss_party(const remiss_client_t *self);

/* Sends env: fills in a fresh message id (if empty), sender and created_at,
 * signs, submits and waits for the signed receipt. Returns rc->code (or a
 * local error); a receipt whose signature does not verify is
 * REMISS_E_BAD_SIGNATURE. env stays the caller's. */
remiss_code_t remiss_send(remiss_client_t *self, Remiss__Envelope *env, remiss_receipt_t *rc,
                          remiss_err_t *err);

/* Parses the JSON of DESIGN.md section 4 and sends it. */
remiss_code_t remiss_send_json(remiss_client_t *self, const char *json, size_t len,
                               remiss_receipt_t *rc, remiss_err_t *err);

/* Pipelining: submit without waiting (the id is written to id), then
 * collect receipts in any order with remiss_next_receipt. */
remiss_code_t remiss_submit(remiss_client_t *self, Remiss__Envelope *env, uint8_t id[REMISS_ID_LEN],
                            remiss_err_t *err);
remiss_code_t remiss_next_receipt(remiss_client_t *self, int timeout_ms, remiss_receipt_t *rc,
                                  remiss_err_t *err);

/* Sends already signed SignedEnvelope bytes as they are (for tools that
 * forward or replay a captured envelope). Waits for the receipt. */
remiss_code_t remiss_send_raw(remiss_client_t *self, const uint8_t *signed_env, size_t len,
                              remiss_receipt_t *rc, remiss_err_t *err);

/* Signs env as this party and returns SignedEnvelope bytes (malloc'd). */
remiss_code_t remiss_seal(remiss_client_t *self, Remiss__Envelope *env, uint8_t **out, size_t *len,
                          remiss_err_t *err);

void remiss_receipt_clear(remiss_receipt_t *rc);

/* Writes rc's signed receipt (the SignedReceipt bytes, verifiable with the
 * broker's certificate) to path, mode 0600, replacing it atomically
 * (temporary file, fsync, rename). REMISS_E_USAGE if rc holds no signed
 * receipt; REMISS_E_IO naming the file if it cannot be written. */
remiss_code_t remiss_receipt_save(const remiss_receipt_t *rc, const char *path, remiss_err_t *err);

/* Asks the broker to deliver messages to this connection, at most window
 * unacknowledged at a time (0 = the broker's default). remiss_recv
 * subscribes by itself on first use. */
remiss_code_t remiss_subscribe(remiss_client_t *self, unsigned window, remiss_err_t *err);

/* Waits up to timeout_ms for the next message. REMISS_E_TIMEOUT if none.
 * Messages already acknowledged (also by an earlier run with the same
 * state_path) are acknowledged again silently and not returned. A delivery
 * that fails verification is refused back to the broker and not returned. */
remiss_code_t remiss_recv(remiss_client_t *self, int timeout_ms, remiss_message_t **out,
                          remiss_err_t *err);

/* Read-only views of a received message, valid until it is freed. */
const Remiss__Envelope *remiss_message_envelope(const remiss_message_t *m);
const uint8_t *remiss_message_id(const remiss_message_t *m);
const char *remiss_message_sender(const remiss_message_t *m);
int64_t remiss_message_accepted_at(const remiss_message_t *m);
uint32_t remiss_message_attempt(const remiss_message_t *m);
void remiss_message_free(remiss_message_t **m_p);

/* Writes the message as received, for the archive: DIR/ID.env (the
 * SignedEnvelope bytes, the sender's signature over the envelope) and
 * DIR/ID.crt (the sender's certificate, DER), each mode 0600 and written
 * atomically; ID is the message id in hex. REMISS_E_IO naming the file on
 * failure. */
remiss_code_t remiss_message_save(const remiss_message_t *m, const char *dir, remiss_err_t *err);

/* Acknowledges a processed message (the broker stops redelivering it).
 * The id is recorded as processed here first (and in state_path), then the
 * acknowledgement is sent without waiting for the broker's answer: if it is
 * lost, the broker delivers again and the library acknowledges again
 * without returning the message. */
remiss_code_t remiss_ack(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN], remiss_err_t *err);

/* As remiss_ack, but waits for the broker to confirm (for tools that must
 * report whether the acknowledgement was taken, like `remiss ack`). */
remiss_code_t remiss_ack_sync(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN],
                              remiss_err_t *err);

/* Refuses a message permanently; it goes to the broker's dead-letter list. */
remiss_code_t remiss_refuse(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN],
                            const char *reason, remiss_err_t *err);

/* Asks for the state of a message this party sent. *out is the caller's
 * (free with remiss__status_reply__free_unpacked(*out, NULL)). */
remiss_code_t remiss_status(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN],
                            Remiss__StatusReply **out, remiss_err_t *err);

/* Asks for an inclusion proof of a message's audit entry (and optionally a
 * consistency proof from an older tree size) and verifies it against the
 * broker-signed tree head. *out is the caller's (free with
 * remiss__proof_reply__free_unpacked). */
remiss_code_t remiss_proof(remiss_client_t *self, const uint8_t id[REMISS_ID_LEN],
                           uint64_t consistency_from, Remiss__ProofReply **out, remiss_err_t *err);

/* Sends one raw frame and returns the next reply frame (for tests and
 * diagnostics). *reply is malloc'd. */
remiss_code_t remiss_raw_request(remiss_client_t *self, const uint8_t *frame, size_t len,
                                 uint8_t **reply, size_t *reply_len, remiss_err_t *err);

/* The JSON form of messages (DESIGN.md section 4; the rules are in the
 * comment of msgjson.h in the source tree). */

/* What recv knows besides the envelope; zero/NULL members are left out. */
typedef struct remiss_json_meta {
    const uint8_t *message_id; /* REMISS_ID_LEN bytes; NULL: env->message_id */
    const char *from;          /* authenticated sender; NULL: env->sender */
    int64_t created_at;        /* ms since 1970; 0: env->created_at */
    int64_t received_at;       /* ms since 1970, e.g. remiss_message_accepted_at; 0: omitted */
} remiss_json_meta_t;

/* Parses len bytes of JSON into a new envelope (*out is the caller's, to
 * free with remiss_json_free). E_MALFORMED with the field path, E_TOO_LARGE
 * over 1 MiB. */
remiss_code_t remiss_json_parse(const char *json, size_t len, Remiss__Envelope **out,
                                remiss_err_t *err);

/* Frees an envelope from remiss_json_parse and sets *env_p to NULL. */
void remiss_json_free(Remiss__Envelope **env_p);

/* The JSON form of env as one line (pretty: indented over several lines),
 * times as RFC 3339 strings; malloc'd, the caller frees it. NULL when env
 * cannot be shown faithfully or on allocation failure. */
char *remiss_json_format(const Remiss__Envelope *env, const remiss_json_meta_t *meta);
char *remiss_json_format_pretty(const Remiss__Envelope *env, const remiss_json_meta_t *meta);

/* Hex helpers for message ids: 32 lowercase digits. */
void remiss_id_to_hex(const uint8_t id[REMISS_ID_LEN], char hex[2 * REMISS_ID_LEN + 1]);
bool remiss_id_from_hex(const char *hex, uint8_t id[REMISS_ID_LEN]);

/* ------------------------------------------------ for remiss-gateway (issue 17) */

/* The SignedEnvelope bytes of a received message as the sender signed them
 * (envelope bytes and signature), e.g. to hand a case system the evidence.
 * malloc'd, the caller frees; NULL when out of memory. */
uint8_t *remiss_message_signed_envelope(const remiss_message_t *m, size_t *len);

#endif
