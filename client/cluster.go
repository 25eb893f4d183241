package client

import (
	"context"

	"github.com/reprise/reprise/api"
)

// ClusterInfo says which orchestrator runs which shard, as the
// orchestrator that answered sees it (see [api.ClusterReply]).
type ClusterInfo = api.ClusterReply

// ClusterMember is one orchestrator of a [ClusterInfo].
type ClusterMember = api.ClusterMember

// Cluster asks any orchestrator which orchestrator runs which shard: the
// live members and their shards, and the shards without an owner.
func (c *Client) Cluster(ctx context.Context) (*ClusterInfo, error) {
	var rep api.ClusterReply
	if err := c.callRetry(ctx, api.VerbCluster, api.ClusterRequest{}, &rep, c.requestTimeout, retryLostReply); err != nil {
		return nil, err
	}
	return &rep, nil
}
