package bench

import (
	"flag"
	"testing"
)

var restartN = flag.Int("bench.restartn", 100_000, "indicators held by the replica of BenchmarkRestart")

// TestRestart runs the restart measurement small, so that it is known to work: the second
// start must resume from the snapshots (Restart fails otherwise).
func TestRestart(t *testing.T) {
	rows, err := Restart(t.Context(), t.TempDir(), 300, 30)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Unit != "ms" {
		t.Fatalf("rows = %+v", rows)
	}
}

// BenchmarkRestart times a replica holding -bench.restartn indicators restarting from its
// snapshots plus 1,000 events, beside a full rebuild from the store in the same run. Run it
// with -benchtime=1x: each iteration ingests the store anew.
func BenchmarkRestart(b *testing.B) {
	var rows []Row
	for b.Loop() {
		var err error
		if rows, err = Restart(b.Context(), b.TempDir(), *restartN, RestartEvents); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(rows[0].Value, "ms-resume")
	b.ReportMetric(rows[0].Base, "ms-rebuild")
	b.ReportMetric(rows[0].Ratio(), "resume/rebuild")
}
