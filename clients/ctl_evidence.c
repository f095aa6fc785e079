/* ctl_evidence: remissctl verify-evidence (include/ctl_evidence.h). */
#include "ctl_evidence.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "remiss_code.h"

static int
s_usage_error(void)
{
    fprintf(stderr, "error: E_USAGE: verify-evidence FILE --ca CA.crt [--witnesses FILE] "
                    "[--json] (see remissctl --help)\n");
    return 2;
}

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
ctl_verify_evidence_main(int argc, char **argv)
{
    const char *file = NULL, *ca = NULL, *witnesses = NULL;
    bool json = false;
    remiss_err_t err;
    char *bundle, *summary = NULL;
    size_t len = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
            ca = argv[++i];
        else if (strcmp(argv[i], "--witnesses") == 0 && i + 1 < argc)
            witnesses = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (file == NULL && strncmp(argv[i], "--", 2) != 0)
            file = argv[i];
        else
            return s_usage_error();
    }
    if (file == NULL || ca == NULL)
        return s_usage_error();
    if ((bundle = s_slurp(file, &len, &err)) == NULL) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        return 1;
    }
    remiss_code_t r = evidence_verify(bundle, len, ca, witnesses, &summary, &err);
    free(bundle);
    if (json && summary)
        printf("{\"verified\":%s,\"evidence\":%s}\n", r == REMISS_OK ? "true" : "false", summary);
    else if (r == REMISS_OK)
        printf("evidence verified: the broker certified by the CA logged the message, the "
               "entry is in the signed tree%s\n",
               witnesses ? ", and the witness quorum cosigned that tree" : "");
    free(summary);
    if (r != REMISS_OK) {
        fprintf(stderr, "error: %s: %s\n", remiss_code_name(err.code), err.text);
        return 1;
    }
    return 0;
}
