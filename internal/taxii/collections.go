package taxii

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/stix"
)

// discoveryResource is the TAXII 2.1 discovery resource (section 4.1).
type discoveryResource struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// apiRootResource is the TAXII 2.1 API root resource (section 4.2).
type apiRootResource struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

// collectionResource is the TAXII 2.1 collection resource (section 5.2).
type collectionResource struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// collectionsResource is the TAXII 2.1 collections resource (section 5.1); with no collections
// it is the empty object.
type collectionsResource struct {
	Collections []collectionResource `json:"collections,omitempty"`
}

// discovery serves GET /taxii2/ (section 4.1).
func (s *Server) discovery(w http.ResponseWriter, r *http.Request, c *caller) {
	root := baseURL(r) + RootPath
	s.json(w, http.StatusOK, discoveryResource{
		Title: s.title,
		Description: "Threat intelligence shared in the workspaces of the hub, one collection per workspace you are a member of; " +
			"peer hubs pull from the federation API root.",
		Contact:  s.contact,
		Default:  root,
		APIRoots: []string{root, baseURL(r) + FederationRootPath},
	})
}

// apiRoot serves GET {root}/ (section 4.2).
func (s *Server) apiRoot(w http.ResponseWriter, r *http.Request, c *caller) {
	s.json(w, http.StatusOK, apiRootResource{
		Title:            s.title,
		Description:      "The hub's workspaces as TAXII collections, under TLP 2.0.",
		Versions:         []string{MediaType},
		MaxContentLength: s.maxBody,
	})
}

// getCollections serves GET {root}/collections/ (section 5.1): one collection per workspace the
// caller may read on the server's access path, ordered by slug.
func (s *Server) getCollections(w http.ResponseWriter, r *http.Request, c *caller) {
	var res collectionsResource
	for _, slug := range c.viewer.Workspaces {
		ws, err := s.dir.Workspace(r.Context(), slug)
		if hub.ErrorCode(err) == hub.ENotFound {
			continue // deleted since the viewer was built
		} else if err != nil {
			s.error(w, r, err)
			return
		}
		res.Collections = append(res.Collections, s.collectionOf(ws, c))
	}
	s.json(w, http.StatusOK, res)
}

// getCollection serves GET {root}/collections/{id}/ (section 5.2).
func (s *Server) getCollection(w http.ResponseWriter, r *http.Request, c *caller) {
	slug, err := collectionSlug(c.viewer, r.PathValue("collection"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	ws, err := s.dir.Workspace(r.Context(), slug)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, s.collectionOf(ws, c))
}

func (s *Server) collectionOf(ws *hub.Workspace, c *caller) collectionResource {
	title := ws.Name
	if title == "" {
		title = ws.Slug
	}
	return collectionResource{
		ID:    CollectionID(ws.Slug),
		Title: title,
		Description: fmt.Sprintf("Workspace %q (%s) shared by %d organisations; objects without a TLP marking are %s.",
			ws.Slug, ws.Kind, len(ws.Members), defaultTLP(ws.DefaultTLP)),
		Alias:      ws.Slug,
		CanRead:    true, // listed only when readable
		CanWrite:   c.path != access.PathFederate && c.Allows(hub.ScopeWrite) && slices.Contains(ws.Members, c.Org),
		MediaTypes: []string{stixMediaType},
	}
}

func defaultTLP(t hub.TLP) string {
	if t == hub.TLPUnset {
		t = hub.TLPAmber
	}
	return "TLP:" + t.String()
}

// collectionSlug returns the workspace of the collection named in a URL by its id or its alias
// (the workspace slug), among those v may read; any other is ENotFound, whether it exists or not.
func collectionSlug(v hub.Viewer, idOrAlias string) (string, error) {
	for _, slug := range v.Workspaces {
		if idOrAlias == slug || idOrAlias == CollectionID(slug) {
			return slug, nil
		}
	}
	return "", hub.Errorf(hub.ENotFound, "no collection %q", idOrAlias)
}

// collectionNamespace keeps collection ids apart from any other ids derived the same way: a fixed
// random UUID, 6b1f3c2e-9d57-4a80-8e21-4d0c773a95f4.
var collectionNamespace = [16]byte{0x6b, 0x1f, 0x3c, 0x2e, 0x9d, 0x57, 0x4a, 0x80, 0x8e, 0x21, 0x4d, 0x0c, 0x77, 0x3a, 0x95, 0xf4}

// CollectionID returns the TAXII collection id of the workspace slug. It is derived, not stored,
// so that a workspace's collection has the same id on every hub and across restarts: the first
// 16 bytes of SHA-256(namespace || slug), laid out as a version 4 UUID, because TAXII 2.1
// (section 2, type identifier) requires version 4 UUIDs and clients may check the version digit.
// (A name-based version 5 UUID would be the textbook choice, and is what TAXII forbids.)
func CollectionID(slug string) string {
	h := sha256.New()
	h.Write(collectionNamespace[:])
	h.Write([]byte(slug))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return stix.FormatUUID(u)
}
