package prefault

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of the whole pages of b are in memory.
func resident(t testing.TB, b []byte) int {
	p := unsafe.Pointer(unsafe.SliceData(b))
	first := -uintptr(p) & (pageSize - 1)
	whole := (uintptr(len(b)) - first) &^ (pageSize - 1)
	vec := make([]byte, whole/pageSize)
	if whole == 0 {
		return 0
	}
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Add(p, first)), whole, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	return len(vec) - bytes.Count(vec, []byte{0})
}

func TestSliceMapsPages(t *testing.T) {
	probe, err := unix.Mmap(-1, 0, int(pageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.Madvise(probe, unix.MADV_POPULATE_WRITE)
	unix.Munmap(probe)
	if err != nil {
		t.Skipf("this kernel cannot populate pages (Linux 5.14+): %v; Slice leaves them to fault", err)
	}
	b := make([]byte, 64<<20) // large enough for fresh pages of its own
	before := resident(t, b)
	Slice(b)
	after := resident(t, b)
	t.Logf("resident pages: %d before, %d after, of %d", before, after, len(b)/int(pageSize))
	if want := len(b)/int(pageSize) - 1; after < want { // the last page may be partly another's
		t.Errorf("after Slice, %d pages resident, want at least %d", after, want)
	}
}
