package extract

import (
	"bytes"
	"cmp"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"cshub/internal/hub"
	"cshub/internal/stix"
)

//go:embed testdata/embedded/tlds.json testdata/embedded/country.json testdata/embedded/threat-actor.json
//go:embed testdata/embedded/LICENSE-misp-galaxy.md testdata/embedded/LICENSE-misp-warninglists.txt
var embedded embed.FS

// ThreatActorGalaxy returns the MISP threat-actor galaxy (misp-galaxy clusters/threat-actor.json,
// version 349, CC0 1.0 or BSD-2-Clause; see GalaxyLicence) embedded in the binary, ready to pass
// to NewDictionary.
func ThreatActorGalaxy() io.Reader {
	b, err := embedded.ReadFile("testdata/embedded/threat-actor.json")
	if err != nil {
		panic(fmt.Sprintf("extract: embedded threat-actor galaxy: %v", err)) // a broken build
	}
	return bytes.NewReader(b)
}

// GalaxyLicence returns the licence of the MISP galaxy and warninglist data embedded in the
// package, which copies of that data must carry.
func GalaxyLicence() []byte {
	var out []byte
	for _, f := range []string{"testdata/embedded/LICENSE-misp-galaxy.md", "testdata/embedded/LICENSE-misp-warninglists.txt"} {
		b, err := embedded.ReadFile(f)
		if err != nil {
			panic(fmt.Sprintf("extract: embedded %s: %v", f, err))
		}
		out = append(out, b...)
		out = append(out, '\n')
	}
	return out
}

// defaultTLDs is the MISP tlds warninglist plus the names RFC 2606 and RFC 7686 reserve, which
// reports use in examples and for Tor services.
var defaultTLDs = sync.OnceValue(func() map[string]bool {
	var wl struct {
		List []string `json:"list"`
	}
	b, err := embedded.ReadFile("testdata/embedded/tlds.json")
	if err == nil {
		err = json.Unmarshal(b, &wl)
	}
	if err != nil {
		panic(fmt.Sprintf("extract: embedded tlds.json: %v", err))
	}
	m := make(map[string]bool, len(wl.List)+4)
	for _, t := range wl.List {
		m[strings.ToLower(t)] = true
	}
	for _, t := range []string{"example", "test", "invalid", "onion"} {
		m[t] = true
	}
	return m
})

func (d *Dictionary) tlds() map[string]bool { return defaultTLDs() }

// Dictionary recognises known entities by name: threat actors, tools and malware (from the
// ATT&CK bundle and MISP galaxies), countries and sectors (built in), and resolves ATT&CK
// technique ids. It is immutable once built and safe for concurrent use.
type Dictionary struct {
	auto       *automaton
	keys       []keyEntry          // by automaton key index
	targets    []target            // what names resolve to
	techniques map[string]target   // ATT&CK technique id -> attack-pattern
	ambiguous  map[string][]string // dropped keys -> the refs they could mean; for tests and docs
}

// target is an entity a name resolves to.
type target struct {
	kind  Kind
	value string
	name  string
	ref   string
}

// Flags that restrict where a name may match.
const (
	fExact      = 1 << iota // the text must equal the form byte for byte
	fNotInitial             // not at the start of a sentence (for capitalised common words)
	fNotLower               // not written all in lower case (countries: "turkey", "chad")
	fShout                  // "US": not next to an all-capitals word (shouted text, "LET US")
	fNoHyphen               // not right after a hyphen ("cyber-defence", "self-defence")
)

// variant is one way a key may match, and what it then means.
type variant struct {
	target int
	form   string
	flags  uint8
}

type keyEntry struct {
	variants []variant
}

// Ranks of name sources, best first: a primary name beats an alias when two entities claim
// the same key.
const (
	rankBuiltin     = iota // countries and sectors
	rankName               // ATT&CK object name or id
	rankGalaxyName         // MISP cluster value
	rankAlias              // ATT&CK alias
	rankGalaxyAlias        // MISP synonym
	// rankVariant is added to the rank of a generated spelling, such as "APT 28" for "APT28",
	// so that variants keep the order of the names they come from and lose to real names.
	rankVariant = 10
)

// candidate is a key claimed by a target while the dictionary is built.
type candidate struct {
	target int
	form   string
	flags  uint8
	rank   int
}

// builder collects candidates before the automaton is compiled.
type builder struct {
	d        *Dictionary
	cands    map[string][]candidate
	byRef    map[string]int // ref -> target index, so an entity is one target
	attackIS map[string]int // ATT&CK intrusion-set UUID -> target index
	isNames  map[int][]string
}

// NewDictionary builds a dictionary from an ATT&CK STIX 2.1 bundle (intrusion sets with their
// aliases, malware and tools with x_mitre_aliases, attack-patterns for technique ids; revoked
// and deprecated objects are skipped) and any number of MISP threat-actor galaxy files
// (cluster values and meta.synonyms; a cluster whose related list names an ATT&CK intrusion set
// of the bundle resolves to it). attack may be nil. Countries and sectors are always included.
// It fails if a reader fails or holds malformed content; the error names the input.
func NewDictionary(attack io.Reader, galaxies ...io.Reader) (*Dictionary, error) {
	b := &builder{
		d:        &Dictionary{techniques: map[string]target{}, ambiguous: map[string][]string{}},
		cands:    map[string][]candidate{},
		byRef:    map[string]int{},
		attackIS: map[string]int{},
		isNames:  map[int][]string{},
	}
	b.addCountries()
	b.addSectors()
	if attack != nil {
		if err := b.addAttack(attack); err != nil {
			return nil, err
		}
	}
	for i, g := range galaxies {
		if err := b.addGalaxy(g); err != nil {
			return nil, fmt.Errorf("extract: galaxy %d: %w", i, err)
		}
	}
	b.compile()
	return b.d, nil
}

// targetFor returns the index of the target with ref (or, for built-ins, kind and value),
// adding it if new.
func (b *builder) targetFor(t target) int {
	key := t.ref
	if key == "" {
		key = string(t.kind) + "\x00" + t.value
	}
	if i, ok := b.byRef[key]; ok {
		return i
	}
	b.d.targets = append(b.d.targets, t)
	b.byRef[key] = len(b.d.targets) - 1
	return len(b.d.targets) - 1
}

// add offers form as a name of target ti, applying the stop list and the other filters.
func (b *builder) add(ti int, form string, rank int, flags uint8) {
	form = strings.TrimSpace(form)
	key := normalise(form)
	// Two-letter names are too common to match ("at", "IT") except the built-in short forms
	// that match exactly ("US", "UK").
	short := len(key) < 3 && !(rank == rankBuiltin && flags&fExact != 0)
	if short || len(key) > maxKeyLen || allDigits(strings.ReplaceAll(key, " ", "")) {
		return
	}
	kind := b.d.targets[ti].kind
	if kind == KindThreatActor || kind == KindTool || kind == KindMalware {
		if genericAlias(key) || (len(key) <= 3 && strings.ToLower(form) == form) {
			return
		}
		if stopWords[key] {
			switch {
			case isShouted(form):
				flags |= fExact
			case isUpper(form[0]):
				flags |= fExact | fNotInitial
			default:
				return
			}
		}
		// "APT28" is also written "APT 28" and "APT-28".
		if rank < rankVariant {
			if v, ok := splitDigits(form); ok {
				b.add(ti, v, rank+rankVariant, flags)
			}
		}
	}
	b.cands[key] = append(b.cands[key], candidate{target: ti, form: form, flags: flags, rank: rank})
}

// isShouted reports whether s has at least two letters, all of them capitals.
func isShouted(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isLower(s[i]) {
			return false
		}
		if isUpper(s[i]) {
			n++
		}
	}
	return n >= 2
}

// splitDigits returns "APT 28" for "APT28": capitals followed by digits.
func splitDigits(s string) (string, bool) {
	i := 0
	for i < len(s) && isUpper(s[i]) {
		i++
	}
	if i < 2 || i == len(s) || !allDigits(s[i:]) {
		return "", false
	}
	return s[:i] + " " + s[i:], true
}

// genericAlias reports aliases made of a generic word and a short number or letter, such as
// "Group 5" or "Team 1", which ordinary prose uses too ("working group 5").
func genericAlias(key string) bool {
	w, rest, ok := strings.Cut(key, " ")
	if !ok || strings.Contains(rest, " ") || len(rest) > 3 {
		return false
	}
	switch w {
	case "group", "team", "unit", "operation", "actor", "cluster", "campaign", "gang", "apt":
		return w != "apt" || !allDigits(rest) // "APT 28" is fine, "apt c" is not
	}
	return false
}

// attackObject is the part of an ATT&CK object the dictionary needs.
type attackObject struct {
	Type       string   `json:"type"`
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Aliases    []string `json:"aliases"`
	XAliases   []string `json:"x_mitre_aliases"`
	Revoked    bool     `json:"revoked"`
	Deprecated bool     `json:"x_mitre_deprecated"`
	ExtRefs    []struct {
		SourceName string `json:"source_name"`
		ExternalID string `json:"external_id"`
	} `json:"external_references"`
}

// quickType returns the value of the first "type" member of a JSON object, without parsing it.
func quickType(raw []byte) string {
	i := bytes.Index(raw, []byte(`"type"`))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(raw[i+6:], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return ""
	}
	return string(rest[1 : 1+end])
}

// addAttack reads the ATT&CK bundle.
func (b *builder) addAttack(r io.Reader) error {
	br := stix.NewBundleReader(r)
	for {
		raw, err := br.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("extract: ATT&CK bundle: %w", err)
		}
		switch quickType(raw) {
		case "intrusion-set", "malware", "tool", "attack-pattern":
		default:
			continue
		}
		var o attackObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return fmt.Errorf("extract: ATT&CK bundle: %w", hub.FieldError("attack", "object: %v", err))
		}
		if o.Revoked || o.Deprecated || o.Name == "" || o.ID == "" {
			continue
		}
		extID := ""
		for _, e := range o.ExtRefs {
			if e.SourceName == "mitre-attack" {
				extID = e.ExternalID
			}
		}
		switch o.Type {
		case "attack-pattern":
			if extID != "" {
				b.d.techniques[extID] = target{kind: KindTechnique, value: extID, name: o.Name, ref: o.ID}
			}
			continue
		case "intrusion-set":
			ti := b.targetFor(target{kind: KindThreatActor, value: o.Name, name: o.Name, ref: o.ID})
			_, uuid, _ := strings.Cut(o.ID, "--")
			b.attackIS[uuid] = ti
			b.add(ti, o.Name, rankName, 0)
			b.isNames[ti] = append(b.isNames[ti], normalise(o.Name))
			for _, a := range o.Aliases {
				b.add(ti, a, rankAlias, 0)
				b.isNames[ti] = append(b.isNames[ti], normalise(a))
			}
			if extID != "" {
				b.add(ti, extID, rankName, fExact)
			}
		default:
			kind := KindTool
			if o.Type == "malware" {
				kind = KindMalware
			}
			ti := b.targetFor(target{kind: kind, value: o.Name, name: o.Name, ref: o.ID})
			b.add(ti, o.Name, rankName, 0)
			for _, a := range o.XAliases {
				b.add(ti, a, rankAlias, 0)
			}
			if extID != "" {
				b.add(ti, extID, rankName, fExact)
			}
		}
	}
}

// galaxyFile is the part of a MISP galaxy cluster file the dictionary needs.
type galaxyFile struct {
	Type   string `json:"type"`
	Values []struct {
		Value string `json:"value"`
		UUID  string `json:"uuid"`
		Meta  struct {
			Synonyms []string `json:"synonyms"`
		} `json:"meta"`
		Related []struct {
			DestUUID string `json:"dest-uuid"`
			Type     string `json:"type"`
		} `json:"related"`
	} `json:"values"`
}

// addGalaxy reads a MISP threat-actor galaxy.
func (b *builder) addGalaxy(r io.Reader) error {
	var g galaxyFile
	if err := json.NewDecoder(r).Decode(&g); err != nil {
		return hub.FieldError("galaxy", "not a MISP galaxy cluster file: %v", err)
	}
	if g.Type != "threat-actor" {
		return hub.FieldError("galaxy", "type %q: only threat-actor galaxies are supported", g.Type)
	}
	for _, v := range g.Values {
		if v.Value == "" {
			continue
		}
		ti := b.galaxyTarget(v.Value, v.UUID, v.Related)
		b.add(ti, v.Value, rankGalaxyName, 0)
		for _, s := range v.Meta.Synonyms {
			b.add(ti, s, rankGalaxyAlias, 0)
		}
	}
	return nil
}

// galaxyTarget returns the target of a galaxy cluster: the ATT&CK intrusion set it is related
// to, preferring one whose names include the cluster's value, or else a threat actor of its own
// whose id is derived from the cluster UUID.
func (b *builder) galaxyTarget(value, uuid string, related []struct {
	DestUUID string `json:"dest-uuid"`
	Type     string `json:"type"`
}) int {
	best := -1
	for _, r := range related {
		ti, ok := b.attackIS[r.DestUUID]
		if !ok {
			continue
		}
		if best < 0 {
			best = ti
		}
		if slices.Contains(b.isNames[ti], normalise(value)) {
			best = ti
			break
		}
	}
	if best >= 0 {
		return best
	}
	id := uuid
	if !validUUID(id) {
		id = uuidV5(namespace, "misp-galaxy\x00"+uuid+"\x00"+value)
	}
	return b.targetFor(target{kind: KindThreatActor, value: value, name: value, ref: "threat-actor--" + strings.ToLower(id)})
}

// compile resolves competing claims on each key and builds the automaton.
//
// When several entities claim one key: countries and sectors win over actor and software
// names; otherwise the best rank wins (an entity's own name over someone's alias); on a tie
// between different entities one threat actor wins over software (a group named after its
// tool), and any other tie drops the key, which is recorded as ambiguous.
func (b *builder) compile() {
	keys := make([]string, 0, len(b.cands))
	for k := range b.cands {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	d := b.d
	var kept []string
	for _, k := range keys {
		cs := b.cands[k]
		best := slices.MinFunc(cs, func(x, y candidate) int { return cmp.Compare(x.rank, y.rank) }).rank
		var winners []candidate
		for _, c := range cs {
			if c.rank == best {
				winners = append(winners, c)
			}
		}
		tis := map[int]bool{}
		for _, c := range winners {
			tis[c.target] = true
		}
		if len(tis) > 1 {
			actors := map[int]bool{}
			for ti := range tis {
				if d.targets[ti].kind == KindThreatActor {
					actors[ti] = true
				}
			}
			if len(actors) != 1 {
				var refs []string
				for ti := range tis {
					refs = append(refs, d.targets[ti].ref)
				}
				slices.Sort(refs)
				d.ambiguous[k] = refs
				continue
			}
			winners = slices.DeleteFunc(winners, func(c candidate) bool { return !actors[c.target] })
		}
		var e keyEntry
		for _, c := range winners {
			v := variant{target: c.target, form: c.form, flags: c.flags}
			if !slices.Contains(e.variants, v) {
				e.variants = append(e.variants, v)
			}
		}
		// A variant without restrictions makes the others redundant.
		for _, v := range e.variants {
			if v.flags == 0 {
				e.variants = []variant{v}
				break
			}
		}
		kept = append(kept, k)
		d.keys = append(d.keys, e)
	}
	d.auto = buildAutomaton(kept)
}

// scanNames appends the known entities named in text, skipping names inside indicators already
// in found.
func (d *Dictionary) scanNames(text string, found []Entity) []Entity {
	type hit struct {
		start, end, target int
	}
	var hits []hit
	d.auto.scan(text, func(m match) {
		if !wordBoundary(text, m.start, m.end) {
			return
		}
		for _, v := range d.keys[m.key].variants {
			if d.allowed(text, m.start, m.end, v) {
				hits = append(hits, hit{m.start, m.end, v.target})
				return
			}
		}
	})
	// Leftmost, then longest: "North Korea" over "Korea", "Sandworm Team" over "Sandworm".
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(b.end, a.end)
	})
	blocked := make([]Span, 0, len(found))
	for _, e := range found {
		blocked = append(blocked, Span{e.Start, e.End})
	}
	slices.SortFunc(blocked, func(a, b Span) int { return cmp.Compare(a.Start, b.Start) })
	lastEnd := 0
	bi := 0
	for _, h := range hits {
		if h.start < lastEnd {
			continue
		}
		for bi < len(blocked) && blocked[bi].End <= h.start {
			bi++
		}
		overlaps := false
		for j := bi; j < len(blocked) && blocked[j].Start < h.end; j++ {
			if blocked[j].End > h.start {
				overlaps = true
				break
			}
		}
		if overlaps {
			continue
		}
		lastEnd = h.end
		t := d.targets[h.target]
		found = append(found, Entity{Kind: t.kind, Value: t.value, Text: text[h.start:h.end], Start: h.start, End: h.end, Ref: t.ref, Name: t.name})
	}
	// Technique ids found by the indicator scanner get their attack-pattern.
	for i := range found {
		if found[i].Kind == KindTechnique {
			if t, ok := d.techniques[found[i].Value]; ok {
				found[i].Ref, found[i].Name = t.ref, t.name
			}
		}
	}
	return found
}

// wordBoundary reports whether text[start:end] is a whole word: no letter or digit touches it.
func wordBoundary(text string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:start])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// allowed applies a variant's flags to the match text[start:end].
func (d *Dictionary) allowed(text string, start, end int, v variant) bool {
	s := text[start:end]
	if v.flags&fExact != 0 && s != v.form {
		return false
	}
	if v.flags&fNotLower != 0 && !hasUpper(s) {
		return false
	}
	if v.flags&fNoHyphen != 0 && start > 0 && text[start-1] == '-' {
		return false
	}
	if v.flags&fNotInitial != 0 && sentenceInitial(text, start) {
		return false
	}
	if v.flags&fShout != 0 && (shoutedWord(prevWord(text, start)) || shoutedWord(nextWord(text, end))) {
		return false
	}
	return true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if isUpper(s[i]) {
			return true
		}
	}
	return false
}

// sentenceInitial reports whether offset i starts a sentence: only spaces, quotes and brackets
// lie between it and the start of the text, a line break or a full stop.
func sentenceInitial(text string, i int) bool {
	for i > 0 {
		c := text[i-1]
		switch {
		case c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '(' || c == '[':
			i--
		case c == '.' || c == '!' || c == '?' || c == '\n' || c == ':':
			return true
		case c >= 0x80:
			// Typographic quotes and dashes: step over the whole character.
			r, n := utf8.DecodeLastRuneInString(text[:i])
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return false
			}
			i -= n
		default:
			return false
		}
	}
	return true
}

// prevWord returns the word before offset i, skipping spaces and list punctuation.
func prevWord(text string, i int) string {
	for i > 0 && (isSpace(text[i-1]) || text[i-1] == ',' || text[i-1] == ';' || text[i-1] == '-') {
		i--
	}
	j := i
	for j > 0 && isAlpha(text[j-1]) {
		j--
	}
	return text[j:i]
}

// nextWord returns the word after offset i, skipping spaces and list punctuation.
func nextWord(text string, i int) string {
	for i < len(text) && (isSpace(text[i]) || text[i] == ',' || text[i] == ';' || text[i] == '-') {
		i++
	}
	j := i
	for j < len(text) && isAlpha(text[j]) {
		j++
	}
	return text[i:j]
}

// shoutAllowed are capitalised words that may stand next to "US" in ordinary prose.
var shoutAllowed = map[string]bool{
	"US": true, "UK": true, "EU": true, "UN": true, "USA": true, "NATO": true, "CERT": true, "FBI": true,
	"NSA": true, "CISA": true, "DHS": true, "DOJ": true, "DoD": true, "GCHQ": true, "NCSC": true,
	"UAE": true, "PRC": true, "DPRK": true, "OSCE": true, "UNGA": true, "CCDCOE": true,
}

// shoutedWord reports whether w is an all-capitals word other than a known acronym: text
// written in capitals, where "US" may be the pronoun.
func shoutedWord(w string) bool {
	return len(w) >= 2 && allUpper(w) && !shoutAllowed[w]
}
