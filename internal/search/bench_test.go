package search

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cshub/internal/hub"
)

var benchN = flag.Int("search.n", 1_000_000, "objects in the synthetic index of the benchmarks")

// synth generates deterministic, realistic objects: indicators with domains, addresses and
// hashes, malware and intrusion sets with generated names and aliases, attack patterns with
// kill-chain phases, reports and notes whose text mentions them, relationships; spread over
// workspaces, TLP levels, authors and recipients like a busy hub.
type synth struct {
	r       *rand.Rand
	words   []string
	actors  []string
	malware []string
	orgs    []string
	wss     []string
	start   time.Time
}

var (
	syllables = strings.Fields("ka zu mi ra to ne shi ba lo ve dra gon fu ri sa ten mar vol ix an or el")
	adjs      = strings.Fields("Fancy Cozy Sand Cobalt Charming Venomous Silent Iron Golden Crimson Static Lazy Wicked Hidden Ocean Frozen Dark Pale")
	animals   = strings.Fields("Bear Kitten Viper Panda Spider Chollima Typhoon Tempest Sleet Blizzard Sandstorm Falcon Jackal Lynx Hydra Wolf")
	tlds      = strings.Fields("example com net org info ru cn io biz top xyz")
	phases    = strings.Fields("reconnaissance resource-development initial-access execution persistence privilege-escalation defense-evasion credential-access discovery lateral-movement collection command-and-control exfiltration impact")
	labelSet  = strings.Fields("malicious-activity phishing ransomware apt botnet c2 espionage financial ddos wiper")
	common    = strings.Fields("the group used a an and of to in for with on by from via that this was were has have been its their targeted network access credentials server domain malware campaign attack phishing email document payload loader backdoor exploit vulnerability government ministry energy telecom sector organisations victims infrastructure command control traffic observed reported analysts security researchers")
)

func newSynth() *synth {
	s := &synth{r: rand.New(rand.NewPCG(2026, 11)), start: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)}
	for i := 0; i < 5000; i++ { // a long tail of rarer words
		var b strings.Builder
		for range 2 + s.r.IntN(3) {
			b.WriteString(syllables[s.r.IntN(len(syllables))])
		}
		s.words = append(s.words, b.String())
	}
	for i := 0; i < 2000; i++ {
		s.actors = append(s.actors, adjs[s.r.IntN(len(adjs))]+" "+animals[s.r.IntN(len(animals))]+fmt.Sprintf(" %d", i))
	}
	for i := 0; i < 5000; i++ {
		w := s.words[s.r.IntN(len(s.words))]
		s.malware = append(s.malware, strings.ToUpper(w[:1])+w[1:]+[]string{"", "RAT", "Loader", "Stealer", "Bot"}[s.r.IntN(5)])
	}
	for i := range 29 {
		s.orgs = append(s.orgs, fmt.Sprintf("cert-%02d", i))
	}
	s.wss = []string{"community"}
	for i := range 20 {
		s.wss = append(s.wss, fmt.Sprintf("group-%02d", i))
	}
	for _, o := range s.orgs {
		s.wss = append(s.wss, "private-"+o)
	}
	return s
}

func (s *synth) word() string {
	if s.r.IntN(3) > 0 {
		return common[s.r.IntN(len(common))]
	}
	// Zipf-like: low indices far more often.
	return s.words[int(float64(len(s.words))*s.r.Float64()*s.r.Float64()*s.r.Float64())]
}

func (s *synth) sentence(n int, mention string) string {
	w := make([]string, 0, n+4)
	for i := range n {
		if i == n/2 && mention != "" {
			w = append(w, mention)
		}
		w = append(w, s.word())
	}
	return strings.Join(w, " ") + "."
}

func (s *synth) domain() string {
	return s.word() + "-" + s.words[s.r.IntN(len(s.words))] + fmt.Sprintf("%d.", s.r.IntN(100)) + tlds[s.r.IntN(len(tlds))]
}

func (s *synth) ip() string {
	return fmt.Sprintf("%d.%d.%d.%d", []int{192, 198, 203, 10, 185, 45}[s.r.IntN(6)], s.r.IntN(256), s.r.IntN(256), s.r.IntN(256))
}

func (s *synth) hash() string {
	return fmt.Sprintf("%016x%016x%016x%016x", s.r.Uint64(), s.r.Uint64(), s.r.Uint64(), s.r.Uint64())
}

// object returns the i-th synthetic object.
func (s *synth) object(i int) *hub.Object {
	m := map[string]any{"spec_version": "2.1"}
	var typ string
	actor, mal := s.actors[s.r.IntN(len(s.actors))], s.malware[s.r.IntN(len(s.malware))]
	switch k := s.r.IntN(100); {
	case k < 40:
		typ = "indicator"
		var v string
		switch s.r.IntN(3) {
		case 0:
			v = s.domain()
			m["pattern"] = fmt.Sprintf("[domain-name:value = '%s']", v)
		case 1:
			v = s.ip()
			m["pattern"] = fmt.Sprintf("[ipv4-addr:value = '%s']", v)
		default:
			v = s.hash()
			m["pattern"] = fmt.Sprintf("[file:hashes.'SHA-256' = '%s']", v)
		}
		m["name"] = mal + " " + v
		m["description"] = s.sentence(8+s.r.IntN(12), actor)
	case k < 50:
		typ = "malware"
		m["name"] = mal
		m["description"] = s.sentence(20+s.r.IntN(30), actor)
		m["kill_chain_phases"] = []map[string]string{{"kill_chain_name": "mitre-attack", "phase_name": phases[s.r.IntN(len(phases))]}}
	case k < 55:
		typ = "intrusion-set"
		m["name"] = actor
		m["aliases"] = []string{actor, adjs[s.r.IntN(len(adjs))] + " " + animals[s.r.IntN(len(animals))], strings.ToUpper(s.words[s.r.IntN(len(s.words))])}
		m["description"] = s.sentence(30+s.r.IntN(40), mal)
	case k < 65:
		typ = "attack-pattern"
		m["name"] = strings.Title(s.word() + " " + s.word())
		m["description"] = s.sentence(30+s.r.IntN(40), "")
		m["kill_chain_phases"] = []map[string]string{{"kill_chain_name": "mitre-attack", "phase_name": phases[s.r.IntN(len(phases))]}}
	case k < 75:
		typ = "report"
		m["name"] = actor + " targets " + s.word() + " with " + mal
		m["description"] = s.sentence(60+s.r.IntN(80), s.domain()+" "+s.ip())
	case k < 85:
		typ = "note"
		m["content"] = s.sentence(10+s.r.IntN(30), mal)
	default:
		typ = "relationship"
		m["description"] = s.sentence(6+s.r.IntN(10), actor+" uses "+mal)
	}
	if s.r.IntN(3) == 0 {
		m["labels"] = []string{labelSet[s.r.IntN(len(labelSet))]}
	}
	id := fmt.Sprintf("%s--%08x-0000-4000-8000-%012x", typ, i, s.r.Uint64()&0xffffffffffff)
	mod := s.start.Add(time.Duration(i) * 90 * time.Second)
	m["type"], m["id"], m["modified"] = typ, id, mod.Format(time.RFC3339)
	body, _ := json.Marshal(m) // maps of strings always marshal
	o := &hub.Object{Seq: int64(i + 1), ID: id, Type: typ, Modified: mod, Body: body,
		Author: s.orgs[s.r.IntN(len(s.orgs))], TLP: hub.TLP(1 + s.r.IntN(5))}
	switch k := s.r.IntN(10); {
	case k < 6:
		o.Workspace = "community"
	case k < 9:
		o.Workspace = s.wss[1+s.r.IntN(20)]
	default:
		o.Workspace = "private-" + o.Author
	}
	if o.TLP == hub.TLPRed {
		o.Recipients = []string{s.orgs[s.r.IntN(len(s.orgs))]}
	}
	return o
}

type benchIndex struct {
	x        *Index
	rate     float64 // objects per second of wall time
	cpuRate  float64 // objects per second of process CPU time (GC included)
	heapMB   float64
	s        *synth
	building time.Duration
}

var benchIdx = sync.OnceValue(func() *benchIndex {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s := newSynth()
	x := New()
	var spent, cpu time.Duration
	batch := make([]*hub.Object, 0, 10000)
	for i := 0; i < *benchN; i += cap(batch) {
		batch = batch[:0]
		for j := i; j < min(i+cap(batch), *benchN); j++ {
			batch = append(batch, s.object(j))
		}
		t0, c0 := time.Now(), cpuTime()
		for _, o := range batch {
			if err := x.Add(o); err != nil {
				panic(err)
			}
		}
		spent += time.Since(t0)
		cpu += cpuTime() - c0
	}
	batch = nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return &benchIndex{x: x, s: s, building: spent, rate: float64(*benchN) / spent.Seconds(),
		cpuRate: float64(*benchN) / cpu.Seconds(),
		heapMB:  float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)}
})

// BenchmarkBuild reports how fast the index takes objects (bodies parsed and tokenized, as
// Build does after opening them) and how much memory the built index holds.
func BenchmarkBuild(b *testing.B) {
	bi := benchIdx()
	for b.Loop() {
		// The index is built once per process; the figures are those of that build.
	}
	b.ReportMetric(bi.rate, "objects/s")
	b.ReportMetric(bi.cpuRate, "objects/cpu-s")
	b.ReportMetric(bi.heapMB, "heap-MB")
	b.ReportMetric(float64(*benchN), "objects")
	b.ReportMetric(bi.building.Seconds(), "build-s")
}

// benchQueries is the mix: terms, alias hits, phrases, prefixes, indicator values, and
// filtered queries, some with no text at all.
func benchQueries(s *synth) []string {
	r := rand.New(rand.NewPCG(7, 7))
	var qs []string
	for range 50 {
		actor := s.actors[r.IntN(len(s.actors))]
		mal := s.malware[r.IntN(len(s.malware))]
		w := s.words[r.IntN(200)]
		qs = append(qs,
			mal,
			strings.ToLower(mal),
			`"`+actor+`"`,
			actor,
			w[:3]+"*",
			"type:report "+strings.ToLower(mal),
			"type:indicator tlp:amber author:"+s.orgs[r.IntN(len(s.orgs))],
			"phase:"+phases[r.IntN(len(phases))]+" type:malware",
			"label:phishing after:2024-06-01 "+w,
			"campaign targeted ministry",
			`"command control" `+w[:2]+"*",
			s.ip(),
			"government -"+w,
		)
	}
	return qs
}

// BenchmarkQuery runs the mix over the synthetic index, each query as a member CERT that sees
// the community workspace, a few groups and its private workspace, and reports the latency
// percentiles of a first page of 20.
func BenchmarkQuery(b *testing.B) {
	bi := benchIdx()
	qs := benchQueries(bi.s)
	viewers := make([]hub.Viewer, 0, len(bi.s.orgs))
	for i, o := range bi.s.orgs {
		viewers = append(viewers, hub.Viewer{Org: o, Workspaces: []string{"community", fmt.Sprintf("group-%02d", i%20),
			fmt.Sprintf("group-%02d", (i+7)%20), "private-" + o}})
	}
	ctx := context.Background()
	var lat, cpuLat []time.Duration
	var hits, totals int
	i := 0
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for b.Loop() {
		q, v := qs[i%len(qs)], viewers[i%len(viewers)]
		i++
		t0 := time.Now()
		c0, _ := threadCPU()
		res, err := bi.x.Search(ctx, v, q, 20, "")
		c1, ok := threadCPU()
		lat = append(lat, time.Since(t0))
		if ok {
			cpuLat = append(cpuLat, c1-c0)
		}
		if err != nil {
			b.Fatalf("Search(%q): %v", q, err)
		}
		hits += len(res.Hits)
		totals += res.Total
	}
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(percentile(lat, 1), "max-ms")
	if len(cpuLat) > 0 {
		b.ReportMetric(percentile(cpuLat, 0.50), "cpu-p50-ms")
		b.ReportMetric(percentile(cpuLat, 0.99), "cpu-p99-ms")
	}
	b.ReportMetric(float64(hits)/float64(len(lat)), "hits/query")
	b.ReportMetric(float64(totals)/float64(len(lat)), "total/query")
}

// BenchmarkQueryKinds reports the p99 of each kind of query separately, to see which dominates.
func BenchmarkQueryKinds(b *testing.B) {
	bi := benchIdx()
	qs := benchQueries(bi.s)
	v := hub.Viewer{Org: "cert-03", Workspaces: []string{"community", "group-03", "group-10", "private-cert-03"}}
	ctx := context.Background()
	const kinds = 13
	for k := range kinds {
		b.Run(fmt.Sprint(k), func(b *testing.B) {
			var lat, cpuLat []time.Duration
			i := 0
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for b.Loop() {
				q := qs[(i%50)*kinds+k]
				i++
				t0 := time.Now()
				c0, _ := threadCPU()
				if _, err := bi.x.Search(ctx, v, q, 20, ""); err != nil {
					b.Fatal(err)
				}
				c1, ok := threadCPU()
				lat = append(lat, time.Since(t0))
				if ok {
					cpuLat = append(cpuLat, c1-c0)
				}
			}
			b.ReportMetric(percentile(lat, 0.5), "p50-ms")
			b.ReportMetric(percentile(lat, 0.99), "p99-ms")
			if len(cpuLat) > 0 {
				b.ReportMetric(percentile(cpuLat, 0.5), "cpu-p50-ms")
				b.ReportMetric(percentile(cpuLat, 0.99), "cpu-p99-ms")
			}
		})
	}
}

// percentile returns the p-th quantile of d in milliseconds; d is sorted in place.
func percentile(d []time.Duration, p float64) float64 {
	slices.Sort(d)
	return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
}
