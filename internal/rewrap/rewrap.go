// Package rewrap re-seals what the hub has stored under the keyring's newest term, so that
// after a key rotation (seal.Barrier.Rotate) no stored value depends on an older term any more.
//
// A rewrap runs online: the hub may serve from the same store at the same time. Each batch of
// object bodies is swapped with hub.ObjectStore.ReplaceBodies, a compare-and-swap per row, so a
// body that changed or a row that was deleted after it was read is left alone rather than
// overwritten. It is resumable: a body already under the newest term is recognised by its
// header alone and skipped without being opened, so running it again after an interruption
// only does what is left.
//
// It reaches the sealed values where package kb (object bodies) and package members (users'
// TOTP secrets) put them; the locations below must stay identical to theirs, and the tests of
// this package check that through both packages.
package rewrap

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"cshub/internal/hub"
	"cshub/internal/seal"
)

// DefaultBatch is how many object versions one batch reads and swaps when Options.Batch is 0.
const DefaultBatch = 1000

// Options tune a run. The zero value is ready to use.
type Options struct {
	// Batch is how many object versions are read and swapped per transaction; 0 means
	// DefaultBatch.
	Batch int
	// Progress, when set, is called after every batch, from the goroutine running Run.
	Progress func(Progress)
}

// Progress is how far a run has come.
type Progress struct {
	Scanned   int64 // object versions looked at so far
	Total     int64 // object versions stored when the run started
	Rewrapped int64 // bodies re-sealed so far
}

// Summary is the outcome of a run.
type Summary struct {
	Term      uint32        // the newest term: what everything was re-sealed under
	Scanned   int64         // object versions looked at
	Current   int64         // bodies that were under the newest term already
	Rewrapped int64         // bodies re-sealed and swapped in
	Changed   int64         // bodies re-sealed but not swapped: changed or deleted meanwhile
	Failed    int64         // bodies and export records that could not be opened (see the error Run returns)
	Records   int64         // export records re-sealed and swapped in
	Users     int           // users with a TOTP secret
	TOTP      int           // TOTP secrets re-sealed
	Elapsed   time.Duration // how long the run took
}

// Store is what a run needs of the hub's store: the objects, and the users whose TOTP secrets
// are sealed.
type Store interface {
	hub.ObjectStore
	Users(ctx context.Context, org string) ([]*hub.User, error)
	User(ctx context.Context, id int64) (*hub.User, error)
	UpdateUser(ctx context.Context, u *hub.User) error
}

// Run re-seals every stored object body, export record and user's TOTP secret that is under
// an older term than the newest. It returns a summary also when it fails. Bodies that cannot be opened
// (their workspace's key was destroyed but its rows remain, or they were tampered with) are
// counted in Summary.Failed and skipped, and Run then returns an error naming the first; any
// store error ends the run at once. A run cut short leaves the store consistent: run it again.
func Run(ctx context.Context, st Store, b *seal.Barrier, opt Options) (*Summary, error) {
	start := time.Now()
	sum := &Summary{}
	defer func() { sum.Elapsed = time.Since(start) }()
	ferr := &failures{}
	if err := objects(ctx, st, b, opt, sum, ferr); err != nil {
		return sum, err
	}
	if err := records(ctx, st, b, opt, sum, ferr); err != nil {
		return sum, err
	}
	if err := totps(ctx, st, b, sum, ferr); err != nil {
		return sum, err
	}
	return sum, ferr.err(sum.Failed)
}

// failures keeps the first error of values that could not be re-sealed.
type failures struct {
	first error
	where seal.Location
}

func (f *failures) add(loc seal.Location, err error) {
	if f.first == nil {
		f.first, f.where = err, loc
	}
}

func (f *failures) err(n int64) error {
	if f.first == nil {
		return nil
	}
	return fmt.Errorf("%d sealed values could not be re-sealed; the first, %s: %w", n, f.where, f.first)
}

// newest returns the keyring's newest term.
func newest(b *seal.Barrier) (uint32, error) {
	terms, err := b.Status()
	if err != nil {
		return 0, err
	}
	for _, t := range terms {
		if t.Active {
			return t.Term, nil
		}
	}
	return 0, hub.Errorf(hub.EInternal, "the keyring has no active term")
}

// allVersions is the filter a run scans with: every version of every object, in Seq order.
func allVersions(after int64, limit int) hub.Filter {
	return hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, AfterSeq: after, Limit: limit}
}

func objects(ctx context.Context, st hub.ObjectStore, b *seal.Barrier, opt Options, sum *Summary, ferr *failures) error {
	batch := opt.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	total, err := st.CountObjects(ctx, allVersions(0, 0))
	if err != nil {
		return err
	}
	var after int64
	ups := make([]hub.BodyUpdate, 0, batch)
	for {
		// Read the newest term per batch: a rotation during the run moves the target.
		term, err := newest(b)
		if err != nil {
			return err
		}
		sum.Term = term
		objs, err := st.ListObjects(ctx, allVersions(after, batch))
		if err != nil {
			return err
		}
		ups = ups[:0]
		for _, o := range objs {
			sum.Scanned++
			if nb, ok := reseal(b, term, seal.ObjectLocation(o), o.Body, &sum.Current, sum, ferr); ok {
				ups = append(ups, hub.BodyUpdate{Seq: o.Seq, Old: o.Body, New: nb})
			}
		}
		if len(ups) > 0 {
			n, err := st.ReplaceBodies(ctx, ups)
			if err != nil {
				return err
			}
			sum.Rewrapped += int64(n)
			sum.Changed += int64(len(ups) - n)
		}
		if opt.Progress != nil {
			opt.Progress(Progress{Scanned: sum.Scanned, Total: max(total, sum.Scanned), Rewrapped: sum.Rewrapped})
		}
		if len(objs) < batch {
			return nil
		}
		after = objs[len(objs)-1].Seq
	}
}

// reseal returns old sealed under term, and true, when it was sealed under an older one; a
// value current already counts in current, one that does not open in sum.Failed.
func reseal(b *seal.Barrier, term uint32, loc seal.Location, old []byte, current *int64, sum *Summary, ferr *failures) ([]byte, bool) {
	if t, err := seal.Term(old); err == nil && t >= term {
		*current++
		return nil, false
	}
	nb, changed, err := b.Rewrap(loc, old)
	if err != nil {
		sum.Failed++
		ferr.add(loc, err)
		return nil, false
	}
	if !changed {
		*current++
	}
	return nb, changed
}

// records re-seals the export records of indicator and sighting versions (package
// export/record), as objects does their bodies. A version whose record is not written yet gets
// it, under the newest term, when an export next fills it in.
func records(ctx context.Context, st hub.ObjectStore, b *seal.Barrier, opt Options, sum *Summary, ferr *failures) error {
	batch := opt.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	var after int64
	var current int64
	ups := make([]hub.BodyUpdate, 0, batch)
	var page hub.RecordPage
	for {
		term, err := newest(b)
		if err != nil {
			return err
		}
		if _, err := st.ExportRecords(ctx, after, batch, &page); err != nil {
			return err
		}
		recs := page.Records()
		ups = ups[:0]
		for _, r := range recs {
			if nb, ok := reseal(b, term, seal.ExportLocation(r.Workspace), r.Sealed, &current, sum, ferr); ok {
				ups = append(ups, hub.BodyUpdate{Seq: r.Seq, Old: r.Sealed, New: nb})
			}
		}
		n, err := st.ReplaceExportRecords(ctx, ups)
		if err != nil {
			return err
		}
		sum.Records += int64(n)
		if len(recs) < batch {
			return nil
		}
		after = recs[len(recs)-1].Seq
	}
}

// totps re-seals users' TOTP secrets. The directory has no compare-and-swap, so each user is
// read again just before the write and written only if the secret is still the one re-sealed;
// that leaves a window of one read and one write in which a concurrent change of the same user
// could be overwritten.
func totps(ctx context.Context, st Store, b *seal.Barrier, sum *Summary, ferr *failures) error {
	term, err := newest(b)
	if err != nil {
		return err
	}
	users, err := st.Users(ctx, "")
	if err != nil {
		return err
	}
	for _, u := range users {
		if len(u.TOTPSecret) == 0 {
			continue
		}
		sum.Users++
		if t, err := seal.Term(u.TOTPSecret); err == nil && t >= term {
			continue
		}
		loc := seal.TOTPLocation(u.ID)
		nb, changed, err := b.Rewrap(loc, u.TOTPSecret)
		if err != nil {
			sum.Failed++
			ferr.add(loc, err)
			continue
		}
		if !changed {
			continue
		}
		fresh, err := st.User(ctx, u.ID)
		if err != nil {
			if hub.ErrorCode(err) == hub.ENotFound {
				continue // deleted meanwhile
			}
			return err
		}
		if !bytes.Equal(fresh.TOTPSecret, u.TOTPSecret) {
			continue // re-enrolled meanwhile, under the newest term already
		}
		fresh.TOTPSecret = nb
		if err := st.UpdateUser(ctx, fresh); err != nil {
			return err
		}
		sum.TOTP++
	}
	return nil
}

// Census counts the stored object bodies per keyring term, by reading every body's header; it
// needs no key. Bodies whose header cannot be read are counted under term 0. It reads every
// stored version, so it takes about as long as a scan of the objects table.
func Census(ctx context.Context, st hub.ObjectStore) (map[uint32]int64, error) {
	counts := make(map[uint32]int64)
	var after int64
	for {
		objs, err := st.ListObjects(ctx, allVersions(after, DefaultBatch))
		if err != nil {
			return counts, err
		}
		for _, o := range objs {
			t, err := seal.Term(o.Body)
			if err != nil {
				t = 0
			}
			counts[t]++
		}
		if len(objs) < DefaultBatch {
			return counts, nil
		}
		after = objs[len(objs)-1].Seq
	}
}
