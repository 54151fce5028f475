package taxii

import (
	"net/http"
	"sync"
)

// statusResource is the TAXII 2.1 status resource (section 4.3.1). Adding objects is
// synchronous here, so every status is "complete" with nothing pending.
type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings,omitempty"`
}

// statusDetail is the TAXII 2.1 status-details type: one object of a request.
type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// statusStore keeps the status resources of this process in memory, the newest max of them:
// older ones are forgotten (a client asking for them gets 404) and a restart forgets all. Each
// belongs to the organisation whose request made it and is shown to no other.
type statusStore struct {
	max int

	mu    sync.Mutex
	byID  map[string]statusEntry // guarded by mu
	order []string               // ids, oldest first; guarded by mu
}

type statusEntry struct {
	org string
	res *statusResource
}

func newStatusStore(max int) *statusStore {
	return &statusStore{max: max, byID: make(map[string]statusEntry)}
}

// put keeps res for org, forgetting the oldest status when the store is full.
func (st *statusStore) put(org string, res *statusResource) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for len(st.order) >= st.max {
		delete(st.byID, st.order[0])
		st.order[0] = ""
		st.order = st.order[1:]
	}
	st.byID[res.ID] = statusEntry{org: org, res: res}
	st.order = append(st.order, res.ID)
}

// get returns the status id if org made it.
func (st *statusStore) get(org, id string) (*statusResource, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byID[id]
	if !ok || e.org != org {
		return nil, false
	}
	return e.res, true
}

// getStatus serves GET {root}/status/{id}/ (section 4.3).
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request, c *caller) {
	res, ok := s.statuses.get(c.Org, r.PathValue("status"))
	if !ok {
		s.error(w, r, &statusError{status: http.StatusNotFound, msg: "no status " + r.PathValue("status") +
			" (statuses are kept in memory for the most recent requests only)"})
		return
	}
	s.json(w, http.StatusOK, res)
}
