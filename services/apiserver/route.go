package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/api"
)

// Sharding says which orchestrator answers for an instance. An instance's
// history, metadata and status live only in the store of the orchestrator
// owning its shard, so the id-based reads (status, wait, history), purge and
// start (which checks the id is free) are answered there: a server that does
// not own the shard forwards the request to the owner over NATS and relays
// the reply. Raise, terminate, suspend and resume only queue a message, so
// any server answers them.
type Sharding interface {
	// ShardOf returns the shard instance id hashes to, in 0..Shards-1.
	ShardOf(id string) int
	// OwnsShard reports whether this process runs shard.
	OwnsShard(shard int) bool
}

// allLocal is the Sharding of a server that owns every instance.
type allLocal struct{}

func (allLocal) ShardOf(string) int { return 0 }
func (allLocal) OwnsShard(int) bool { return true }

// shardSubject is the internal subject on which the owner of shard serves
// verb: <prefix>.internal.shard.<shard>.<verb>. Only servers use it.
func shardSubject(prefix string, shard int, v api.Verb) string {
	return shardWildcardPrefix(prefix, shard) + string(v)
}

func shardWildcardPrefix(prefix string, shard int) string {
	return prefix + ".internal.shard." + strconv.Itoa(shard) + "."
}

// forwardTimeout bounds a forwarded request other than a wait, whose bound
// is its own timeout plus forwardTimeout.
const forwardTimeout = 30 * time.Second

// idRequest is the part of an id-based request routing looks at.
type idRequest struct {
	ID        string `json:"id"`
	TimeoutMS int64  `json:"timeout_ms"`
}

// ownerOf decides where an id-based request is answered: it returns the
// instance's shard and whether this server owns it. A body that does not
// name a valid id is answered here (with its validation error).
func (s *Server) ownerOf(data []byte) (req idRequest, shard int, local bool) {
	if err := decode(data, &req); err != nil || req.ID == "" || api.ValidateInstanceID(req.ID) != nil {
		return req, 0, true
	}
	shard = s.sharding.ShardOf(req.ID)
	return req, shard, s.sharding.OwnsShard(shard)
}

// forward sends a request to the owner of shard and returns its reply
// verbatim.
func (s *Server) forward(ctx context.Context, shard int, v api.Verb, data []byte, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := s.nc.RequestWithContext(ctx, shardSubject(s.opts.Prefix, shard, v), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		// Nobody received it: nothing was carried out.
		return nil, api.Errorf(api.CodeUnavailable, "no orchestrator serves shard %d now; retry", shard)
	case err != nil && s.ctx.Err() != nil:
		// The owner may have carried it out: unavailable would tell the
		// client it was not, and a retried start would find its own
		// instance "already exists".
		return nil, api.Errorf(api.CodeTimeout, "this server stopped before the orchestrator of shard %d answered; the request may have been carried out", shard)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, api.Errorf(api.CodeTimeout, "the orchestrator of shard %d did not answer within %s; the request may have been carried out", shard, timeout)
	case err != nil:
		return nil, fmt.Errorf("apiserver: forward %s to shard %d: %w", v, shard, err)
	}
	return m.Data, nil
}

// forwardCall forwards a request and decodes the owner's reply into out; an
// error reply is returned as its *api.Error.
func (s *Server) forwardCall(ctx context.Context, shard int, v api.Verb, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("apiserver: encode %s for shard %d: %w", v, shard, err)
	}
	reply, err := s.forward(ctx, shard, v, body, forwardTimeout)
	if err != nil {
		return err
	}
	if err := api.DecodeReply(reply, out); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return ae
		}
		return fmt.Errorf("apiserver: reply of shard %d to %s: %w", shard, v, err)
	}
	return nil
}

// replyCode is the code a relayed reply carries, for Options.OnReply.
func replyCode(body []byte) string {
	if err := api.DecodeReply(body, nil); err != nil {
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code.Known() {
			return string(ae.Code)
		}
		return string(api.CodeInternal)
	}
	return outcomeOK
}

// shardListRequest asks the owner of Shard for a page of its instances.
type shardListRequest struct {
	api.ListRequest
	Shard int `json:"shard"`
	// MaxBytes bounds the encoded instances of the page (0: no bound).
	MaxBytes int `json:"max_bytes,omitempty"`
}

// shardListReply is a page of one orchestrator's instances. Owned lists the
// shards that orchestrator runs; it lists its instances only when asked at
// the lowest of them, so that a walk over the shards lists every
// orchestrator once.
type shardListReply struct {
	api.ListReply
	Owned []int `json:"owned"`
	// NoRoom says the owner had instances left but none fitted in the
	// bytes left of the reply: ask it again in the next request.
	NoRoom bool `json:"no_room,omitempty"`
}

// listSharded pages through the instances of every orchestrator. It walks
// the shards in order and asks each one's owner (itself, or over NATS); an
// owner answers with its own instances at its lowest shard and is skipped
// at the others. The cursor is "<shard>:<owner's cursor>".
func (s *Server) listSharded(ctx context.Context, req api.ListRequest, limit int) (api.ListReply, error) {
	shard, inner, err := parseShardCursor(req.Cursor, s.opts.Shards)
	if err != nil {
		return api.ListReply{}, err
	}
	reply := api.ListReply{Instances: []api.InstanceStatus{}}
	walked := map[int]bool{} // shards of owners met in this request
	budget := s.replyBudget()
	for shard < s.opts.Shards && len(reply.Instances) < limit && budget > 0 {
		if walked[shard] && inner == "" {
			shard++
			continue
		}
		q := req
		q.Cursor, q.Limit = inner, limit-len(reply.Instances)
		page, err := s.listShard(ctx, shard, q, budget, len(reply.Instances) == 0)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeUnavailable && ctx.Err() == nil {
			// No owner now: list the others, and say which are missing.
			reply.UnreachableShards = append(reply.UnreachableShards, shard)
			shard, inner = shard+1, ""
			continue
		}
		if err != nil {
			return api.ListReply{}, err
		}
		if page.NoRoom {
			break
		}
		for i := range page.Instances {
			budget -= encodedSize(&page.Instances[i]) + 1
		}
		for _, o := range page.Owned {
			walked[o] = true
		}
		reply.Instances = append(reply.Instances, page.Instances...)
		if inner = page.NextCursor; inner == "" {
			shard++
		}
	}
	for shard < s.opts.Shards && inner == "" && walked[shard] {
		shard++
	}
	if shard < s.opts.Shards {
		reply.NextCursor = strconv.Itoa(shard) + ":" + inner
	}
	return reply, nil
}

// listShard asks the owner of shard for a page.
// The page's instances take at most budget bytes encoded, except that a
// first page (first) holds at least one instance when any is left.
func (s *Server) listShard(ctx context.Context, shard int, q api.ListRequest, budget int, first bool) (shardListReply, error) {
	if s.sharding.OwnsShard(shard) {
		return s.listOwned(ctx, shard, q, listBudget{bytes: budget, first: first})
	}
	if !first {
		budget = -budget // a page that may come back empty
	}
	var page shardListReply
	if err := s.forwardCall(ctx, shard, api.VerbList, shardListRequest{ListRequest: q, Shard: shard, MaxBytes: budget}, &page); err != nil {
		return page, err
	}
	if len(page.Owned) == 0 || !slices.Contains(page.Owned, shard) {
		return page, fmt.Errorf("apiserver: the orchestrator answering for shard %d says it owns %v", shard, page.Owned)
	}
	return page, nil
}

// listOwned answers a list for one of this server's shards: its instances
// when shard is its lowest, else nothing.
func (s *Server) listOwned(ctx context.Context, shard int, q api.ListRequest, b listBudget) (shardListReply, error) {
	owned := s.ownedNow()
	out := shardListReply{ListReply: api.ListReply{Instances: []api.InstanceStatus{}}, Owned: owned}
	if len(owned) == 0 || shard != owned[0] {
		return out, nil
	}
	page, err := s.listLocal(ctx, q, b)
	if errors.Is(err, errNoRoom) {
		out.NoRoom = true
		return out, nil
	}
	if err != nil {
		return out, err
	}
	out.ListReply = page
	return out, nil
}

// listForShard is the internal list verb: a page of this server's
// instances for a walk at shard.
func (s *Server) listForShard(ctx context.Context, data []byte) (any, error) {
	var req shardListRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if !s.sharding.OwnsShard(req.Shard) {
		return nil, api.Errorf(api.CodeUnavailable, "this orchestrator does not run shard %d; retry", req.Shard)
	}
	// A negative MaxBytes marks a page that may come back empty.
	b := listBudget{bytes: req.MaxBytes, first: req.MaxBytes >= 0}
	if b.bytes < 0 {
		b.bytes = -b.bytes
	}
	if b.bytes == 0 {
		b.bytes = s.replyBudget()
	}
	b.bytes = min(b.bytes, s.replyBudget())
	return s.listOwned(ctx, req.Shard, req.ListRequest, b)
}

func parseShardCursor(c string, shards int) (int, string, error) {
	if c == "" {
		return 0, "", nil
	}
	i, inner, ok := strings.Cut(c, ":")
	shard, err := strconv.Atoi(i)
	if !ok || err != nil || shard < 0 || shard >= shards || i != strconv.Itoa(shard) {
		return 0, "", api.Errorf(api.CodeBadRequest, "malformed cursor %q: pass back a next_cursor unchanged", c)
	}
	return shard, inner, nil
}
