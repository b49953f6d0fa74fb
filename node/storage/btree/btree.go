// Package btree is an in-memory ordered map: a classic B-tree with items stored in every node.
//
// It is not safe for concurrent use; callers (node/storage) guard each tree with their own lock, so readers
// can share an RWMutex and the tree itself stays free of synchronisation cost. Iteration is callback based
// (Ascend/Descend) so a caller can copy a bounded batch of items under its lock and release it between batches.
package btree

// degree is the minimum number of children of an inner node. 32 keeps nodes around one or two cache-line
// pages of keys for []byte keys and makes trees of a million keys four levels deep.
const (
	degree   = 32
	maxItems = 2*degree - 1
	minItems = degree - 1
)

// Tree is an ordered map from K to V, ordered by the comparison function given to New.
type Tree[K, V any] struct {
	cmp  func(a, b K) int
	root *node[K, V]
	n    int
}

type node[K, V any] struct {
	keys     []K
	vals     []V
	children []*node[K, V] // nil for leaves; otherwise len(keys)+1 entries
}

// New returns an empty tree ordered by cmp, which returns <0, 0, >0 like bytes.Compare.
func New[K, V any](cmp func(a, b K) int) *Tree[K, V] {
	return &Tree[K, V]{cmp: cmp}
}

// Len is the number of keys in the tree.
func (t *Tree[K, V]) Len() int { return t.n }

// find returns the index of the first key >= k and whether it equals k.
func (n *node[K, V]) find(k K, cmp func(a, b K) int) (int, bool) {
	lo, hi := 0, len(n.keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cmp(n.keys[m], k) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.keys) && cmp(n.keys[lo], k) == 0
}

func (n *node[K, V]) leaf() bool { return n.children == nil }

// Get returns the value stored under k.
func (t *Tree[K, V]) Get(k K) (V, bool) {
	n := t.root
	for n != nil {
		i, found := n.find(k, t.cmp)
		if found {
			return n.vals[i], true
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	var zero V
	return zero, false
}

// GetPtr returns a pointer to the value stored under k, or nil. The pointer is valid until the tree is next
// modified by Set or Delete; writing through it replaces the value without another descent.
func (t *Tree[K, V]) GetPtr(k K) *V {
	n := t.root
	for n != nil {
		i, found := n.find(k, t.cmp)
		if found {
			return &n.vals[i]
		}
		if n.leaf() {
			break
		}
		n = n.children[i]
	}
	return nil
}

// Set stores v under k and returns the previous value if k was present.
func (t *Tree[K, V]) Set(k K, v V) (V, bool) {
	if t.root == nil {
		t.root = &node[K, V]{keys: []K{k}, vals: []V{v}}
		t.n = 1
		var zero V
		return zero, false
	}
	if len(t.root.keys) >= maxItems {
		mk, mv, right := t.root.split(maxItems / 2)
		t.root = &node[K, V]{keys: []K{mk}, vals: []V{mv}, children: []*node[K, V]{t.root, right}}
	}
	old, replaced := t.root.insert(k, v, t.cmp)
	if !replaced {
		t.n++
	}
	return old, replaced
}

// split moves the items after i into a new right sibling and returns item i, which moves up to the parent.
func (n *node[K, V]) split(i int) (K, V, *node[K, V]) {
	mk, mv := n.keys[i], n.vals[i]
	right := &node[K, V]{
		keys: append(make([]K, 0, maxItems), n.keys[i+1:]...),
		vals: append(make([]V, 0, maxItems), n.vals[i+1:]...),
	}
	var zk K
	var zv V
	for j := i; j < len(n.keys); j++ { // drop references so the GC can free moved items
		n.keys[j], n.vals[j] = zk, zv
	}
	n.keys, n.vals = n.keys[:i], n.vals[:i]
	if !n.leaf() {
		right.children = append(make([]*node[K, V], 0, maxItems+1), n.children[i+1:]...)
		for j := i + 1; j < len(n.children); j++ {
			n.children[j] = nil
		}
		n.children = n.children[:i+1]
	}
	return mk, mv, right
}

// insert adds k below n, which is known not to be full.
func (n *node[K, V]) insert(k K, v V, cmp func(a, b K) int) (V, bool) {
	for {
		i, found := n.find(k, cmp)
		if found {
			old := n.vals[i]
			n.vals[i] = v
			return old, true
		}
		if n.leaf() {
			n.keys = insertAt(n.keys, i, k)
			n.vals = insertAt(n.vals, i, v)
			var zero V
			return zero, false
		}
		if len(n.children[i].keys) >= maxItems {
			mk, mv, right := n.children[i].split(maxItems / 2)
			n.keys = insertAt(n.keys, i, mk)
			n.vals = insertAt(n.vals, i, mv)
			n.children = insertAt(n.children, i+1, right)
			switch c := cmp(k, mk); {
			case c == 0:
				old := n.vals[i]
				n.vals[i] = v
				return old, true
			case c > 0:
				i++
			}
		}
		n = n.children[i]
	}
}

// Delete removes k and returns its value.
func (t *Tree[K, V]) Delete(k K) (V, bool) {
	var zero V
	if t.root == nil {
		return zero, false
	}
	v, ok := t.root.remove(k, t.cmp)
	if len(t.root.keys) == 0 {
		if t.root.leaf() {
			t.root = nil
		} else {
			t.root = t.root.children[0]
		}
	}
	if ok {
		t.n--
	}
	return v, ok
}

func (n *node[K, V]) remove(k K, cmp func(a, b K) int) (V, bool) {
	for {
		i, found := n.find(k, cmp)
		if n.leaf() {
			if !found {
				var zero V
				return zero, false
			}
			v := n.vals[i]
			n.keys = removeAt(n.keys, i)
			n.vals = removeAt(n.vals, i)
			return v, true
		}
		if len(n.children[i].keys) <= minItems {
			// Make sure the child we descend into can lose an item, then look again: the rotation or merge may
			// have moved k.
			n.grow(i)
			continue
		}
		if found {
			v := n.vals[i]
			n.keys[i], n.vals[i] = n.children[i].removeMax()
			return v, true
		}
		n = n.children[i]
	}
}

// removeMax removes the largest item below n, whose size is known to be above the minimum (or n is the root).
func (n *node[K, V]) removeMax() (K, V) {
	for {
		if n.leaf() {
			last := len(n.keys) - 1
			k, v := n.keys[last], n.vals[last]
			var zk K
			var zv V
			n.keys[last], n.vals[last] = zk, zv
			n.keys, n.vals = n.keys[:last], n.vals[:last]
			return k, v
		}
		i := len(n.children) - 1
		if len(n.children[i].keys) <= minItems {
			n.grow(i)
			i = len(n.children) - 1
		}
		n = n.children[i]
	}
}

// grow gives child i at least minItems+1 items by borrowing from a sibling or merging with one.
func (n *node[K, V]) grow(i int) {
	switch {
	case i > 0 && len(n.children[i-1].keys) > minItems:
		child, left := n.children[i], n.children[i-1]
		last := len(left.keys) - 1
		child.keys = insertAt(child.keys, 0, n.keys[i-1])
		child.vals = insertAt(child.vals, 0, n.vals[i-1])
		n.keys[i-1], n.vals[i-1] = left.keys[last], left.vals[last]
		left.keys, left.vals = removeAt(left.keys, last), removeAt(left.vals, last)
		if !left.leaf() {
			lc := len(left.children) - 1
			child.children = insertAt(child.children, 0, left.children[lc])
			left.children = removeAt(left.children, lc)
		}
	case i < len(n.keys) && len(n.children[i+1].keys) > minItems:
		child, right := n.children[i], n.children[i+1]
		child.keys = append(child.keys, n.keys[i])
		child.vals = append(child.vals, n.vals[i])
		n.keys[i], n.vals[i] = right.keys[0], right.vals[0]
		right.keys, right.vals = removeAt(right.keys, 0), removeAt(right.vals, 0)
		if !right.leaf() {
			child.children = append(child.children, right.children[0])
			right.children = removeAt(right.children, 0)
		}
	default:
		if i >= len(n.keys) {
			i--
		}
		child, right := n.children[i], n.children[i+1]
		child.keys = append(child.keys, n.keys[i])
		child.vals = append(child.vals, n.vals[i])
		child.keys = append(child.keys, right.keys...)
		child.vals = append(child.vals, right.vals...)
		if !child.leaf() {
			child.children = append(child.children, right.children...)
		}
		n.keys, n.vals = removeAt(n.keys, i), removeAt(n.vals, i)
		n.children = removeAt(n.children, i+1)
	}
}

// Ascend calls fn for every key >= start in ascending order (every key when hasStart is false) until fn
// returns false.
func (t *Tree[K, V]) Ascend(start K, hasStart bool, fn func(K, V) bool) {
	if t.root != nil {
		t.root.ascend(start, hasStart, t.cmp, fn)
	}
}

func (n *node[K, V]) ascend(start K, has bool, cmp func(a, b K) int, fn func(K, V) bool) bool {
	i := 0
	if has {
		i, _ = n.find(start, cmp)
	}
	for ; i < len(n.keys); i++ {
		if !n.leaf() && !n.children[i].ascend(start, has, cmp, fn) {
			return false
		}
		has = false // everything right of the first visited child is >= start
		if !fn(n.keys[i], n.vals[i]) {
			return false
		}
	}
	if !n.leaf() {
		return n.children[len(n.keys)].ascend(start, has, cmp, fn)
	}
	return true
}

// Descend calls fn for every key < before in descending order (every key when hasBefore is false) until fn
// returns false.
func (t *Tree[K, V]) Descend(before K, hasBefore bool, fn func(K, V) bool) {
	if t.root != nil {
		t.root.descend(before, hasBefore, t.cmp, fn)
	}
}

func (n *node[K, V]) descend(before K, has bool, cmp func(a, b K) int, fn func(K, V) bool) bool {
	i := len(n.keys)
	if has {
		i, _ = n.find(before, cmp) // keys[:i] are all < before
	}
	if !n.leaf() && !n.children[i].descend(before, has, cmp, fn) {
		return false
	}
	for j := i - 1; j >= 0; j-- {
		if !fn(n.keys[j], n.vals[j]) {
			return false
		}
		if !n.leaf() && !n.children[j].descend(before, false, cmp, fn) {
			return false
		}
	}
	return true
}

func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}
