package hub

import (
	"context"
	"time"
)

// AuditEntry is one line of the append-only audit log. Each entry commits to the previous one
// through Hash, so that a modified, deleted or reordered entry breaks the chain (package audit
// computes and verifies it). Details are sealed like all content.
type AuditEntry struct {
	Seq     int64     // 1, 2, 3, … without gaps
	Time    time.Time // when it happened
	Org     string    // acting organisation, "" for the hub itself
	Actor   string    // user name, API key id or "system"
	Action  string    // e.g. "login", "ingest", "export", "read-red", "workspace.delete"
	Target  string    // what it acted on: an object id, a workspace, a user
	Details []byte    // sealed JSON with the rest
	Prev    []byte    // Hash of entry Seq-1; empty for the first
	Hash    []byte    // SHA-256 over Prev and this entry's fields
}

// AuditStore keeps the audit log.
type AuditStore interface {
	// AppendAudit stores e, whose Seq must be one more than the last stored entry's (1 for the
	// first); EConflict when another writer took that Seq first, so the caller re-reads the last
	// entry, recomputes Prev and Hash and tries again.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// LastAudit returns the newest entry, or ENotFound for an empty log.
	LastAudit(ctx context.Context) (*AuditEntry, error)
	// AuditEntries returns up to limit entries with Seq greater than after, in Seq order.
	AuditEntries(ctx context.Context, after int64, limit int) ([]*AuditEntry, error)
}
