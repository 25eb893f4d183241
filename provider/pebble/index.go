package pebble

import (
	"fmt"
	"slices"

	cpebble "github.com/cockroachdb/pebble/v2"
)

// reconcileIndex makes the stored index match s.indexedKeys: it drops the
// entries of keys no longer indexed and builds entries for newly indexed keys
// from the stored metadata, in one synced batch together with the new key
// set. It runs in Open, before the store is shared.
func (s *Store) reconcileIndex() error {
	configKey := appendConfigKey(nil, indexedKeysConfig)
	raw, found, err := getInto(s.db, configKey, nil)
	if err != nil {
		return fmt.Errorf("read indexed keys: %w", err)
	}
	stored, err := decodeKeySet(raw)
	if err != nil {
		return fmt.Errorf("read indexed keys: %w", err)
	}
	if found && slices.Equal(stored, s.indexedKeys) {
		return nil
	}

	b := s.db.NewBatch()
	defer b.Close()
	for _, key := range stored {
		if s.isIndexed(key) {
			continue
		}
		prefix := appendLengthPrefixed([]byte{tagIndex}, key)
		if err := b.DeleteRange(prefix, appendPrefixEnd(nil, prefix), nil); err != nil {
			return fmt.Errorf("drop index of %q: %w", key, err)
		}
	}
	var added []string
	for _, key := range s.indexedKeys {
		if !slices.Contains(stored, key) {
			added = append(added, key)
		}
	}
	if len(added) > 0 {
		if err := s.buildIndex(b, added); err != nil {
			return err
		}
	}
	var value []byte
	for _, key := range s.indexedKeys {
		value = appendLengthPrefixed(value, key)
	}
	if err := b.Set(configKey, value, nil); err != nil {
		return fmt.Errorf("write indexed keys: %w", err)
	}
	if err := b.Commit(cpebble.Sync); err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	return nil
}

// buildIndex writes index entries for keys from every stored metadata entry.
func (s *Store) buildIndex(b *cpebble.Batch, keys []string) error {
	lower := []byte{tagMetadata}
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: appendPrefixEnd(nil, lower)})
	if err != nil {
		return fmt.Errorf("build index: %w", err)
	}
	var indexKey []byte
	for valid := it.First(); valid; valid = it.Next() {
		entity, key, err := splitLengthPrefixed(it.Key()[1:])
		if err != nil {
			return closeIter(it, fmt.Errorf("build index: %w", err))
		}
		if !slices.Contains(keys, string(key)) {
			continue
		}
		value, err := it.ValueAndErr()
		if err != nil {
			return closeIter(it, fmt.Errorf("build index: %w", err))
		}
		indexKey = appendIndexKey(indexKey[:0], string(key), value, string(entity))
		if err := b.Set(indexKey, nil, nil); err != nil {
			return closeIter(it, fmt.Errorf("build index: %w", err))
		}
	}
	return closeIter(it, nil)
}

// decodeKeySet parses a sequence of length-prefixed keys.
func decodeKeySet(raw []byte) ([]string, error) {
	var keys []string
	for len(raw) > 0 {
		key, rest, err := splitLengthPrefixed(raw)
		if err != nil {
			return nil, err
		}
		keys = append(keys, string(key))
		raw = rest
	}
	return keys, nil
}
