package apiserver

import (
	"context"

	"github.com/reprise/reprise/api"
)

// cluster answers which orchestrator runs which shard.
func (s *Server) cluster(_ context.Context, data []byte) (any, error) {
	var req api.ClusterRequest
	if err := decode(data, &req); err != nil {
		return nil, err
	}
	if s.opts.Cluster != nil {
		return s.opts.Cluster(), nil
	}
	me := api.ClusterMember{Shards: []int{}}
	for shard := range s.opts.Shards {
		if s.opts.Sharding.OwnsShard(shard) {
			me.Shards = append(me.Shards, shard)
		}
	}
	return api.ClusterReply{Mode: api.ClusterPinned, Shards: s.opts.Shards, Members: []api.ClusterMember{me}}, nil
}
