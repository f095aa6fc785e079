/* cli: see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_print_error(const cli_t *c, const char *code, const char *sentence)
{
    if (c->json) {
        cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
        char *line = NULL;
        if (e && cJSON_AddStringToObject(e, "code", code) &&
            cJSON_AddStringToObject(e, "sentence", sentence))
            line = cJSON_PrintUnformatted(root);
        fprintf(stderr, "%s\n", line ? line : "{\"error\":{\"code\":\"E_INTERNAL\"}}");
        free(line);
        cJSON_Delete(root);
        return;
    }
    char safe[1024];
    fprintf(stderr, "error: %s: %s\n", code, cli_plain(safe, sizeof safe, sentence));
}

int
cli_fail(const cli_t *c, const remiss_err_t *err)
{
    s_print_error(c, remiss_code_name(err->code), err->text);
    return CLI_EXIT_FAIL;
}

int
cli_usage_error(const cli_t *c, const char *fmt, ...)
{
    char what[512], sentence[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(sentence, sizeof sentence, "%s (see %s --help)", what, c->prog);
    s_print_error(c, "E_USAGE", sentence);
    return CLI_EXIT_USAGE;
}

bool
cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    if (!s || !*s || (min >= 0 && (*s < '0' || *s > '9')))
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool
cli_print_json(cJSON *obj)
{
    char *line = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!line)
        return false;
    printf("%s\n", line);
    free(line);
    return true;
}

/* The escape for byte c of a control character, written to out. */
static size_t
s_escape(unsigned char c, char out[5])
{
    switch (c) {
    case '\n':
        return (size_t)snprintf(out, 5, "\\n");
    case '\t':
        return (size_t)snprintf(out, 5, "\\t");
    case '\r':
        return (size_t)snprintf(out, 5, "\\r");
    case '\\':
        return (size_t)snprintf(out, 5, "\\\\");
    default:
        return (size_t)snprintf(out, 5, "\\x%02x", c);
    }
}

char *
cli_plain(char *buf, size_t size, const char *s)
{
    size_t o = 0;
    if (!size)
        return buf;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[5];
        /* C1 controls arrive in UTF-8 as 0xC2 0x80..0x9F. */
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        size_t n = 1;
        if (*p < 0x20 || *p == 0x7f || *p == '\\' || c1)
            n = s_escape(c1 ? *++p : *p, esc);
        else
            esc[0] = (char)*p;
        if (n >= size - o)
            break;
        memcpy(buf + o, esc, n);
        o += n;
    }
    buf[o] = '\0';
    return buf;
}
