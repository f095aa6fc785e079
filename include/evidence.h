/* evidence: a self-contained, offline-checkable record that the broker
 * logged a message, for a court or an auditor.
 *
 * A bundle is one JSON object (cJSON; format "remiss-evidence/v1"):
 *   message_id            32 hex digits
 *   proof_reply           base64 of the serialized ProofReply: the audit
 *                         entry, its inclusion path, the broker-signed tree
 *                         head and the cosigned C2SP checkpoint
 *   broker_certificate    PEM of the certificate whose key signed the head
 *   envelope_sha256       hex; SHA-256 of the signed envelope bytes, as the
 *                         audit entry records it
 * and, for checking by hand with openssl and sha256sum (README.md):
 *   leaf_entry, tree_head, tree_head_signature (base64), leaf_hash,
 *   root_hash (hex), inclusion_path (hex list), leaf_index, tree_size,
 *   checkpoint (the signed note text).
 * With the sender's signed receipt (remiss send --save-receipt), also
 *   signed_receipt        base64 of the SignedReceipt as the broker gave it
 * and its by-hand fields: receipt, receipt_signature, receipt_batch
 *   (base64), receipt_leaf_hash, receipt_batch_root (hex),
 *   receipt_batch_path (hex list), receipt_batch_index, receipt_batch_size.
 * The checker trusts only the CA certificate and the witness list it is
 * given, never anything inside the bundle. */
#ifndef EVIDENCE_H
#define EVIDENCE_H

#include <stdint.h>
#include <stdio.h>

#include "remiss.pb-c.h"
#include "remiss_code.h"

#define EVIDENCE_MAX         (1u << 20)  /* largest bundle read */
#define EVIDENCE_RECEIPT_MAX (16u << 10) /* largest signed receipt */

/* Builds a bundle for message id from a proof reply (already verified by
 * remiss_proof) and the broker certificate file; with receipt (may be
 * NULL; receipt_len bytes of a serialized SignedReceipt) it is embedded
 * after checking it names the proof's entry (message id, envelope hash,
 * audit index), else NULL with E_MALFORMED. malloc'd JSON text. */
char *evidence_build(const uint8_t id[16], const Remiss__ProofReply *pr,
                     const char *broker_cert_path, const uint8_t *receipt, size_t receipt_len,
                     remiss_err_t *err);

/* Checks a bundle (len bytes) offline: the broker certificate chains to
 * the CA at ca_path, the tree head is signed by it, the entry is included
 * and records the message's intake, the checkpoint is that tree head, a
 * signed receipt if the bundle has one (the broker's signature over its
 * batch, the batch inclusion path, and that it names the entry's message,
 * envelope hash and index), and, if witnesses_path is not NULL, that the
 * list's quorum cosigned it.
 * *summary (may be NULL) gets a JSON object describing what was checked,
 * also on a policy failure. REMISS_OK, or the first failing check's code
 * with a sentence. */
remiss_code_t evidence_verify(const char *bundle, size_t len, const char *ca_path,
                              const char *witnesses_path, char **summary, remiss_err_t *err);

/* For `remiss proof --witnesses FILE`: checks pr's checkpoint against the
 * list at path (witness_check_proof) and gives the result as JSON in *json
 * (malloc'd, also when the quorum is not met). */
remiss_code_t evidence_proof_witnesses(const Remiss__ProofReply *pr, const char *path, char **json,
                                       remiss_err_t *err);

/* Prints a witness result JSON for people: "cosigned by K of N witnesses
 * (quorum Q): NAME, NAME". */
void evidence_print_witnesses(const char *json, FILE *out);

#endif
