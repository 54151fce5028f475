package export

import "testing"

// The chains find every history added, however many hashes collide and however often the
// array doubled, and no other.
func TestHistories(t *testing.T) {
	var tab histories
	all := make([]history, 5000)
	index := map[*history]int{}
	for i := range all {
		all[i].hash = uint64(i % 1700) // many share a hash, and a chain
		index[&all[i]] = i
		tab.add(&all[i])
	}
	if len(tab.heads) < tab.n || tab.n != len(all) {
		t.Fatalf("%d heads for %d histories; want at least as many heads", len(tab.heads), tab.n)
	}
	found := 0
	for hash := range uint64(1800) {
		var got []int
		for h := tab.chain(hash); h != nil; h = h.next {
			if h.hash == hash {
				got = append(got, index[h])
			}
		}
		want := 0
		if hash < 1700 {
			want = len(all) / 1700
			if int(hash) < len(all)%1700 {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("hash %d: found %v, want %d histories", hash, got, want)
		}
		for _, i := range got {
			if uint64(i%1700) != hash {
				t.Errorf("hash %d: found history %d, of hash %d", hash, i, i%1700)
			}
		}
		found += len(got)
	}
	if found != len(all) {
		t.Errorf("found %d histories in all, want %d", found, len(all))
	}
}
