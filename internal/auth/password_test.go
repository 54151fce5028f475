package auth

import (
	"runtime"
	"strings"
	"testing"

	"cshub/internal/hub"
)

// cheap are argon2 parameters small enough for tests that hash many times.
var cheap = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordDefault(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash = %q, want prefix $argon2id$v=19$m=65536,t=3,p=2$", h)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
	} {
		got, err := VerifyPassword(h, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", tc.pw, got, err, tc.want)
		}
	}
	if NeedsRehash(h) {
		t.Errorf("NeedsRehash(default hash) = true")
	}
}

func TestNeedsRehash(t *testing.T) {
	h, err := cheap.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    Argon2Params
		want bool
	}{
		{"same", cheap, false},
		{"more memory", Argon2Params{Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more time", Argon2Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"more threads", Argon2Params{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"longer key", Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64}, true},
	} {
		if got := tc.p.NeedsRehash(h); got != tc.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !cheap.NeedsRehash("$2a$10$bcrypt") {
		t.Errorf("NeedsRehash(bcrypt) = false, want true")
	}
}

func TestParsePHCRejects(t *testing.T) {
	good, _ := cheap.Hash("pw")
	parts := strings.Split(good, "$")
	for _, tc := range []string{
		"",
		"argon2id",
		"$argon2i$v=19$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=16$m=64,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$t=1,m=64,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=0,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=0$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=99999999,t=1,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + parts[5],
		"$argon2id$v=19$m=64,t=1,p=1$" + parts[4] + "$",
		good + "$extra",
	} {
		if _, err := ParsePHC(tc); err == nil {
			t.Errorf("ParsePHC(%q) succeeded, want error", tc)
		}
		if ok, err := VerifyPassword(tc, "pw"); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", tc, ok, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	good, _ := cheap.Hash("pw")
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParsePHC(s)
		if err != nil {
			return
		}
		if h.Params.valid() != nil {
			t.Fatalf("ParsePHC(%q) accepted invalid params %+v", s, h.Params)
		}
		// Verifying must be bounded and never panic; keep it cheap under the fuzzer.
		if h.Params.Memory <= 1024 && h.Params.Time <= 2 {
			VerifyPassword(s, "pw")
		}
	})
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw, user, org string
		bad           bool
		reason        string // a word of the message when bad
	}{
		// too short
		{"", "alice", "cert-fr", true, "at least 12"},
		{"Tr0ub4dor&3", "alice", "cert-fr", true, "at least 12"},
		{"ééééééééééé", "alice", "cert-fr", true, "at least 12"},
		// user name and organisation
		{"my-alice-is-secret!", "alice", "cert-fr", true, "user name"},
		{"MY-ALICE-IS-SECRET!", "Alice", "cert-fr", true, "user name"},
		{"my-4l1ce-is-secret!", "alice", "cert-fr", true, "user name"},
		{"We love CERT-FR so much", "bob", "cert-fr", true, "organisation"},
		{"jo jumped over the moon", "jo", "cert-fr", false, ""}, // two-letter names are not checked
		// repetition and few characters
		{"aaaaaaaaaaaa", "alice", "cert-fr", true, "repeated"},
		{"abcabcabcabc", "alice", "cert-fr", true, "repeated"},
		{"Ab1!Ab1!Ab1!", "alice", "cert-fr", true, "repeated"},
		{"aabbaabbaabbc", "alice", "cert-fr", true, "different characters"},
		// sequences and keyboard walks
		{"123456789012", "alice", "cert-fr", true, "sequence"},
		{"abcdefghijklm", "alice", "cert-fr", true, "sequence"},
		{"zyxwvutsrqpon", "alice", "cert-fr", true, "sequence"},
		{"7890123456789", "alice", "cert-fr", true, "sequence"},
		{"asdfghjkl;'", "alice", "cert-fr", true, "at least 12"},
		{"qwertyuiop[]", "alice", "cert-fr", true, "sequence"},
		{"][poiuytrewq", "alice", "cert-fr", true, "sequence"},
		// common passwords with decoration and leetspeak
		{"password1234", "alice", "cert-fr", true, "common"},
		{"Password123!", "alice", "cert-fr", true, "common"},
		{"P@ssw0rd2024!", "alice", "cert-fr", true, "common"},
		{"P4$$W0RD!!!!", "alice", "cert-fr", true, "common"},
		{"qwertyuiop12", "alice", "cert-fr", true, "common"},
		{"1q2w3e4r5t6y", "alice", "cert-fr", true, "common"},
		{"!!Welcome2025", "alice", "cert-fr", true, "common"},
		{"iloveyou1234", "alice", "cert-fr", true, "common"},
		{"monkeydragon", "alice", "cert-fr", true, "common"},
		{"Tru5tN01trustno1", "alice", "cert-fr", true, "common"},
		{"letmein!letmein", "alice", "cert-fr", true, "common"},
		{"zaq12wsxcde3", "alice", "cert-fr", false, ""},
		// acceptable
		{"correct horse battery staple", "alice", "cert-fr", false, ""},
		{"Kx9#mQ2$vL7@", "alice", "cert-fr", false, ""},
		{"grün-Fahrrad-nebel-17", "alice", "cert-fr", false, ""},
		{"monkey wrench in the gearbox", "alice", "cert-fr", false, ""},
	} {
		err := CheckPassword(tc.pw, tc.user, tc.org)
		if !tc.bad {
			if err != nil {
				t.Errorf("CheckPassword(%q, %q, %q) = %v, want nil", tc.pw, tc.user, tc.org, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("CheckPassword(%q, %q, %q) = nil, want an error about %q", tc.pw, tc.user, tc.org, tc.reason)
			continue
		}
		if got := hub.ErrorCode(err); got != hub.EInvalid {
			t.Errorf("CheckPassword(%q): code = %q, want %q", tc.pw, got, hub.EInvalid)
		}
		if got := hub.ErrorField(err); got != "password" {
			t.Errorf("CheckPassword(%q): field = %q, want password", tc.pw, got)
		}
		if msg := hub.ErrorMessage(err); !strings.Contains(msg, tc.reason) {
			t.Errorf("CheckPassword(%q): message = %q, want it to mention %q", tc.pw, msg, tc.reason)
		}
	}
}

func TestCheckPasswordLong(t *testing.T) {
	if err := CheckPassword(strings.Repeat("Kx9#mQ2$vL7@", 100), "a", "b"); hub.ErrorField(err) != "password" {
		t.Errorf("CheckPassword(1200 bytes) = %v, want a password error", err)
	}
}

func BenchmarkHashPassword(b *testing.B) {
	p := DefaultArgon2Params()
	for b.Loop() {
		if _, err := p.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/login")
}

func BenchmarkCheckPassword(b *testing.B) {
	for b.Loop() {
		CheckPassword("Tru5tN01-my-own-phrase-here", "alice", "cert-fr")
	}
}

// TestUnmatchable checks the hash verified for unknown users: one that parses with the
// parameters it was made for, so that verifying it costs a full argon2 run, that no password
// matches, and that making it (as New does in every process) runs no argon2 at all.
func TestUnmatchable(t *testing.T) {
	p := DefaultArgon2Params()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h, err := p.Unmatchable()
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("Unmatchable allocated %d bytes: it ran argon2 (64 MiB)", grew)
	}
	if p.NeedsRehash(h) {
		t.Errorf("Unmatchable() = %q: not a hash under %+v, so a verification would cost less", h, p)
	}
	h2, err := p.Unmatchable()
	if err != nil || h2 == h {
		t.Errorf("a second Unmatchable() = %q, %v: want another random hash", h2, err)
	}
	for _, pw := range []string{"", "password", h} {
		if ok, err := VerifyPassword(h, pw); ok || err != nil {
			t.Errorf("VerifyPassword(Unmatchable, %q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	if _, err := (Argon2Params{}).Unmatchable(); err == nil {
		t.Error("Unmatchable with zero parameters: no error")
	}
}
