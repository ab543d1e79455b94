package cluster

import (
	"hash/fnv"
	"slices"
	"sort"
)

// Placement is pure: every node computes it from its own view of the members and the
// leases, and the leases bucket settles any disagreement (only one Create of a key wins).

// unlimitedWeight is the placement weight of a node with no capacity limit (max_live 0):
// as much as a node of the default max_live.
const unlimitedWeight = 1000

// member is a live node as placement sees it.
type member struct {
	ID       string `json:"id"`
	Capacity int    `json:"capacity"` // sessions this node may run; 0 unlimited
}

func (m member) weight() int {
	if m.Capacity > 0 {
		return m.Capacity
	}
	return unlimitedWeight
}

func (m member) room(count int) bool { return m.Capacity == 0 || count < m.Capacity }

// score is the rendezvous (highest random weight) hash of a session on a node: it breaks
// ties the same way on every node, and moves few sessions when the members change.
func score(k Key, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	h.Write([]byte{0})
	h.Write([]byte(node))
	return h.Sum64()
}

// assign gives each unowned key to the member with the lowest load (count over weight)
// after taking it, among those with room, simulating the claims one by one in key
// order. counts are the sessions each member owns now; it is not modified. A key no
// member has room for is left out.
func assign(unowned []Key, members []member, counts map[string]int) map[Key]string {
	load := make(map[string]int, len(members))
	for _, m := range members {
		load[m.ID] = counts[m.ID]
	}
	keys := slices.Clone(unowned)
	slices.Sort(keys)
	out := make(map[Key]string, len(keys))
	for _, k := range keys {
		best := -1
		for i, m := range members {
			if !m.room(load[m.ID]) {
				continue
			}
			if best < 0 {
				best = i
				continue
			}
			b := members[best]
			// (load+1)/weight compared without division.
			l, lb := (load[m.ID]+1)*b.weight(), (load[b.ID]+1)*m.weight()
			if l < lb || l == lb && score(k, m.ID) > score(k, b.ID) {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		out[k] = members[best].ID
		load[members[best].ID]++
	}
	return out
}

// fairShares splits total sessions over members in proportion to their weight, none
// above its capacity: largest remainders, ties by node id, capped shares handed to the
// others.
func fairShares(total int, members []member) map[string]int {
	share := make(map[string]int, len(members))
	open := slices.Clone(members)
	sort.Slice(open, func(i, j int) bool { return open[i].ID < open[j].ID })
	left := total
	for left > 0 && len(open) > 0 {
		sum := 0
		for _, m := range open {
			sum += m.weight()
		}
		type rem struct {
			id string
			r  int
		}
		var rems []rem
		given := 0
		for _, m := range open {
			q := left * m.weight() / sum
			share[m.ID] += q
			given += q
			rems = append(rems, rem{m.ID, left * m.weight() % sum})
		}
		sort.SliceStable(rems, func(i, j int) bool { return rems[i].r > rems[j].r })
		for i := 0; given < left && i < len(rems); i++ {
			share[rems[i].id]++
			given++
		}
		// Cap, and hand what is over to the members still open.
		left = 0
		var still []member
		for _, m := range open {
			if m.Capacity > 0 && share[m.ID] >= m.Capacity {
				left += share[m.ID] - m.Capacity
				share[m.ID] = m.Capacity
				continue
			}
			still = append(still, m)
		}
		open = still
	}
	return share
}

// toRelease picks the sessions self should give up so that a member below its fair
// share can take them: at most maxMoves, never below self's own share, never more than
// the others lack. held are self's sessions, counts every member's.
func toRelease(self string, held []Key, members []member, counts map[string]int, total, maxMoves int) []Key {
	fair := fairShares(total, members)
	over := counts[self] - fair[self]
	if over <= 0 || maxMoves <= 0 {
		return nil
	}
	lack := 0
	for _, m := range members {
		if m.ID != self && counts[m.ID] < fair[m.ID] {
			lack += fair[m.ID] - counts[m.ID]
		}
	}
	n := min(over, lack, maxMoves, len(held))
	if n <= 0 {
		return nil
	}
	keys := slices.Clone(held)
	// The sessions least attached to self by rendezvous go first.
	sort.Slice(keys, func(i, j int) bool {
		si, sj := score(keys[i], self), score(keys[j], self)
		if si != sj {
			return si < sj
		}
		return keys[i] < keys[j]
	})
	return keys[:n]
}
