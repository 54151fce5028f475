// Package exercise runs training exercises on the hub: scenarios (cshub's own JSON format and
// the MISP Common Exercise Format), injects released to blue teams over time, tasks scored
// automatically from what each team produced in its exercise workspace or by hand by the white
// team, a scoreboard that can be frozen, and the after-action report.
//
// Exercise data lives only in workspaces of kind hub.WorkspaceExercise, one per team and one
// for the director's control objects, so that package access keeps it off every real path
// (search, matching, TAXII, statistics). Definitions and state are custom STIX objects stored
// sealed through package kb; nothing of an exercise is kept anywhere else.
package exercise

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
)

// maxRepeats bounds how often a periodic inject may be released in one exercise.
const maxRepeats = 1000

// FormatVersion is the version of the scenario format this package reads and writes.
const FormatVersion = 1

// Scenario is an exercise as written by its authors: who plays, what arrives when, and what is
// expected of the blue teams. It is the JSON document `cshub exercise validate` checks.
type Scenario struct {
	Version     int      `json:"version"`
	ID          string   `json:"id"` // lower-case letters, digits and '-': names the exercise's workspaces
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Duration    Duration `json:"duration"`             // total duration of play
	Director    string   `json:"director,omitempty"`   // organisation code; set at import when empty
	WhiteTeam   []string `json:"white_team,omitempty"` // organisations that score by hand, besides the director
	Teams       []Team   `json:"teams,omitempty"`      // blue teams; set at import when empty
	Injects     []Inject `json:"injects"`
	// Unsupported lists the parts of an imported scenario that cannot run on the hub (CEXF
	// evaluations against other tools, network actions); their tasks are scored by hand.
	Unsupported []string `json:"unsupported,omitempty"`
}

// Team is one blue team: an organisation playing in its own exercise workspace.
type Team struct {
	ID   string `json:"id"` // lower-case letters, digits and '-'
	Name string `json:"name,omitempty"`
	Org  string `json:"org"`
}

// Inject is something released to every blue team: a message, files and STIX objects, with the
// tasks it asks of them.
type Inject struct {
	ID      string          `json:"id"`
	Title   string          `json:"title"`
	Message string          `json:"message,omitempty"`
	STIX    json.RawMessage `json:"stix,omitempty"` // a STIX 2.1 bundle stored in each team's workspace
	Files   []File          `json:"files,omitempty"`
	Trigger Trigger         `json:"trigger"`
	Tasks   []Task          `json:"tasks,omitempty"`
}

// File is a file handed to the teams with an inject.
type File struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type,omitempty"`
	Content   []byte `json:"content"` // base64 in JSON
}

// Trigger says when an inject is released. Exactly one of At, After, Every or Manual is set;
// Every may be combined with At for the first release.
type Trigger struct {
	At     *Duration `json:"at,omitempty"`     // offset from the start of play
	After  string    `json:"after,omitempty"`  // the inject whose resolution by a team releases this one to it
	Every  *Duration `json:"every,omitempty"`  // released again at this period until the end
	Manual bool      `json:"manual,omitempty"` // only the director releases it
}

// Task is what a team is asked to do for an inject. A task with a Check is scored
// automatically, the first time the check holds; any task may be scored by the white team.
type Task struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Expected string `json:"expected,omitempty"` // the expected result, for the white team and the report
	Points   int    `json:"points"`
	Check    *Check `json:"check,omitempty"`
}

// Check is an automatic check against what a team produced in its exercise workspace. Kind
// selects how it is evaluated:
//
//   - "objects": at least Min (default 1) objects authored by the team, of one of Types, such
//     that each holds every string of Text (case-insensitive, anywhere in its JSON), every
//     property of Has, and together they cover every observable value of Values (from indicator
//     patterns, observables and the values of observed-data).
//   - "misp": the filters hold on the MISP-format view of the team's objects (package misp),
//     as CEXF's data_filtering does.
//   - "search": Query run through the hub's full-text search over the team's workspace, then the
//     filters on the MISP-format view of the hits wrapped as {"response":[...]}, as CEXF's
//     query_search does.
type Check struct {
	Kind    string   `json:"kind"`
	Types   []string `json:"types,omitempty"`
	Text    []string `json:"text,omitempty"`
	Has     []string `json:"has,omitempty"`
	Values  []string `json:"values,omitempty"`
	Min     int      `json:"min,omitempty"`
	Query   string   `json:"query,omitempty"`
	Filters []Filter `json:"filters,omitempty"`
	AnyOf   bool     `json:"any_of,omitempty"` // the filters are alternatives instead of all required
}

// Filter is one CEXF evaluation parameter: a jq path over a MISP document, how to compare what
// it yields, and with what.
type Filter struct {
	Path       string `json:"path"`
	Comparison string `json:"comparison"`
	Values     []any  `json:"values"`
	Extract    string `json:"extract,omitempty"` // "all" (default) or "first"
}

// Duration is a time.Duration written in JSON as a Go duration string ("90m") or as a number
// of seconds.
type Duration time.Duration

// String returns d as Go writes durations ("1h30m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as \"90m\" or \"1h30m\"", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%s is neither a duration string nor a number of seconds", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Problem is one thing wrong with a scenario file, with its place: a JSON path such as
// "injects[3].trigger.after" and, when the place is in the file, its line and column.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	at := p.Path
	if p.Line > 0 {
		at += fmt.Sprintf(" (line %d:%d)", p.Line, p.Col)
	}
	if at == "" {
		return p.Message
	}
	return at + ": " + p.Message
}

// Problems is every problem found in one file. As an error it lists them one per line.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// invalid wraps ps as the hub's EInvalid error, naming the first problem's path as the field;
// errors.As finds the whole list.
func invalid(ps Problems) error {
	return &hub.Error{Code: hub.EInvalid, Field: ps[0].Path, Message: fmt.Sprintf("%d problem(s): %s", len(ps), ps[0].Message), Err: ps}
}

// ParseScenario reads a scenario in cshub's format and validates it. A bad file is a
// *hub.Error with code EInvalid whose chain holds Problems, each with its place.
func ParseScenario(data []byte) (*Scenario, error) {
	var s Scenario
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, invalid(Problems{decodeProblem(data, err)})
	}
	if ps := s.validate(); len(ps) > 0 {
		locate(data, ps)
		return nil, invalid(ps)
	}
	return &s, nil
}

// decodeProblem turns a decoding error into a Problem with the place it happened.
func decodeProblem(data []byte, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	p := Problem{Message: err.Error()}
	switch {
	case errors.As(err, &se):
		p.Line, p.Col = lineCol(data, se.Offset)
		p.Message = "not JSON: " + se.Error()
	case errors.As(err, &te):
		p.Path = te.Field
		p.Line, p.Col = lineCol(data, te.Offset)
		p.Message = fmt.Sprintf("is %s, want %s", te.Value, te.Type)
	default:
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			p.Message = "unknown field " + f
		} else if strings.HasPrefix(err.Error(), "json: ") {
			p.Message = strings.TrimPrefix(err.Error(), "json: ")
		}
		var je interface{ Unwrap() error }
		if errors.As(err, &je) && je.Unwrap() != nil {
			p.Message = je.Unwrap().Error()
		}
	}
	return p
}

// lineCol returns the 1-based line and column of byte offset off in data.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// locate fills in the line and column of each problem whose path names a place in data. A
// path that names something missing takes the place of its nearest parent that is present.
func locate(data []byte, ps Problems) {
	offsets := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(path string) error
	walk = func(path string) error {
		// The offset before reading the value's first token is after the previous token; skip
		// the separators to find the value itself.
		off := dec.InputOffset()
		for off < int64(len(data)) && strings.IndexByte(" \t\r\n:,", data[off]) >= 0 {
			off++
		}
		offsets[path] = off
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'):
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				child := key
				if path != "" {
					child = path + "." + key
				}
				if err := walk(child); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if walk("") != nil {
		return
	}
	for i := range ps {
		for p := ps[i].Path; ; p = parentPath(p) {
			if off, ok := offsets[p]; ok {
				ps[i].Line, ps[i].Col = lineCol(data, off)
				break
			}
			if p == "" {
				break
			}
		}
	}
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// checkKinds are the kinds of Check this package evaluates.
var checkKinds = map[string]bool{"objects": true, "misp": true, "search": true}

// validate returns every problem of s, each with its JSON path.
func (s *Scenario) validate() Problems {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if s.Version != FormatVersion {
		add("version", "is %d; this hub reads version %d", s.Version, FormatVersion)
	}
	if !slugRE.MatchString(s.ID) {
		add("id", "%q must be 1 to 40 lower-case letters, digits or '-', starting with a letter or digit", s.ID)
	}
	if strings.TrimSpace(s.Name) == "" {
		add("name", "is empty")
	}
	if s.Duration <= 0 {
		add("duration", "must be positive")
	}
	teams := map[string]bool{}
	orgs := map[string]bool{}
	for i, t := range s.Teams {
		p := fmt.Sprintf("teams[%d]", i)
		if !slugRE.MatchString(t.ID) {
			add(p+".id", "%q must be lower-case letters, digits or '-'", t.ID)
		} else if teams[t.ID] {
			add(p+".id", "team %q is defined twice", t.ID)
		}
		teams[t.ID] = true
		if t.Org == "" {
			add(p+".org", "is empty")
		} else if orgs[t.Org] {
			add(p+".org", "organisation %q plays in two teams", t.Org)
		} else if t.Org == s.Director {
			add(p+".org", "the director's organisation %q cannot play", t.Org)
		}
		orgs[t.Org] = true
	}
	if len(s.Injects) == 0 {
		add("injects", "an exercise needs at least one inject")
	}
	ids := map[string]int{}
	for i, in := range s.Injects {
		p := fmt.Sprintf("injects[%d]", i)
		if in.ID == "" {
			add(p+".id", "is empty")
		} else if _, dup := ids[in.ID]; dup {
			add(p+".id", "inject %q is defined twice", in.ID)
		} else {
			ids[in.ID] = i
		}
	}
	for i, in := range s.Injects {
		p := fmt.Sprintf("injects[%d]", i)
		if strings.TrimSpace(in.Title) == "" {
			add(p+".title", "is empty")
		}
		ps = append(ps, in.Trigger.validate(p+".trigger", in.ID, ids, time.Duration(s.Duration))...)
		if len(in.STIX) > 0 {
			var b struct {
				Type    string            `json:"type"`
				Objects []json.RawMessage `json:"objects"`
			}
			if err := json.Unmarshal(in.STIX, &b); err != nil || b.Type != "bundle" {
				add(p+".stix", "must be a STIX bundle ({\"type\":\"bundle\",\"objects\":[…]})")
			}
		}
		for j, f := range in.Files {
			if f.Name == "" || strings.ContainsAny(f.Name, "/\\") {
				add(fmt.Sprintf("%s.files[%d].name", p, j), "%q must be a plain file name", f.Name)
			}
		}
		tasks := map[string]bool{}
		for j, t := range in.Tasks {
			tp := fmt.Sprintf("%s.tasks[%d]", p, j)
			if t.ID == "" {
				add(tp+".id", "is empty")
			} else if tasks[t.ID] {
				add(tp+".id", "task %q is defined twice in this inject", t.ID)
			}
			tasks[t.ID] = true
			if t.Points < 0 {
				add(tp+".points", "is negative")
			}
			if t.Check != nil {
				ps = append(ps, t.Check.validate(tp+".check")...)
			}
		}
	}
	return ps
}

func (t Trigger) validate(p, self string, ids map[string]int, total time.Duration) Problems {
	var ps Problems
	n := 0
	for _, set := range []bool{t.At != nil && t.Every == nil, t.After != "", t.Every != nil, t.Manual} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		ps = append(ps, Problem{Path: p, Message: `needs one of "at", "after", "every" or "manual"`})
	case n > 1:
		ps = append(ps, Problem{Path: p, Message: `has more than one of "at", "after", "every" and "manual"`})
	}
	if t.At != nil && (*t.At < 0 || time.Duration(*t.At) > total) {
		ps = append(ps, Problem{Path: p + ".at", Message: fmt.Sprintf("%v is outside the exercise's duration %v", time.Duration(*t.At), total)})
	}
	if t.Every != nil && *t.Every < Duration(time.Second) {
		ps = append(ps, Problem{Path: p + ".every", Message: "must be at least 1s"})
	} else if t.Every != nil && total/time.Duration(*t.Every) > maxRepeats {
		// Each release stores objects in every team's workspace: bound what one inject costs.
		ps = append(ps, Problem{Path: p + ".every", Message: fmt.Sprintf("releases the inject more than %d times in the exercise", maxRepeats)})
	}
	if t.After != "" {
		if t.After == self {
			ps = append(ps, Problem{Path: p + ".after", Message: "an inject cannot wait for itself"})
		} else if _, ok := ids[t.After]; !ok {
			ps = append(ps, Problem{Path: p + ".after", Message: fmt.Sprintf("no inject %q", t.After)})
		}
	}
	return ps
}

func (c *Check) validate(p string) Problems {
	var ps Problems
	if !checkKinds[c.Kind] {
		ps = append(ps, Problem{Path: p + ".kind", Message: fmt.Sprintf("%q is not one of objects, misp, search", c.Kind)})
	}
	if c.Kind == "objects" && len(c.Types) == 0 {
		ps = append(ps, Problem{Path: p + ".types", Message: "an objects check names at least one STIX type"})
	}
	if c.Kind == "search" && strings.TrimSpace(c.Query) == "" && len(c.Filters) == 0 {
		ps = append(ps, Problem{Path: p + ".query", Message: "a search check needs a query or filters"})
	}
	if c.Kind == "misp" && len(c.Filters) == 0 {
		ps = append(ps, Problem{Path: p + ".filters", Message: "a misp check needs at least one filter"})
	}
	for i, f := range c.Filters {
		fp := fmt.Sprintf("%s.filters[%d]", p, i)
		if _, err := ParseFilter(f.Path); err != nil {
			ps = append(ps, Problem{Path: fp + ".path", Message: err.Error()})
		}
		if !comparisons[f.Comparison] {
			ps = append(ps, Problem{Path: fp + ".comparison", Message: fmt.Sprintf("%q is not a comparison this hub runs", f.Comparison)})
		}
	}
	return ps
}

// teamWorkspace and controlWorkspace name an exercise's workspaces. They never start with '_'
// (reserved by package members) and share the prefix "exercise-" so that an operator sees them
// for what they are.
func teamWorkspace(exercise, team string) string { return "exercise-" + exercise + "-" + team }
func controlWorkspace(exercise string) string    { return "exercise-" + exercise + "-control" }
