// Package store holds cshub's two implementations of hub.Store, each in its own package with its
// SQL and migrations beside it: sqlite, the embedded default, and postgres, for replicas that
// scale out. Package storetest is the conformance suite both pass; this package's test runs it
// on each.
package store
