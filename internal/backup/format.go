package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"time"

	"cshub/internal/hub"
)

// A backup file is JSON Lines: a header line, then one record a line in the order of the
// sections below, then an end line holding the number of records and the SHA-256 of every byte
// before the end line, so that a truncated or altered file is refused before anything of it is
// restored. Field names are fixed here rather than taken from the hub types, so that renaming a
// Go field never makes old backups unreadable.
const (
	formatName    = "cshub-backup"
	formatVersion = 1
	// maxLine bounds one record: the largest object body the API accepts, in base64, with room
	// to spare. A longer line is a damaged or hostile file, not a backup.
	maxLine = 96 << 20
)

type header struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Created time.Time `json:"created"`
}

// record is one line; exactly one field is set.
type record struct {
	Org       *orgRec   `json:"org,omitempty"`
	Workspace *wsRec    `json:"workspace,omitempty"`
	User      *userRec  `json:"user,omitempty"`
	APIKey    *keyRec   `json:"api_key,omitempty"`
	Object    *objRec   `json:"object,omitempty"`
	Audit     *auditRec `json:"audit,omitempty"`
	Keyring   *ringRec  `json:"keyring,omitempty"`
	RootKey   *rootRec  `json:"root_key,omitempty"`
	End       *endRec   `json:"end,omitempty"`
}

// Sections, in the order a file holds them: each refers only to sections before it, so a
// restore can write records as it reads them.
const (
	secOrg = iota + 1
	secWorkspace
	secUser
	secAPIKey
	secObject
	secAudit
	secKeyring
	secRootKey
	secEnd
)

// section returns the section of r, or 0 when r does not set exactly one field.
func (r *record) section() int {
	sec, n := 0, 0
	for i, set := range []bool{r.Org != nil, r.Workspace != nil, r.User != nil, r.APIKey != nil,
		r.Object != nil, r.Audit != nil, r.Keyring != nil, r.RootKey != nil, r.End != nil} {
		if set {
			sec, n = i+1, n+1
		}
	}
	if n != 1 {
		return 0
	}
	return sec
}

type orgRec struct {
	Code    string    `json:"code"`
	Name    string    `json:"name"`
	Country string    `json:"country"`
	Kind    string    `json:"kind"`
	Active  bool      `json:"active"`
	Created time.Time `json:"created"`
}

type wsRec struct {
	Slug       string    `json:"slug"`
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	DefaultTLP hub.TLP   `json:"default_tlp"`
	Members    []string  `json:"members"`
	Created    time.Time `json:"created"`
}

type userRec struct {
	ID           int64     `json:"id"`
	Org          string    `json:"org"`
	Username     string    `json:"username"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"password_hash"`
	TOTPSecret   []byte    `json:"totp_secret,omitempty"` // sealed
	Active       bool      `json:"active"`
	Created      time.Time `json:"created"`
}

type keyRec struct {
	ID      string    `json:"id"`
	Hash    []byte    `json:"hash"`
	Org     string    `json:"org"`
	UserID  int64     `json:"user_id,omitempty"`
	Scope   string    `json:"scope"`
	Expires time.Time `json:"expires"`
	Revoked bool      `json:"revoked"`
	Created time.Time `json:"created"`
}

type objRec struct {
	Seq        int64     `json:"seq"`
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Workspace  string    `json:"workspace"`
	Author     string    `json:"author"`
	TLP        hub.TLP   `json:"tlp"`
	Recipients []string  `json:"recipients,omitempty"`
	Created    time.Time `json:"created"`
	Modified   time.Time `json:"modified"`
	Added      time.Time `json:"added"`
	Revoked    bool      `json:"revoked"`
	Body       []byte    `json:"body"` // sealed
	Tokens     [][]byte  `json:"tokens,omitempty"`
}

type auditRec struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Org     string    `json:"org"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Details []byte    `json:"details,omitempty"` // sealed
	Prev    []byte    `json:"prev,omitempty"`
	Hash    []byte    `json:"hash"`
}

type ringRec struct {
	Blob []byte `json:"blob"` // sealed under the root key
}

type rootRec struct {
	Key []byte `json:"key"`
}

type endRec struct {
	Records int64  `json:"records"`
	SHA256  string `json:"sha256"`
}

// encoder writes a backup file.
type encoder struct {
	w *bufio.Writer
	h hash.Hash
	n int64
}

func newEncoder(w io.Writer, created time.Time) (*encoder, error) {
	e := &encoder{w: bufio.NewWriterSize(w, 1<<20), h: sha256.New()}
	return e, e.line(header{Format: formatName, Version: formatVersion, Created: created.UTC()})
}

func (e *encoder) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	e.h.Write(b)
	_, err = e.w.Write(b)
	return err
}

func (e *encoder) put(r record) error {
	e.n++
	return e.line(r)
}

// close writes the end line and flushes; a file without it is refused as truncated.
func (e *encoder) close() error {
	end := record{End: &endRec{Records: e.n, SHA256: hex.EncodeToString(e.h.Sum(nil))}}
	b, err := json.Marshal(end)
	if err != nil {
		return err
	}
	if _, err := e.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return e.w.Flush()
}

// decoder reads a backup file and checks its structure as it goes: the header, one section
// after another, seqs increasing, one keyring, and the end line's count and hash.
type decoder struct {
	r       *bufio.Reader
	h       hash.Hash
	n       int64
	sec     int
	lastObj int64
	lastAud int64
	done    bool
	created time.Time
}

// errFile says what is wrong with a backup file, with the line it was found on.
func errFile(line int64, format string, args ...any) error {
	return hub.FieldError("backup", "line %d: "+format, append([]any{line}, args...)...)
}

func newDecoder(r io.Reader) (*decoder, error) {
	d := &decoder{r: bufio.NewReaderSize(r, 1<<20), h: sha256.New()}
	b, err := d.readLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, hub.FieldError("backup", "the file is empty")
		}
		return nil, err
	}
	d.h.Write(b)
	var h header
	if err := json.Unmarshal(b, &h); err != nil || h.Format != formatName {
		return nil, hub.FieldError("backup", "not a cshub backup file")
	}
	if h.Version != formatVersion {
		return nil, hub.FieldError("backup", "format version %d; this cshub reads version %d", h.Version, formatVersion)
	}
	d.created = h.Created
	return d, nil
}

// readLine returns the next line without its newline; io.EOF at the end of the input, and
// io.ErrUnexpectedEOF for a last line without a newline.
func (d *decoder) readLine() ([]byte, error) {
	var long []byte
	for {
		b, err := d.r.ReadSlice('\n')
		switch {
		case err == nil:
			if long != nil {
				return append(long, b...), nil
			}
			return b, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if len(long)+len(b) > maxLine {
				return nil, errFile(d.n+2, "a line longer than %d bytes", maxLine)
			}
			long = append(long, b...)
		case errors.Is(err, io.EOF):
			if len(b) == 0 && long == nil {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// next returns the next record before the end line; io.EOF once the end line has been read and
// has matched. A file that stops before its end line is refused as truncated.
func (d *decoder) next() (*record, error) {
	if d.done {
		return nil, io.EOF
	}
	line := d.n + 2 // the header is line 1
	b, err := d.readLine()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, hub.FieldError("backup", "the file is truncated after line %d: no end record", line-1)
	}
	if err != nil {
		return nil, err
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, errFile(line, "%v", err)
	}
	sec := r.section()
	switch {
	case sec == 0:
		return nil, errFile(line, "a record must hold exactly one of org, workspace, user, api_key, object, audit, keyring, root_key, end")
	case sec < d.sec:
		return nil, errFile(line, "records out of order")
	case sec == d.sec && (sec == secKeyring || sec == secRootKey):
		return nil, errFile(line, "a second %s record", map[int]string{secKeyring: "keyring", secRootKey: "root_key"}[sec])
	case sec > secKeyring && d.sec < secKeyring:
		return nil, errFile(line, "no keyring record")
	}
	d.sec = sec
	if sec == secEnd {
		sum := hex.EncodeToString(d.h.Sum(nil))
		if r.End.Records != d.n || r.End.SHA256 != sum {
			return nil, errFile(line, "the end record does not match the file (damaged or altered)")
		}
		if _, err := d.readLine(); !errors.Is(err, io.EOF) {
			return nil, errFile(line+1, "data after the end record")
		}
		d.done = true
		return nil, io.EOF
	}
	d.h.Write(b)
	d.n++
	if err := d.check(line, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// check validates what a restore relies on beyond the JSON shape.
func (d *decoder) check(line int64, r *record) error {
	switch {
	case r.Org != nil && r.Org.Code == "":
		return errFile(line, "an organisation without a code")
	case r.Workspace != nil && r.Workspace.Slug == "":
		return errFile(line, "a workspace without a slug")
	case r.User != nil && (r.User.ID <= 0 || r.User.Username == ""):
		return errFile(line, "a user without an id or name")
	case r.APIKey != nil && (r.APIKey.ID == "" || len(r.APIKey.Hash) == 0):
		return errFile(line, "an API key without an id or hash")
	case r.Object != nil:
		o := r.Object
		if o.Seq <= d.lastObj {
			return errFile(line, "object seq %d after %d", o.Seq, d.lastObj)
		}
		if o.ID == "" || o.Workspace == "" || o.TLP == hub.TLPUnset {
			return errFile(line, "object seq %d lacks its id, workspace or TLP", o.Seq)
		}
		d.lastObj = o.Seq
	case r.Audit != nil:
		if r.Audit.Seq != d.lastAud+1 {
			return errFile(line, "audit entry %d after %d", r.Audit.Seq, d.lastAud)
		}
		d.lastAud = r.Audit.Seq
	case r.Keyring != nil && len(r.Keyring.Blob) == 0:
		return errFile(line, "an empty keyring")
	case r.RootKey != nil && len(r.RootKey.Key) != 32:
		return errFile(line, "a root key of %d bytes, not 32", len(r.RootKey.Key))
	}
	return nil
}
