package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Table tags: the first byte of every key.
const (
	tagHistory   byte = 'h'
	tagMetadata  byte = 'm'
	tagIndex     byte = 'i'
	tagConsumed  byte = 'c'
	tagState     byte = 's'
	tagWatermark byte = 'w'
	tagConfig    byte = 'k'
)

// indexedKeysConfig names the config record holding the indexed key set.
const indexedKeysConfig = "indexed-keys"

// errCorruptKey reports a key that does not follow the layout.
var errCorruptKey = errors.New("pebble store: malformed key")

// appendLengthPrefixed appends uvarint(len(s)) and s.
func appendLengthPrefixed(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendEntityPrefix appends tag | len(entity) entity: the prefix of every key
// of one entity in a per-entity table.
func appendEntityPrefix(dst []byte, tag byte, entity string) []byte {
	return appendLengthPrefixed(append(dst, tag), entity)
}

// appendPartitionPrefix appends the prefix of one partition's history.
func appendPartitionPrefix(dst []byte, entity string, partition uint64) []byte {
	return binary.BigEndian.AppendUint64(appendEntityPrefix(dst, tagHistory, entity), partition)
}

// appendHistoryKey appends the key of one event.
func appendHistoryKey(dst []byte, entity string, partition, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(appendPartitionPrefix(dst, entity, partition), seq)
}

// appendMetadataKey appends the key of one metadata entry.
func appendMetadataKey(dst []byte, entity, key string) []byte {
	return append(appendEntityPrefix(dst, tagMetadata, entity), key...)
}

// appendIndexPrefix appends the prefix of the index entries of key=value.
func appendIndexPrefix(dst []byte, key, value string) []byte {
	dst = appendLengthPrefixed(append(dst, tagIndex), key)
	return appendLengthPrefixed(dst, value)
}

// appendIndexKey appends the index entry of entity under key=value.
func appendIndexKey[V ~string | ~[]byte](dst []byte, key string, value V, entity string) []byte {
	dst = appendLengthPrefixed(append(dst, tagIndex), key)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	dst = append(dst, value...)
	return append(dst, entity...)
}

// appendConsumedKey appends the key recording a consumed message id.
func appendConsumedKey(dst []byte, entity, id string) []byte {
	return append(appendEntityPrefix(dst, tagConsumed, entity), id...)
}

// appendStateKey appends the key of an entity's state record.
func appendStateKey(dst []byte, entity string) []byte {
	return append(append(dst, tagState), entity...)
}

// appendWatermarkKey appends the key of a named watermark.
func appendWatermarkKey(dst []byte, name string) []byte {
	return append(append(dst, tagWatermark), name...)
}

// appendConfigKey appends the key of an internal config record.
func appendConfigKey(dst []byte, name string) []byte {
	return append(append(dst, tagConfig), name...)
}

// appendPrefixEnd appends the smallest key greater than every key starting
// with prefix, for use as an exclusive upper bound. Every prefix here starts
// with a tag below 0xff, so the result always exists.
func appendPrefixEnd(dst, prefix []byte) []byte {
	n := len(prefix)
	for n > 0 && prefix[n-1] == 0xff {
		n--
	}
	if n == 0 {
		panic("pebble store: prefix of 0xff bytes only")
	}
	dst = append(dst, prefix[:n]...)
	dst[len(dst)-1]++
	return dst
}

// splitLengthPrefixed reads one length-prefixed component from b and returns
// it with the rest of b.
func splitLengthPrefixed(b []byte) (component, rest []byte, err error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return nil, nil, fmt.Errorf("%w: bad length prefix", errCorruptKey)
	}
	return b[w : w+int(n)], b[w+int(n):], nil
}

// lastUint64 decodes the trailing big-endian uint64 of a key.
func lastUint64(key []byte) (uint64, error) {
	if len(key) < 8 {
		return 0, fmt.Errorf("%w: key of %d bytes has no trailing number", errCorruptKey, len(key))
	}
	return binary.BigEndian.Uint64(key[len(key)-8:]), nil
}
