package collab

import (
	"context"
	"encoding/hex"
	"slices"

	"cshub/internal/access"
	"cshub/internal/correlation"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/snapshot"
)

// StartLinks fills the correlation index from every stored indicator and observable and then
// keeps it current from b until ctx ends: new objects and versions are linked, revoked and
// deleted ones drop out of every link. It subscribes before it loads, so nothing stored in
// between is missed, and returns how many objects it loaded. Every replica runs it: the index
// is what this replica's reads are answered from. Serve uses StartLinksSaved instead, to
// restart from a snapshot.
func (s *Service) StartLinks(ctx context.Context, b hub.Bus) (int, error) {
	f, err := s.StartLinksSaved(ctx, snapshot.Config{Bus: b})
	if err != nil {
		return 0, err
	}
	return f.Objects, nil
}

// StartLinksSaved is StartLinks that saves the index in c.Path and, on the next start, resumes
// from there (see package snapshot). c.Bus, c.Path, c.Sealer and c.Every are the caller's; the
// rest is filled in here.
func (s *Service) StartLinksSaved(ctx context.Context, c snapshot.Config) (*snapshot.Follower, error) {
	c.Index, c.Format, c.KB, c.Log = "links", linksFormat, s.kb, s.log
	return snapshot.Start(ctx, c, (*savedLinks)(s))
}

// loadLinks links every stored indicator and observable.
func (s *Service) loadLinks(ctx context.Context) (int, error) {
	n := 0
	f := hub.Filter{Viewer: hub.Viewer{System: true}, Types: append([]string{"indicator"}, kb.ObservableTypes...), Limit: pageSize}
	for {
		page, err := s.kb.List(ctx, f)
		if err != nil {
			return n, err
		}
		for _, o := range page {
			if err := s.link(o); err != nil {
				return n, err
			}
			n++
		}
		if len(page) < pageSize {
			return n, nil
		}
		f.AfterSeq = page[len(page)-1].Seq
	}
}

// link puts o's values into the correlation index, or takes o out when it holds none.
func (s *Service) link(o *hub.Object) error {
	if o.Type != "indicator" && !slices.Contains(kb.ObservableTypes, o.Type) {
		return nil
	}
	toks, err := s.kb.ValueTokens(kb.ValueKeys(o))
	if err != nil {
		return err
	}
	ts := make([]correlation.Token, len(toks))
	for i, t := range toks {
		ts[i] = correlation.Token(t)
	}
	s.links.Put(correlation.Object{Workspace: o.Workspace, ID: o.ID, Author: o.Author, TLP: o.TLP, Recipients: o.Recipients, Seq: o.Seq}, ts)
	return nil
}

// Links is the correlation view of one object: the objects it shares a value with.
type Links struct {
	Object    string       `json:"object"`
	Workspace string       `json:"workspace"`
	Links     []LinkedTo   `json:"links"`
	Common    []CommonNode `json:"common_values"`
	// OtherMembers counts the organisations holding one of the object's values in objects
	// the caller may not see; objects marked TLP:RED are not counted.
	OtherMembers int `json:"other_members"`
}

// LinkedTo is one object the viewed object shares a value with, through the value whose
// blind-index token is Token; Value is that value, read from the viewed object (which the
// caller may read), never from the store's index.
type LinkedTo struct {
	Token     string `json:"token"`
	Value     string `json:"value,omitempty"`
	Org       string `json:"org"`
	Object    string `json:"object"`
	Workspace string `json:"workspace"`
}

// CommonNode is a value held by more objects than the common-value threshold: the viewed
// object links to the value's node rather than to each holder. Holders counts the other
// holders the caller may see or count (TLP:RED ones it may not see are left out).
type CommonNode struct {
	Token   string `json:"token"`
	Value   string `json:"value,omitempty"`
	Holders int    `json:"holders"`
}

// LinksOf returns the correlation links of object id as org may see them on
// access.PathNotify: by name the objects org may see, as a count of organisations the others
// unless marked TLP:RED, nothing of exercise workspaces (a real object never correlates with
// training data, nor an exercise object with anything: PathNotify shows no exercise object).
// Links read the same from either end: if a's view names b, b's view names a to whoever may
// see both.
func (s *Service) LinksOf(ctx context.Context, org, id string) (*Links, error) {
	v, err := s.viewer(ctx, org, access.PathNotify)
	if err != nil {
		return nil, err
	}
	o, err := s.get(ctx, v, "object", id)
	if err != nil {
		return nil, err
	}
	snap, err := access.Load(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	// The caller may read o, so it may be told o's values beside their tokens.
	keys := kb.ValueKeys(o)
	toks, err := s.kb.ValueTokens(keys)
	if err != nil {
		return nil, err
	}
	values := make(map[correlation.Token]string, len(keys))
	for i, t := range toks {
		values[correlation.Token(t)] = keys[i]
	}
	out := &Links{Object: o.ID, Workspace: o.Workspace, Links: []LinkedTo{}, Common: []CommonNode{}}
	counted := map[string]bool{} // authors of holders org may only count
	named := map[string]bool{}   // authors of holders org may see
	// decide tells whether org may see h by name and whether it may count it at all.
	decide := func(h *correlation.Object) (see, count bool) {
		ho := h.Access()
		if exercise(snap, ho) {
			return false, false
		}
		if snap.Decide(org, ho, access.PathNotify).Allow {
			named[h.Author] = true
			return true, true
		}
		if h.TLP == hub.TLPRed {
			return false, false
		}
		counted[h.Author] = true
		return false, true
	}
	for _, l := range s.links.Links(o.Workspace, o.ID) {
		token := hex.EncodeToString(l.Token[:])
		if l.Common {
			c := CommonNode{Token: token, Value: values[l.Token]}
			for i := range l.Holders {
				if _, count := decide(&l.Holders[i]); count {
					c.Holders++
				}
			}
			out.Common = append(out.Common, c)
			continue
		}
		if see, _ := decide(&l.Other); see {
			out.Links = append(out.Links, LinkedTo{Token: token, Value: values[l.Token], Org: l.Other.Author, Object: l.Other.ID, Workspace: l.Other.Workspace})
		}
	}
	for a := range counted {
		if !named[a] && a != org {
			out.OtherMembers++
		}
	}
	return out, nil
}
