// cpverify: an independent check of remiss checkpoints and cosignatures with
// Go's golang.org/x/mod/sumdb/note (Debian golang-golang-x-mod-dev), built
// offline from the packaged sources by tests/test_interop.c.
//
// Usage: cpverify NOTE_FILE LOG_VKEY [WITNESS_VKEY ...]
// Prints "ok origin=O size=N cosigned=K" and exits 0 when the log's signature
// and every listed witness's cosignature/v1 verify; exits 1 otherwise.
//
// sumdb/note verifies Ed25519 (type 0x01) notes itself. Cosignatures (type
// 0x04, c2sp.org/tlog-cosignature) are checked by a note.Verifier written
// here from the specification: key ID SHA-256(name || "\n" || 0x04 || key)[:4],
// signature = u64 timestamp || Ed25519("cosignature/v1\ntime T\n" || text).
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	m := []byte("cosignature/v1\ntime " + strconv.FormatUint(t, 10) + "\n")
	m = append(m, msg...)
	return ed25519.Verify(v.key, m, sig[8:])
}

func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed vkey")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return nil, fmt.Errorf("not a cosignature/v1 vkey")
	}
	h := sha256.New()
	h.Write([]byte(parts[0] + "\n"))
	h.Write(raw)
	id := binary.BigEndian.Uint32(h.Sum(nil)[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		return nil, fmt.Errorf("vkey hash does not match its key")
	}
	return &cosigVerifier{name: parts[0], hash: id, key: ed25519.PublicKey(raw[1:])}, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "cpverify: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: cpverify NOTE_FILE LOG_VKEY [WITNESS_VKEY ...]")
	}
	msg, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	logv, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("log vkey: %v", err)
	}
	vs := []note.Verifier{logv}
	for _, k := range os.Args[3:] {
		v, err := newCosigVerifier(k)
		if err != nil {
			fail("witness vkey: %v", err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(msg, note.VerifierList(vs...))
	if err != nil {
		fail("note.Open: %v", err)
	}
	signed := map[string]bool{}
	for _, s := range n.Sigs {
		signed[s.Name] = true
	}
	for _, v := range vs {
		if !signed[v.Name()] {
			fail("no valid signature by %s", v.Name())
		}
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] == "" {
		fail("not a checkpoint")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		fail("bad tree size line")
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		fail("bad root hash line")
	}
	fmt.Printf("ok origin=%s size=%d cosigned=%d\n", lines[0], size, len(vs)-1)
}
