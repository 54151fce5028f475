package lookup

import (
	"context"
	"strings"

	"cshub/internal/hub"
	"cshub/internal/snapshot"
)

// saved is the Service as a snapshot.State: what it saves of each indicator is what a hit
// reports and access needs plus the pattern, from which Restore rebuilds the index entries.
// Saving the entries instead would save little: parsing a pattern costs less than reading the
// object from the store, opening its body and decoding its JSON, which is what Restore avoids.
type saved Service

// savedIndicator is one indicator in a section. Field names are the format (snapshotFormat).
type savedIndicator struct {
	ID, Author, Name string
	TLP              hub.TLP
	Recipients       []string
	Confidence       int
	Until            int64
	Pattern          string
}

func (s *saved) Load(ctx context.Context) (int, error) { return (*Service)(s).Load(ctx) }

func (s *saved) Update(o *hub.Object) error {
	if o.Type == "indicator" {
		(*Service)(s).add(o)
	}
	return nil
}

func (s *saved) Remove(workspace, id string) { (*Service)(s).Remove(workspace, id) }

// Forget withdraws every indicator of workspace.
func (s *saved) Forget(workspace string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key := range s.latest {
		if strings.HasPrefix(key, workspace+"\x00") {
			(*Service)(s).removeLocked(key)
		}
	}
}

// Sections encodes the indexed indicators by workspace. It copies them under the read lock,
// so lookups go on, and encodes after.
func (s *saved) Sections() (map[string][]byte, error) {
	by := map[string][]savedIndicator{}
	s.mu.RLock()
	for _, ref := range s.latest {
		ind := &s.refs[ref]
		by[ind.workspace] = append(by[ind.workspace], savedIndicator{ID: ind.id, Author: ind.author, Name: ind.name,
			TLP: ind.tlp, Recipients: ind.recipients, Confidence: ind.confidence, Until: ind.until, Pattern: ind.pattern})
	}
	s.mu.RUnlock()
	return snapshot.EncodeRecords(by)
}

// Restore decodes every section before it indexes anything, so a damaged one changes nothing.
func (s *saved) Restore(sections map[string][]byte) (int, error) {
	by, err := snapshot.DecodeRecords[savedIndicator](sections)
	if err != nil {
		return 0, err
	}
	var all []indicator
	for ws, inds := range by {
		for _, i := range inds {
			all = append(all, indicator{id: i.ID, workspace: ws, author: i.Author, name: i.Name, tlp: i.TLP,
				recipients: i.Recipients, confidence: i.Confidence, until: i.Until, pattern: i.Pattern})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ind := range all {
		if (*Service)(s).addLocked(ind) {
			n++
		}
	}
	return n, nil
}
