// Package metrics keeps the hub's counters, gauges and histograms and serves them in the
// Prometheus text exposition format (version 0.0.4), written with the standard library. Every
// name starts with "cshub_". Metrics carry counts and timings only, never content, values or
// organisation names: a scrape shows how busy the hub is, not who shared what.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Prefix starts every metric name.
const Prefix = "cshub_"

// Registry holds metrics and writes them out. The zero value is not usable; call New. A
// Registry and every metric it returns are safe for concurrent use.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]collector // by full name; guarded by mu
}

// New returns an empty registry.
func New() *Registry { return &Registry{metrics: map[string]collector{}} }

type collector interface {
	write(w *bufio.Writer)
}

// register adds c under name, or panics on a name that is taken or malformed: both are
// programming errors found by the first test that builds the registry.
func (r *Registry) register(name string, c collector) {
	if !strings.HasPrefix(name, Prefix) || !validName(name) {
		panic("metrics: invalid name " + name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic("metrics: " + name + " registered twice")
	}
	r.metrics[name] = c
}

func validName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// WriteTo writes every metric in the text exposition format, sorted by name.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	cs := make([]collector, len(names))
	sort.Strings(names)
	for i, n := range names {
		cs[i] = r.metrics[n]
	}
	r.mu.Unlock()
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, c := range cs {
		c.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ServeHTTP writes the registry for a scrape.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	r.WriteTo(w)
}

// family holds the children of one metric name, one per combination of label values.
type family[T any] struct {
	name, help, typ string
	labels          []string
	make            func() *T
	mu              sync.Mutex
	children        map[string]*T // by joined label values; guarded by mu
	order           []string      // keys of children in creation order; guarded by mu
	values          map[string][]string
}

func newFamily[T any](name, help, typ string, labels []string, mk func() *T) *family[T] {
	return &family[T]{name: name, help: help, typ: typ, labels: labels, make: mk, children: map[string]*T{}, values: map[string][]string{}}
}

func (f *family[T]) with(values []string) *T {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.children[key]
	if !ok {
		c = f.make()
		f.children[key] = c
		f.order = append(f.order, key)
		f.values[key] = slices.Clone(values)
	}
	return c
}

// each calls fn with every child and its label pairs, sorted by label values.
func (f *family[T]) each(fn func(labels string, c *T)) {
	f.mu.Lock()
	keys := slices.Clone(f.order)
	f.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		f.mu.Lock()
		c, vals := f.children[k], f.values[k]
		f.mu.Unlock()
		fn(labelPairs(f.labels, vals), c)
	}
}

func (f *family[T]) header(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
}

// labelPairs renders {a="x",b="y"}, or "" without labels.
func labelPairs(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) add(d float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (a *atomicFloat) set(v float64) { a.bits.Store(math.Float64bits(v)) }
func (a *atomicFloat) load() float64 { return math.Float64frombits(a.bits.Load()) }

// Counter only goes up.
type Counter struct{ v atomicFloat }

// Inc adds one.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds d, which must not be negative; a negative d is ignored, as a counter that went down
// would read as a restart.
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.v.add(d)
	}
}

// CounterVec is a counter per combination of label values.
type CounterVec struct{ f *family[Counter] }

// Counter registers a counter family; name must start with Prefix and end in "_total".
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	if !strings.HasSuffix(name, "_total") {
		panic("metrics: counter " + name + " must end in _total")
	}
	v := &CounterVec{newFamily(name, help, "counter", labels, func() *Counter { return &Counter{} })}
	r.register(name, v)
	return v
}

// With returns the counter for the label values, in the order the labels were declared.
func (v *CounterVec) With(values ...string) *Counter { return v.f.with(values) }

func (v *CounterVec) write(w *bufio.Writer) {
	v.f.header(w)
	v.f.each(func(l string, c *Counter) { fmt.Fprintf(w, "%s%s %s\n", v.f.name, l, formatFloat(c.v.load())) })
}

// Gauge goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the gauge.
func (g *Gauge) Set(v float64) { g.v.set(v) }

// Add adds d, which may be negative.
func (g *Gauge) Add(d float64) { g.v.add(d) }

// GaugeVec is a gauge per combination of label values.
type GaugeVec struct{ f *family[Gauge] }

// Gauge registers a gauge family.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	v := &GaugeVec{newFamily(name, help, "gauge", labels, func() *Gauge { return &Gauge{} })}
	r.register(name, v)
	return v
}

// With returns the gauge for the label values.
func (v *GaugeVec) With(values ...string) *Gauge { return v.f.with(values) }

func (v *GaugeVec) write(w *bufio.Writer) {
	v.f.header(w)
	v.f.each(func(l string, g *Gauge) { fmt.Fprintf(w, "%s%s %s\n", v.f.name, l, formatFloat(g.v.load())) })
}

// gaugeFunc is a gauge read at scrape time.
type gaugeFunc struct {
	name, help string
	fn         func() float64
}

// GaugeFunc registers a gauge whose value fn returns at each scrape: queue depths and other
// figures that already live elsewhere. fn must be quick and safe for concurrent use.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.register(name, &gaugeFunc{name, help, fn})
}

func (g *gaugeFunc) write(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", g.name, escapeHelp(g.help), g.name, g.name, formatFloat(g.fn()))
}

// DefaultBuckets are latency bounds in seconds, from a millisecond to a minute.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Histogram counts observations into buckets.
type Histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, then +Inf; not cumulative
	sum    atomicFloat
}

// Observe records v (seconds, for latencies).
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	h.sum.add(v)
}

// HistogramVec is a histogram per combination of label values.
type HistogramVec struct {
	f *family[Histogram]
}

// Histogram registers a histogram family with the given increasing bucket bounds (nil means
// DefaultBuckets).
func (r *Registry) Histogram(name, help string, bounds []float64, labels ...string) *HistogramVec {
	if bounds == nil {
		bounds = DefaultBuckets
	}
	if !sort.Float64sAreSorted(bounds) {
		panic("metrics: buckets of " + name + " are not sorted")
	}
	bounds = slices.Clone(bounds)
	v := &HistogramVec{newFamily(name, help, "histogram", labels, func() *Histogram {
		return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	})}
	r.register(name, v)
	return v
}

// With returns the histogram for the label values.
func (v *HistogramVec) With(values ...string) *Histogram { return v.f.with(values) }

func (v *HistogramVec) write(w *bufio.Writer) {
	v.f.header(w)
	v.f.each(func(l string, h *Histogram) {
		// Buckets are cumulative in the format; the label set gains le.
		inner := ""
		if l != "" {
			inner = l[1:len(l)-1] + ","
		}
		var cum uint64
		for i, b := range h.bounds {
			cum += h.counts[i].Load()
			fmt.Fprintf(w, "%s_bucket{%sle=\"%s\"} %d\n", v.f.name, inner, formatFloat(b), cum)
		}
		cum += h.counts[len(h.bounds)].Load()
		fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n", v.f.name, inner, cum)
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", v.f.name, l, formatFloat(h.sum.load()), v.f.name, l, cum)
	})
}
