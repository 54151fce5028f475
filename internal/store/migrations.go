package store

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"cshub/internal/hub"
)

// Migration is one embedded schema change of a store: NNNN_name.sql, applied in version order.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Pending reads the migrations in dir of fsys (files named with their version number first) and
// returns those newer than current, the version the database records, in order. A database
// whose schema is newer than any migration this program carries is refused: an older cshub must
// not write to a schema it does not know.
func Pending(fsys fs.FS, dir string, current int) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, &hub.Error{Code: hub.EInternal, Message: "reading embedded migrations", Err: err}
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, &hub.Error{Code: hub.EInternal, Message: fmt.Sprintf("migration %s: name must start with its version number", base), Err: err}
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &hub.Error{Code: hub.EInternal, Message: "reading embedded migrations", Err: err}
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].Version
	}
	if current > known {
		return nil, hub.Errorf(hub.EInternal, "the database schema is at version %d but this cshub knows versions up to %d only: upgrade cshub before opening this database", current, known)
	}
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Version > current })
	return ms[i:], nil
}
