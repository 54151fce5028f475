package collab

import (
	"context"
	"slices"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/match"
	"cshub/internal/stix/pattern"
)

// maxHolders bounds how many objects holding one value a correlation looks at: a value held
// a thousand times is common knowledge, not a correlation worth a notice each.
const maxHolders = 1000

// Correlation tells the organisation that holds Object that Value, one of the exact values of
// its pattern, is also held by other organisations' objects: by name (HeldBy) for those the
// organisation may see on access.PathNotify, as a count of organisations (OtherMembers) for
// the others. Objects marked TLP:RED that the organisation may not see are not even counted,
// nor are objects of exercise workspaces.
type Correlation struct {
	Object       string   `json:"object"`
	Value        string   `json:"value"`
	HeldBy       []Holder `json:"held_by"`
	OtherMembers int      `json:"other_members"`
}

// Holder is another organisation's object holding a correlated value.
type Holder struct {
	Org       string `json:"org"`
	Object    string `json:"object"`
	Workspace string `json:"workspace"`
}

// Correlations returns the correlation notices of org: for each indicator org authored (only
// object when not empty), each value also held by another organisation's object.
func (s *Service) Correlations(ctx context.Context, org, object string) ([]Correlation, error) {
	v, err := s.viewer(ctx, org, access.PathNotify)
	if err != nil {
		return nil, err
	}
	snap, err := access.Load(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	var mine []*hub.Object
	if object != "" {
		o, err := s.get(ctx, v, "object", object)
		if err != nil {
			return nil, err
		}
		mine = []*hub.Object{o}
	} else if mine, err = s.list(ctx, v, "indicator"); err != nil {
		return nil, err
	}
	out := []Correlation{}
	for _, o := range mine {
		if o.Author != org || o.Revoked {
			continue
		}
		cs, err := s.correlate(ctx, snap, o)
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// correlate returns the correlations of o for its author.
func (s *Service) correlate(ctx context.Context, snap *access.Snapshot, o *hub.Object) ([]Correlation, error) {
	var out []Correlation
	for _, value := range patternValues(o) {
		holders, err := s.kb.Find(ctx, hub.Viewer{System: true}, kb.TokenValue, value, maxHolders)
		if hub.ErrorCode(err) == hub.EInvalid {
			continue // a value the index does not canonicalise holds nothing
		} else if err != nil {
			return nil, err
		}
		c := Correlation{Object: o.ID, Value: value, HeldBy: []Holder{}}
		counted := map[string]bool{}
		for _, h := range holders {
			if h.Author == o.Author || h.Revoked {
				continue
			}
			if snap.Decide(o.Author, h, access.PathNotify).Allow {
				c.HeldBy = append(c.HeldBy, Holder{Org: h.Author, Object: h.ID, Workspace: h.Workspace})
				continue
			}
			if h.TLP != hub.TLPRed && !exercise(snap, h) {
				counted[h.Author] = true
			}
		}
		// An organisation named in HeldBy is not counted again among the others.
		for _, h := range c.HeldBy {
			delete(counted, h.Org)
		}
		c.OtherMembers = len(counted)
		if len(c.HeldBy) > 0 || c.OtherMembers > 0 {
			out = append(out, c)
		}
	}
	return out, nil
}

// patternValues returns the exact values of o's STIX pattern as "type:value", the form
// kb.Find takes; nothing for an object that is not a STIX-patterned indicator.
func patternValues(o *hub.Object) []string {
	if o.Type != "indicator" {
		return nil
	}
	var b struct {
		Pattern     string `json:"pattern"`
		PatternType string `json:"pattern_type"`
	}
	if decode(o, &b) != nil || b.PatternType != "stix" {
		return nil
	}
	p, err := pattern.Parse(b.Pattern)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range p.Entries() {
		if e.Kind != pattern.Exact || e.Path != "value" {
			continue
		}
		// The canonical form, as the blind index holds it: "SENATE.example." is
		// "senate.example".
		if v, err := match.Canonical(e.Type, e.Value); err == nil && !slices.Contains(out, e.Type+":"+v) {
			out = append(out, e.Type+":"+v)
		}
	}
	return out
}

// FollowCorrelations follows the bus from now on until ctx ends or the subscription does, and
// for each new indicator whose values other organisations' objects hold publishes one
// hub.EventCorrelation per organisation to be told: the new indicator's author, and each other
// holder that may see the new indicator on access.PathNotify or, when it is not TLP:RED, may
// at least count it. Run it on one replica only (under a bus.Leaser), or holders are told once
// per replica.
//
// A correlation event names only the receiver's own object and is marked TLP:RED without
// recipients whatever that object's marking, so that under the access rules its author alone
// may hear of it; the receiver reads the notice itself from Correlations.
func (s *Service) FollowCorrelations(ctx context.Context, events hub.Bus) error {
	ch, err := events.Subscribe(ctx, 0)
	if err != nil {
		return err
	}
	s.kb.Follow(ctx, ch, func(o *hub.Object) {
		if o.Type != "indicator" {
			return
		}
		if err := s.announce(ctx, events, o); err != nil && ctx.Err() == nil {
			s.log.Error("correlation notices", "object", o.ID, "err", err)
		}
	})
	return ctx.Err()
}

// announce publishes the correlation events of the newly stored indicator o.
func (s *Service) announce(ctx context.Context, events hub.Bus, o *hub.Object) error {
	snap, err := access.Load(ctx, s.dir)
	if err != nil {
		return err
	}
	if exercise(snap, o) {
		return nil // training data is never correlated with real data
	}
	var told []*hub.Object
	selfTold := false // whether o's author learns anything from the earlier holders
	for _, value := range patternValues(o) {
		holders, err := s.kb.Find(ctx, hub.Viewer{System: true}, kb.TokenValue, value, maxHolders)
		if hub.ErrorCode(err) == hub.EInvalid {
			continue
		} else if err != nil {
			return err
		}
		for _, h := range holders {
			// Holders stored after o are told when their own arrival is announced: the
			// follower may run behind the store, and must not tell anyone twice.
			if h.Seq > o.Seq || h.Author == o.Author || h.Revoked || exercise(snap, h) {
				continue
			}
			if snap.Decide(o.Author, h, access.PathNotify).Allow || h.TLP != hub.TLPRed {
				selfTold = true
			}
			if slices.ContainsFunc(told, func(x *hub.Object) bool { return x.ID == h.ID && x.Workspace == h.Workspace }) {
				continue
			}
			if snap.Decide(h.Author, o, access.PathNotify).Allow || o.TLP != hub.TLPRed {
				told = append(told, h)
			}
		}
	}
	if selfTold {
		told = append([]*hub.Object{o}, told...)
	}
	for _, x := range told {
		e := hub.Event{Kind: hub.EventCorrelation, ObjectID: x.ID, ObjectSeq: x.Seq, Type: x.Type, Workspace: x.Workspace,
			Author: x.Author, TLP: hub.TLPRed, Time: s.now()}
		if _, err := events.Publish(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// exercise reports whether o lives in an exercise workspace.
func exercise(snap *access.Snapshot, o *hub.Object) bool {
	return snap.Facts("", o.Workspace).Kind == hub.WorkspaceExercise
}
