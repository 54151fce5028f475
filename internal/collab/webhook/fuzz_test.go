package webhook_test

import (
	"net/url"
	"testing"
	"time"

	"cshub/internal/collab/webhook"
	"cshub/internal/hub"
)

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://soc.example/h", "http://127.0.0.1:1/x", "http://localhost", "http://10.0.0.1", "https://u:p@h/", "javascript:alert(1)", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := webhook.CheckURL(s)
		if err != nil {
			if hub.ErrorField(err) != "url" {
				t.Fatalf("CheckURL(%q) = %v: want an error naming url", s, err)
			}
			return
		}
		// What is accepted is https, or http to loopback, with a host and no credentials.
		u, perr := url.Parse(s)
		if perr != nil || u.User != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
			t.Fatalf("CheckURL accepted %q", s)
		}
	})
}

func FuzzVerify(f *testing.F) {
	secret := []byte("fuzz secret")
	now := time.Unix(1_800_000_000, 0)
	f.Add(webhook.Sign(secret, now, []byte("{}")), []byte("{}"))
	f.Add("t=1,v1=zz", []byte("x"))
	f.Add("v1=,t=", []byte(""))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := webhook.Verify(secret, header, body, now, time.Minute)
		if err == nil && header != webhook.Sign(secret, now, body) {
			// A header other than the one Sign makes may still verify (extra fields, another
			// v1 first), but only if it carries the true signature.
			if webhook.Verify(secret, webhook.Sign(secret, now, body), body, now, time.Minute) != nil {
				t.Fatalf("Verify accepted %q for %q", header, body)
			}
		}
	})
}
