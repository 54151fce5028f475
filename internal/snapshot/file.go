// Package snapshot lets an in-memory index (the matching index, the full-text index) survive a
// restart of its replica: the index is saved, sealed, in the replica's data directory together
// with the bus Position it is current to, and on start it is restored from there and brought up
// to date from the events since, instead of being rebuilt from the whole store.
//
// A snapshot file is
//
//	magic "cshub snapshot\n" | format(1) | head | sections
//
// where head is one sealed value under the hub's own key holding the Meta, a random file id and
// the workspaces of the sections in order, and each section (uvarint length of the workspace
// slug, the slug, uvarint length, sealed value) is one workspace's part of the index, sealed
// under that workspace's key at a Location naming the index and the file id. So nothing of
// indicator values or content is readable on disk; a section cannot be moved into another file
// or workspace; a snapshot made under another hub's keyring does not open; and a workspace whose
// keys were destroyed is crypto-shredded in every snapshot already written: its section no
// longer opens, and Read leaves it out.
package snapshot

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"cshub/internal/hub"
	"cshub/internal/seal"
)

const (
	magic  = "cshub snapshot\n"
	format = 1 // of the file layout; Meta.Format versions each index's own encoding
	kind   = "snapshot"
)

// Meta says what a snapshot holds and how current it is.
type Meta struct {
	Index  string // which index: "lookup", "search"
	Format int    // the version of the index's own section encoding
	Stream string // the bus stream the index followed (bus.Position.Stream)
	Seq    uint64 // the index holds the effect of every event of Stream up to Seq
}

// head is the sealed head of a file.
type head struct {
	Meta
	File       string   `json:"file"`       // random, binds the sections to this file
	Workspaces []string `json:"workspaces"` // of the sections, in file order
}

func headLocation(index string) seal.Location {
	return seal.Location{Kind: kind, ID: index, Version: "head"}
}

func sectionLocation(ws, index, file string) seal.Location {
	return seal.Location{Workspace: ws, Kind: kind, ID: index, Version: file}
}

// Write seals m and sections (one per workspace slug) into the file at path, replacing what was
// there only once the new file is complete on disk. A workspace whose key is gone (destroyed
// since the index last saw it) cannot be sealed: it is left out and returned in skipped, so that
// the caller can drop it from memory too.
func Write(path string, s seal.Sealer, m Meta, sections map[string][]byte) (skipped []string, err error) {
	h := head{Meta: m, File: rand.Text()}
	var body bytes.Buffer
	for _, ws := range slices.Sorted(maps.Keys(sections)) {
		c, err := s.Encrypt(sectionLocation(ws, m.Index, h.File), sections[ws])
		if hub.ErrorCode(err) == hub.ENotFound {
			skipped = append(skipped, ws)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("snapshot: sealing %s of workspace %s: %w", m.Index, ws, err)
		}
		h.Workspaces = append(h.Workspaces, ws)
		body.Write(binary.AppendUvarint(nil, uint64(len(ws))))
		body.WriteString(ws)
		body.Write(binary.AppendUvarint(nil, uint64(len(c))))
		body.Write(c)
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	hc, err := s.Encrypt(headLocation(m.Index), hj)
	if err != nil {
		return nil, fmt.Errorf("snapshot: sealing the head of %s: %w", m.Index, err)
	}
	out := append([]byte(magic), format)
	out = binary.AppendUvarint(out, uint64(len(hc)))
	out = append(out, hc...)
	out = append(out, body.Bytes()...)
	return skipped, writeFile(path, out)
}

// writeFile replaces path with data: a crash leaves the old file or the new one, never a part.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Read opens the snapshot of index at path, which must be in section format fmtVersion, and
// returns its Meta and sections by workspace. Sections whose workspace keys are gone are left
// out and named in dropped: their content is shredded, and the index simply no longer holds
// it. A missing file is an error satisfying errors.Is(err, os.ErrNotExist); anything else that
// is not a snapshot of this index, sealed under this hub's keyring, in these formats, is an
// EIntegrity or EInvalid *hub.Error saying why. Read never returns part of a damaged file.
func Read(path string, s seal.Sealer, index string, fmtVersion int) (m Meta, sections map[string][]byte, dropped []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Meta{}, nil, nil, err
	}
	return decode(data, s, index, fmtVersion)
}

func decode(data []byte, s seal.Sealer, index string, fmtVersion int) (Meta, map[string][]byte, []string, error) {
	bad := func(format string, args ...any) (Meta, map[string][]byte, []string, error) {
		return Meta{}, nil, nil, hub.Errorf(hub.EIntegrity, "snapshot: "+format, args...)
	}
	rest, ok := bytes.CutPrefix(data, []byte(magic))
	if !ok {
		return bad("not a snapshot file")
	}
	if len(rest) == 0 || rest[0] != format {
		return bad("file format %v, want %d", rest[:min(len(rest), 1)], format)
	}
	rest = rest[1:]
	hc, rest, ok := chunk(rest)
	if !ok {
		return bad("truncated head")
	}
	hj, err := s.Decrypt(headLocation(index), hc)
	if err != nil {
		return Meta{}, nil, nil, fmt.Errorf("snapshot: the head does not open with this hub's keyring (another hub's snapshot, or damaged): %w", err)
	}
	var h head
	if err := json.Unmarshal(hj, &h); err != nil {
		return bad("unreadable head: %v", err)
	}
	if h.Index != index {
		return bad("holds index %q, want %q", h.Index, index)
	}
	if h.Format != fmtVersion {
		return Meta{}, nil, nil, hub.Errorf(hub.EInvalid, "snapshot: %s format %d, this version reads %d", index, h.Format, fmtVersion)
	}
	sections := make(map[string][]byte, len(h.Workspaces))
	var dropped []string
	for _, want := range h.Workspaces {
		ws, r, ok := chunk(rest)
		if !ok || string(ws) != want {
			return bad("section of workspace %q missing or out of place", want)
		}
		c, r, ok := chunk(r)
		if !ok {
			return bad("section of workspace %q truncated", want)
		}
		rest = r
		plain, err := s.Decrypt(sectionLocation(want, index, h.File), c)
		if hub.ErrorCode(err) == hub.ENotFound {
			dropped = append(dropped, want) // the workspace's keys were destroyed
			continue
		}
		if err != nil {
			return Meta{}, nil, nil, fmt.Errorf("snapshot: section of workspace %s: %w", want, err)
		}
		sections[want] = plain
	}
	if len(rest) != 0 {
		return bad("%d bytes after the last section", len(rest))
	}
	return h.Meta, sections, dropped, nil
}

// chunk splits a uvarint-length-prefixed value off b, checking the length before slicing.
func chunk(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// EncodeRecords encodes, for a State's Sections, each workspace's records with encoding/gob:
// the exported fields of T are the section format.
func EncodeRecords[T any](by map[string][]T) (map[string][]byte, error) {
	out := make(map[string][]byte, len(by))
	for ws, recs := range by {
		var b bytes.Buffer
		if err := gob.NewEncoder(&b).Encode(recs); err != nil {
			return nil, fmt.Errorf("snapshot: encoding workspace %s: %w", ws, err)
		}
		out[ws] = b.Bytes()
	}
	return out, nil
}

// DecodeRecords decodes every section made by EncodeRecords, for a State's Restore, before the
// State changes anything: a damaged section is an error and nothing else.
func DecodeRecords[T any](sections map[string][]byte) (map[string][]T, error) {
	by := make(map[string][]T, len(sections))
	for ws, b := range sections {
		var recs []T
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&recs); err != nil {
			return nil, hub.Errorf(hub.EIntegrity, "snapshot: section of workspace %s: %v", ws, err)
		}
		by[ws] = recs
	}
	return by, nil
}
