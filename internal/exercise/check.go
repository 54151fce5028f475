package exercise

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/misp"
	"cshub/internal/search"
	"cshub/internal/stix/pattern"
)

// evaluate reports whether check c holds on objs, the objects team p produced.
func (s *Service) evaluate(ctx context.Context, c *Check, p teamPlace, objs []*hub.Object) (bool, error) {
	switch c.Kind {
	case "objects":
		return c.objectsHold(objs), nil
	case "misp":
		doc, err := mispView(objs)
		if err != nil {
			return false, err
		}
		return c.filtersHold(doc)
	case "search":
		hits, err := s.searchTeam(ctx, c.Query, p, objs)
		if err != nil || len(hits) == 0 {
			return false, err
		}
		if len(c.Filters) == 0 {
			return true, nil
		}
		event, err := mispView(hits)
		if err != nil {
			return false, err
		}
		return c.filtersHold(map[string]any{"response": []any{event}})
	}
	return false, hub.FieldError("kind", "%q is not a check this hub runs", c.Kind)
}

// objectsHold evaluates an "objects" check (see Check).
func (c *Check) objectsHold(objs []*hub.Object) bool {
	n := 0
	covered := map[string]bool{}
	for _, o := range objs {
		if !slices.Contains(c.Types, o.Type) {
			continue
		}
		lower := strings.ToLower(string(o.Body))
		if slices.ContainsFunc(c.Text, func(t string) bool { return !strings.Contains(lower, strings.ToLower(t)) }) {
			continue
		}
		var body map[string]any
		if json.Unmarshal(o.Body, &body) != nil {
			continue
		}
		if slices.ContainsFunc(c.Has, func(k string) bool { v, ok := body[k]; return !ok || v == nil || v == "" }) {
			continue
		}
		n++
		for _, v := range observedValues(body) {
			covered[strings.ToLower(v)] = true
		}
	}
	if n < max(c.Min, 1) {
		return false
	}
	for _, v := range c.Values {
		if !covered[strings.ToLower(v)] {
			return false
		}
	}
	return true
}

// observedValues returns the observable values an object carries: the constants of an
// indicator's pattern, an observable's value, and the values of observed-data's objects.
func observedValues(body map[string]any) []string {
	var out []string
	if p, ok := body["pattern"].(string); ok {
		if parsed, err := pattern.Parse(p); err == nil {
			for _, e := range parsed.Entries() {
				out = append(out, e.Value)
			}
		}
	}
	if v, ok := body["value"].(string); ok {
		out = append(out, v)
	}
	if objs, ok := body["objects"].(map[string]any); ok {
		for _, o := range objs {
			if m, ok := o.(map[string]any); ok {
				if v, ok := m["value"].(string); ok {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// filtersHold runs the check's filters on doc: all must hold, or one with AnyOf.
func (c *Check) filtersHold(doc any) (bool, error) {
	for _, f := range c.Filters {
		expr, err := ParseFilter(f.Path)
		if err != nil {
			return false, err
		}
		got, err := expr.Eval(doc)
		ok := false
		if err == nil {
			// A filter that fails on the team's data (a type error) does not match it, as in
			// the CEXF evaluator.
			if ok, err = f.holds(got); err != nil {
				return false, err
			}
		}
		if ok && c.AnyOf {
			return true, nil
		}
		if !ok && !c.AnyOf {
			return false, nil
		}
	}
	return !c.AnyOf, nil
}

// mispView returns the MISP-format event (package misp) of objs, decoded as JSON values.
func mispView(objs []*hub.Object) (any, error) {
	bodies := make([][]byte, len(objs))
	for i, o := range objs {
		bodies[i] = o.Body
	}
	b, err := misp.FromSTIX(bodies)
	if err != nil {
		return nil, err
	}
	var doc any
	err = json.Unmarshal(b, &doc)
	return doc, err
}

// searchTeam runs q through the hub's full-text search (package search) over the team's
// objects only, as the team's organisation sees them on access.PathExercise, and returns the
// objects that match. The index is built for the one check and dropped: exercise objects are
// never added to the hub's own index.
func (s *Service) searchTeam(ctx context.Context, q string, p teamPlace, objs []*hub.Object) ([]*hub.Object, error) {
	v, err := access.ViewerFor(ctx, s.dir, p.Org, access.PathExercise)
	if err != nil {
		return nil, err
	}
	x := search.New()
	byKey := map[string]*hub.Object{}
	for _, o := range objs {
		if x.Add(o) == nil {
			byKey[o.Workspace+"\x00"+o.ID] = o
		}
	}
	res, err := x.Search(ctx, v, strings.TrimSpace(q+" author:"+p.Org), search.MaxLimit, "")
	if err != nil {
		return nil, err
	}
	var out []*hub.Object
	for _, h := range res.Hits {
		if o := byKey[h.Workspace+"\x00"+h.ID]; o != nil {
			out = append(out, o)
		}
	}
	return out, nil
}
