/* witnesspolicy: trusted witnesses and the check of cosigned checkpoints
 * (include/witnesspolicy.h). */
#include "witnesspolicy.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line (comment and trailing blanks removed) into out. */
static const char *
s_line(char *line, witness_list_t *out)
{
    char *a = strtok(line, " \t"), *b = strtok(NULL, " \t"), *c = strtok(NULL, " \t");
    note_verifier_t v;
    if (a == NULL)
        return NULL;
    if (strcmp(a, "quorum") == 0) {
        char *end;
        long k = b ? strtol(b, &end, 10) : -1;
        if (b == NULL || *end || k < 1 || k > WLIST_MAX || c)
            return "quorum needs a number from 1 to 16";
        out->quorum = (size_t)k;
        return NULL;
    }
    if (strcmp(a, "log") == 0) {
        if (b == NULL || c || note_vkey_parse(b, &v) != REMISS_OK || v.type != NOTE_TYPE_ED25519)
            return "log needs the log's Ed25519 vkey (type 0x01)";
        out->log = v;
        out->has_log = true;
        return NULL;
    }
    if (c || note_vkey_parse(a, &v) != REMISS_OK || v.type != NOTE_TYPE_COSIG)
        return "a witness line is a cosignature vkey (type 0x04) and an optional URL";
    if (out->n == WLIST_MAX)
        return "more than 16 witnesses";
    if (b && (strncmp(b, "http://", 7) != 0 && strncmp(b, "https://", 8) != 0))
        return "a witness URL starts with http:// or https://";
    if (b && strlen(b) >= WLIST_URL_MAX)
        return "witness URL too long";
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->w[i].key.name, v.name) == 0)
            return "two witnesses with one name";
    out->w[out->n].key = v;
    snprintf(out->w[out->n].url, WLIST_URL_MAX, "%s", b ? b : "");
    out->n++;
    return NULL;
}

remiss_code_t
witness_list_load(const char *path, witness_list_t *out, remiss_err_t *err)
{
    char line[1024];
    const char *why = NULL;
    int no = 0;
    FILE *f;

    memset(out, 0, sizeof *out);
    if ((f = fopen(path, "r")) == NULL)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    while (why == NULL && fgets(line, sizeof line, f) != NULL) {
        no++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            why = "line too long";
            break;
        }
        line[strcspn(line, "#\r\n")] = '\0';
        why = s_line(line, out);
    }
    fclose(f);
    if (why == NULL && out->quorum > out->n)
        why = "quorum larger than the number of witnesses", no = 0;
    if (why != NULL)
        return remiss_err_set(err, REMISS_E_CONFIG, "%s:%d: %s", path, no, why);
    return REMISS_OK;
}

size_t
witness_list_quorum(const witness_list_t *wl)
{
    return wl->quorum >= 1 && wl->quorum <= wl->n ? wl->quorum : wl->n;
}

remiss_code_t
witness_check(const char *note, size_t len, const witness_list_t *wl, witness_result_t *out)
{
    static _Thread_local note_t n;
    note_verifier_t v[WLIST_MAX];
    bool ok[WLIST_MAX];

    memset(out, 0, sizeof *out);
    if (note_parse(note, len, &n) != REMISS_OK ||
        checkpoint_parse(n.text, n.text_len, &out->cp) != REMISS_OK)
        return REMISS_E_MALFORMED;
    if (wl == NULL)
        return REMISS_OK;
    if (wl->has_log) {
        if (note_verify(&n, &wl->log, 1, ok, NULL) != REMISS_OK || !ok[0])
            return REMISS_E_BAD_SIGNATURE;
        out->log_signed = true;
    }
    for (size_t i = 0; i < wl->n; i++)
        v[i] = wl->w[i].key;
    if (note_verify(&n, v, wl->n, ok, &out->cosigned) != REMISS_OK)
        return REMISS_E_BAD_SIGNATURE;
    for (size_t i = 0; i < wl->n; i++) {
        out->by[i] = ok[i];
        for (size_t s = 0; ok[i] && s < n.n_sigs; s++)
            if (note_sig_verify(&n, &n.sigs[s], &v[i], &out->time[i]))
                break;
    }
    return REMISS_OK;
}

/* The tree head inside the reply (size and root). */
static bool
s_reply_head(const Remiss__ProofReply *pr, uint64_t *size, uint8_t root[NOTE_HASH_LEN])
{
    Remiss__TreeHead *th;
    bool ok;
    if (pr->tree_head == NULL || pr->tree_head->tree_head.len > 256 ||
        (th = remiss__tree_head__unpack(NULL, pr->tree_head->tree_head.len,
                                        pr->tree_head->tree_head.data)) == NULL)
        return false;
    ok = th->root_hash.len == NOTE_HASH_LEN;
    if (ok) {
        *size = th->tree_size;
        memcpy(root, th->root_hash.data, NOTE_HASH_LEN);
    }
    remiss__tree_head__free_unpacked(th, NULL);
    return ok;
}

remiss_code_t
witness_check_proof(const Remiss__ProofReply *pr, const witness_list_t *wl, witness_result_t *out,
                    remiss_err_t *err)
{
    uint8_t root[NOTE_HASH_LEN];
    uint64_t size;
    remiss_code_t r;
    size_t k = witness_list_quorum(wl);

    memset(out, 0, sizeof *out);
    if (pr == NULL || pr->checkpoint == NULL || pr->checkpoint[0] == '\0')
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the broker sent no checkpoint with the proof");
    if ((r = witness_check(pr->checkpoint, strlen(pr->checkpoint), wl, out)) != REMISS_OK)
        return remiss_err_set(err, r, "the checkpoint with the proof %s",
                              r == REMISS_E_MALFORMED ? "is malformed"
                                                      : "carries a signature that fails");
    if (!s_reply_head(pr, &size, root) || size != out->cp.size ||
        memcmp(root, out->cp.root, NOTE_HASH_LEN) != 0)
        return remiss_err_set(err, REMISS_E_MALFORMED,
                              "the checkpoint is not the tree head the proof is against");
    if (out->cosigned < k)
        return remiss_err_set(err, REMISS_E_POLICY_DENIED,
                              "the checkpoint is cosigned by %zu of %zu witnesses; the policy "
                              "asks for %zu",
                              out->cosigned, wl->n, k);
    return REMISS_OK;
}

char *
witness_result_json(const witness_list_t *wl, const witness_result_t *r)
{
    cJSON *o = cJSON_CreateObject(), *by = cJSON_CreateArray();
    char *s = NULL;
    if (o == NULL || by == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(by);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "cosigned", (double)r->cosigned);
    cJSON_AddNumberToObject(o, "witnesses", (double)wl->n);
    cJSON_AddNumberToObject(o, "quorum", (double)witness_list_quorum(wl));
    cJSON_AddBoolToObject(o, "satisfied", r->cosigned >= witness_list_quorum(wl));
    cJSON_AddNumberToObject(o, "checkpoint_size", (double)r->cp.size);
    cJSON_AddStringToObject(o, "origin", r->cp.origin);
    for (size_t i = 0; i < wl->n; i++) {
        cJSON *w = r->by[i] ? cJSON_CreateObject() : NULL;
        if (w == NULL)
            continue;
        cJSON_AddStringToObject(w, "name", wl->w[i].key.name);
        cJSON_AddNumberToObject(w, "time", (double)r->time[i]);
        cJSON_AddItemToArray(by, w);
    }
    cJSON_AddItemToObject(o, "cosigners", by);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
