/* fuzz_note: the C2SP signed-note, checkpoint and vkey parsers. A note
 * that parses has a text ending in a newline and a checkpoint text that
 * parses formats back to the same bytes (when it has no extension lines);
 * a vkey that parses formats back to the input. */
#include <string.h>

#include "fuzz_common.h"
#include "note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_checkpoint(const note_t *n)
{
    checkpoint_t c;
    char buf[NOTE_TEXT_MAX + 1];
    if (checkpoint_parse(n->text, n->text_len, &c) != REMISS_OK || c.n_extensions > 0)
        return;
    size_t len = checkpoint_format(c.origin, c.size, c.root, buf, sizeof buf);
    FUZZ_CHECK(len == n->text_len && memcmp(buf, n->text, len) == 0,
               "checkpoint does not format back to its text");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static note_t n;
    char vkey[NOTE_VKEY_MAX], out[NOTE_VKEY_MAX];
    note_verifier_t v;

    if (size > NOTE_MAX + 16)
        return 0;
    if (note_parse((const char *)data, size, &n) == REMISS_OK) {
        FUZZ_CHECK(n.text_len > 0 && n.text[n.text_len - 1] == '\n', "text without newline");
        FUZZ_CHECK(n.n_sigs > 0 && n.n_sigs <= NOTE_SIGS_MAX, "signature count %zu", n.n_sigs);
        for (size_t i = 0; i < n.n_sigs; i++)
            FUZZ_CHECK(note_name_valid(n.sigs[i].name), "invalid key name kept");
        s_checkpoint(&n);
    }
    if (size < sizeof vkey) {
        memcpy(vkey, data, size);
        vkey[size] = '\0';
        if (note_vkey_parse(vkey, &v) == REMISS_OK) {
            FUZZ_CHECK(note_vkey_format(&v, out, sizeof out), "vkey does not format");
            FUZZ_CHECK(strcmp(out, vkey) == 0, "vkey formats differently");
        }
    }
    return 0;
}
