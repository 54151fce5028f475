//go:build unix

package taxii_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"cshub/internal/kb"
	"cshub/internal/taxii"
)

// BenchmarkPageCommunity ingests the ATT&CK Enterprise bundle once into a SQLite hub and then
// pages through the whole collection with limit=1000 over the handler, reporting objects per
// second and the 99th percentile of the time one page takes.
func BenchmarkPageCommunity(b *testing.B) {
	h := newTestHub(b)
	f, err := os.Open("../demo/data/enterprise-attack-18.1.stix21.json.gz")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sum, err := h.kb.Ingest(context.Background(), kb.Submission{Org: "cert-fr", Workspace: "community"}, f)
	if err != nil {
		b.Fatal(err)
	}
	key := h.keys["cert-uk:read"]
	buf := bytes.NewBuffer(make([]byte, 0, 8<<20))
	page := func(next string) (more bool, cursor string, n int, d time.Duration) {
		url := root + "collections/" + community + "/objects/?limit=1000"
		if next != "" {
			url += "&next=" + next
		}
		req := httptest.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Accept", taxii.MediaType)
		rec := httptest.NewRecorder()
		buf.Reset()
		rec.Body = buf // as a network connection would, reuse the buffer: measure the server, not the recorder
		start := time.Now()
		h.handler.ServeHTTP(rec, req)
		d = time.Since(start)
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body.Bytes())
		}
		// The envelope begins {"more":…,"next":"…": read just that, as a client that streams would.
		body := rec.Body.Bytes()
		head := body[:min(len(body), 200)]
		if i := bytes.Index(head, []byte(`"next":"`)); i >= 0 {
			rest := head[i+8:]
			cursor = string(rest[:bytes.IndexByte(rest, '"')])
		}
		return bytes.HasPrefix(body, []byte(`{"more":true`)), cursor, 0, d
	}

	// One full pass, decoded, to know how many objects a pass yields and that it yields them all.
	total := 0
	for next := ""; ; {
		url := root + "collections/" + community + "/objects/?limit=1000"
		if next != "" {
			url += "&next=" + next
		}
		req := httptest.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Accept", taxii.MediaType)
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		var e struct {
			More    bool              `json:"more"`
			Next    string            `json:"next"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
			b.Fatal(err)
		}
		total += len(e.Objects)
		if !e.More {
			break
		}
		next = e.Next
	}
	if total != sum.Accepted {
		b.Fatalf("a pass yields %d objects, the ingest accepted %d", total, sum.Accepted)
	}

	var durations []time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		for next, more := "", true; more; {
			var d time.Duration
			more, next, _, d = page(next)
			durations = append(durations, d)
		}
	}
	cpu := cpuTime() - cpu0
	slices.Sort(durations)
	p99 := durations[min(len(durations)-1, len(durations)*99/100)]
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms/page")
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms/page")
	// Wall time suffers when the machine is shared; the process's CPU time per page does not.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(durations)), "cpu-ms/page")
	b.ReportMetric(float64(total)*float64(b.N)/cpu.Seconds(), "objects/cpu-s")
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
