package lookup

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/match"
	"cshub/internal/stix/pattern"
)

// HowPattern is how a match was made when the indicator's whole pattern was evaluated against
// an observation, rather than one of its values found in the index.
const HowPattern = "pattern"

// Observed is one observed-data object to match: its id and what it observed.
type Observed struct {
	ID          string
	Observation pattern.Observation
}

// ObservedResult is the answer for one observed-data object: the indicators the caller may see
// whose patterns it satisfies.
type ObservedResult struct {
	ObservedData string  `json:"observed_data"`
	Matches      []Match `json:"matches"`
}

// MatchObserved evaluates the indicators v may see against each observation. Candidates are
// the indicators one of the observed values hits in the index, and those no index entry can
// find; a candidate whose pattern a hit does not settle (several comparisons, qualifiers,
// FOLLOWEDBY) matches only if its whole pattern holds for the observation, and is reported as
// HowPattern. Expired and revoked indicators do not match.
func (s *Service) MatchObserved(v hub.Viewer, obs []Observed) []ObservedResult {
	out := make([]ObservedResult, len(obs))
	now := time.Now().UnixNano()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i, o := range obs {
		out[i] = ObservedResult{ObservedData: o.ID, Matches: []Match{}}
		cands := map[match.Ref]match.Hit{}
		s.idx.LookupBatch(observedValues(o.Observation), func(_ int, h match.Hit) {
			if _, seen := cands[h.Ref]; !seen {
				cands[h.Ref] = h
			}
		})
		for ref := range s.scan {
			if s.refs[ref].until == 0 || now < s.refs[ref].until { // the index checks the others' expiry
				cands[ref] = match.Hit{Ref: ref, How: HowPattern}
			}
		}
		refs := make([]match.Ref, 0, len(cands))
		for ref := range cands {
			refs = append(refs, ref)
		}
		slices.Sort(refs)
		for _, ref := range refs {
			ind, h := s.refs[ref], cands[ref]
			obj := hub.Object{Workspace: ind.workspace, Author: ind.author, TLP: ind.tlp, Recipients: ind.recipients}
			if ind.removed || !access.Visible(v, &obj) {
				continue
			}
			if ind.pat != nil {
				if !ind.pat.Match([]pattern.Observation{o.Observation}) {
					continue
				}
				h.How, h.Matched = HowPattern, ""
			}
			out[i].Matches = append(out[i].Matches, Match{ID: ind.id, Name: ind.name, Workspace: ind.workspace,
				TLP: ind.tlp.String(), Author: ind.author, Confidence: ind.confidence, How: h.How, Matched: h.Matched})
		}
	}
	return out
}

// observedValues returns the values of an observation the index can look up: the value of
// each address, domain, URL and e-mail address, and each file hash.
func observedValues(o pattern.Observation) []match.Query {
	var qs []match.Query
	for _, sco := range o.Objects {
		typ, _ := sco["type"].(string)
		switch typ {
		case "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr":
			if v, ok := sco["value"].(string); ok {
				qs = append(qs, match.Query{Type: typ, Value: v})
			}
		case "file":
			hashes, _ := sco["hashes"].(map[string]any)
			for alg, v := range hashes {
				if v, ok := v.(string); ok {
					qs = append(qs, match.Query{Type: alg, Value: v})
				}
			}
		}
	}
	return qs
}

// addReferenced puts the SCO id and, transitively, every SCO its *_ref and *_refs properties
// name into objs, so that the evaluator can follow a network-traffic's src_ref to its address.
func addReferenced(objs, scos map[string]map[string]any, id string) {
	sco, ok := scos[id]
	if _, done := objs[id]; done || !ok {
		return
	}
	objs[id] = sco
	for k, v := range sco {
		switch {
		case strings.HasSuffix(k, "_ref"):
			if ref, ok := v.(string); ok {
				addReferenced(objs, scos, ref)
			}
		case strings.HasSuffix(k, "_refs"):
			refs, _ := v.([]any)
			for _, r := range refs {
				if ref, ok := r.(string); ok {
					addReferenced(objs, scos, ref)
				}
			}
		}
	}
}

// ReadObserved reads the observed-data objects of a STIX 2.1 bundle, each with the SCOs its
// object_refs name (found in the same bundle), or with its deprecated objects property. Errors
// name the object and field at fault.
func ReadObserved(bundle []byte) ([]Observed, error) {
	var b struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, hub.FieldError("body", "not a STIX bundle: %v", err)
	}
	if b.Type != "bundle" {
		return nil, hub.FieldError("type", "%q, want \"bundle\"", b.Type)
	}
	type observedData struct {
		Type           string                    `json:"type"`
		ID             string                    `json:"id"`
		FirstObserved  time.Time                 `json:"first_observed"`
		LastObserved   time.Time                 `json:"last_observed"`
		NumberObserved int                       `json:"number_observed"`
		ObjectRefs     []string                  `json:"object_refs"`
		Objects        map[string]map[string]any `json:"objects"`
	}
	scos := map[string]map[string]any{}
	var ods []observedData
	for i, raw := range b.Objects {
		var head struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "not a JSON object: %v", err)
		}
		if head.Type == "observed-data" {
			var od observedData
			if err := json.Unmarshal(raw, &od); err != nil {
				return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "%s: %v", head.ID, err)
			}
			ods = append(ods, od)
			continue
		}
		var sco map[string]any
		if err := json.Unmarshal(raw, &sco); err != nil {
			return nil, hub.FieldError(fmt.Sprintf("objects[%d]", i), "%v", err)
		}
		scos[head.ID] = sco
	}
	if len(ods) == 0 {
		return nil, hub.FieldError("objects", "the bundle holds no observed-data")
	}
	out := make([]Observed, len(ods))
	for i, od := range ods {
		o := pattern.Observation{Objects: od.Objects, FirstObserved: od.FirstObserved, LastObserved: od.LastObserved, NumberObserved: od.NumberObserved}
		if o.Objects == nil {
			o.Objects = make(map[string]map[string]any, len(od.ObjectRefs))
		}
		for _, ref := range od.ObjectRefs {
			if _, ok := scos[ref]; !ok {
				return nil, hub.FieldError("object_refs", "%s names %s, which the bundle does not hold", od.ID, ref)
			}
			addReferenced(o.Objects, scos, ref)
		}
		if len(o.Objects) == 0 {
			return nil, hub.FieldError("object_refs", "%s observed nothing", od.ID)
		}
		out[i] = Observed{ID: od.ID, Observation: o}
	}
	return out, nil
}
