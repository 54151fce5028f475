package storetest

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"cshub/internal/hub"
)

// AttackBundle is the path of the MITRE ATT&CK Enterprise bundle from a package directory
// under internal/store.
const AttackBundle = "../../demo/data/enterprise-attack-18.1.stix21.json.gz"

// LoadAttack reads a gzipped STIX 2.1 bundle and returns one object per entry in workspace ws,
// authored by author at TLP:CLEAR, with the entry's JSON as its (here unsealed) body. Only id,
// type, created and modified are read; an entry without modified uses created.
func LoadAttack(path, ws, author string) ([]*hub.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var bundle struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.NewDecoder(zr).Decode(&bundle); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	objs := make([]*hub.Object, 0, len(bundle.Objects))
	for i, raw := range bundle.Objects {
		var head struct {
			ID       string    `json:"id"`
			Type     string    `json:"type"`
			Created  time.Time `json:"created"`
			Modified time.Time `json:"modified"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: object %d: %w", path, i, err)
		}
		if head.Modified.IsZero() {
			head.Modified = head.Created
		}
		typ := head.Type
		if typ == "" {
			typ, _, _ = strings.Cut(head.ID, "--")
		}
		objs = append(objs, &hub.Object{
			ID: head.ID, Type: typ, Created: head.Created.UTC(), Modified: head.Modified.UTC(),
			Workspace: ws, Author: author, TLP: hub.TLPClear, Body: raw,
		})
	}
	return objs, nil
}

// Clone returns copies of objs with Seq and Added cleared, for putting the same objects again.
func Clone(objs []*hub.Object) []*hub.Object {
	out := make([]*hub.Object, len(objs))
	for i, o := range objs {
		c := *o
		c.Seq, c.Added = 0, time.Time{}
		out[i] = &c
	}
	return out
}
