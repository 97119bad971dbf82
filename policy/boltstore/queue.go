package boltstore

import "sort"

// expiryQueue holds keys by expiry, earliest first, for sweeping what has
// expired without scanning what has not.
type expiryQueue[K any] struct {
	items []queued[K]
	head  int // items before head are swept
}

type queued[K any] struct {
	exp int64
	key K
}

// push adds a key. Sessions of one tenant share one lifetime, so they
// arrive in order and append; only a changed session_ttl or a restore
// brings one out of order.
func (q *expiryQueue[K]) push(exp int64, key K) {
	n := len(q.items)
	if n == q.head || q.items[n-1].exp <= exp {
		q.items = append(q.items, queued[K]{exp, key})
		return
	}
	i := q.head + sort.Search(n-q.head, func(i int) bool { return q.items[q.head+i].exp > exp })
	q.items = append(q.items, queued[K]{})
	copy(q.items[i+1:], q.items[i:])
	q.items[i] = queued[K]{exp, key}
}

// pop takes the earliest key if it expired at now.
func (q *expiryQueue[K]) pop(now int64) (queued[K], bool) {
	if q.head == len(q.items) || q.items[q.head].exp > now {
		return queued[K]{}, false
	}
	q.head++
	return q.items[q.head-1], true
}

// next is the earliest expiry queued, if any. It also gives the swept
// part of the queue back once it is most of it.
func (q *expiryQueue[K]) next() (int64, bool) {
	if q.head > 1024 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0:0], q.items[q.head:]...)
		q.head = 0
	}
	if q.head == len(q.items) {
		return 0, false
	}
	return q.items[q.head].exp, true
}
