package collab

import (
	"cmp"
	"context"
	"slices"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
)

// Opinion values, from STIX 2.1's opinion-enum.
var opinionValues = []string{"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}

// OpinionInput is an organisation's assessment of a claim: an attribution relationship
// (intrusion-set attributed-to threat-actor), a report, or any other object. Confidence is the
// STIX confidence, 0 to 100; nil leaves it unstated.
type OpinionInput struct {
	ObjectRef   string `json:"object_ref"`
	Opinion     string `json:"opinion"`
	Confidence  *int   `json:"confidence"`
	Explanation string `json:"explanation"`
	TLP         string `json:"tlp"`
}

// Opinion is one organisation's assessment as stored.
type Opinion struct {
	ID          string    `json:"id"`
	Org         string    `json:"org"`
	ObjectRef   string    `json:"object_ref"`
	Opinion     string    `json:"opinion"`
	Confidence  *int      `json:"confidence,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
	TLP         hub.TLP   `json:"tlp"`
	Modified    time.Time `json:"modified"`
}

// opinionID is the id of org's opinion on ref: one object per organisation and claim, which
// the organisation revises by adding versions (and which nobody else can, kb being what it is).
func opinionID(org, ref string) string { return derivedID("opinion", org+"\x00"+ref) }

// RecordOpinion stores a's assessment of in.ObjectRef, replacing a's earlier one on the same
// claim by a new version.
func (s *Service) RecordOpinion(ctx context.Context, a Actor, in OpinionInput) (*Opinion, error) {
	if !slices.Contains(opinionValues, in.Opinion) {
		return nil, hub.FieldError("opinion", "%q is not one of strongly-disagree, disagree, neutral, agree, strongly-agree", in.Opinion)
	}
	if in.Confidence != nil && (*in.Confidence < 0 || *in.Confidence > 100) {
		return nil, hub.FieldError("confidence", "must be from 0 to 100")
	}
	if err := checkRef("object_ref", in.ObjectRef); err != nil {
		return nil, err
	}
	want, err := parseTLP("tlp", in.TLP)
	if err != nil {
		return nil, err
	}
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	target, err := s.get(ctx, v, "object_ref", in.ObjectRef)
	if err != nil {
		return nil, err
	}
	now := s.now()
	id := opinionID(a.Org, target.ID)
	created := now
	p := placeAfter(a.Org, target, want)
	if old, err := s.kb.Get(ctx, v, id, time.Time{}); err == nil {
		// A revision keeps the object's creation time and, since TLP is never lowered, its
		// marking at least.
		created = old.Created
		p.tlp = max(p.tlp, old.TLP)
		if !now.After(old.Modified) {
			now = old.Modified.Add(time.Millisecond)
		}
	} else if hub.ErrorCode(err) != hub.ENotFound {
		return nil, err
	}
	obj := map[string]any{"type": "opinion", "id": id, "created": stixTime(created), "modified": stixTime(now),
		"opinion": in.Opinion, "object_refs": []string{target.ID}}
	if in.Confidence != nil {
		obj["confidence"] = *in.Confidence
	}
	if in.Explanation != "" {
		obj["explanation"] = in.Explanation
	}
	o, err := s.put(ctx, a, p, obj)
	if err != nil {
		return nil, err
	}
	return opinionOf(o)
}

func opinionOf(o *hub.Object) (*Opinion, error) {
	var b struct {
		Opinion     string   `json:"opinion"`
		ObjectRefs  []string `json:"object_refs"`
		Confidence  *int     `json:"confidence"`
		Explanation string   `json:"explanation"`
	}
	if err := decode(o, &b); err != nil {
		return nil, err
	}
	op := &Opinion{ID: o.ID, Org: o.Author, Opinion: b.Opinion, Confidence: b.Confidence, Explanation: b.Explanation, TLP: o.TLP, Modified: o.Modified}
	if len(b.ObjectRefs) > 0 {
		op.ObjectRef = b.ObjectRefs[0]
	}
	return op, nil
}

// Claim is one attribution claim with every assessment of it the reader may see, side by side:
// assessments are sovereign calls and are never averaged or merged. Positions lists the
// organisations per opinion value.
type Claim struct {
	Object           string              `json:"object"`
	Type             string              `json:"type"`
	Name             string              `json:"name,omitempty"`
	RelationshipType string              `json:"relationship_type,omitempty"`
	Source           *Ref                `json:"source,omitempty"`
	Target           *Ref                `json:"target,omitempty"`
	Opinions         []*Opinion          `json:"opinions"`
	Positions        map[string][]string `json:"positions"`
}

// Ref names an object a claim is about, with its name when the reader may see it.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Attribution returns the claims org may see that carry opinions org may see, or only the claim
// object when it is not empty (then with no opinions if none were given). Opinions on one claim
// by one organisation appear once, in their latest version.
func (s *Service) Attribution(ctx context.Context, org, object string) ([]*Claim, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	objs, err := s.list(ctx, v, "opinion")
	if err != nil {
		return nil, err
	}
	byClaim := map[string][]*Opinion{}
	var order []string
	if object != "" {
		order = append(order, object)
	}
	for _, o := range objs {
		op, err := opinionOf(o)
		if err != nil {
			return nil, err
		}
		if object != "" && op.ObjectRef != object {
			continue
		}
		if _, ok := byClaim[op.ObjectRef]; !ok && op.ObjectRef != object {
			order = append(order, op.ObjectRef)
		}
		byClaim[op.ObjectRef] = append(byClaim[op.ObjectRef], op)
	}
	claims := []*Claim{}
	for _, id := range order {
		target, err := s.get(ctx, v, "object", id)
		if hub.ErrorCode(err) == hub.ENotFound && id != object {
			continue // opinions on a claim the reader may not see say nothing to it
		} else if err != nil {
			return nil, err
		}
		c := &Claim{Object: target.ID, Type: target.Type, Opinions: byClaim[id], Positions: map[string][]string{}}
		var b struct {
			Name             string `json:"name"`
			RelationshipType string `json:"relationship_type"`
			SourceRef        string `json:"source_ref"`
			TargetRef        string `json:"target_ref"`
		}
		if err := decode(target, &b); err != nil {
			return nil, err
		}
		c.Name, c.RelationshipType = b.Name, b.RelationshipType
		if b.SourceRef != "" {
			c.Source = s.ref(ctx, v, b.SourceRef)
			c.Target = s.ref(ctx, v, b.TargetRef)
		}
		if c.Opinions == nil {
			c.Opinions = []*Opinion{}
		}
		slices.SortFunc(c.Opinions, func(a, b *Opinion) int { return cmp.Compare(a.Org, b.Org) })
		for _, op := range c.Opinions {
			c.Positions[op.Opinion] = append(c.Positions[op.Opinion], op.Org)
		}
		claims = append(claims, c)
	}
	return claims, nil
}

// ref names id with its name when v may see it; an object v may not see is named by id only.
func (s *Service) ref(ctx context.Context, v hub.Viewer, id string) *Ref {
	r := &Ref{ID: id}
	if o, err := s.kb.Get(ctx, v, id, time.Time{}); err == nil {
		var b struct {
			Name string `json:"name"`
		}
		if decode(o, &b) == nil {
			r.Name = b.Name
		}
	}
	return r
}
