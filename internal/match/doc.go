// Package match is cshub's in-memory indicator matching index: given an
// observed value (an address, a domain, a URL, an e-mail address, a file
// hash), it tells which indicators match it, fast enough to run on every
// ingested observable and every analyst search.
//
// # What it answers
//
// Indicators enter as the entries of their STIX patterns
// (pattern.Pattern.Entries), each under a Ref, a small integer handle into
// a table the caller owns. A lookup returns Hits: the Ref, how it matched
// (exact, cidr, parent-domain, prefix, suffix) and the indicator value that
// matched. Values are compared in canonical form (see Canonical), so
// "HTTP://Example.COM:80/a" finds "http://example.com/a" and
// "bücher.example" finds "xn--bcher-kva.example". A domain also finds the
// indicators for its parent domains down to two labels, except for public
// suffixes ("co.uk", "github.io"), which match only exactly. An address
// finds the CIDR blocks that contain it; /0 blocks are refused.
//
// # Access control is the caller's job
//
// THE INDEX KNOWS NOTHING OF WHO MAY SEE WHAT. It holds the indicators of
// every workspace and every TLP level together and answers for all of
// them. The caller maps each Ref back to its indicator object and MUST
// filter the hits by the requester's access (workspace membership, TLP,
// recipients) before showing, counting or acting on them. Even the fact
// that a value has a hit is information: do not reveal it unfiltered.
//
// # Revocation and validity
//
// Remove withdraws a ref at once (revoked or deleted indicators);
// SetValidUntil sets its valid_until, checked at each lookup against the
// clock given to New. Removed entries stay in memory as tombstones until
// the next rebuild, which leaves them out: a Builder fed from the caller's
// store, or Compact, which rebuilds from the index itself.
//
// # Snapshots
//
// The bulk of the index is an immutable snapshot built in the background
// by a Builder and published by Swap through an atomic pointer: readers
// never wait for a rebuild. Indicators added between rebuilds go into a
// small mutable delta layer consulted after the snapshot; changes made
// while a Builder runs are replayed onto its snapshot at Swap.
//
// # Memory
//
// Exact values live in one open-addressing hash table with no Go pointers
// per entry: a 12-byte slot (32-bit fingerprint of a 64-bit hash, the ref,
// an arena offset) at a load factor of at most 5/8, and the canonical key
// bytes once per distinct value in a byte arena (binary for addresses and
// hashes: 4 bytes for IPv4, 16 to 64 for a hash, the text for names and
// URLs, plus 2 bytes of header). A 64-bit hash collision cannot produce a
// wrong hit: a fingerprint match is confirmed against the arena. CIDR
// blocks live in a bart.Table (github.com/gaissmai/bart); single-address
// blocks (/32, /128) go in the hash table instead. A ref with a validity
// window or a removal costs 4 bytes in a chunked state table. For 10
// million mixed indicators (60% IPv4 addresses and blocks, 25% domains,
// 15% hashes, each with a validity window) BenchmarkBuild measured 43
// bytes of heap per indicator: 17 of table, 12 of arena, 4 of state and
// the rest for the trie and three helpers of the snapshot. A 2 MiB bitmap
// of the /24s that IPv4 blocks overlap lets most address lookups skip the
// blocks; a cell per such /24 (8 bytes, about three per block) names the
// blocks there, so that the rest rarely walk the trie; and a Bloom filter
// of the domains that may match as parents (2 bytes each) answers most
// probes for the parents of a name.
//
// # Warninglists
//
// Warninglists loads MISP warninglists (known-benign values: public DNS
// resolvers, top sites, private address blocks, hashes of empty files) and
// tells which lists contain a value, to flag likely false positives.
package match
