package pebble

import (
	"fmt"

	cpebble "github.com/cockroachdb/pebble/v2"

	"github.com/reprise/reprise/provider"
)

// List pages through the entities whose indexed metadata key q.Key equals
// q.Value, in ascending byte order of entity. q.Cursor is the NextCursor of
// the previous page (the last entity it returned). It fails with
// provider.ErrInvalidArgument for a key not in Options.IndexedKeys or a
// negative limit.
func (s *Store) List(q provider.ListQuery) (provider.ListPage, error) {
	if !s.isIndexed(q.Key) {
		return provider.ListPage{}, fmt.Errorf("%w: metadata key %q is not indexed", provider.ErrInvalidArgument, q.Key)
	}
	if q.Limit < 0 {
		return provider.ListPage{}, fmt.Errorf("%w: negative list limit %d", provider.ErrInvalidArgument, q.Limit)
	}
	limit := q.Limit
	if limit == 0 {
		limit = provider.DefaultListLimit
	}
	if err := s.open(); err != nil {
		return provider.ListPage{}, err
	}
	defer s.life.RUnlock()

	prefix := appendIndexPrefix(nil, q.Key, q.Value)
	prefix = prefix[:len(prefix):len(prefix)]
	lower := prefix
	if q.Cursor != "" {
		// The smallest key above the cursor's own entry.
		lower = append(append(prefix, q.Cursor...), 0)
	}
	it, err := s.db.NewIter(&cpebble.IterOptions{LowerBound: lower, UpperBound: appendPrefixEnd(nil, prefix)})
	if err != nil {
		return provider.ListPage{}, fmt.Errorf("list %q: %w", q.Key, err)
	}
	var page provider.ListPage
	for valid := it.First(); valid; valid = it.Next() {
		if len(page.Entities) == limit {
			page.NextCursor = page.Entities[limit-1]
			break
		}
		page.Entities = append(page.Entities, string(it.Key()[len(prefix):]))
	}
	if err := closeIter(it, nil); err != nil {
		return provider.ListPage{}, fmt.Errorf("list %q: %w", q.Key, err)
	}
	return page, nil
}
