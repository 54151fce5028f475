package search

import (
	"context"
	"fmt"
	"strings"

	"cshub/internal/hub"
	"cshub/internal/snapshot"
)

// snapshotFormat versions the encoding of a saved index's sections (the fields of entry); a
// snapshot of another version is refused and the index rebuilt.
const snapshotFormat = 1

// StartSaved returns an Index that holds the latest version of every object of c.KB and follows
// c.Bus until ctx ends, saved in c.Path and resumed from there on the next start (see package
// snapshot). c.Index, c.Format are filled in here.
func StartSaved(ctx context.Context, c snapshot.Config) (*Index, *snapshot.Follower, error) {
	x := New()
	c.Index, c.Format = "search", snapshotFormat
	f, err := snapshot.Start(ctx, c, &saved{x: x, src: c.KB})
	if err != nil {
		return nil, nil, err
	}
	return x, f, nil
}

// saved is an Index as a snapshot.State. A section holds the entries of the workspace's live
// documents: their text and special terms, which Restore tokenizes and posts again. Saving the
// postings themselves would load faster but cannot be split by workspace, and a workspace's
// section must be sealed with its own key so that destroying the key shreds it.
type saved struct {
	x   *Index
	src Source
}

func (s *saved) Load(ctx context.Context) (int, error) {
	st, err := s.x.load(ctx, s.src)
	return st.Objects, err
}

func (s *saved) Update(o *hub.Object) error  { return s.x.Add(o) }
func (s *saved) Remove(workspace, id string) { s.x.Remove(workspace, id) }
func (s *saved) Forget(workspace string)     { s.x.RemoveWorkspace(workspace) }

// Sections copies the live documents under the read lock, so searches go on, and encodes
// after.
func (s *saved) Sections() (map[string][]byte, error) {
	by := map[string][]*entry{}
	x := s.x
	x.mu.RLock()
	entries := make([]*entry, len(x.docs)) // by doc number; nil for dead ones
	for n, d := range x.docs {
		if d.dead {
			continue
		}
		en := &entry{ID: x.ids[n], Seq: d.seq, Modified: d.modified, TLP: d.tlp, Stale: d.stale,
			Author: x.names[d.author], Type: x.names[d.typ]}
		copy(en.Fields[:], strings.SplitN(x.texts[n], sepField, nFields))
		for _, r := range x.rcpts[d.rcpt] {
			en.Recipients = append(en.Recipients, x.names[r])
		}
		entries[n] = en
		ws := x.names[d.workspace]
		by[ws] = append(by[ws], en)
	}
	for t, k := range x.terms {
		if !strings.HasPrefix(t, "\x01") {
			continue
		}
		for _, n := range x.plists[k].docs {
			if en := entries[n]; en != nil {
				en.Keys = append(en.Keys, t)
			}
		}
	}
	x.mu.RUnlock()
	return snapshot.EncodeRecords(by)
}

// Restore decodes every section before it indexes anything, so a damaged one changes nothing.
func (s *saved) Restore(sections map[string][]byte) (int, error) {
	by, err := snapshot.DecodeRecords[*entry](sections)
	if err != nil {
		return 0, err
	}
	for ws, ens := range by {
		for _, en := range ens {
			if en == nil || en.ID == "" {
				return 0, fmt.Errorf("search: section of workspace %s: an entry without an id", ws)
			}
		}
	}
	n := 0
	for ws, ens := range by {
		for _, en := range ens {
			if err := s.x.add(ws, en); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}
