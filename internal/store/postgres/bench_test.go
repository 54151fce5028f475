package postgres_test

import (
	"context"
	"testing"

	"cshub/internal/hub"
	"cshub/internal/store/postgres"
	"cshub/internal/store/postgres/pgtest"
	"cshub/internal/store/storetest"
)

// benchInsert inserts the ATT&CK bundle into a new schema per iteration, timing only the
// insert, and reports objects/s.
func benchInsert(b *testing.B, insert func(db *postgres.DB, objs []*hub.Object) error) {
	base := pgtest.URL(b)
	ctx := context.Background()
	objs, err := storetest.LoadAttack(storetest.AttackBundle, "attack", "mitre")
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for _, o := range objs {
		bytes += int64(len(o.Body))
	}
	b.SetBytes(bytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := open(b, pgtest.SchemaOf(b, base))
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
	benchInsert(b, func(db *postgres.DB, objs []*hub.Object) error {
		n, err := db.PutObjects(context.Background(), objs, hub.PutOptions{})
		if err == nil && n != len(objs) {
			b.Fatalf("added %d of %d", n, len(objs))
		}
		return err
	})
}

func BenchmarkRawCopyAttack(b *testing.B) {
	benchInsert(b, func(db *postgres.DB, objs []*hub.Object) error {
		return db.RawCopy(context.Background(), objs)
	})
}
