// Package extract finds what a threat report talks about in free text: indicators of
// compromise (addresses, domains, URLs, e-mail addresses, hashes), CVE ids, ATT&CK technique
// ids, UN document symbols, and known entities named in it (threat actors, tools and malware
// from MITRE ATT&CK and the MISP threat-actor galaxy, countries, sectors). ToSTIX turns the
// result into a STIX 2.1 bundle: a report linked to indicators, vulnerabilities, locations,
// sector identities and the existing ATT&CK objects.
//
// A Dictionary is built once (NewDictionary) and is then read-only: Extract is safe for
// concurrent use and runs in one pass of an Aho-Corasick automaton plus one pass of the
// indicator scanner, so its cost grows linearly with the text.
//
// The rules that keep ordinary prose from turning into entities (stop-listed aliases, file
// names that look like domains, version numbers that look like addresses, "US" as a country
// only where it cannot be the pronoun) are documented where they are applied, and the test
// table of tricky text pins them down.
package extract

import (
	"cmp"
	"slices"
)

// Kind is the kind of an extracted entity.
type Kind string

// The kinds of entity Extract reports.
const (
	KindIPv4        Kind = "ipv4"
	KindIPv6        Kind = "ipv6"
	KindCIDR        Kind = "cidr"
	KindDomain      Kind = "domain"
	KindURL         Kind = "url"
	KindEmail       Kind = "email"
	KindMD5         Kind = "md5"
	KindSHA1        Kind = "sha1"
	KindSHA256      Kind = "sha256"
	KindSHA512      Kind = "sha512"
	KindCVE         Kind = "cve"
	KindTechnique   Kind = "attack-technique"
	KindUNDocument  Kind = "un-document"
	KindThreatActor Kind = "threat-actor"
	KindTool        Kind = "tool"
	KindMalware     Kind = "malware"
	KindCountry     Kind = "country"
	KindSector      Kind = "sector"
)

// IsIndicator reports whether entities of kind k become STIX indicators.
func (k Kind) IsIndicator() bool {
	switch k {
	case KindIPv4, KindIPv6, KindCIDR, KindDomain, KindURL, KindEmail, KindMD5, KindSHA1, KindSHA256, KindSHA512:
		return true
	}
	return false
}

// Span is a byte range [Start, End) of the text.
type Span struct {
	Start, End int
}

// Entity is one thing found in the text. Extract returns each (Kind, Value) once; Start, End and
// Text describe its first occurrence and Spans lists every occurrence, the first included.
type Entity struct {
	Kind  Kind
	Value string // canonical: refanged and lower-cased indicators, "CVE-2017-11882", "T1059.001", ISO country code, STIX industry sector, the entity's name for actors and software
	Text  string // as written at the first occurrence, e.g. "hxxps://secure-mail.example[.]net/owa" or "Fancy Bear"
	Start int    // byte offset of the first occurrence
	End   int    // byte offset just after the first occurrence
	// Ref is the STIX id a known entity resolves to: the ATT&CK intrusion-set, tool, malware or
	// attack-pattern, or for threat actors known only to the MISP galaxy a threat-actor id
	// derived from the galaxy cluster (ToSTIX then includes a threat-actor object for it).
	// It is empty for indicators, CVEs, UN documents, countries and sectors, whose objects
	// ToSTIX creates with deterministic ids.
	Ref   string
	Name  string // canonical name: "APT28", "Turkey", "Energy"; the value for the other kinds
	Spans []Span // every occurrence, in text order
	// Lists names the warninglists holding an indicator's value ("Top 1000 domains"). Extract
	// leaves it empty: the caller that knows the lists sets it, and ToSTIX writes it on the
	// indicator as x_cshub_warninglists so that analysts see it wherever the indicator goes.
	Lists []string
}

// Extract returns the entities in text, sorted by the offset of their first occurrence and
// deduplicated by (Kind, Value). Indicators take precedence over names: a country or alias
// inside a URL or domain is not reported. Extract never fails: text that is not valid UTF-8 is
// scanned as bytes. A nil Dictionary finds indicators, CVEs, technique and UN document ids only.
func (d *Dictionary) Extract(text string) []Entity {
	var raw []Entity
	raw = scanIOCs(text, d.tlds(), raw)
	if d != nil {
		raw = d.scanNames(text, raw)
	}
	return merge(raw)
}

// merge sorts found occurrences and folds those of the same (Kind, Value) into one Entity.
func merge(raw []Entity) []Entity {
	slices.SortStableFunc(raw, func(a, b Entity) int {
		if c := cmp.Compare(a.Start, b.Start); c != 0 {
			return c
		}
		return cmp.Compare(b.End, a.End)
	})
	type key struct {
		k Kind
		v string
	}
	index := make(map[key]int, len(raw))
	out := raw[:0:0]
	for _, e := range raw {
		k := key{e.Kind, e.Value}
		if i, ok := index[k]; ok {
			out[i].Spans = append(out[i].Spans, Span{e.Start, e.End})
			continue
		}
		index[k] = len(out)
		e.Spans = []Span{{e.Start, e.End}}
		out = append(out, e)
	}
	return out
}
