/* interop: runs tests/interop/cpverify.go, an independent verifier of C2SP
 * checkpoints and cosignatures on Go's golang.org/x/mod/sumdb/note, built
 * offline from Debian's packaged sources (GOPATH=/usr/share/gocode,
 * GO111MODULE=off) into build/cpverify on first use. */
#ifndef INTEROP_H
#define INTEROP_H

#include <stddef.h>

/* Writes note to dir/cpverify.note and runs cpverify on it with the log
 * vkey and the n witness vkeys. Returns its exit status (0: every signature
 * verified); its one line of output goes to out. Asserts if Go or the
 * package is missing. */
int interop_cpverify(const char *dir, const char *note, const char *log_vkey,
                     const char *const *witness_vkeys, size_t n, char *out, size_t cap);

#endif
