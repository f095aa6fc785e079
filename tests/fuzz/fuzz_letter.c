/* fuzz_letter: the access report letter (clients/ctl_letter.c) on audit
 * entries read from a database an attacker may have edited. The input is
 * up to 16 serialized AuditEntry messages separated by FUZZ_SEP; those
 * that decode to valid UTF-8 (as ctl_letter_write admits them) go into a
 * letter over the Stockholm policy, which is printed. The page must be
 * whole, and its markup must not depend on the text in the entries: the
 * same letter with every <, >, &, " and ' in the entries' strings replaced
 * by 'x' has exactly as many '<' and '>' (an unescaped value adds some). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_verify.h"
#include "ctl_letter.h"
#include "fuzz_common.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX_ENTRIES 16

static policy_t *s_policy;

static void
s_neutralize(char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if (strchr("<>&\"'", *s) != NULL)
            *s = 'x';
}

static void
s_neutralize_entry(Remiss__AuditEntry *e)
{
    s_neutralize(e->sender);
    s_neutralize(e->recipient);
    s_neutralize(e->purpose);
    s_neutralize(e->detail);
    for (size_t i = 0; i < e->n_categories; i++)
        s_neutralize(e->categories[i]);
}

/* The letter of the entries in parts, printed; malloc'd, *len its size. */
static char *
s_render(const fuzz_part_t *parts, size_t nparts, bool neutral, const audit_tree_head_t *th,
         size_t *len)
{
    ctl_letter_t *letter = ctl_letter_new(s_policy, (time_t)1780000000);
    FUZZ_CHECK(letter != NULL, "out of memory");
    for (size_t i = 0; i < nparts; i++) {
        Remiss__AuditEntry *e = audit_entry_decode(parts[i].data, parts[i].len);
        if (e != NULL && !utf8_message_valid(&e->base, 4096)) {
            remiss__audit_entry__free_unpacked(e, NULL);
            e = NULL;
        }
        if (e == NULL) {
            ctl_letter_damaged(letter);
            continue;
        }
        if (neutral)
            s_neutralize_entry(e);
        FUZZ_CHECK(ctl_letter_add(letter, e), "out of memory");
    }
    char *html = NULL;
    FILE *out = open_memstream(&html, len);
    FUZZ_CHECK(out != NULL, "open_memstream");
    FUZZ_CHECK(ctl_letter_print(letter, th, out), "cannot print");
    fclose(out);
    ctl_letter_free(&letter);
    FUZZ_CHECK(*len > 8 && strcmp(html + *len - 8, "</html>\n") == 0, "the page is cut off");
    return html;
}

static size_t
s_count(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part_t parts[S_MAX_ENTRIES];
    remiss_err_t err;
    size_t nparts = fuzz_split(data, size, parts, S_MAX_ENTRIES), len, nlen;

    if (s_policy == NULL &&
        (s_policy = policy_load(fuzz_src_path("config/stockholm.policy"), &err)) == NULL)
        fuzz_fail(__FILE__, __LINE__, "policy: %s", err.text);
    audit_tree_head_t th = {.size = nparts, .timestamp = size > 0 ? (int64_t)data[0] << 33 : 0};
    const audit_tree_head_t *head = size % 2 ? &th : NULL;
    char *html = s_render(parts, nparts, false, head, &len);
    char *plain = s_render(parts, nparts, true, head, &nlen);
    FUZZ_CHECK(s_count(html, '<') == s_count(plain, '<') &&
                   s_count(html, '>') == s_count(plain, '>'),
               "text from an entry changed the page's markup");
    free(html);
    free(plain);
    return 0;
}
