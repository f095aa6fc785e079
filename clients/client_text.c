/* client_text: libremiss's text forms (include/remiss.h): message ids as
 * hex, and a message given as JSON (msgjson.h) sealed and sent. */
#include <string.h>

#include "hex.h"
#include "msgjson.h"
#include "remiss.h"

void
remiss_id_to_hex(const uint8_t id[REMISS_ID_LEN], char hex[2 * REMISS_ID_LEN + 1])
{
    hex_encode(hex, id, REMISS_ID_LEN);
}

bool
remiss_id_from_hex(const char *hex, uint8_t id[REMISS_ID_LEN])
{
    return hex_decode(hex, id, REMISS_ID_LEN);
}

remiss_code_t
remiss_send_json(remiss_client_t *self, const char *json, size_t len, remiss_receipt_t *rc,
                 remiss_err_t *err)
{
    Remiss__Envelope *env = NULL;
    memset(rc, 0, sizeof *rc);
    remiss_code_t r = msgjson_parse(json, len, &env, err);
    if (r != REMISS_OK)
        return r;
    if (env->sender && env->sender[0] && strcmp(env->sender, remiss_party(self)) != 0) {
        msgjson_free(&env);
        return remiss_err_set(err, REMISS_E_SENDER_MISMATCH,
                              "The file says it is from another party than --as.");
    }
    r = remiss_send(self, env, rc, err);
    msgjson_free(&env);
    return r;
}
