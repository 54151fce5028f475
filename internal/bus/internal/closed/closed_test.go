package closed

import (
	"errors"
	"testing"

	"cshub/internal/hub"
)

func TestReasons(t *testing.T) {
	var r Reasons
	errA := errors.New("a")
	first := make(chan hub.Event)
	r.Set(first, errA)
	if got := r.Get(first); got != errA {
		t.Fatalf("Get: got %v, want %v", got, errA)
	}
	if got := r.Get(make(chan hub.Event)); got != nil {
		t.Fatalf("Get of an unknown channel: got %v, want nil", got)
	}
	r.Set(first, errA) // setting again does not count twice
	for range keep - 1 {
		r.Set(make(chan hub.Event), errA)
	}
	if got := r.Get(first); got != errA {
		t.Fatalf("after %d reasons: got %v, want %v", keep, got, errA)
	}
	r.Set(make(chan hub.Event), errA)
	if got := r.Get(first); got != nil {
		t.Fatalf("after %d reasons the oldest: got %v, want it forgotten", keep+1, got)
	}
	if got, want := len(r.err), keep; got != want {
		t.Fatalf("held %d reasons, want %d", got, want)
	}
}
