package search

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Fields of a document, each with its own ranking weight. The order is the order of the
// stored text and of highlights.
const (
	fName  = iota // name
	fAlias        // aliases, ATT&CK ids (G0007, T1003.001)
	fValue        // indicator and observable values: pattern literals, value, hashes
	fText         // description, note and opinion text, report abstract
	nFields
)

// fieldWeight ranks a hit in a name or alias above one in a description: an analyst typing
// "Fancy Bear" means the group called so, not every report that mentions it.
var fieldWeight = [nFields]float64{fName: 3, fAlias: 2.5, fValue: 2, fText: 1}

// stixFields is the part of a STIX object the index reads.
type stixFields struct {
	Name            string            `json:"name"`
	Aliases         []string          `json:"aliases"`
	MitreAliases    []string          `json:"x_mitre_aliases"`
	Description     string            `json:"description"`
	Content         string            `json:"content"`     // note
	Abstract        string            `json:"abstract"`    // note
	Explanation     string            `json:"explanation"` // opinion
	Pattern         string            `json:"pattern"`     // indicator
	Value           string            `json:"value"`       // SCOs: domain-name, ipv4-addr, url, …
	Hashes          map[string]string `json:"hashes"`
	Labels          []string          `json:"labels"`
	Revoked         bool              `json:"revoked"`
	Deprecated      bool              `json:"x_mitre_deprecated"`
	KillChainPhases []struct {
		PhaseName string `json:"phase_name"`
	} `json:"kill_chain_phases"`
	ExternalReferences []struct {
		SourceName string `json:"source_name"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
}

// extracted is what a body yields: the text of each field (values of a multi-valued field
// separated by sepValue), and the keyword metadata.
type extracted struct {
	fields  [nFields]string
	labels  []string
	phases  []string
	stale   bool // revoked or deprecated: ranked lower
	exactly []string
}

// sepValue separates the values of a multi-valued field in stored text; sepField separates
// fields. Neither is a word character, so tokenization is unaffected.
const (
	sepValue = "\x1f"
	sepField = "\x1e"
)

func extract(body []byte) (*extracted, error) {
	var s stixFields
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, err
	}
	e := &extracted{stale: s.Revoked || s.Deprecated}
	e.fields[fName] = s.Name
	var aliases []string
	seen := map[string]bool{fold(s.Name): true}
	for _, a := range append(s.Aliases, s.MitreAliases...) {
		if f := fold(a); !seen[f] && strings.TrimSpace(a) != "" {
			seen[f] = true
			aliases = append(aliases, a)
		}
	}
	for _, r := range s.ExternalReferences {
		if r.ExternalID != "" && strings.HasPrefix(r.SourceName, "mitre-") && !seen[fold(r.ExternalID)] {
			seen[fold(r.ExternalID)] = true
			aliases = append(aliases, r.ExternalID)
		}
	}
	e.fields[fAlias] = strings.Join(aliases, sepValue)
	for k := range seen {
		if k != "" {
			e.exactly = append(e.exactly, k)
		}
	}
	var values []string
	values = append(values, patternLiterals(s.Pattern)...)
	if s.Value != "" {
		values = append(values, s.Value)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Hashes)) {
		values = append(values, s.Hashes[k])
	}
	e.fields[fValue] = strings.Join(values, sepValue)
	var text []string
	for _, t := range []string{s.Description, s.Abstract, s.Content, s.Explanation} {
		if t != "" {
			text = append(text, t)
		}
	}
	e.fields[fText] = strings.Join(text, sepValue)
	for _, l := range s.Labels {
		e.labels = append(e.labels, fold(l))
	}
	for _, p := range s.KillChainPhases {
		e.phases = append(e.phases, fold(p.PhaseName))
	}
	return e, nil
}

// patternLiterals returns the string literals of a STIX pattern, which hold its values:
// [domain-name:value = 'login-ministry.example'] gives login-ministry.example.
func patternLiterals(p string) []string {
	var out []string
	for {
		i := strings.IndexByte(p, '\'')
		if i < 0 {
			return out
		}
		p = p[i+1:]
		var b strings.Builder
		closed := false
		for j := 0; j < len(p); j++ {
			if p[j] == '\\' && j+1 < len(p) {
				b.WriteByte(p[j+1])
				j++
				continue
			}
			if p[j] == '\'' {
				p = p[j+1:]
				closed = true
				break
			}
			b.WriteByte(p[j])
		}
		if !closed {
			return out
		}
		if b.Len() > 0 {
			out = append(out, b.String())
		}
	}
}
