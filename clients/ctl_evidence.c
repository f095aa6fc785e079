/* ctl_evidence: remissctl verify-evidence (include/ctl_evidence.h). */
#include "ctl_evidence.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl_args.h"
#include "evidence.h"
#include "remiss_code.h"

/* The whole file, up to EVIDENCE_MAX + 1 bytes (so an oversized file is
 * seen as such). */
static char *
s_slurp(const char *path, size_t *len, remiss_err_t *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = f ? malloc(EVIDENCE_MAX + 2) : NULL;
    if (f == NULL || buf == NULL) {
        remiss_err_set(err, REMISS_E_IO, "cannot read %s: %s", path, strerror(errno));
        if (f && f != stdin)
            fclose(f);
        return NULL;
    }
    *len = fread(buf, 1, EVIDENCE_MAX + 1, f);
    buf[*len] = '\0';
    if (f != stdin)
        fclose(f);
    return buf;
}

int
ctl_verify_evidence(const ctl_args_t *a)
{
    remiss_err_t err;
    char *bundle, *summary = NULL;
    size_t len = 0;

    if (a->npos != 1 || a->ca == NULL || (a->given & ~(CTL_O_CA | CTL_O_WITNESSES | CTL_O_JSON)))
        return cli_usage_error(&a->cli, "%s",
                               "verify-evidence FILE --ca CA.crt [--witnesses FILE] [--json]");
    if ((bundle = s_slurp(a->pos[0], &len, &err)) == NULL)
        return cli_fail(&a->cli, &err);
    remiss_code_t r = evidence_verify(bundle, len, a->ca, a->witnesses, &summary, &err);
    free(bundle);
    if (a->cli.json && summary) {
        cJSON *o = cJSON_CreateObject();
        cJSON *ev = cJSON_Parse(summary);
        cJSON_AddBoolToObject(o, "verified", r == REMISS_OK);
        if (ev)
            cJSON_AddItemToObject(o, "evidence", ev);
        cli_print_json(o);
    } else if (r == REMISS_OK) {
        bool receipt = summary && strstr(summary, "\"signed_receipt\":true");
        printf("evidence verified: the broker certified by the CA logged the message, the "
               "entry is in the signed tree%s%s\n",
               receipt ? ", the broker's signed receipt names that entry" : "",
               a->witnesses ? ", and the witness quorum cosigned that tree" : "");
    }
    free(summary);
    return r == REMISS_OK ? CLI_EXIT_OK : cli_fail(&a->cli, &err);
}
