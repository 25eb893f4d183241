package memory

import "container/heap"

// indexedHeap is a min-heap whose items remember their position, so that an
// item whose key changed can be fixed or removed in O(log n).
type indexedHeap[T any] struct {
	items    []T
	less     func(a, b T) bool
	setIndex func(item T, i int)
}

func newIndexedHeap[T any](less func(a, b T) bool, setIndex func(T, int)) *indexedHeap[T] {
	return &indexedHeap[T]{less: less, setIndex: setIndex}
}

func (h *indexedHeap[T]) Len() int           { return len(h.items) }
func (h *indexedHeap[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }

func (h *indexedHeap[T]) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.setIndex(h.items[i], i)
	h.setIndex(h.items[j], j)
}

// Push and Pop implement heap.Interface; use push, fix and remove instead.
func (h *indexedHeap[T]) Push(x any) {
	item := x.(T)
	h.setIndex(item, len(h.items))
	h.items = append(h.items, item)
}

func (h *indexedHeap[T]) Pop() any {
	n := len(h.items) - 1
	item := h.items[n]
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	h.setIndex(item, -1)
	return item
}

func (h *indexedHeap[T]) push(item T)  { heap.Push(h, item) }
func (h *indexedHeap[T]) fix(i int)    { heap.Fix(h, i) }
func (h *indexedHeap[T]) remove(i int) { heap.Remove(h, i) }
func (h *indexedHeap[T]) peek() (T, bool) {
	if len(h.items) == 0 {
		var zero T
		return zero, false
	}
	return h.items[0], true
}
