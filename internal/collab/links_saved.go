package collab

import (
	"context"

	"cshub/internal/correlation"
	"cshub/internal/hub"
	"cshub/internal/snapshot"
)

// linksFormat versions the encoding of savedLinks' sections; a snapshot of another version is
// refused and the links rebuilt from the store.
const linksFormat = 1

// savedLinks is the correlation index as a snapshot.State. It saves each object's values as
// their blind-index tokens, which is all the index holds: a restart links them again without
// reading, opening and decoding the objects, which is what a rebuild costs.
type savedLinks Service

// savedHolder is one object in a section. Field names are the format (linksFormat).
type savedHolder struct {
	ID, Author string
	TLP        hub.TLP
	Recipients []string
	Seq        int64
	Tokens     []correlation.Token
}

func (s *savedLinks) Load(ctx context.Context) (int, error) { return (*Service)(s).loadLinks(ctx) }

func (s *savedLinks) Update(o *hub.Object) error { return (*Service)(s).link(o) }

func (s *savedLinks) Remove(workspace, id string) { s.links.Remove(workspace, id) }

func (s *savedLinks) Forget(workspace string) { s.links.Forget(workspace) }

// Sections copies the index by workspace under its read lock, so reads go on, and encodes after.
func (s *savedLinks) Sections() (map[string][]byte, error) {
	by := map[string][]savedHolder{}
	s.links.Each(func(o correlation.Object, tokens []correlation.Token) {
		by[o.Workspace] = append(by[o.Workspace], savedHolder{ID: o.ID, Author: o.Author, TLP: o.TLP,
			Recipients: o.Recipients, Seq: o.Seq, Tokens: append([]correlation.Token(nil), tokens...)})
	})
	return snapshot.EncodeRecords(by)
}

// Restore decodes every section before it links anything, so a damaged one changes nothing.
func (s *savedLinks) Restore(sections map[string][]byte) (int, error) {
	by, err := snapshot.DecodeRecords[savedHolder](sections)
	if err != nil {
		return 0, err
	}
	n := 0
	for ws, holders := range by {
		for _, h := range holders {
			s.links.Put(correlation.Object{Workspace: ws, ID: h.ID, Author: h.Author, TLP: h.TLP, Recipients: h.Recipients, Seq: h.Seq}, h.Tokens)
			n++
		}
	}
	return n, nil
}
