package store_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"cshub/internal/store"
)

func TestPendingMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("two")},
		"m/0001_init.sql": {Data: []byte("one")},
		"m/0010_late.sql": {Data: []byte("ten")},
	}
	for _, tc := range []struct {
		current int
		want    string
		err     string
	}{
		{0, "0001_init.sql 0002_more.sql 0010_late.sql", ""},
		{2, "0010_late.sql", ""},
		{10, "", ""},
		{11, "", "upgrade cshub"},
	} {
		ms, err := store.Pending(fsys, "m", tc.current)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("current %d: err %v, want one saying %q", tc.current, err, tc.err)
			}
			continue
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
		}
		if got := strings.Join(names, " "); err != nil || got != tc.want {
			t.Errorf("current %d: %q, %v; want %q", tc.current, got, err, tc.want)
		}
	}
	if _, err := store.Pending(fstest.MapFS{"m/init.sql": {}}, "m", 0); err == nil {
		t.Error("a migration without a version number was accepted")
	}
}
