package jetstream

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/reprise/reprise/provider"
	"github.com/reprise/reprise/provider/pebble"
)

// The seed corpora of these targets are under testdata/fuzz/<target>.

// FuzzApplyRecord decodes arbitrary bytes as a commit record read back from
// the log, the way recovery does, and applies what decodes to a Pebble
// store: a corrupt record is refused with errCorrupt, and applying a
// decoded record either succeeds or fails with one of the store's
// documented errors, never a panic.
func FuzzApplyRecord(f *testing.F) {
	f.Add(encodeRecord(sampleRecord()))
	f.Add(encodeRecord(&record{kind: kindDelete, entity: "x", purgeBelow: 5}))
	f.Add(encodeRecord(&record{kind: kindCommit, entity: "x", events: []provider.Event{{Seq: 1, Data: []byte("a")}, {Seq: 1, Data: []byte("b")}}}))
	f.Add(encodeRecord(&record{kind: kindCommit, entity: "x", partition: 1 << 62, setMeta: provider.Metadata{"": ""}}))
	f.Add([]byte{recordVersion, byte(kindCommit), 0})
	st, err := pebble.Open(pebble.Options{Dir: f.TempDir(), IndexedKeys: []string{"status"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	var seq uint64
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decodeRecord(%x) = %v, which does not wrap errCorrupt", b, err)
			}
			return
		}
		seq++
		err = st.Apply([]pebble.Update{rec.update(seq)}, nil)
		if err != nil && !errors.Is(err, provider.ErrDuplicateEvent) && !errors.Is(err, provider.ErrStalePartition) &&
			!errors.Is(err, provider.ErrInvalidArgument) {
			t.Fatalf("applying %+v: undocumented error %v", rec, err)
		}
	})
}

// FuzzSubjects derives every subject and message id of an arbitrary entity
// and message id: raw user strings never reach a subject, each derived
// subject has its fixed number of tokens, all of them literal, and the
// shard is in range.
func FuzzSubjects(f *testing.F) {
	for _, s := range []string{"a", "a.b", "*", ">", "with space", "\x00", "ü", "", strings.Repeat("x", 300), "a\r\nb", "$JS.API"} {
		f.Add(s, "id-"+s, uint8(16))
	}
	f.Fuzz(func(t *testing.T, entity, id string, shards uint8) {
		n := names{prefix: "p", shards: max(int(shards), 1)}
		if s := n.shardOf(entity); s < 0 || s >= n.shards {
			t.Fatalf("shard of %q = %d, want 0..%d", entity, s, n.shards-1)
		}
		for _, c := range []struct {
			subject string
			tokens  int
		}{
			{n.logSubject(entity), 4},
			{n.entitySubject("q", entity), 5},
			{n.workSubject("w", entity, id), 5},
			{n.scheduleSubject("q", id, entity), 5},
		} {
			toks := strings.Split(c.subject, ".")
			if len(toks) != c.tokens {
				t.Fatalf("subject %q for entity %q id %q has %d tokens, want %d", c.subject, entity, id, len(toks), c.tokens)
			}
			for _, tok := range toks {
				if tok == "" || strings.ContainsFunc(tok, func(r rune) bool {
					return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
				}) {
					t.Fatalf("subject %q for entity %q id %q has the token %q", c.subject, entity, id, tok)
				}
			}
		}
		if a, b := sendMsgID("q", entity, id), sendMsgID("q", entity, id); a != b || strings.ContainsAny(a, " \r\n") {
			t.Fatalf("message id of %q/%q is %q then %q", entity, id, a, b)
		}
	})
}
