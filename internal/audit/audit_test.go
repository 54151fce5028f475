package audit_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cshub/internal/audit"
	"cshub/internal/hub"
)

// memStore is a hub.AuditStore in memory, with the contract of the real stores: AppendAudit
// takes only the next Seq and answers EConflict when it is taken. Entries are returned in the
// order they are held, so that tests can tamper with that order as an attacker with write
// access to the database could.
type memStore struct {
	mu        sync.Mutex
	entries   []*hub.AuditEntry // guarded by mu
	conflicts atomic.Int64
	latency   time.Duration // how long an append takes to arrive, so that replicas collide
}

func clone(a *hub.AuditEntry) *hub.AuditEntry {
	c := *a
	c.Details, c.Prev, c.Hash = bytes.Clone(a.Details), bytes.Clone(a.Prev), bytes.Clone(a.Hash)
	return &c
}

func (m *memStore) AppendAudit(_ context.Context, e *hub.AuditEntry) error {
	if m.latency > 0 {
		time.Sleep(m.latency) // the round trip to a database server, during which others append
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := int64(len(m.entries)) + 1
	switch {
	case e.Seq < next:
		m.conflicts.Add(1)
		return hub.Errorf(hub.EConflict, "audit entry %d exists", e.Seq)
	case e.Seq > next:
		return hub.Errorf(hub.EInvalid, "audit entry %d would leave a gap after %d", e.Seq, next-1)
	}
	m.entries = append(m.entries, clone(e))
	return nil
}

func (m *memStore) LastAudit(context.Context) (*hub.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) == 0 {
		return nil, hub.Errorf(hub.ENotFound, "empty audit log")
	}
	return clone(m.entries[len(m.entries)-1]), nil
}

func (m *memStore) AuditEntries(_ context.Context, after int64, limit int) ([]*hub.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s []*hub.AuditEntry
	for _, a := range m.entries {
		if a.Seq > after && len(s) < limit {
			s = append(s, clone(a))
		}
	}
	return s, nil
}

// gcm is a Sealer like package seal's barrier: AES-256-GCM with the location as additional
// data, so that sealed details moved to another entry do not open.
type gcm struct{ aead cipher.AEAD }

func newGCM(t testing.TB) *gcm {
	key := make([]byte, 32)
	rand.Read(key)
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcm{a}
}

func ad(loc audit.Location) []byte {
	return fmt.Appendf(nil, "%d:%s%d:%s%d:%s%d:%s", len(loc.Workspace), loc.Workspace, len(loc.Kind), loc.Kind,
		len(loc.ID), loc.ID, len(loc.Version), loc.Version)
}

func (g *gcm) Encrypt(loc audit.Location, p []byte) ([]byte, error) {
	nonce := make([]byte, g.aead.NonceSize())
	rand.Read(nonce)
	return g.aead.Seal(nonce, nonce, p, ad(loc)), nil
}

func (g *gcm) Decrypt(loc audit.Location, c []byte) ([]byte, error) {
	if len(c) < g.aead.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	return g.aead.Open(nil, c[:g.aead.NonceSize()], c[g.aead.NonceSize():], ad(loc))
}

// fixedClock returns a clock that ticks one second per call, from a fixed start.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 22, 12, 0, 0, 123456789, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// filled returns a log with n entries and its store.
func filled(t testing.TB, n int) (*audit.Log, *memStore) {
	t.Helper()
	st := &memStore{}
	l := audit.New(st, newGCM(t), fixedClock())
	for i := range n {
		_, err := l.Record(context.Background(), audit.Entry{
			Org: "cert-aa", Actor: fmt.Sprintf("user-%d", i%3), Action: "read-red",
			Target: fmt.Sprintf("indicator--%d", i), Details: map[string]any{"i": i, "why": "case 7"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return l, st
}

func TestRecordListVerify(t *testing.T) {
	ctx := context.Background()
	l, _ := filled(t, 5)
	r, err := l.Verify(ctx)
	if err != nil || r.Broken != nil || r.Verified != 5 || r.Head.Seq != 5 {
		t.Fatalf("Verify = %+v, %v; want 5 good entries", r, err)
	}
	head, err := l.Head(ctx)
	if err != nil || head.Seq != 5 || !bytes.Equal(head.Hash, r.Head.Hash) {
		t.Fatalf("Head = %v, %v; want %v", head, err, r.Head)
	}
	items, err := l.List(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(items); got != 2 {
		t.Fatalf("List(1, 2) gave %d items, want 2", got)
	}
	it := items[0]
	if it.Seq != 2 || it.Actor != "user-1" || it.Action != "read-red" || it.Target != "indicator--1" || it.Org != "cert-aa" {
		t.Errorf("List(1, 2)[0] = %+v", it)
	}
	var d struct {
		I   int
		Why string
	}
	if err := json.Unmarshal(it.Details, &d); err != nil || d.I != 1 || d.Why != "case 7" {
		t.Errorf("details = %s (%v), want i=1 why=case 7", it.Details, err)
	}
	if it.Time.Location() != time.UTC || it.Time.Nanosecond()%1000 != 0 {
		t.Errorf("time %v: want UTC, whole microseconds", it.Time)
	}
	all, err := l.List(ctx, 0, 0)
	if err != nil || len(all) != 5 {
		t.Fatalf("List(0, 0) = %d items, %v; want 5", len(all), err)
	}
}

func TestEmptyLog(t *testing.T) {
	ctx := context.Background()
	l := audit.New(&memStore{}, newGCM(t), nil)
	r, err := l.Verify(ctx)
	if err != nil || r.Broken != nil || r.Verified != 0 {
		t.Errorf("Verify(empty) = %+v, %v", r, err)
	}
	h, err := l.Head(ctx)
	if err != nil || h.Seq != 0 || h.Hash != nil {
		t.Errorf("Head(empty) = %v, %v; want zero", h, err)
	}
	if _, err := l.VerifyAgainst(ctx, h); err != nil {
		t.Errorf("VerifyAgainst(empty, zero head) = %v", err)
	}
}

func TestRecordInvalid(t *testing.T) {
	l := audit.New(&memStore{}, newGCM(t), nil)
	for _, tc := range []struct {
		e     audit.Entry
		field string
	}{
		{audit.Entry{Action: "login"}, "actor"},
		{audit.Entry{Actor: "alice"}, "action"},
		{audit.Entry{Actor: "alice", Action: "login", Details: make(chan int)}, "details"},
	} {
		_, err := l.Record(context.Background(), tc.e)
		if hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != tc.field {
			t.Errorf("Record(%+v) = %v, want EInvalid on %q", tc.e, err, tc.field)
		}
	}
}

// TestTamper changes the stored log as someone with write access to the database could, and
// checks that Verify finds the first broken entry and says what is wrong.
func TestTamper(t *testing.T) {
	const n, k = 10, 4 // entries; the one tampered with (Seq k, index k-1)
	for _, tc := range []struct {
		name    string
		tamper  func(s []*hub.AuditEntry) []*hub.AuditEntry
		seq     int64
		problem string
	}{
		{"org", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Org = "cert-zz"; return s }, k, audit.ProblemModified},
		{"actor", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Actor = "mallory"; return s }, k, audit.ProblemModified},
		{"action", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Action = "login"; return s }, k, audit.ProblemModified},
		{"target", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Target = "x"; return s }, k, audit.ProblemModified},
		{"time", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s[k-1].Time = s[k-1].Time.Add(time.Microsecond)
			return s
		}, k, audit.ProblemModified},
		{"details", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Details[20] ^= 1; return s }, k, audit.ProblemModified},
		{"details moved from another entry", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s[k-1].Details = s[k].Details
			return s
		}, k, audit.ProblemModified},
		{"hash", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Hash[0] ^= 1; return s }, k, audit.ProblemModified},
		{"hash recomputed after edit", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s[k-1].Action = "nothing"
			s[k-1].Hash = audit.Sum(s[k-1])
			return s
		}, k + 1, audit.ProblemChain},
		{"prev", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Prev[3] ^= 1; return s }, k, audit.ProblemChain},
		{"seq", func(s []*hub.AuditEntry) []*hub.AuditEntry { s[k-1].Seq = 99; return s }, k, audit.ProblemGap},
		{"deleted entry", func(s []*hub.AuditEntry) []*hub.AuditEntry { return slices.Delete(s, k-1, k) }, k, audit.ProblemGap},
		{"deleted first entry", func(s []*hub.AuditEntry) []*hub.AuditEntry { return s[1:] }, 1, audit.ProblemGap},
		{"deleted entry, later ones renumbered", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s = slices.Delete(s, k-1, k)
			for _, a := range s[k-1:] {
				a.Seq--
			}
			return s
		}, k, audit.ProblemChain},
		{"two entries swapped in place", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s[k-1], s[k] = s[k], s[k-1]
			return s
		}, k, audit.ProblemGap},
		{"two entries swapped, Seq kept", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			s[k-1], s[k] = s[k], s[k-1]
			s[k-1].Seq, s[k].Seq = k, k+1
			return s
		}, k, audit.ProblemChain},
		{"entry repeated", func(s []*hub.AuditEntry) []*hub.AuditEntry {
			return slices.Insert(s, k, clone(s[k-1]))
		}, k, audit.ProblemOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, st := filled(t, n)
			st.entries = tc.tamper(st.entries)
			r, err := l.Verify(context.Background())
			if hub.ErrorCode(err) != hub.EIntegrity {
				t.Fatalf("Verify error = %v, want EIntegrity", err)
			}
			if r.Broken == nil || r.Broken.Seq != tc.seq || r.Broken.Problem != tc.problem {
				t.Fatalf("Verify broken = %+v, want seq %d problem %s", r.Broken, tc.seq, tc.problem)
			}
			want := tc.seq - 1
			if tc.problem == audit.ProblemOrder {
				want = k // the entry that comes again was good the first time
			}
			if r.Verified != want || r.Head.Seq != want {
				t.Errorf("Verify verified %d up to %d, want %d", r.Verified, r.Head.Seq, want)
			}
			t.Log(r.Broken.Detail)
		})
	}
}

// TestTruncation shows what the chain alone cannot see (a cut-off or rewritten tail) and that
// a head recorded outside the hub catches both.
func TestTruncation(t *testing.T) {
	ctx := context.Background()
	l, st := filled(t, 10)
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recorded, err := audit.ParseHead(head.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.VerifyAgainst(ctx, recorded); err != nil {
		t.Fatalf("VerifyAgainst(intact) = %v", err)
	}
	full := slices.Clone(st.entries)

	st.entries = full[:7]
	if r, err := l.Verify(ctx); err != nil || r.Verified != 7 {
		t.Fatalf("Verify(truncated) = %+v, %v; a truncated chain verifies on its own", r, err)
	}
	r, err := l.VerifyAgainst(ctx, recorded)
	if hub.ErrorCode(err) != hub.EIntegrity || r.Broken == nil || r.Broken.Problem != audit.ProblemTruncated || r.Broken.Seq != 8 {
		t.Fatalf("VerifyAgainst(truncated) = %+v, %v; want truncated at 8", r.Broken, err)
	}

	// Rewrite from entry 6 on, recomputing every hash: a consistent forgery.
	st.entries = make([]*hub.AuditEntry, len(full))
	for i, a := range full {
		st.entries[i] = clone(a)
	}
	for i := 5; i < len(st.entries); i++ {
		a := st.entries[i]
		if i == 5 {
			a.Target = "something else"
		}
		a.Prev = st.entries[i-1].Hash
		a.Hash = audit.Sum(a)
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatalf("Verify(rewritten tail) = %v; a recomputed tail verifies on its own", err)
	}
	r, err = l.VerifyAgainst(ctx, recorded)
	if hub.ErrorCode(err) != hub.EIntegrity || r.Broken == nil || r.Broken.Problem != audit.ProblemHead || r.Broken.Seq != 10 {
		t.Fatalf("VerifyAgainst(rewritten) = %+v, %v; want head mismatch at 10", r.Broken, err)
	}
}

// TestConcurrentReplicas has several Logs (replicas) over one store, each with many goroutines,
// append at once: the chain must be whole and hold every entry exactly once.
func TestConcurrentReplicas(t *testing.T) {
	const replicas, goroutines, each = 4, 8, 25
	ctx := context.Background()
	st := &memStore{latency: 100 * time.Microsecond}
	sealer := newGCM(t)
	var wg sync.WaitGroup
	for r := range replicas {
		l := audit.New(st, sealer, nil)
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					_, err := l.Record(ctx, audit.Entry{Actor: fmt.Sprintf("r%d-g%d", r, g), Action: "ingest",
						Target: fmt.Sprint(i), Details: []int{r, g, i}})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	l := audit.New(st, sealer, nil)
	rep, err := l.Verify(ctx)
	if err != nil || rep.Verified != replicas*goroutines*each {
		t.Fatalf("Verify = %+v, %v; want %d good entries", rep, err, replicas*goroutines*each)
	}
	seen := make(map[string]bool)
	for after := int64(0); ; {
		items, err := l.List(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			k := it.Actor + "/" + it.Target + "/" + string(it.Details)
			if seen[k] {
				t.Errorf("entry %s recorded twice", k)
			}
			seen[k] = true
		}
		after = items[len(items)-1].Seq
	}
	if len(seen) != replicas*goroutines*each {
		t.Errorf("%d distinct entries, want %d", len(seen), replicas*goroutines*each)
	}
	t.Logf("%d entries, %d append conflicts retried", rep.Verified, st.conflicts.Load())
}

// conflictStore always finds the next Seq taken.
type conflictStore struct{ memStore }

func (c *conflictStore) AppendAudit(context.Context, *hub.AuditEntry) error {
	return hub.Errorf(hub.EConflict, "taken")
}

func TestRecordGivesUp(t *testing.T) {
	l := audit.New(&conflictStore{}, newGCM(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Record(ctx, audit.Entry{Actor: "a", Action: "b"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Record with a deadline against endless conflicts = %v, want DeadlineExceeded", err)
	}
	if testing.Short() {
		return
	}
	if _, err := l.Record(context.Background(), audit.Entry{Actor: "a", Action: "b"}); hub.ErrorCode(err) != hub.EUnavailable {
		t.Errorf("Record against endless conflicts = %v, want EUnavailable", err)
	}
}

// sealedSealer is a Sealer whose keyring is sealed.
type sealedSealer struct{}

func (sealedSealer) Encrypt(audit.Location, []byte) ([]byte, error) {
	return nil, hub.Errorf(hub.ESealed, "sealed")
}
func (sealedSealer) Decrypt(audit.Location, []byte) ([]byte, error) {
	return nil, hub.Errorf(hub.ESealed, "sealed")
}

func TestSealed(t *testing.T) {
	ctx := context.Background()
	l, st := filled(t, 3)
	locked := audit.New(st, sealedSealer{}, nil)
	if _, err := locked.Record(ctx, audit.Entry{Actor: "a", Action: "b"}); hub.ErrorCode(err) != hub.ESealed {
		t.Errorf("Record while sealed = %v, want ESealed", err)
	}
	if _, err := locked.List(ctx, 0, 10); hub.ErrorCode(err) != hub.ESealed {
		t.Errorf("List while sealed = %v, want ESealed", err)
	}
	if r, err := locked.Verify(ctx); err != nil || r.Verified != 3 {
		t.Errorf("Verify while sealed = %+v, %v; verification needs no keys", r, err)
	}
	// Details sealed for another entry fail to open in List, even before Verify is run.
	st.entries[0].Details = st.entries[1].Details
	if _, err := l.List(ctx, 0, 10); hub.ErrorCode(err) != hub.EIntegrity {
		t.Errorf("List with moved details = %v, want EIntegrity", err)
	}
}

func TestParseHead(t *testing.T) {
	h := audit.Head{Seq: 12, Hash: bytes.Repeat([]byte{0xab}, 32)}
	got, err := audit.ParseHead(h.String())
	if err != nil || got.Seq != h.Seq || !bytes.Equal(got.Hash, h.Hash) {
		t.Errorf("ParseHead(%q) = %v, %v; want %v", h.String(), got, err, h)
	}
	for _, s := range []string{"", "12", "x:ab", "-1:", "12:zz", "12:abab", "0:ab"} {
		if _, err := audit.ParseHead(s); hub.ErrorCode(err) != hub.EInvalid || hub.ErrorField(err) != "head" {
			t.Errorf("ParseHead(%q) = %v, want EInvalid on head", s, err)
		}
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add("12:" + fmt.Sprintf("%064x", 7))
	f.Add("0:")
	f.Add("1:zz")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := audit.ParseHead(s)
		if err != nil {
			return
		}
		again, err := audit.ParseHead(h.String())
		if err != nil || again.Seq != h.Seq || !bytes.Equal(again.Hash, h.Hash) {
			t.Errorf("ParseHead(%q) does not round-trip: %v, %v", s, again, err)
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	l := audit.New(&memStore{}, newGCM(b), nil)
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Record(ctx, audit.Entry{Actor: "bench", Action: "read", Details: map[string]int{"n": 1}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkVerify(b *testing.B) {
	l, _ := filled(b, 10000)
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Verify(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "entries/s")
}
