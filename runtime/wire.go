package runtime

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire format shared by events and message envelopes is a compact
// tag-length-value record: a version byte, a kind byte, then fields as
// (tag byte, value) where a value is either a uvarint or a uvarint length
// followed by that many bytes. Absent fields are omitted; unknown tags of the
// known value types are skipped, so fields can be added without breaking old
// readers.

const wireVersion = 1

// errCorrupt reports bytes that are not a record of this codec.
var errCorrupt = errors.New("runtime: corrupt record")

// Tags with the low bit clear carry uvarints, tags with it set carry bytes.
func isBytesTag(tag byte) bool { return tag&1 == 1 }

type wireWriter struct{ buf []byte }

func (w *wireWriter) uint(tag byte, v uint64) {
	if v == 0 {
		return
	}
	w.buf = append(w.buf, tag)
	w.buf = binary.AppendUvarint(w.buf, v)
}

func (w *wireWriter) int(tag byte, v int64) {
	// zig-zag so that negative numbers stay short.
	w.uint(tag, uint64(v<<1)^uint64(v>>63))
}

func (w *wireWriter) bytes(tag byte, v []byte) {
	if len(v) == 0 {
		return
	}
	w.buf = append(w.buf, tag)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

func (w *wireWriter) str(tag byte, v string) {
	if v == "" {
		return
	}
	w.buf = append(w.buf, tag)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(v)))
	w.buf = append(w.buf, v...)
}

// wireReader walks the fields of one record.
type wireReader struct {
	buf []byte
	err error
}

// next returns the next field; ok is false at the end or on error.
func (r *wireReader) next() (tag byte, num uint64, data []byte, ok bool) {
	if r.err != nil || len(r.buf) == 0 {
		return 0, 0, nil, false
	}
	tag = r.buf[0]
	v, n := binary.Uvarint(r.buf[1:])
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad varint for tag %d", errCorrupt, tag)
		return 0, 0, nil, false
	}
	r.buf = r.buf[1+n:]
	if !isBytesTag(tag) {
		return tag, v, nil, true
	}
	if v > uint64(len(r.buf)) {
		r.err = fmt.Errorf("%w: field %d overruns the record", errCorrupt, tag)
		return 0, 0, nil, false
	}
	data = r.buf[:v:v]
	r.buf = r.buf[v:]
	return tag, 0, data, true
}

func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

func appendUvarint(buf []byte, v uint64) []byte { return binary.AppendUvarint(buf, v) }
