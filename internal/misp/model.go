package misp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"cshub/internal/hub"
)

// The MISP core format as MISP instances and feeds write it. Numbers arrive as strings or
// numbers, booleans as true, "1" or 1, depending on the MISP version and the export path, so
// the scalar fields use the lenient types below.

type event struct {
	UUID             string      `json:"uuid"`
	Info             string      `json:"info"`
	Date             string      `json:"date"`
	Timestamp        flexString  `json:"timestamp"`
	PublishTimestamp flexString  `json:"publish_timestamp"`
	Published        flexBool    `json:"published"`
	Analysis         flexString  `json:"analysis"`
	ThreatLevelID    flexString  `json:"threat_level_id"`
	Distribution     flexString  `json:"distribution"`
	Orgc             *org        `json:"Orgc"`
	Attribute        []attribute `json:"Attribute"`
	Object           []object    `json:"Object"`
	Tag              []tag       `json:"Tag"`
	EventTag         []struct {
		Tag tag `json:"Tag"`
	} `json:"EventTag"`
	Galaxy   []galaxy   `json:"Galaxy"`
	Sighting []sighting `json:"Sighting"`
}

type org struct {
	UUID string `json:"uuid"`
	Name string `json:"name"`
}

type attribute struct {
	UUID           string     `json:"uuid"`
	Type           string     `json:"type"`
	Category       string     `json:"category"`
	Value          string     `json:"value"`
	ToIDs          flexBool   `json:"to_ids"`
	Comment        string     `json:"comment"`
	Timestamp      flexString `json:"timestamp"`
	Distribution   flexString `json:"distribution"`
	ObjectRelation string     `json:"object_relation"`
	FirstSeen      string     `json:"first_seen"`
	LastSeen       string     `json:"last_seen"`
	Data           string     `json:"data"`
	Tag            []tag      `json:"Tag"`
	AttributeTag   []struct {
		Tag tag `json:"Tag"`
	} `json:"AttributeTag"`
	Galaxy   []galaxy   `json:"Galaxy"`
	Sighting []sighting `json:"Sighting"`
}

type object struct {
	UUID         string      `json:"uuid"`
	Name         string      `json:"name"`
	MetaCategory string      `json:"meta-category"`
	Description  string      `json:"description"`
	Comment      string      `json:"comment"`
	Timestamp    flexString  `json:"timestamp"`
	Distribution flexString  `json:"distribution"`
	TemplateUUID string      `json:"template_uuid"`
	Attribute    []attribute `json:"Attribute"`
}

type tag struct {
	Name string `json:"name"`
}

type galaxy struct {
	Type           string    `json:"type"`
	Name           string    `json:"name"`
	GalaxyCluster  []cluster `json:"GalaxyCluster"`
	Namespace      string    `json:"namespace"`
	KillChainOrder any       `json:"kill_chain_order"`
}

type cluster struct {
	UUID        string          `json:"uuid"`
	Type        string          `json:"type"`
	Value       string          `json:"value"`
	Description string          `json:"description"`
	Meta        json.RawMessage `json:"meta"`
}

type sighting struct {
	UUID          string     `json:"uuid"`
	Type          flexString `json:"type"`
	DateSighting  flexString `json:"date_sighting"`
	Source        string     `json:"source"`
	AttributeUUID string     `json:"attribute_uuid"`
	Organisation  *org       `json:"Organisation"`
}

// tags returns the names of the Tag and EventTag/AttributeTag lists together.
func (e *event) tags() []string {
	var out []string
	for _, t := range e.Tag {
		out = append(out, t.Name)
	}
	for _, t := range e.EventTag {
		out = append(out, t.Tag.Name)
	}
	return out
}

func (a *attribute) tags() []string {
	var out []string
	for _, t := range a.Tag {
		out = append(out, t.Name)
	}
	for _, t := range a.AttributeTag {
		out = append(out, t.Tag.Name)
	}
	return out
}

// flexString reads a JSON string, number, boolean or null as its text.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case b[0] == '{' || b[0] == '[':
		return fmt.Errorf("expected a string or number, found %c", b[0])
	default:
		*s = flexString(b)
	}
	return nil
}

// flexBool reads true/false, "1"/"0", "true"/"false", 1/0 and null.
type flexBool bool

func (v *flexBool) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "1", "true", "yes":
		*v = true
	default:
		*v = false
	}
	return nil
}

// unixTime reads a MISP timestamp: Unix seconds as text. ok is false for anything else and for
// instants STIX cannot write (years outside 1-9999).
func unixTime(s flexString) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
	if err != nil || n <= 0 || n > 253402300799 {
		return time.Time{}, false
	}
	return time.Unix(n, 0).UTC(), true
}

// dayTime reads a MISP date, YYYY-MM-DD, or an RFC 3339 timestamp.
func dayTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() > 0 && t.Year() <= 9999 {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// decodeEvents reads the forms in which MISP events travel: {"Event":{...}}, a bare event, a
// list of either, and the REST search answer {"response":[...]}.
func decodeEvents(data []byte) ([]event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, hub.FieldError("event", "empty input: expected a MISP event in JSON")
	}
	var probe any
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, &hub.Error{Code: hub.EInvalid, Field: "event", Message: "not valid JSON: " + err.Error(), Err: err}
	}
	var raws []json.RawMessage
	switch v := probe.(type) {
	case map[string]any:
		if r, ok := v["response"]; ok {
			if _, isList := r.([]any); !isList {
				return nil, hub.FieldError("response", "must be a list of events")
			}
			var w struct {
				Response []json.RawMessage `json:"response"`
			}
			if err := json.Unmarshal(data, &w); err != nil {
				return nil, hub.FieldError("response", "%v", err)
			}
			raws = w.Response
		} else {
			raws = []json.RawMessage{data}
		}
	case []any:
		if err := json.Unmarshal(data, &raws); err != nil {
			return nil, hub.FieldError("event", "%v", err)
		}
	default:
		return nil, hub.FieldError("event", "expected a JSON object or list, found %s", jsonKind(probe))
	}
	events := make([]event, 0, len(raws))
	for i, raw := range raws {
		ev, err := decodeEvent(raw)
		if err != nil {
			if len(raws) > 1 {
				return nil, fmt.Errorf("misp: event %d: %w", i, err)
			}
			return nil, err
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, hub.FieldError("event", "no events in the input")
	}
	return events, nil
}

func decodeEvent(raw json.RawMessage) (event, error) {
	var w struct {
		Event json.RawMessage `json:"Event"`
	}
	var ev event
	if err := json.Unmarshal(raw, &w); err != nil {
		return ev, hub.FieldError("Event", "expected an object: %v", err)
	}
	body := raw
	if len(w.Event) > 0 && string(w.Event) != "null" {
		body = w.Event
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return ev, hub.FieldError("Event."+te.Field, "found a JSON %s where MISP has %s", te.Value, goKind(te.Type.Kind()))
		}
		return ev, hub.FieldError("Event", "%v", err)
	}
	if ev.Info == "" && ev.UUID == "" && len(ev.Attribute) == 0 && len(ev.Object) == 0 {
		return ev, hub.FieldError("Event", "not a MISP event: no uuid, info, Attribute or Object")
	}
	return ev, nil
}

// goKind names the JSON form a Go kind decodes from.
func goKind(k reflect.Kind) string {
	switch k {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	}
	return "another type"
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "something else"
}
