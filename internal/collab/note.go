package collab

import (
	"context"
	"slices"
	"time"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

// NoteInput is a note on one or more objects, or a reply to a note (InReplyTo), whose
// object_refs then include the note answered. Mentions of organisations are read from Content
// ("@cert-fr").
type NoteInput struct {
	ObjectRefs []string `json:"object_refs"`
	InReplyTo  string   `json:"in_reply_to"`
	Abstract   string   `json:"abstract"`
	Content    string   `json:"content"`
	TLP        string   `json:"tlp"`
}

// maxNote bounds a note's content: a discussion, not a document store.
const maxNote = 64 << 10

// Note is a note as a reader sees it, with the replies the reader may see.
type Note struct {
	ID         string    `json:"id"`
	Org        string    `json:"org"`
	Abstract   string    `json:"abstract,omitempty"`
	Content    string    `json:"content"`
	ObjectRefs []string  `json:"object_refs"`
	InReplyTo  string    `json:"in_reply_to,omitempty"`
	Mentions   []string  `json:"mentions,omitempty"`
	TLP        hub.TLP   `json:"tlp"`
	Workspace  string    `json:"workspace"`
	Created    time.Time `json:"created"`
	Replies    []*Note   `json:"replies,omitempty"`
}

// AddNote stores a note by a. Every object referred to must be one a may read; the note goes
// to the workspace of the first (the note answered, for a reply) at the highest TLP among
// them. Mentions name organisations; an organisation that may not read the note is left out
// of its mentions rather than refused, so that the author learns nothing of who may read what.
func (s *Service) AddNote(ctx context.Context, a Actor, in NoteInput) (*Note, error) {
	if in.Content == "" {
		return nil, hub.FieldError("content", "required")
	}
	if len(in.Content) > maxNote {
		return nil, hub.FieldError("content", "longer than %d bytes", maxNote)
	}
	v, err := s.viewer(ctx, a.Org, access.PathRead)
	if err != nil {
		return nil, err
	}
	refs := slices.Clone(in.ObjectRefs)
	if in.InReplyTo != "" {
		if refType(in.InReplyTo) != "note" {
			return nil, hub.FieldError("in_reply_to", "%q is not a note", in.InReplyTo)
		}
		refs = append([]string{in.InReplyTo}, refs...)
	}
	if len(refs) == 0 {
		return nil, hub.FieldError("object_refs", "name at least one object the note is about")
	}
	var first *hub.Object
	want, err := parseTLP("tlp", in.TLP)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var stored []string
	for i, id := range refs {
		field := "object_refs"
		if i == 0 && in.InReplyTo != "" {
			field = "in_reply_to"
		}
		if err := checkRef(field, id); err != nil {
			return nil, err
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		o, err := s.get(ctx, v, field, id)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = o
		} else if o.Workspace != first.Workspace {
			return nil, hub.FieldError(field, "%s is in another workspace than %s: a note lives in one workspace", id, first.ID)
		}
		want = max(want, o.TLP)
		stored = append(stored, id)
	}
	p := placeAfter(a.Org, first, want)
	snap, err := access.Load(ctx, s.dir)
	if err != nil {
		return nil, err
	}
	var mentions []string
	for _, code := range ParseMentions(in.Content) {
		probe := &hub.Object{Workspace: p.workspace, TLP: p.tlp, Author: a.Org, Recipients: p.recipients}
		if code != a.Org && snap.Decide(code, probe, access.PathNotify).Allow {
			mentions = append(mentions, code)
		}
	}
	now := s.now()
	obj := map[string]any{"type": "note", "id": stix.NewID("note"), "created": stixTime(now), "modified": stixTime(now),
		"content": in.Content, "object_refs": stored}
	if in.Abstract != "" {
		obj["abstract"] = in.Abstract
	}
	if in.InReplyTo != "" {
		obj[PropInReplyTo] = in.InReplyTo
	}
	if len(mentions) > 0 {
		obj[PropMentions] = mentions
	}
	o, err := s.put(ctx, a, p, obj)
	if err != nil {
		return nil, err
	}
	return noteOf(o)
}

// NotesOn returns the discussion about object id that org may see: the notes referring to it,
// each with its replies nested, oldest first. A reply whose note org may not see is shown at
// the top level rather than hidden.
func (s *Service) NotesOn(ctx context.Context, org, id string) ([]*Note, error) {
	v, err := s.viewer(ctx, org, access.PathRead)
	if err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, v, "object", id); err != nil {
		return nil, err
	}
	all, err := s.notes(ctx, v)
	if err != nil {
		return nil, err
	}
	thread := threadOf(all, id)
	byID := map[string]*Note{}
	for _, n := range thread {
		byID[n.ID] = n
	}
	var top []*Note
	for _, n := range thread {
		if parent := byID[n.InReplyTo]; parent != nil {
			parent.Replies = append(parent.Replies, n)
		} else {
			top = append(top, n)
		}
	}
	if top == nil {
		top = []*Note{}
	}
	return top, nil
}

// threadOf returns the notes of all about object id and, transitively, the replies to them,
// in the order of all.
func threadOf(all []*Note, id string) []*Note {
	in := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			if !in[n.ID] && (slices.Contains(n.ObjectRefs, id) || in[n.InReplyTo]) {
				in[n.ID], changed = true, true
			}
		}
	}
	var out []*Note
	for _, n := range all {
		if in[n.ID] {
			out = append(out, n)
		}
	}
	return out
}

// Mentions returns the notes org may see that mention it, oldest first.
func (s *Service) Mentions(ctx context.Context, org string) ([]*Note, error) {
	v, err := s.viewer(ctx, org, access.PathNotify)
	if err != nil {
		return nil, err
	}
	all, err := s.notes(ctx, v)
	if err != nil {
		return nil, err
	}
	out := []*Note{}
	for _, n := range all {
		if slices.Contains(n.Mentions, org) {
			out = append(out, n)
		}
	}
	return out, nil
}

// notes returns every note v may see, oldest first.
func (s *Service) notes(ctx context.Context, v hub.Viewer) ([]*Note, error) {
	objs, err := s.list(ctx, v, "note")
	if err != nil {
		return nil, err
	}
	out := make([]*Note, 0, len(objs))
	for _, o := range objs {
		n, err := noteOf(o)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.SortStableFunc(out, func(a, b *Note) int { return a.Created.Compare(b.Created) })
	return out, nil
}

func noteOf(o *hub.Object) (*Note, error) {
	var b struct {
		Abstract   string   `json:"abstract"`
		Content    string   `json:"content"`
		ObjectRefs []string `json:"object_refs"`
		InReplyTo  string   `json:"x_cshub_in_reply_to"`
		Mentions   []string `json:"x_cshub_mentions"`
	}
	if err := decode(o, &b); err != nil {
		return nil, err
	}
	return &Note{ID: o.ID, Org: o.Author, Abstract: b.Abstract, Content: b.Content, ObjectRefs: b.ObjectRefs,
		InReplyTo: b.InReplyTo, Mentions: b.Mentions, TLP: o.TLP, Workspace: o.Workspace, Created: o.Created}, nil
}

// ParseMentions returns the organisation codes mentioned in text as "@code", in order of first
// appearance, without duplicates. A code is lower-case letters, digits and inner hyphens, as
// organisation codes are; "@" inside a word (an e-mail address) is not a mention, and a
// trailing hyphen or full stop ends the code.
func ParseMentions(text string) []string {
	var out []string
	for i := 0; i < len(text); i++ {
		if text[i] != '@' || (i > 0 && isCodeByte(text[i-1])) {
			continue
		}
		j := i + 1
		for j < len(text) && isCodeByte(text[j]) {
			j++
		}
		code := text[i+1 : j]
		for len(code) > 0 && code[len(code)-1] == '-' {
			code = code[:len(code)-1]
		}
		if code != "" && code[0] != '-' && !slices.Contains(out, code) {
			out = append(out, code)
		}
		i = j - 1
	}
	return out
}

func isCodeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-'
}
