package hub

import "testing"

func TestAuthorFor(t *testing.T) {
	for _, c := range []struct {
		body, viewer, want string
	}{
		{`{"type":"sighting","x_cshub_anonymous":true}`, "cert-fr", ""},
		{`{"type":"sighting","x_cshub_anonymous":true}`, "cert-be", "cert-be"}, // the author itself
		{`{"type":"sighting","x_cshub_anonymous":false}`, "cert-fr", "cert-be"},
		{`{"type":"sighting","note":"\"x_cshub_anonymous\" in a string"}`, "cert-fr", "cert-be"},
		{`{"type":"indicator"}`, "", "cert-be"},
	} {
		o := &Object{Author: "cert-be", Body: []byte(c.body)}
		if got := o.AuthorFor(c.viewer); got != c.want {
			t.Errorf("AuthorFor(%q) of %s = %q, want %q", c.viewer, c.body, got, c.want)
		}
	}
}
