package kb

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"cshub/internal/hub"
	"cshub/internal/match"
	"cshub/internal/stix"
	"cshub/internal/stix/pattern"
)

// Tokenizer makes blind-index tokens: keyed hashes of values, the same for the same value in
// every workspace, so that the store can find sealed objects by an exact value without holding
// the value. *seal.Barrier is one.
type Tokenizer interface {
	Token(kind, value string) ([]byte, error)
}

// Token kinds. Values are folded before hashing so that lookups match the way analysts type.
const (
	TokenName  = "name"  // an object's name, case-folded
	TokenAlias = "alias" // an alias (aliases, x_mitre_aliases), case-folded
	TokenValue = "value" // an indicator value in canonical form
)

// aliasTypes are the STIX types whose objects carry aliases worth finding; only their bodies are
// decoded a second time at ingest, which keeps the cost off the bulk of relationships.
var aliasTypes = map[string]bool{
	"intrusion-set": true, "threat-actor": true, "malware": true, "tool": true,
	"campaign": true, "infrastructure": true, "identity": true, "location": true,
}

// tokens returns the blind-index tokens of a validated object.
func tokens(tk Tokenizer, meta *stix.Meta, body []byte) ([][]byte, error) {
	var out [][]byte
	add := func(kind, value string) error {
		if value == "" {
			return nil
		}
		t, err := tk.Token(kind, value)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}
	if err := add(TokenName, fold(meta.Name)); err != nil {
		return nil, err
	}
	if aliasTypes[meta.Type] {
		var a struct {
			Aliases      []string `json:"aliases"`
			MitreAliases []string `json:"x_mitre_aliases"`
		}
		if json.Unmarshal(body, &a) == nil {
			for _, alias := range append(a.Aliases, a.MitreAliases...) {
				if err := add(TokenAlias, fold(alias)); err != nil {
					return nil, err
				}
			}
		}
	}
	if p := meta.Parsed; p != nil {
		for _, e := range p.Entries() {
			if e.Kind != pattern.Exact {
				continue
			}
			if v, err := valueKey(e.Type, e.Value); err == nil {
				if err := add(TokenValue, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// valueKey is the token input for an indicator value: its canonical form, so that
// "LOGIN.example" and "login.example." find the same objects. Canonical forms of different
// kinds of value (an address, a domain, a hash) cannot be mistaken for each other.
func valueKey(typ, value string) (string, error) {
	return match.Canonical(typ, value)
}

// Find returns up to limit objects v may see that carry the value in the given token kind:
// TokenName and TokenAlias take a name as typed; TokenValue takes a value, bare or as
// "type:value" such as "domain-name:login.example".
func (s *Service) Find(ctx context.Context, v hub.Viewer, kind, value string, limit int) ([]*hub.Object, error) {
	tk, ok := s.sealer.(Tokenizer)
	if !ok {
		return nil, hub.Errorf(hub.EUnavailable, "this hub keeps no blind index")
	}
	var key string
	switch kind {
	case TokenName, TokenAlias:
		key = fold(value)
	case TokenValue:
		typ, val, found := strings.Cut(value, ":")
		if !found || strings.ContainsAny(typ, "/.") {
			typ, val = "", value // a bare value (a URL's scheme is not a type)
		}
		var err error
		if key, err = valueKey(typ, val); err != nil {
			return nil, err
		}
	default:
		return nil, hub.FieldError("kind", "%q is not name, alias or value", kind)
	}
	if key == "" {
		return nil, hub.FieldError("value", "empty")
	}
	t, err := tk.Token(kind, key)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, hub.Filter{Viewer: v, Token: t, Limit: limit})
}

// ObservableTypes are the STIX types ValueTokens reads values from besides indicators: the
// cyber observables whose value (or, for a file, whose hashes) an indicator's pattern names.
var ObservableTypes = []string{"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file"}

// ValueKeys returns the canonical values o holds, without duplicates: the exact values and
// CIDR blocks of an indicator's STIX pattern, the value of an observable, the hashes of a
// file. Values the matching index cannot canonicalise are left out; an object of another type,
// a revoked one or an unreadable body hold none. These are what correlation links are made of.
func ValueKeys(o *hub.Object) []string {
	if o.Revoked {
		return nil
	}
	var b struct {
		Pattern     string            `json:"pattern"`
		PatternType string            `json:"pattern_type"`
		Value       string            `json:"value"`
		Hashes      map[string]string `json:"hashes"`
		Revoked     bool              `json:"revoked"`
	}
	if (o.Type != "indicator" && !slices.Contains(ObservableTypes, o.Type)) || json.Unmarshal(o.Body, &b) != nil || b.Revoked {
		return nil
	}
	var out []string
	add := func(typ, value string) {
		if v, err := valueKey(typ, value); err == nil && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	switch {
	case o.Type == "indicator" && b.PatternType == "stix":
		if p, err := pattern.Parse(b.Pattern); err == nil {
			for _, e := range p.Entries() {
				if e.Kind == pattern.Exact || e.Kind == pattern.CIDR {
					add(e.Type, e.Value)
				}
			}
		}
	case o.Type == "file":
		// As a pattern's file:hashes entries are keyed: by the hash alone, whatever the
		// algorithm's name, in a fixed order.
		for _, alg := range slices.Sorted(maps.Keys(b.Hashes)) {
			add("file", b.Hashes[alg])
		}
	case b.Value != "":
		add(o.Type, b.Value)
	}
	return out
}

// ValueTokens returns the TokenValue tokens of keys, as ValueKeys returns them, in order.
func (s *Service) ValueTokens(keys []string) ([][]byte, error) {
	tk, ok := s.sealer.(Tokenizer)
	if !ok {
		return nil, hub.Errorf(hub.EUnavailable, "this hub keeps no blind index")
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		t, err := tk.Token(TokenValue, k)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}
