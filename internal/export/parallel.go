package export

import (
	"hash/maphash"
	"io"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Writing a million indicators is mostly encoding each one alone, so the formats share it out
// among the cores in chunks of consecutive indicators and write the chunks in order; what must
// see every indicator at once (which value comes first, which rule owns a sid) is split into
// shards by hash, each shard decided alone.

// chunkLen is how many items one chunk of n takes: enough chunks to keep the cores even,
// few enough that each is worth a goroutine's hand-off.
func chunkLen(n int) int {
	return min(max(n/64, 64), 4096)
}

// forEach calls f(0), …, f(n-1) on every core, each index once, in no order.
func forEach(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// forChunks calls f for consecutive ranges [lo, hi) covering [0, n), on every core; chunk c
// is [c*size, min((c+1)*size, n)) with size = chunkLen(n).
func forChunks(n int, f func(c, lo, hi int)) {
	size := chunkLen(n)
	forEach((n+size-1)/size, func(c int) { f(c, c*size, min((c+1)*size, n)) })
}

// writeOrdered writes to w what encode appends for items [0, n): chunks are encoded on every
// core, each into a buffer of its own, and written in order, so the output is that of one
// encode(nil, 0, n). Each call encodes one chunk, [lo, hi) with lo a multiple of chunkLen(n),
// into an empty b. encode must read only what no other goroutine writes. At most a few chunks
// per core wait for the writer, so memory stays a few chunks' output however large n is. After
// a write error the remaining chunks are encoded but not written; the first error is returned.
func writeOrdered(w io.Writer, n int, encode func(b []byte, lo, hi int) []byte) error {
	size := chunkLen(n)
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || n <= size {
		var b []byte
		for lo := 0; lo < n; lo += size {
			b = encode(b[:0], lo, min(lo+size, n))
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
	type chunk struct {
		lo, hi int
		out    chan []byte
	}
	jobs := make(chan chunk, workers)
	queue := make(chan chunk, 2*workers) // the chunks in order, bounded: the writer's backlog
	free := make(chan []byte, 4*workers) // written buffers, for reuse
	go func() {
		for lo := 0; lo < n; lo += size {
			c := chunk{lo, min(lo+size, n), make(chan []byte, 1)}
			queue <- c
			jobs <- c
		}
		close(queue)
		close(jobs)
	}()
	for range workers {
		go func() {
			for c := range jobs {
				var b []byte
				select {
				case b = <-free:
				default:
				}
				c.out <- encode(b[:0], c.lo, c.hi)
			}
		}()
	}
	var err error
	for c := range queue {
		b := <-c.out
		if err == nil {
			_, err = w.Write(b)
		}
		select {
		case free <- b:
		default:
		}
	}
	return err
}

// firstShards is how many shards firsts splits keys into: each shard's table of a million keys'
// share stays small enough to sit in a core's cache.
const firstShards = 256

// firsts reports for each of n keys whether it is the first of its equals: whether no key
// before it is the same. Keys are told apart by the hash of str(i), so keys that are the same
// must have the same str; same is asked only of keys whose hashes are equal, which saves
// reading the strings of a million keys (scattered over the heap) over and over.
func firsts(n int, str func(i int) string, same func(i, j int) bool) []bool {
	seed := maphash.MakeSeed()
	hash := make([]uint64, n)
	forChunks(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			hash[i] = maphash.String(seed, str(i))
		}
	})
	pos, start := byShard(n, firstShards, func(i int) int { return int(hash[i] % firstShards) })
	first := make([]bool, n)
	// An open-addressing table, at most half full, of the hashes and positions (plus one, so
	// that zero is empty) of the keys seen first. Tables are passed on from shard to shard:
	// clearing one costs less than the fresh memory of a table per shard, a quarter of what
	// distinct allocated.
	type slot struct {
		hash uint64
		pos  int32
	}
	free := make(chan []slot, runtime.GOMAXPROCS(0))
	forEach(firstShards, func(s int) {
		in := pos[start[s]:start[s+1]]
		var table []slot
		select {
		case table = <-free:
		default:
		}
		if size := 1 << bits.Len(uint(2*len(in))); cap(table) < size {
			table = make([]slot, size)
		} else {
			table = table[:size]
			clear(table)
		}
		mask := len(table) - 1
		for _, p := range in {
			h := hash[p]
			for i := int(h/firstShards) & mask; ; i = (i + 1) & mask { // the low bits chose the shard
				if t := table[i]; t.pos == 0 {
					table[i] = slot{h, p + 1}
					first[p] = true
					break
				} else if t.hash == h && same(int(t.pos-1), int(p)) {
					break
				}
			}
		}
		select {
		case free <- table:
		default:
		}
	})
	return first
}

// collect returns what add appends for consecutive ranges [lo, hi) covering [0, n), in order,
// the ranges taken on every core. add is given room for one item per index.
func collect[T any](n int, add func(out []T, lo, hi int) []T) []T {
	size := chunkLen(n)
	parts := make([][]T, (n+size-1)/size)
	forChunks(n, func(c, lo, hi int) { parts[c] = add(make([]T, 0, hi-lo), lo, hi) })
	return slices.Concat(parts...)
}

// byShard sorts the indices [0, n) by shard (shardOf(i), below shards), keeping their order
// within a shard: shard s holds pos[start[s]:start[s+1]].
func byShard(n, shards int, shardOf func(i int) int) (pos []int32, start []int) {
	of := make([]uint8, n) // shards are at most 256
	forChunks(n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			of[i] = uint8(shardOf(i))
		}
	})
	start = make([]int, shards+1)
	for _, s := range of {
		start[int(s)+1]++
	}
	for s := range shards {
		start[s+1] += start[s]
	}
	pos = make([]int32, n)
	next := slices.Clone(start)
	for i, s := range of {
		pos[next[s]] = int32(i)
		next[s]++
	}
	return pos, start
}
