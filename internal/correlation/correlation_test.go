package correlation_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"cshub/internal/correlation"
)

// tok returns a distinct token per name.
func tok(name string) correlation.Token {
	var t correlation.Token
	copy(t[:], name)
	return t
}

func obj(id string) correlation.Object {
	return correlation.Object{Workspace: "ws", ID: id, Author: "org-" + id}
}

// view renders the links of id as sorted "value>other" or "value>common(n)" lines.
func view(x *correlation.Index, id string) string {
	var out []string
	for _, l := range x.Links("ws", id) {
		v := strings.TrimRight(string(l.Token[:]), "\x00")
		if l.Common {
			out = append(out, fmt.Sprintf("%s>common(%d)", v, len(l.Holders)))
		} else {
			out = append(out, v+">"+l.Other.ID)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestLinks(t *testing.T) {
	type put struct {
		id     string
		values []string // nil removes
	}
	for _, tc := range []struct {
		name  string
		puts  []put
		want  map[string]string // id → view
		stats correlation.Stats
	}{
		{
			name:  "both directions",
			puts:  []put{{"a", []string{"v1", "v2"}}, {"b", []string{"v2", "v3"}}, {"c", []string{"v3"}}},
			want:  map[string]string{"a": "v2>b", "b": "v2>a v3>c", "c": "v3>b"},
			stats: correlation.Stats{Objects: 3, Values: 3, Links: 2},
		},
		{
			name:  "duplicate values count once",
			puts:  []put{{"a", []string{"v1", "v1"}}, {"b", []string{"v1"}}},
			want:  map[string]string{"a": "v1>b", "b": "v1>a"},
			stats: correlation.Stats{Objects: 2, Values: 1, Links: 1},
		},
		{
			name:  "at the threshold values still link pairwise",
			puts:  []put{{"a", []string{"v"}}, {"b", []string{"v"}}, {"c", []string{"v"}}},
			want:  map[string]string{"a": "v>b v>c", "b": "v>a v>c", "c": "v>a v>b"},
			stats: correlation.Stats{Objects: 3, Values: 1, Links: 3},
		},
		{
			name:  "above it they link to one common-value node",
			puts:  []put{{"a", []string{"v", "w"}}, {"b", []string{"v"}}, {"c", []string{"v"}}, {"d", []string{"v", "w"}}},
			want:  map[string]string{"a": "v>common(3) w>d", "d": "v>common(3) w>a", "b": "v>common(3)"},
			stats: correlation.Stats{Objects: 4, Values: 2, Common: 1, Links: 1},
		},
		{
			name:  "back under the threshold they link pairwise again",
			puts:  []put{{"a", []string{"v"}}, {"b", []string{"v"}}, {"c", []string{"v"}}, {"d", []string{"v"}}, {"b", nil}},
			want:  map[string]string{"a": "v>c v>d", "c": "v>a v>d", "d": "v>a v>c"},
			stats: correlation.Stats{Objects: 3, Values: 1, Links: 3},
		},
		{
			name:  "a removed object drops out of both directions",
			puts:  []put{{"a", []string{"v"}}, {"b", []string{"v"}}, {"c", []string{"v", "w"}}, {"b", nil}},
			want:  map[string]string{"a": "v>c", "b": "", "c": "v>a"},
			stats: correlation.Stats{Objects: 2, Values: 2, Links: 1},
		},
		{
			name:  "a new version replaces the old one's values",
			puts:  []put{{"a", []string{"v"}}, {"b", []string{"v"}}, {"b", []string{"w"}}, {"c", []string{"w"}}},
			want:  map[string]string{"a": "", "b": "w>c", "c": "w>b"},
			stats: correlation.Stats{Objects: 3, Values: 2, Links: 1},
		},
		{
			name:  "a removed first holder leaves the others linked",
			puts:  []put{{"a", []string{"v"}}, {"b", []string{"v"}}, {"c", []string{"v"}}, {"a", nil}, {"d", []string{"v"}}},
			want:  map[string]string{"b": "v>c v>d", "c": "v>b v>d", "d": "v>b v>c"},
			stats: correlation.Stats{Objects: 3, Values: 1, Links: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := correlation.New(3)
			for _, p := range tc.puts {
				var ts []correlation.Token
				for _, v := range p.values {
					ts = append(ts, tok(v))
				}
				x.Put(obj(p.id), ts)
			}
			for id, want := range tc.want {
				if got := view(x, id); got != want {
					t.Errorf("links of %s: got %q, want %q", id, got, want)
				}
			}
			if got := x.Stats(); got != tc.stats {
				t.Errorf("stats: got %+v, want %+v", got, tc.stats)
			}
		})
	}
}

// TestPutChanges: Put reports the links it made, and the moment a value becomes common.
func TestPutChanges(t *testing.T) {
	x := correlation.New(2)
	render := func(cs []correlation.Change) string {
		var out []string
		for _, c := range cs {
			s := strings.TrimRight(string(c.Token[:]), "\x00")
			for _, r := range c.Others {
				o, ok := x.Object(r)
				if !ok {
					t.Fatalf("ref %d of a change is not held", r)
				}
				s += " " + o.ID
			}
			if c.Became {
				s += " became common"
			} else if c.Common {
				s += " common"
			}
			out = append(out, s)
		}
		return strings.Join(out, "; ")
	}
	for _, step := range []struct {
		id, value, want string
	}{
		{"a", "v", ""},
		{"b", "v", "v a"},
		{"c", "v", "v became common"},
		{"d", "v", "v common"},
		{"e", "w", ""},
	} {
		if got := render(x.Put(obj(step.id), []correlation.Token{tok(step.value)})); got != step.want {
			t.Errorf("put %s: got %q, want %q", step.id, got, step.want)
		}
	}
}

// TestForgetAndEach: Each gives every held object with its values, so a copy put into a new
// index links the same; Forget drops one workspace's objects from every link and keeps the rest.
func TestForgetAndEach(t *testing.T) {
	x := correlation.New(0)
	x.Put(obj("a"), []correlation.Token{tok("v1"), tok("v2")})
	x.Put(obj("b"), []correlation.Token{tok("v1")})
	other := correlation.Object{Workspace: "shredded", ID: "c", Author: "org-c"}
	x.Put(other, []correlation.Token{tok("v1"), tok("v2")})

	y := correlation.New(0)
	n := 0
	x.Each(func(o correlation.Object, tokens []correlation.Token) {
		y.Put(o, slices.Clone(tokens))
		n++
	})
	if n != 3 || view(y, "a") != view(x, "a") || view(y, "b") != view(x, "b") {
		t.Fatalf("copied through Each (%d objects): a %q b %q, want a %q b %q", n, view(y, "a"), view(y, "b"), view(x, "a"), view(x, "b"))
	}

	x.Forget("shredded")
	if got := view(x, "a"); got != "v1>b" {
		t.Errorf("after Forget, a links %q; want only v1>b", got)
	}
	if links := x.Links("shredded", "c"); len(links) != 0 {
		t.Errorf("a forgotten object still links: %v", links)
	}
	if s := x.Stats(); s.Objects != 2 {
		t.Errorf("after Forget the index holds %d objects, want 2", s.Objects)
	}
}
