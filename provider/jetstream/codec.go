package jetstream

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errCorrupt reports bytes that are not a well-formed record or envelope.
var errCorrupt = errors.New("jetstream: corrupt encoding")

// writer appends the primitives shared by the record and envelope codecs.
type writer struct{ b []byte }

func (w *writer) byte(v byte)      { w.b = append(w.b, v) }
func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *writer) bytes(v []byte) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}
func (w *writer) string(v string) {
	w.uvarint(uint64(len(v)))
	w.b = append(w.b, v...)
}

// reader consumes what writer appended; the first malformed read sticks as
// err and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errCorrupt, what)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated byte")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a collection length and bounds it by the bytes left (every
// element takes at least one byte), so a corrupt length cannot make the
// decoder allocate without limit.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count exceeds input")
		return 0
	}
	return int(n)
}

// raw returns the next length-prefixed bytes, aliasing the input.
func (r *reader) raw() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("truncated bytes")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// bytes returns a copy of the next length-prefixed bytes (never nil).
func (r *reader) bytes() []byte {
	v := r.raw()
	if r.err != nil {
		return nil
	}
	return append([]byte{}, v...)
}

func (r *reader) string() string { return string(r.raw()) }

// end fails unless every byte was consumed.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	return r.err
}
