// Package warninglist is the hub's default set of MISP warninglists: lists of known-benign
// values (public DNS resolvers, top sites, private and reserved address blocks, sinkholes,
// hashes of empty files) that mark an indicator as a probable false positive. Matching answers
// flag such values, ingest and the extraction preview show them, and exports leave them out by
// default. The lists are embedded, so a hub needs nothing on disk to use them; how a value is
// compared with a list (canonical forms, CIDR containment, parent domains) is package match's.
package warninglist

import (
	"embed"
	"slices"
	"sync"
	"sync/atomic"

	"cshub/internal/match"
)

//go:embed lists/*.json lists/LICENSE-misp-warninglists.txt
var lists embed.FS

// Set is a set of warninglists. It is safe for concurrent use.
type Set struct {
	w      *match.Warninglists // set once loaded
	loaded atomic.Bool
	done   chan struct{} // closed once loaded
}

// Default returns the embedded lists. The first call starts loading them and returns at once;
// the Set's methods wait for the loading to end. Loading takes a tenth of a second, which a
// command such as cshub export spent waiting before it read the first record: it now gets the
// Set first and uses it once the first records are read.
var Default = sync.OnceValue(func() *Set {
	s := &Set{done: make(chan struct{})}
	go func() {
		w, err := match.LoadWarninglists(lists, "lists")
		if err != nil {
			// The lists are part of the binary and tested; failing to load them is a build defect.
			panic(err)
		}
		s.w = w
		s.loaded.Store(true)
		close(s.done)
	}()
	return s
})

// ready returns the loaded lists, once they are. A million lookups of an export each check an
// atomic flag, not the channel, whose lock the cores would contend for.
func (s *Set) ready() *match.Warninglists {
	if !s.loaded.Load() {
		<-s.done
	}
	return s.w
}

// Lookup returns the names of the lists that hold value as an observable of kind (a STIX
// cyber-observable type such as "ipv4-addr", "domain-name", "url" or "email-addr", a MISP
// attribute type such as "md5", or "" to let the value's form decide), or nil.
func (s *Set) Lookup(kind, value string) []string {
	return s.ready().Check(kind, value)
}

// reserved names the lists of address space and names set aside by the IETF (private,
// special-purpose and documentation ranges, multicast, example domains, the top-level domains
// themselves). A value on them is flagged like any other, but unlike a public resolver or a
// popular site it is no service that blocking would break: border filters drop such "bogons"
// anyway, and the hub's demo and training data use the documentation ranges on purpose.
var reserved = []string{
	"List of RFC 1918 CIDR blocks",
	"List of RFC 5735 CIDR blocks",
	"List of RFC 5771 multicast CIDR blocks",
	"List of RFC 6761 Special-Use Domain Names",
	"TLDs as known by IANA",
}

// Benign returns the lists of Lookup(kind, value) that name real, legitimate services (public
// DNS resolvers, popular and vendor sites, URL shorteners, sinkholes, hashes of empty or
// common files): the values an enforcement export leaves out by default, because blocking them
// would break what members' users rely on. Reserved address space is not among them.
func (s *Set) Benign(kind, value string) []string {
	return slices.DeleteFunc(s.Lookup(kind, value), func(name string) bool { return slices.Contains(reserved, name) })
}

// Names returns the names of the lists in the set.
func (s *Set) Names() []string { return s.ready().Names() }

// Licence returns the licence of the embedded lists (CC0 1.0), for the notices of a deployment.
func Licence() []byte {
	b, _ := lists.ReadFile("lists/LICENSE-misp-warninglists.txt")
	return b
}
