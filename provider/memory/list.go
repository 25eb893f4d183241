package memory

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/reprise/reprise/provider"
)

// metadataIndex maps each indexed key, then value, to the set of entities
// whose metadata holds that value.
type metadataIndex map[string]map[string]map[string]struct{}

func newMetadataIndex(keys []string) metadataIndex {
	idx := metadataIndex{}
	for _, k := range keys {
		idx[k] = map[string]map[string]struct{}{}
	}
	return idx
}

// update moves entity's index entries from the old metadata to the new one.
func (idx metadataIndex) update(entity string, old, updated provider.Metadata) {
	for key, byValue := range idx {
		oldValue, hadOld := old[key]
		newValue, hasNew := updated[key]
		if hadOld == hasNew && oldValue == newValue {
			continue
		}
		if hadOld {
			set := byValue[oldValue]
			delete(set, entity)
			if len(set) == 0 {
				delete(byValue, oldValue)
			}
		}
		if hasNew {
			set := byValue[newValue]
			if set == nil {
				set = map[string]struct{}{}
				byValue[newValue] = set
			}
			set[entity] = struct{}{}
		}
	}
}

// ListEntities returns, in ascending byte order, the entities whose indexed
// metadata key q.Key holds q.Value, one page at a time. The cursor is the
// last entity of the previous page, so entities added or removed between
// pages are seen or skipped consistently with that order.
func (p *Provider) ListEntities(ctx context.Context, q provider.ListQuery) (provider.ListPage, error) {
	if !p.topo.IsIndexed(q.Key) {
		return provider.ListPage{}, fmt.Errorf("memory: list entities: %w: metadata key %q is not indexed", provider.ErrInvalidArgument, q.Key)
	}
	if q.Limit < 0 {
		return provider.ListPage{}, fmt.Errorf("memory: list entities: %w: negative limit %d", provider.ErrInvalidArgument, q.Limit)
	}
	limit := q.Limit
	if limit == 0 {
		limit = provider.DefaultListLimit
	}
	after, hasCursor, err := decodeCursor(q.Cursor)
	if err != nil {
		return provider.ListPage{}, err
	}
	if err := p.lockOpen("list entities"); err != nil {
		return provider.ListPage{}, err
	}
	set := p.index[q.Key][q.Value]
	matches := make([]string, 0, len(set))
	for e := range set {
		if !hasCursor || e > after {
			matches = append(matches, e)
		}
	}
	p.mu.Unlock()

	slices.Sort(matches)
	var page provider.ListPage
	if len(matches) > limit {
		matches = matches[:limit]
		page.NextCursor = encodeCursor(matches[limit-1])
	}
	page.Entities = matches
	return page, nil
}

func encodeCursor(last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(last))
}

func decodeCursor(c string) (last string, ok bool, err error) {
	if c == "" {
		return "", false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", false, fmt.Errorf("memory: list entities: %w: malformed cursor: %v", provider.ErrInvalidArgument, err)
	}
	return string(b), true, nil
}
