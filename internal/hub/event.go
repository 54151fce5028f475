package hub

import "time"

// Event kinds carried by the bus between the parts of one hub and between replicas.
const (
	EventObject      = "object"      // a new object or version was stored
	EventSighting    = "sighting"    // a sighting was recorded
	EventCorrelation = "correlation" // a value was found held by more than one object
	EventCase        = "case"        // a case changed
	EventKeys        = "keys"        // the keyring changed (rotation, shredding)
	// EventDelete: an object version was deleted (ObjectID, ObjectSeq, Type, Workspace,
	// Author and TLP name it); whatever holds it in memory drops it.
	EventDelete = "delete"
)

// Event tells that something changed. It carries identifiers and the access metadata a
// receiver needs to decide who may hear of it, never content: the bus may keep events on disk,
// and nothing readable of members' content may reach a disk.
type Event struct {
	Seq        uint64    // assigned by the bus, increasing; resume after it
	Kind       string    // one of the Event* kinds
	ObjectID   string    // STIX id, when the event is about an object
	ObjectSeq  int64     // store Seq of the object version
	Type       string    // STIX type
	Workspace  string    // where it happened
	Author     string    // organisation code
	TLP        TLP       // of the object
	Recipients []string  // for RED
	Time       time.Time // when it happened
}
