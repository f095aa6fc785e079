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
 * The checker trusts only the CA certificate and the witness list it is
 * given, never anything inside the bundle. */
#ifndef EVIDENCE_H
#define EVIDENCE_H

#include <stdint.h>
#include <stdio.h>

#include "remiss.pb-c.h"
#include "remiss_code.h"

#define EVIDENCE_MAX (1u << 20) /* largest bundle read */

/* Builds a bundle for message id from a proof reply (already verified by
 * remiss_proof) and the broker certificate file. malloc'd JSON text. */
char *evidence_build(const uint8_t id[16], const Remiss__ProofReply *pr,
                     const char *broker_cert_path, remiss_err_t *err);

/* Checks a bundle (len bytes) offline: the broker certificate chains to
 * the CA at ca_path, the tree head is signed by it, the entry is included
 * and records the message's intake, the checkpoint is that tree head, and,
 * if witnesses_path is not NULL, that the list's quorum cosigned it.
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
