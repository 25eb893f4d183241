package cluster

import (
	"hash/fnv"
	"slices"
	"strconv"
)

// Assign returns, for each of shards shards, the member that should own it:
// the member with the highest rendezvous (highest random weight) score for
// the shard. Every process computes the same answer from the same members,
// and when a member joins or leaves only the shards it wins or held move:
// about shards/len(members) of them. nil when members is empty.
func Assign(shards int, members []string) []string {
	if len(members) == 0 {
		return nil
	}
	members = slices.Clone(members)
	slices.Sort(members) // ties (never in practice) break the same way everywhere
	out := make([]string, shards)
	for s := range shards {
		best, bestScore := "", uint64(0)
		for _, m := range members {
			if sc := score(m, s); best == "" || sc > bestScore {
				best, bestScore = m, sc
			}
		}
		out[s] = best
	}
	return out
}

// score is the rendezvous weight of member for shard: FNV-1a of both,
// finished with the splitmix64 mixer so that similar names spread evenly.
func score(member string, shard int) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(strconv.AppendInt(nil, int64(shard), 10))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
