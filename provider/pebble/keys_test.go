package pebble

import (
	"bytes"
	"testing"
)

func TestEntityRangesDoNotOverlap(t *testing.T) {
	entities := []string{"a", "ab", "a\x00", "a\xff", "\xff", "\xff\xff", "", "b"}
	for _, tag := range []byte{tagHistory, tagMetadata, tagConsumed} {
		for _, e := range entities {
			lower := appendEntityPrefix(nil, tag, e)
			upper := appendPrefixEnd(nil, lower)
			for _, other := range entities {
				if other == e {
					continue
				}
				// The smallest and a large key of the other entity.
				for _, k := range [][]byte{
					appendEntityPrefix(nil, tag, other),
					appendHistoryKey(nil, other, ^uint64(0), ^uint64(0)),
					appendMetadataKey(nil, other, "\xff\xff\xff"),
				} {
					if k[0] != tag {
						continue
					}
					if bytes.Compare(k, lower) >= 0 && bytes.Compare(k, upper) < 0 {
						t.Errorf("tag %c: key %q of %q lies in the range of %q", tag, k, other, e)
					}
				}
			}
		}
	}
}

func TestPrefixEndIsTheLeastUpperBound(t *testing.T) {
	cases := []struct{ prefix, want string }{
		{"h\x01a", "h\x01b"},
		{"h\x01\xff", "h\x02"},
		{"h\xff\xff", "i"},
	}
	for _, tc := range cases {
		if got := appendPrefixEnd(nil, []byte(tc.prefix)); string(got) != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestEntityRecordRoundTrips(t *testing.T) {
	in := entityRecord{EntityState: EntityState{Exists: true, Partition: 7, LogSeq: 1 << 40}, hasHead: true, head: ^uint64(0)}
	var buf [recordLen]byte
	out, err := decodeEntityRecord(in.encode(&buf))
	if err != nil || out != in {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
	}
	if _, err := decodeEntityRecord(buf[:3]); err == nil {
		t.Fatal("short record decoded without error")
	}
}
