package mover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tierfs/tierfs/control"
)

// Register adds the mover's endpoints to a mount's control socket:
//
//	POST /migrate  body Options; runs one pass, answers its Report
//	GET  /mover    answers Stats (with the running pass's progress)
func (m *Mover) Register(s *control.Server) {
	s.HandleFunc("POST /migrate", m.serveMigrate)
	s.HandleFunc("GET /mover", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, m.Stats())
	})
}

func (m *Mover) serveMigrate(w http.ResponseWriter, r *http.Request) {
	var o Options
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			control.WriteError(w, http.StatusBadRequest, fmt.Errorf("migrate: bad request: %w", err))
			return
		}
	}
	if o.MaxBytes < 0 {
		control.WriteError(w, http.StatusBadRequest, errors.New("migrate: max_bytes is negative"))
		return
	}
	// The pass stops when the client goes away (tierfs migrate interrupted).
	rep, err := m.RunOnce(r.Context(), o)
	if err != nil {
		control.WriteError(w, http.StatusServiceUnavailable, fmt.Errorf("migrate: %w", err))
		return
	}
	control.WriteJSON(w, http.StatusOK, rep)
}

// StatsJSON is Stats as JSON, for control.StatusReport.Mover.
func (m *Mover) StatsJSON() json.RawMessage {
	b, _ := json.Marshal(m.Stats())
	return b
}
