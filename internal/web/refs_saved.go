package web

import (
	"context"
	"strings"

	"cshub/internal/hub"
	"cshub/internal/kb"
	"cshub/internal/snapshot"
)

// refsFormat versions the encoding of savedRefs sections (the fields of savedObject).
const refsFormat = 1

// savedObject is one object of the reference index in a section: its metadata and what it
// refers to. Field names are the format.
type savedObject struct {
	Meta hub.Object // no body, no tokens
	Refs []savedRef
}

type savedRef struct {
	Target, Prop, RelType, Other string
}

// savedRefs is the reference index as a snapshot.State.
type savedRefs struct {
	x   *refIndex
	src *kb.Service
}

func (s *savedRefs) Load(ctx context.Context) (int, error) { return s.x.load(ctx, s.src) }
func (s *savedRefs) Update(o *hub.Object) error            { s.x.add(o); return nil }
func (s *savedRefs) Remove(workspace, id string)           { s.x.remove(workspace, id) }

// Forget takes every object of workspace out of the index.
func (s *savedRefs) Forget(workspace string) {
	x := s.x
	x.mu.Lock()
	defer x.mu.Unlock()
	for key, m := range x.meta {
		if strings.HasPrefix(key, workspace+"\x00") {
			x.unfileLocked(m.Workspace, m.ID)
			delete(x.meta, key)
		}
	}
}

// Sections copies the index under the read lock, so pages go on, and encodes after.
func (s *savedRefs) Sections() (map[string][]byte, error) {
	x := s.x
	objs := map[string]*savedObject{}
	by := map[string][]*savedObject{}
	x.mu.RLock()
	for key, m := range x.meta {
		o := &savedObject{Meta: *m}
		objs[key] = o
		by[m.Workspace] = append(by[m.Workspace], o)
	}
	for target, refs := range x.by {
		for _, r := range refs {
			if o := objs[r.meta.Workspace+"\x00"+r.meta.ID]; o != nil {
				o.Refs = append(o.Refs, savedRef{Target: target, Prop: r.prop, RelType: r.relType, Other: r.other})
			}
		}
	}
	x.mu.RUnlock()
	return snapshot.EncodeRecords(by)
}

// Restore files every saved object, after all sections decoded.
func (s *savedRefs) Restore(sections map[string][]byte) (int, error) {
	by, err := snapshot.DecodeRecords[*savedObject](sections)
	if err != nil {
		return 0, err
	}
	x := s.x
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for ws, objs := range by {
		for _, o := range objs {
			if o == nil {
				continue
			}
			meta := o.Meta
			meta.Workspace = ws // a section speaks only for its own workspace
			key := ws + "\x00" + meta.ID
			x.unfileLocked(ws, meta.ID)
			x.meta[key] = &meta
			for _, r := range o.Refs {
				x.by[r.Target] = append(x.by[r.Target], backRef{meta: &meta, prop: r.Prop, relType: r.RelType, other: r.Other})
				x.filed[key] = append(x.filed[key], r.Target)
			}
			n++
		}
	}
	x.ready = true
	return n, nil
}
