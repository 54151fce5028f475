package exercise

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The MISP Common Exercise Format (CEXF), as MISP/cexf describes it and MISP/SkillAegis
// writes it. Fields whose JSON type varies between real files are kept raw.
type cexfFile struct {
	Exercise       *cexfExercise `json:"exercise"`
	InjectFlow     []cexfFlow    `json:"inject_flow"`
	InjectPayloads []cexfPayload `json:"inject_payloads"`
	Injects        []cexfInject  `json:"injects"`
	raw            map[string]json.RawMessage
}

type cexfExercise struct {
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Expanded      string          `json:"expanded"`
	Namespace     string          `json:"namespace"`
	UUID          string          `json:"uuid"`
	Version       json.RawMessage `json:"version"`
	TotalDuration json.RawMessage `json:"total_duration"`
	Tags          []string        `json:"tags"`
}

type cexfFlow struct {
	Description  string `json:"description"`
	InjectUUID   string `json:"inject_uuid"`
	Requirements struct {
		InjectUUID            string `json:"inject_uuid"`
		ResolutionRequirement string `json:"resolution_requirement"`
	} `json:"requirements"`
	Sequence struct {
		Trigger           stringList `json:"trigger"`
		FollowedBy        []string   `json:"followed_by"`
		CompletionTrigger []string   `json:"completion_trigger"`
	} `json:"sequence"`
	Timing struct {
		TriggeredAt      *float64 `json:"triggered_at"`
		PeriodicRunEvery *float64 `json:"periodic_run_every"`
	} `json:"timing"`
}

type cexfPayload struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	UUID       string         `json:"uuid"`
	Parameters map[string]any `json:"parameters"`
}

type cexfInject struct {
	Name        string           `json:"name"`
	Description *string          `json:"description"`
	Action      string           `json:"action"`
	TargetTool  string           `json:"target_tool"`
	UUID        string           `json:"uuid"`
	PayloadUUID string           `json:"action_payload_resource_uuid"`
	JoinType    *string          `json:"inject_evaluation_join_type"`
	Evaluations []cexfEvaluation `json:"inject_evaluation"`
}

type cexfEvaluation struct {
	Parameters json.RawMessage `json:"parameters"`
	Result     string          `json:"result"`
	Strategy   string          `json:"evaluation_strategy"`
	Context    struct {
		QueryContext struct {
			URL     string         `json:"url"`
			Method  string         `json:"request_method"`
			Payload map[string]any `json:"payload"`
		} `json:"query_context"`
	} `json:"evaluation_context"`
	ScoreRange []float64 `json:"score_range"`
}

// stringList is a JSON string or array of strings (CEXF files write "trigger" both ways).
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = []string{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return fmt.Errorf("must be a string or an array of strings")
	}
	*l = ss
	return nil
}

// IsCEXF reports whether data looks like a CEXF document rather than a cshub scenario: a JSON
// object with the CEXF keys "exercise" and "inject_flow".
func IsCEXF(data []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return false
	}
	_, ex := top["exercise"]
	_, flow := top["inject_flow"]
	return ex && flow
}

// ParseCEXF reads a CEXF document and converts it into a Scenario: one inject per step of
// inject_flow (startex and triggered_at become time offsets, requirements an "after" trigger,
// periodic_run_every a period, manual a manual release), one task per inject_evaluation
// scored up to the top of its score_range. Evaluations that can run on the hub become checks:
// data_filtering on the MISP-format view of the team's objects, query_search through the hub's
// search. Everything else (query_mirror, other target tools, network payloads, MISP user
// placeholders) is listed in Scenario.Unsupported and left to the white team.
//
// The scenario has no teams and no director: an import supplies them. A bad document is a
// *hub.Error with code EInvalid whose chain holds Problems, each with its place.
func ParseCEXF(data []byte) (*Scenario, error) {
	var f cexfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, invalid(Problems{decodeProblem(data, err)})
	}
	if err := json.Unmarshal(data, &f.raw); err != nil {
		return nil, invalid(Problems{decodeProblem(data, err)})
	}
	s, ps := f.convert()
	if len(ps) == 0 {
		ps = s.validate()
	}
	if len(ps) > 0 {
		locate(data, ps)
		return nil, invalid(ps)
	}
	return s, nil
}

var ageRE = regexp.MustCompile(`^[0-9]{1,5}[dh]$`)

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{7,8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// defaultCEXFDuration is the length of play given to a CEXF exercise without total_duration.
const defaultCEXFDuration = 2 * time.Hour

func (f *cexfFile) convert() (*Scenario, Problems) {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	for _, k := range []string{"exercise", "inject_flow", "inject_payloads", "injects"} {
		if _, ok := f.raw[k]; !ok {
			add(k, "is required by CEXF")
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	ex := f.Exercise
	if ex == nil {
		add("exercise", "must be an object")
		return nil, ps
	}
	s := &Scenario{Version: FormatVersion, Name: ex.Name, Description: ex.Description}
	if strings.TrimSpace(ex.Name) == "" {
		add("exercise.name", "is empty")
	}
	if !uuidRE.MatchString(ex.UUID) {
		// The CEXF sample's own uuid has a 7-digit first group; anything further off is wrong.
		add("exercise.uuid", "%q is not a UUID", ex.UUID)
	}
	s.ID = slug(ex.Name)
	s.Duration = Duration(defaultCEXFDuration)
	if d := strings.Trim(string(ex.TotalDuration), `"`); d != "" && d != "null" {
		secs, err := strconv.ParseFloat(d, 64)
		if err != nil || secs <= 0 {
			add("exercise.total_duration", "%s is not a positive number of seconds", ex.TotalDuration)
		} else {
			s.Duration = Duration(time.Duration(secs * float64(time.Second)))
		}
	} else {
		s.Unsupported = append(s.Unsupported, fmt.Sprintf("exercise.total_duration: missing; play lasts %v", defaultCEXFDuration))
	}

	payloads := map[string]*cexfPayload{}
	for i := range f.InjectPayloads {
		pl := &f.InjectPayloads[i]
		p := fmt.Sprintf("inject_payloads[%d]", i)
		if pl.UUID == "" {
			add(p+".uuid", "is empty")
			continue
		}
		if payloads[pl.UUID] != nil {
			add(p+".uuid", "payload %s is defined twice", pl.UUID)
		}
		payloads[pl.UUID] = pl
	}
	injects := map[string]int{}
	for i, in := range f.Injects {
		p := fmt.Sprintf("injects[%d]", i)
		if in.UUID == "" {
			add(p+".uuid", "is empty")
			continue
		}
		if _, dup := injects[in.UUID]; dup {
			add(p+".uuid", "inject %s is defined twice", in.UUID)
		}
		injects[in.UUID] = i
		if in.PayloadUUID != "" && payloads[in.PayloadUUID] == nil {
			add(p+".action_payload_resource_uuid", "no inject_payloads entry %s", in.PayloadUUID)
		}
	}
	flowOf := map[string]string{} // inject uuid -> scenario inject id
	for i, fl := range f.InjectFlow {
		p := fmt.Sprintf("inject_flow[%d]", i)
		if _, ok := injects[fl.InjectUUID]; !ok {
			add(p+".inject_uuid", "no injects entry %q", fl.InjectUUID)
			continue
		}
		if _, dup := flowOf[fl.InjectUUID]; dup {
			add(p+".inject_uuid", "inject %s appears twice in the flow", fl.InjectUUID)
			continue
		}
		flowOf[fl.InjectUUID] = fl.InjectUUID
	}
	for i, fl := range f.InjectFlow {
		p := fmt.Sprintf("inject_flow[%d]", i)
		if r := fl.Requirements.InjectUUID; r != "" {
			if _, ok := flowOf[r]; !ok {
				add(p+".requirements.inject_uuid", "no step of inject_flow releases inject %q", r)
			}
		}
		for j, next := range fl.Sequence.FollowedBy {
			if _, ok := injects[next]; !ok {
				add(fmt.Sprintf("%s.sequence.followed_by[%d]", p, j), "no injects entry %q", next)
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	for i, fl := range f.InjectFlow {
		in := f.Injects[injects[fl.InjectUUID]]
		si, more := convertInject(s, fmt.Sprintf("injects[%d]", injects[fl.InjectUUID]), fmt.Sprintf("inject_flow[%d]", i), fl, in, payloads)
		ps = append(ps, more...)
		s.Injects = append(s.Injects, si)
	}
	return s, ps
}

// convertInject makes the scenario inject of one flow step.
func convertInject(s *Scenario, ip, fp string, fl cexfFlow, in cexfInject, payloads map[string]*cexfPayload) (Inject, Problems) {
	var ps Problems
	note := func(path, format string, args ...any) {
		s.Unsupported = append(s.Unsupported, path+": "+fmt.Sprintf(format, args...))
	}
	title := strings.TrimSpace(in.Name)
	if title == "" {
		title = in.UUID
	}
	si := Inject{ID: in.UUID, Title: title}
	var msg []string
	if in.Description != nil && *in.Description != "" {
		msg = append(msg, *in.Description)
	}
	if fl.Description != "" {
		msg = append(msg, fl.Description)
	}
	si.Message = strings.Join(msg, "\n\n")

	triggers := fl.Sequence.Trigger
	switch {
	case slices.Contains(triggers, "periodic") || fl.Timing.PeriodicRunEvery != nil:
		every := 0.0
		if fl.Timing.PeriodicRunEvery != nil {
			every = *fl.Timing.PeriodicRunEvery
		}
		if every < 1 {
			ps = append(ps, Problem{Path: fp + ".timing.periodic_run_every", Message: "a periodic step needs a period of at least one second"})
			break
		}
		d := Duration(time.Duration(every * float64(time.Second)))
		at := Duration(0)
		si.Trigger = Trigger{Every: &d, At: &at}
	case slices.Contains(triggers, "manual"):
		si.Trigger = Trigger{Manual: true}
	case fl.Timing.TriggeredAt != nil:
		at := Duration(time.Duration(*fl.Timing.TriggeredAt * float64(time.Second)))
		si.Trigger = Trigger{At: &at}
	case fl.Requirements.InjectUUID != "":
		si.Trigger = Trigger{After: fl.Requirements.InjectUUID}
		if fl.Requirements.ResolutionRequirement != "" {
			note(fp+".requirements.resolution_requirement", "%q: the inject is released when every task of the required inject is scored, not on one named result", fl.Requirements.ResolutionRequirement)
		}
	default: // startex, or a step with no trigger at all, opens the exercise
		at := Duration(0)
		si.Trigger = Trigger{At: &at}
	}
	for _, t := range triggers {
		if t != "startex" && t != "periodic" && t != "manual" && t != "inject-resolution" {
			note(fp+".sequence.trigger", "trigger %q is not run here; the step starts as above", t)
		}
	}

	if pl := payloads[in.PayloadUUID]; pl != nil {
		switch pl.Type {
		case "file":
			file, err := payloadFile(pl)
			if err != nil {
				ps = append(ps, Problem{Path: ip + ".action_payload_resource_uuid", Message: err.Error()})
			} else if file != nil {
				si.Files = append(si.Files, *file)
			}
		default:
			note(ip+".action_payload_resource_uuid", "payload %q of type %q (a network action) cannot run on the hub", pl.Name, pl.Type)
		}
	}
	if in.Action != "" && in.Action != "email_to_participants" && pl(payloads, in.PayloadUUID) == "tcp_connection" {
		note(ip+".action", "action %q needs the exercise network", in.Action)
	}

	anyOf := in.JoinType != nil && strings.EqualFold(*in.JoinType, "OR")
	for j, ev := range in.Evaluations {
		ep := fmt.Sprintf("%s.inject_evaluation[%d]", ip, j)
		task := Task{ID: fmt.Sprintf("e%d", j+1), Title: ev.Result, Expected: ev.Result}
		if strings.TrimSpace(task.Title) == "" {
			task.Title = fmt.Sprintf("%s, evaluation %d", title, j+1)
		}
		if len(ev.ScoreRange) != 2 || ev.ScoreRange[1] < ev.ScoreRange[0] {
			ps = append(ps, Problem{Path: ep + ".score_range", Message: "must be [min, max] with min <= max"})
			continue
		}
		task.Points = int(ev.ScoreRange[1])
		check, why, more := convertEvaluation(ep, in.TargetTool, ev)
		ps = append(ps, more...)
		if check != nil {
			check.AnyOf = check.AnyOf || anyOf && len(in.Evaluations) == 1
			task.Check = check
		} else {
			note(ep, "%s; the white team scores this task by hand", why)
		}
		si.Tasks = append(si.Tasks, task)
	}
	return si, ps
}

func pl(payloads map[string]*cexfPayload, id string) string {
	if p := payloads[id]; p != nil {
		return p.Type
	}
	return ""
}

// payloadFile decodes a file payload given inline (base64 or text); a payload naming a path
// on the exercise platform has no content here and gives no file.
func payloadFile(pl *cexfPayload) (*File, error) {
	content, _ := pl.Parameters["content"].(string)
	if content == "" {
		return nil, nil
	}
	name, _ := pl.Parameters["filename"].(string)
	if name == "" {
		name = slug(pl.Name)
	}
	name = strings.NewReplacer("/", "_", "\\", "_").Replace(name)
	f := &File{Name: name, MediaType: "application/octet-stream", Content: []byte(content)}
	if ct, _ := pl.Parameters["content-type"].(string); ct == "base64" {
		b, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, fmt.Errorf("payload %q: content is not base64: %v", pl.Name, err)
		}
		f.Content = b
	}
	if strings.HasSuffix(name, ".eml") {
		f.MediaType = "message/rfc822"
	}
	return f, nil
}

// convertEvaluation makes the check of one CEXF evaluation, or says why it cannot run here.
func convertEvaluation(ep, tool string, ev cexfEvaluation) (*Check, string, Problems) {
	var ps Problems
	params, anyOf, err := evaluationParameters(ev.Parameters)
	if err != nil {
		return nil, "", Problems{{Path: ep + ".parameters", Message: err.Error()}}
	}
	if tool != "MISP" {
		return nil, fmt.Sprintf("target tool %q is not the hub", tool), nil
	}
	var kind string
	switch ev.Strategy {
	case "data_filtering":
		kind = "misp"
	case "query_search":
		kind = "search"
	case "":
		return nil, "no evaluation_strategy: the evaluation's paths are MISP's internal form", nil
	default:
		return nil, fmt.Sprintf("evaluation_strategy %q queries a MISP instance", ev.Strategy), nil
	}
	c := &Check{Kind: kind, AnyOf: anyOf}
	if kind == "search" {
		c.Query = searchQuery(ev.Context.QueryContext.Payload)
	}
	for i, prm := range params {
		for path, spec := range prm {
			pp := fmt.Sprintf("%s.parameters[%d]", ep, i)
			var cmp struct {
				Comparison string `json:"comparison"`
				Values     []any  `json:"values"`
				Extract    string `json:"extract_type"`
			}
			if err := json.Unmarshal(spec, &cmp); err != nil {
				return nil, fmt.Sprintf("parameter %q is not a comparison", path), nil
			}
			if !comparisons[cmp.Comparison] {
				ps = append(ps, Problem{Path: pp, Message: fmt.Sprintf("comparison %q is not part of CEXF", cmp.Comparison)})
				continue
			}
			if strings.HasSuffix(path, ".event_creator_email") && len(cmp.Values) == 1 && cmp.Values[0] == "{{user_email}}" {
				// "Created by the player": every check on the hub already looks only at what
				// the team's own organisation authored.
				continue
			}
			if strings.Contains(path, "{{") || slicesAnyTemplate(cmp.Values) {
				return nil, "it compares with a MISP user's e-mail or a webhook's data", nil
			}
			if path == "._secret" {
				return nil, "it checks a webhook's shared secret", nil
			}
			if _, err := ParseFilter(path); err != nil {
				return nil, fmt.Sprintf("the jq filter %q is outside the subset the hub runs", path), nil
			}
			c.Filters = append(c.Filters, Filter{Path: path, Comparison: cmp.Comparison, Values: cmp.Values, Extract: cmp.Extract})
		}
	}
	if len(c.Filters) == 0 && len(ps) == 0 {
		return nil, "it has no parameters to evaluate", nil
	}
	// Filters come out of maps; keep their order stable for reports and golden files.
	sortFilters(c.Filters)
	return c, "", ps
}

func slicesAnyTemplate(vs []any) bool {
	for _, v := range vs {
		if s, ok := v.(string); ok && strings.Contains(s, "{{") {
			return true
		}
	}
	return false
}

// evaluationParameters reads "parameters": an array of {path: comparison} objects, or
// {"OR": [...]} for alternatives.
func evaluationParameters(raw json.RawMessage) ([]map[string]json.RawMessage, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var list []map[string]json.RawMessage
	if raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, false, fmt.Errorf("must be an array of objects or {\"OR\": [...]}")
		}
		return list, false, nil
	}
	var or struct {
		OR []map[string]json.RawMessage `json:"OR"`
	}
	if err := json.Unmarshal(raw, &or); err != nil || or.OR == nil {
		return nil, false, fmt.Errorf("must be an array of objects or {\"OR\": [...]}")
	}
	return or.OR, true, nil
}

// searchQuery turns a MISP restSearch payload into a query of the hub's search: the free-text
// fields, with MISP's % wildcards dropped, and a relative timestamp ("2h", "10d") as after:.
func searchQuery(payload map[string]any) string {
	var words []string
	if ts, ok := payload["timestamp"].(string); ok && ageRE.MatchString(ts) {
		words = append(words, "after:"+ts)
	}
	for _, k := range []string{"eventinfo", "value", "searchall", "tags"} {
		switch v := payload[k].(type) {
		case string:
			words = append(words, strings.Trim(v, "% "))
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					words = append(words, strings.Trim(s, "% "))
				}
			}
		}
	}
	return strings.TrimSpace(strings.Join(words, " "))
}

// sortFilters orders filters by path: they come out of JSON objects, whose order Go's maps
// do not keep.
func sortFilters(fs []Filter) {
	slices.SortStableFunc(fs, func(a, b Filter) int { return strings.Compare(a.Path, b.Path) })
}

// slug makes an exercise id from a name: lower-case letters and digits joined by '-'.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
		if b.Len() >= 40 {
			break
		}
	}
	if b.Len() == 0 {
		return "exercise"
	}
	return strings.TrimRight(b.String(), "-")
}
