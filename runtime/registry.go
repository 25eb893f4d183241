package runtime

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// orchestrationFunc is a registered orchestration with its codec plumbing.
type orchestrationFunc func(ctx *OrchestrationContext, input []byte) ([]byte, error)

// activityFunc is a registered activity with its codec plumbing.
type activityFunc func(ctx context.Context, codec Codec, input []byte) ([]byte, error)

type orchestrationVersions struct {
	byVersion map[string]orchestrationFunc
	latest    string
}

// Registry maps orchestration names (and versions) and activity names to
// functions. Register everything before starting a [worker.Worker]; lookups are safe
// for concurrent use.
type Registry struct {
	mu             sync.RWMutex
	orchestrations map[string]*orchestrationVersions
	activities     map[string]activityFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		orchestrations: make(map[string]*orchestrationVersions),
		activities:     make(map[string]activityFunc),
	}
}

// RegisterOrchestration registers fn as the unversioned orchestration name.
// It is [RegisterOrchestrationVersion] with the version "".
func RegisterOrchestration[I, O any](reg *Registry, name string, fn func(ctx *OrchestrationContext, in I) (O, error)) error {
	return RegisterOrchestrationVersion(reg, name, "", fn)
}

// RegisterOrchestrationVersion registers fn as version of the orchestration
// name. A start that names no version takes the latest, which is the version
// registered last; a running instance keeps the version it started with.
func RegisterOrchestrationVersion[I, O any](reg *Registry, name, version string, fn func(ctx *OrchestrationContext, in I) (O, error)) error {
	if name == "" {
		return fmt.Errorf("runtime: register orchestration: empty name")
	}
	wrapped := func(ctx *OrchestrationContext, input []byte) ([]byte, error) {
		var in I
		if len(input) > 0 {
			if err := ctx.codec.Unmarshal(input, &in); err != nil {
				return nil, NewNonRetryableError("InvalidInput", fmt.Sprintf("decode input of orchestration %q: %v", name, err))
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return encodeValue(ctx.codec, out)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	vs := reg.orchestrations[name]
	if vs == nil {
		vs = &orchestrationVersions{byVersion: make(map[string]orchestrationFunc)}
		reg.orchestrations[name] = vs
	}
	if _, ok := vs.byVersion[version]; ok {
		return fmt.Errorf("%w: orchestration %q version %q", ErrAlreadyRegistered, name, version)
	}
	vs.byVersion[version] = wrapped
	vs.latest = version
	return nil
}

// RegisterActivity registers fn as the activity name.
func RegisterActivity[I, O any](reg *Registry, name string, fn func(ctx context.Context, in I) (O, error)) error {
	if name == "" {
		return fmt.Errorf("runtime: register activity: empty name")
	}
	wrapped := func(ctx context.Context, codec Codec, input []byte) ([]byte, error) {
		var in I
		if len(input) > 0 {
			if err := codec.Unmarshal(input, &in); err != nil {
				return nil, NewNonRetryableError("InvalidInput", fmt.Sprintf("decode input of activity %q: %v", name, err))
			}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return encodeValue(codec, out)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if _, ok := reg.activities[name]; ok {
		return fmt.Errorf("%w: activity %q", ErrAlreadyRegistered, name)
	}
	reg.activities[name] = wrapped
	return nil
}

// orchestration finds name at version; an empty version with latest set
// resolves to the latest. It returns the resolved version.
func (r *Registry) orchestration(name, version string, latest bool) (orchestrationFunc, string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := r.orchestrations[name]
	if vs == nil {
		return nil, version, false
	}
	if latest {
		version = vs.latest
	}
	fn, ok := vs.byVersion[version]
	return fn, version, ok
}

func (r *Registry) activity(name string) (activityFunc, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn, ok := r.activities[name]
	return fn, ok
}

// HasOrchestration reports whether the orchestration name is registered at
// version; an empty version matches any registered version (a start naming
// no version runs the latest). Safe for concurrent use.
func (r *Registry) HasOrchestration(name, version string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vs := r.orchestrations[name]
	if vs == nil {
		return false
	}
	if version == "" {
		return len(vs.byVersion) > 0
	}
	_, ok := vs.byVersion[version]
	return ok
}

// Orchestrations returns the registered orchestration names, sorted. Safe
// for concurrent use.
func (r *Registry) Orchestrations() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.orchestrations))
	for name := range r.orchestrations {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// HasActivity reports whether the activity name is registered. Safe for
// concurrent use.
func (r *Registry) HasActivity(name string) bool {
	_, ok := r.activity(name)
	return ok
}
