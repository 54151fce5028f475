package seal

import (
	"strconv"
	"time"

	"cshub/internal/hub"
)

// ObjectLocation is where an object version's body is sealed: a body moved to another
// workspace, object or version no longer opens. Every package that seals or re-seals bodies
// names the location through this function, so that they cannot drift apart.
func ObjectLocation(o *hub.Object) Location {
	return Location{Workspace: o.Workspace, Kind: "object", ID: o.ID, Version: o.Modified.UTC().Format(time.RFC3339Nano)}
}

// ExportLocation is where the export records of workspace ws are sealed (package
// export/record). Unlike a body, a record is sealed before its version has a Seq and is
// read without its object's row, so the location names no row: the record carries its
// object's id and version itself, under the seal, and a record moved to another row of the
// same workspace still says which version it is.
func ExportLocation(ws string) Location {
	return Location{Workspace: ws, Kind: "export-record"}
}

// TOTPLocation is where a user's TOTP secret is sealed, under the hub's own key.
func TOTPLocation(userID int64) Location {
	return Location{Workspace: hubKey, Kind: "totp", ID: strconv.FormatInt(userID, 10), Version: "1"}
}

// PeerCredentialsLocation is where the credentials of a TAXII source (a federation peer) are
// sealed, inside the peer's record object of workspace ws: id is the record's STIX id and
// config a digest of the source's configuration, so that the credentials open only for the
// configuration they were given with.
func PeerCredentialsLocation(ws, id, config string) Location {
	return Location{Workspace: ws, Kind: "peer-credentials", ID: id, Version: config}
}
