package providertest

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
)

// randomBytes returns n random bytes. Payloads are random so that a provider
// cannot depend on what they contain; the suite compares them byte for byte.
func randomBytes(_ *testing.T, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

// opaquePayloads are payloads a provider must store and return untouched:
// empty, NUL bytes, invalid UTF-8, text that looks like markup or a
// separator, and large random data.
func opaquePayloads(t *testing.T) [][]byte {
	return [][]byte{
		{},
		{0x00},
		{0x00, 0x00, 0x00},
		{0xff, 0xfe, 0xfd},          // invalid UTF-8
		{0xc3, 0x28},                // invalid UTF-8 sequence
		[]byte(`{"kind":"x"}`),      // looks like JSON
		[]byte("a.b.>\r\n*\x00end"), // looks like subjects and separators
		randomBytes(t, 1),
		randomBytes(t, 255),
		randomBytes(t, 4096),
		randomBytes(t, 64<<10),
	}
}

// opaqueEntities are entity keys a provider must keep distinct and return
// untouched: separators and wildcards of common transports, spaces, unicode,
// NUL, invalid UTF-8, prefixes of one another, and the longest allowed key.
func opaqueEntities() []string {
	return []string{
		"a", "ab", "a\x00", "a\x00b", "a/b", "a.b", "a*b", "a>b", "a b", " ",
		"*", ">", ".", "..", "/", "a/", "A",
		"ünïcødé-键-🙂", "\xff\xfe", "line\nbreak", "tab\there",
		"$JS.API", "%2F", "a_b", "a-b",
		strings.Repeat("k", provider.MaxEntityLen),
	}
}
