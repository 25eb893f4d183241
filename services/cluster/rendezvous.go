package cluster

import (
	"cmp"
	"hash/fnv"
	"slices"
	"strconv"
)

// Assign returns, for each of shards shards, the member that should own it.
// Every member gets a quota of shards/len(members) shards, rounded up for
// some members (those with the lowest hash of their id) so that the quotas
// add up to shards. Shards are then handed out by rendezvous (highest random
// weight) hashing under those quotas: every (shard, member) pair is ranked by
// its score, and from the highest down a pair is taken when the shard is
// still free and the member still has room.
//
// Every process computes the same answer from the same members (the order
// they are listed in does not matter). Shares are as even as they can be
// (no member owns more than one shard above another), which plain rendezvous
// hashing does not give with few shards (16 shards over 3 members can split
// 10/5/1). When a member joins or leaves, the shards that move are mostly
// the ones it wins or held: going from 3 to 5 members moves about 2/5 of
// the shards, not the 3/4 that shard % members moves. nil when members is
// empty.
func Assign(shards int, members []string) []string {
	if len(members) == 0 {
		return nil
	}
	members = slices.Clone(members)
	slices.Sort(members)
	members = slices.Compact(members)

	// Quotas: the members with the lowest id hash take the remainder.
	byHash := slices.Clone(members)
	slices.SortFunc(byHash, func(a, b string) int {
		return cmp.Or(cmp.Compare(score(a, -1), score(b, -1)), cmp.Compare(a, b))
	})
	room := make(map[string]int, len(members))
	for i, m := range byHash {
		room[m] = shards / len(members)
		if i < shards%len(members) {
			room[m]++
		}
	}

	type pair struct {
		shard  int
		member string
		score  uint64
	}
	pairs := make([]pair, 0, shards*len(members))
	for s := range shards {
		for _, m := range members {
			pairs = append(pairs, pair{s, m, score(m, s)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		// Highest score first; ties (never in practice) break the same way
		// everywhere.
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.shard, b.shard), cmp.Compare(a.member, b.member))
	})
	out := make([]string, shards)
	left := shards
	for _, p := range pairs {
		if left == 0 {
			break
		}
		if out[p.shard] != "" || room[p.member] == 0 {
			continue
		}
		out[p.shard] = p.member
		room[p.member]--
		left--
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
