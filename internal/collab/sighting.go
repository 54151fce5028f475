package collab

import (
	"context"
	"slices"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

// SightingInput is what a member says it saw. SightingOf is the indicator or observable (any
// object the member may see); Count defaults to 1; FirstSeen and LastSeen default to now;
// WhereSightedRefs name identities or locations (STIX where_sighted_refs). An anonymous
// sighting hides the recording organisation from every reader but itself; a false-positive one
// says the indicator fired on benign activity.
type SightingInput struct {
	SightingOf       string   `json:"sighting_of_ref"`
	Count            int      `json:"count"`
	FirstSeen        string   `json:"first_seen"`
	LastSeen         string   `json:"last_seen"`
	WhereSightedRefs []string `json:"where_sighted_refs"`
	Description      string   `json:"description"`
	Anonymous        bool     `json:"x_cshub_anonymous"`
	FalsePositive    bool     `json:"x_cshub_false_positive"`
	TLP              string   `json:"tlp"`
}

// maxCount bounds a sighting's count as STIX does (999 999 999).
const maxCount = 999_999_999

// Sighting is a sighting as a reader sees it: Org is AnonymousOrg for an anonymous sighting
// unless the reader recorded it.
type Sighting struct {
	ID            string    `json:"id"`
	SightingOf    string    `json:"sighting_of_ref"`
	Org           string    `json:"org"`
	Count         int       `json:"count"`
	FirstSeen     time.Time `json:"first_seen"`
	LastSeen      time.Time `json:"last_seen"`
	Where         []string  `json:"where_sighted_refs,omitempty"`
	Description   string    `json:"description,omitempty"`
	Anonymous     bool      `json:"anonymous"`
	FalsePositive bool      `json:"false_positive"`
	TLP           hub.TLP   `json:"tlp"`
	Workspace     string    `json:"workspace"`
	Modified      time.Time `json:"modified"`
}

// Sightings is what a reader may know of the sightings of one object: each sighting, the sum
// of counts per TLP level, and, for an indicator, its score.
type Sightings struct {
	Object         string          `json:"object"`
	Sightings      []Sighting      `json:"sightings"`
	Count          int             `json:"count"`
	CountByTLP     map[hub.TLP]int `json:"count_by_tlp"`
	FalsePositives int             `json:"false_positives"`
	Score          *Score          `json:"score,omitempty"`
}

// Score rates an indicator by what members saw of it, from 0 (known benign) to 100:
//
//	score = clamp(50 + 10·confirmed − 25·false_positive, 0, 100)
//
// where confirmed counts the organisations whose latest sighting of the indicator is a true
// one and false_positive those whose latest is a false positive. Organisations are counted
// once each, so no member can push a score by repeating itself, and a false positive weighs
// more than a confirmation because one benign hit is enough to make blocking harmful. The
// score is computed over the sightings the reader may see, so it never reveals a sighting
// hidden from the reader.
type Score struct {
	Value          int `json:"value"`
	Confirmed      int `json:"confirmed"`
	FalsePositives int `json:"false_positives"`
}

// ScoreOf returns the score of an indicator confirmed and marked false positive by the given
// numbers of organisations.
func ScoreOf(confirmed, falsePositives int) *Score {
	v := min(max(50+10*confirmed-25*falsePositives, 0), 100)
	return &Score{Value: v, Confirmed: confirmed, FalsePositives: falsePositives}
}

// RecordSighting stores a sighting by a. The object sighted must be one a may read; the
// sighting goes to that object's workspace, at its TLP or higher.
func (s *Service) RecordSighting(ctx context.Context, a Actor, in SightingInput) (*Sighting, error) {
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	target, err := s.get(ctx, v, "sighting_of_ref", in.SightingOf)
	if err != nil {
		return nil, err
	}
	if in.Count == 0 {
		in.Count = 1
	}
	if in.Count < 0 || in.Count > maxCount {
		return nil, hub.FieldError("count", "must be from 1 to %d", maxCount)
	}
	now := s.now()
	last, err := parseTime("last_seen", in.LastSeen, now)
	if err != nil {
		return nil, err
	}
	first, err := parseTime("first_seen", in.FirstSeen, last)
	if err != nil {
		return nil, err
	}
	if last.Before(first) {
		return nil, hub.FieldError("last_seen", "is before first_seen")
	}
	for _, ref := range in.WhereSightedRefs {
		if err := checkRef("where_sighted_refs", ref); err != nil {
			return nil, err
		}
		if t := refType(ref); t != "identity" && t != "location" {
			return nil, hub.FieldError("where_sighted_refs", "%q is neither an identity nor a location", ref)
		}
	}
	want, err := parseTLP("tlp", in.TLP)
	if err != nil {
		return nil, err
	}
	obj := map[string]any{
		"type": "sighting", "id": stix.NewID("sighting"), "created": stixTime(now), "modified": stixTime(now),
		"sighting_of_ref": target.ID, "count": in.Count,
		"first_seen": stixTime(first), "last_seen": stixTime(last),
	}
	if len(in.WhereSightedRefs) > 0 {
		obj["where_sighted_refs"] = in.WhereSightedRefs
	}
	if in.Description != "" {
		obj["description"] = in.Description
	}
	// An anonymous sighting carries nothing naming its author (no created_by_ref): the body
	// goes out as it is on every read path, the stream and webhooks.
	if in.Anonymous {
		obj[PropAnonymous] = true
	}
	if in.FalsePositive {
		obj[PropFalsePositive] = true
	}
	o, err := s.put(ctx, a, placeAfter(a.Org, target, want), obj)
	if err != nil {
		return nil, err
	}
	sg, err := sightingOf(a.Org, o)
	if err != nil {
		return nil, err
	}
	return &sg, nil
}

// SightingsOf returns the sightings of object id that org may see, with counts and score.
func (s *Service) SightingsOf(ctx context.Context, org, id string) (*Sightings, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	target, err := s.get(ctx, v, "object", id)
	if err != nil {
		return nil, err
	}
	objs, err := s.list(ctx, v, "sighting")
	if err != nil {
		return nil, err
	}
	out := &Sightings{Object: target.ID, Sightings: []Sighting{}, CountByTLP: map[hub.TLP]int{}}
	latest := map[string]Sighting{} // by real author: the latest sighting decides its vote
	for _, o := range objs {
		sg, err := sightingOf(org, o)
		if err != nil {
			return nil, err
		}
		if sg.SightingOf != target.ID {
			continue
		}
		out.Sightings = append(out.Sightings, sg)
		out.CountByTLP[o.TLP] += sg.Count
		out.Count += sg.Count
		if sg.FalsePositive {
			out.FalsePositives++
		}
		if old, ok := latest[o.Author]; !ok || !sg.LastSeen.Before(old.LastSeen) {
			latest[o.Author] = sg
		}
	}
	if target.Type == "indicator" {
		confirmed, fps := 0, 0
		for _, sg := range latest {
			if sg.FalsePositive {
				fps++
			} else {
				confirmed++
			}
		}
		out.Score = ScoreOf(confirmed, fps)
	}
	slices.SortFunc(out.Sightings, func(a, b Sighting) int { return a.LastSeen.Compare(b.LastSeen) })
	return out, nil
}

// sightingOf decodes a stored sighting as reader sees it.
func sightingOf(reader string, o *hub.Object) (Sighting, error) {
	var b struct {
		SightingOf    string    `json:"sighting_of_ref"`
		Count         *int      `json:"count"`
		FirstSeen     time.Time `json:"first_seen"`
		LastSeen      time.Time `json:"last_seen"`
		Where         []string  `json:"where_sighted_refs"`
		Description   string    `json:"description"`
		Anonymous     bool      `json:"x_cshub_anonymous"`
		FalsePositive bool      `json:"x_cshub_false_positive"`
	}
	if err := decode(o, &b); err != nil {
		return Sighting{}, err
	}
	sg := Sighting{ID: o.ID, SightingOf: b.SightingOf, Org: o.Author, Count: 1, FirstSeen: b.FirstSeen, LastSeen: b.LastSeen,
		Where: b.Where, Description: b.Description, Anonymous: b.Anonymous, FalsePositive: b.FalsePositive,
		TLP: o.TLP, Workspace: o.Workspace, Modified: o.Modified}
	if b.Count != nil {
		sg.Count = *b.Count
	}
	if sg.LastSeen.IsZero() {
		sg.LastSeen = o.Modified
	}
	if b.Anonymous && reader != o.Author {
		sg.Org = AnonymousOrg
	}
	return sg, nil
}

// parseTime reads an optional RFC 3339 time of a request, def when empty.
func parseTime(field, s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, hub.FieldError(field, "%q is not an RFC 3339 timestamp", s)
	}
	return t, nil
}
