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

// TOTPLocation is where a user's TOTP secret is sealed, under the hub's own key.
func TOTPLocation(userID int64) Location {
	return Location{Workspace: hubKey, Kind: "totp", ID: strconv.FormatInt(userID, 10), Version: "1"}
}
