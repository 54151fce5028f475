package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/store/sqlite"
	"cshub/internal/store/storetest"
)

func loadAttack(b *testing.B) []*hub.Object {
	b.Helper()
	objs, err := storetest.LoadAttack(storetest.AttackBundle, "attack", "mitre")
	if err != nil {
		b.Fatal(err)
	}
	return objs
}

// benchInsert inserts the ATT&CK bundle into a new database per iteration, timing only the
// insert, and reports objects/s.
func benchInsert(b *testing.B, insert func(db *sqlite.DB, objs []*hub.Object) error) {
	ctx := context.Background()
	objs := loadAttack(b)
	var bytes int64
	for _, o := range objs {
		bytes += int64(len(o.Body))
	}
	b.SetBytes(bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := sqlite.Open(filepath.Join(b.TempDir(), "hub.db"))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.CreateWorkspace(ctx, &hub.Workspace{Slug: "attack"}); err != nil {
			b.Fatal(err)
		}
		batch := storetest.Clone(objs)
		b.StartTimer()
		if err := insert(db, batch); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
	}
	b.ReportMetric(float64(len(objs)*b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkPutObjectsAttack(b *testing.B) {
	benchInsert(b, func(db *sqlite.DB, objs []*hub.Object) error {
		n, err := db.PutObjects(context.Background(), objs, hub.PutOptions{})
		if err == nil && n != len(objs) {
			b.Fatalf("added %d of %d", n, len(objs))
		}
		return err
	})
}

func BenchmarkRawInsertAttack(b *testing.B) {
	benchInsert(b, func(db *sqlite.DB, objs []*hub.Object) error {
		return db.RawInsert(context.Background(), objs)
	})
}
