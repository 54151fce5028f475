package record_test

import (
	"reflect"
	"testing"
	"time"

	"cshub/internal/export/record"
	"cshub/internal/hub"
)

func TestOfAndRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123_000_000, time.UTC)
	obj := func(id, body string) *hub.Object {
		return &hub.Object{Seq: 7, ID: id, Type: id[:len(id)-len("--1")], Workspace: "community", Author: "cert-fr", TLP: hub.TLPRed,
			Recipients: []string{"cert-be", "cert-uk"}, Created: at, Modified: at.Add(time.Hour), Body: []byte(body)}
	}
	for _, tc := range []struct {
		name string
		o    *hub.Object
		want record.Record // the body's fields only
	}{
		{"ipv4 and domain", obj("indicator--1", `{"name":"C2","pattern_type":"stix","confidence":80,"valid_from":"2026-01-01T00:00:00Z",
			"pattern":"[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'Evil.Example.com']"}`),
			record.Record{Name: "C2", Confidence: 80, ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				Values: []record.Value{{Type: "ipv4-addr", Value: "198.51.100.7"}, {Type: "domain-name", Value: "evil.example.com"}}}},
		{"hash, no confidence", obj("indicator--1", `{"pattern_type":"stix","valid_until":"2027-01-01T00:00:00Z",
			"pattern":"[file:hashes.'SHA-256' = 'AB`+"00000000000000000000000000000000000000000000000000000000000000"[:62]+`']"}`),
			record.Record{Confidence: -1, ValidUntil: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
				Values: []record.Value{{Type: "file", Hash: "SHA-256", Value: "ab" + "00000000000000000000000000000000000000000000000000000000000000"[:62]}}}},
		{"not enforceable", obj("indicator--1", `{"pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.7' AND network-traffic:dst_port = 443]"}`),
			record.Record{Confidence: -1}},
		{"not stix", obj("indicator--1", `{"pattern_type":"sigma","pattern":"x"}`), record.Record{Confidence: -1}},
		{"sighting", obj("sighting--1", `{"sighting_of_ref":"indicator--9","count":3,"x_cshub_false_positive":true}`),
			record.Record{Confidence: -1, Of: "indicator--9", Count: 3, FalsePositive: true}},
		{"sighting without count", obj("sighting--1", `{"sighting_of_ref":"indicator--9"}`), record.Record{Confidence: -1, Of: "indicator--9", Count: 1}},
		{"sighting of malware", obj("sighting--1", `{"sighting_of_ref":"malware--9"}`), record.Record{Confidence: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := record.Of(tc.o, nil)
			want := tc.want
			o := tc.o
			want.Object = record.Object{Seq: o.Seq, ID: o.ID, Type: o.Type, Workspace: o.Workspace, Author: o.Author, TLP: o.TLP,
				Recipients: o.Recipients, Created: o.Created, Modified: o.Modified, Revoked: o.Revoked}
			if h := want.Object.Hub(); !reflect.DeepEqual(h, hub.Object{Seq: o.Seq, ID: o.ID, Type: o.Type, Workspace: o.Workspace,
				Author: o.Author, TLP: o.TLP, Recipients: o.Recipients, Created: o.Created, Modified: o.Modified, Revoked: o.Revoked}) {
				t.Fatalf("Hub = %+v; want the object's metadata", h)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("Of = %+v\nwant %+v", *got, want)
			}
			var back record.Record
			err := back.Unmarshal(got.Object.Seq, got.Object.Workspace, string(got.Marshal()))
			if err != nil || !reflect.DeepEqual(&back, got) {
				t.Fatalf("Unmarshal(Marshal) = %+v, %v\nwant %+v", back, err, got)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	r := record.Record{Object: record.Object{ID: "indicator--1", Type: "indicator", Author: "a", TLP: hub.TLPGreen, Recipients: []string{"b"}},
		Name: "n", Confidence: 5, Values: []record.Value{{Type: "url", Value: "http://x/"}}, Of: "indicator--2", Count: 2}
	f.Add(r.Marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, again record.Record
		if got.Unmarshal(1, "w", string(b)) != nil {
			return
		}
		err := again.Unmarshal(1, "w", string(got.Marshal()))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("a record that decodes does not round-trip: %+v, %v; want %+v", again, err, got)
		}
	})
}
