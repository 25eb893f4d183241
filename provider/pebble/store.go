package pebble

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/reprise/reprise/provider"
)

// DefaultCacheBytes is the block cache size used when Options.CacheBytes is
// zero.
const DefaultCacheBytes = 64 << 20

// memTableBytes is the largest memtable size; Pebble starts smaller and grows.
const memTableBytes = 64 << 20

// bloomBitsPerKey sizes the bloom filters that let point reads (entity
// state, consumed ids, metadata of indexed keys) skip tables.
const bloomBitsPerKey = 10

// Options configures [Open].
type Options struct {
	// Dir is the database directory; it is created if missing.
	Dir string
	// IndexedKeys names the metadata keys indexed for [Store.List].
	IndexedKeys []string
	// Sync makes every Apply wait for the WAL fsync. The default (false)
	// suits a store rebuilt from a log: a crash loses at most a suffix of
	// applied batches.
	Sync bool
	// CacheBytes sizes the block cache (default DefaultCacheBytes).
	CacheBytes int64
	// Logger receives Pebble's log lines (default slog.Default()).
	Logger *slog.Logger
}

// Store is the materialized store. All methods are safe for concurrent use.
type Store struct {
	db          *cpebble.DB
	indexedKeys []string
	writeOpts   *cpebble.WriteOptions
	sync        bool

	// life guards db against Close: every method holds it shared, Close
	// holds it exclusively.
	life   sync.RWMutex
	closed bool

	// applyMu serializes Apply, so that what an Apply validates against is
	// what it writes over. It also owns scratch.
	applyMu sync.Mutex
	scratch applyScratch

	cache *entityCache
	// known filters out reads of entities never stored.
	known *knownEntities
}

// Open opens (creating if needed) the store in opts.Dir. If the indexed key
// set differs from the one the stored index was built for, Open rebuilds the
// index before returning.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: pebble store needs a directory", provider.ErrInvalidArgument)
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	keys := slices.Clone(opts.IndexedKeys)
	slices.Sort(keys)
	keys = slices.Compact(keys)

	cache := cpebble.NewCache(opts.CacheBytes)
	// The database takes its own reference to the cache.
	defer cache.Unref()
	po := &cpebble.Options{
		Cache:              cache,
		FormatMajorVersion: cpebble.FormatNewest,
		MemTableSize:       memTableBytes,
		Logger:             slogAdapter{opts.Logger.With(slog.String("component", "pebble"), slog.String("dir", opts.Dir))},
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
	}
	db, err := cpebble.Open(opts.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("open pebble store in %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, indexedKeys: keys, sync: opts.Sync, writeOpts: cpebble.NoSync, cache: newEntityCache()}
	if opts.Sync {
		s.writeOpts = cpebble.Sync
	}
	if err := s.reconcileIndex(); err != nil {
		return nil, errors.Join(fmt.Errorf("open pebble store in %s: %w", opts.Dir, err), db.Close())
	}
	if s.known, err = loadKnownEntities(db); err != nil {
		return nil, errors.Join(fmt.Errorf("open pebble store in %s: %w", opts.Dir, err), db.Close())
	}
	return s, nil
}

// Close flushes nothing (the WAL holds every applied batch) and closes the
// database. Later calls return provider.ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return provider.ErrClosed
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close pebble store: %w", err)
	}
	return nil
}

// Metrics returns Pebble's metrics, for a Prometheus collector; nil after
// Close.
func (s *Store) Metrics() *cpebble.Metrics {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil
	}
	return s.db.Metrics()
}

// open takes the shared lifecycle lock; the caller must call s.life.RUnlock
// when it returns nil.
func (s *Store) open() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return provider.ErrClosed
	}
	return nil
}

// isIndexed reports whether metadata key is indexed.
func (s *Store) isIndexed(key string) bool {
	_, ok := slices.BinarySearch(s.indexedKeys, key)
	return ok
}

// slogAdapter routes Pebble's logger to slog. Pebble's informational lines
// (flushes, compactions, WAL recycling) go to Debug.
type slogAdapter struct{ l *slog.Logger }

// Infof logs at Debug level.
func (a slogAdapter) Infof(format string, args ...any) {
	a.l.Debug(fmt.Sprintf(format, args...))
}

// Errorf logs at Error level.
func (a slogAdapter) Errorf(format string, args ...any) {
	a.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf logs at Error level and panics: Pebble calls it for unrecoverable
// conditions and does not expect it to return.
func (a slogAdapter) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.l.Error(msg, slog.Bool("fatal", true))
	panic("pebble store: " + msg)
}
