/* remiss_private.h: libremiss entry points that are not its API.
 *
 * For the fuzz targets in tests/fuzz, for tests and for the library's own
 * modules only: not installed, no compatibility promise. */
#ifndef REMISS_PRIVATE_H
#define REMISS_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "remiss.h"

/* Runs on one frame, as if the broker had sent it, the code the client
 * runs on a frame from the socket, without sending or waiting for anything:
 * a Delivery is checked as remiss_recv checks it (sender certificate
 * against the CA and CRL, envelope signature, sender and recipient, id) and
 * the id to refuse it by is worked out; a receipt or result is checked and
 * read as remiss_send reads the answer to a submit (broker signature,
 * decoding, reason code). The client's state (queues, acknowledged and
 * handed-out ids) is read, never changed. Returns REMISS_OK for a frame the
 * client would accept, otherwise the code it would report or refuse the
 * message with, and fills err (may be NULL). */
/* Not exported from libremiss.so (hidden; config/libremiss.map exports
 * remiss_*): the fuzz target and the archive link the objects. */
#define REMISS_PRIVATE __attribute__((visibility("hidden")))

REMISS_PRIVATE remiss_code_t remiss_private_check_frame(remiss_client_t *self, const uint8_t *frame,
                                                        size_t len, remiss_err_t *err);

/* The delivery a message came in (sender certificate, signed envelope),
 * for the archive module; NULL if m is NULL. */
REMISS_PRIVATE const Remiss__Delivery *remiss_private_delivery(const remiss_message_t *m);

#endif
