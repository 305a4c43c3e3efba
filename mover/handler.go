package mover

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tierfs/tierfs/control"
)

// Register adds the mover's endpoints to a mount's control socket:
//
//	POST /migrate  body Options; runs one pass, answers its Report
//	GET  /mover    answers Stats (with the running pass's progress)
//	POST /hold     body HoldRequest; holds the mover, answers HoldState
//	               once no pass runs
//	DELETE /hold   releases it, answers HoldState
func (m *Mover) Register(s *control.Server) {
	s.HandleFunc("POST /migrate", m.serveMigrate)
	s.HandleFunc("GET /mover", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, m.Stats())
	})
	s.HandleFunc("POST /hold", m.serveHold)
	s.HandleFunc("DELETE /hold", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, HoldState{Released: m.Release()})
	})
}

// HoldRequest asks for a hold of For (at most MaxHold).
type HoldRequest struct {
	For time.Duration `json:"for_ns"`
}

// HoldState answers a hold or a release.
type HoldState struct {
	HeldUntil *time.Time `json:"held_until,omitempty"` // the hold in force
	Released  bool       `json:"released,omitempty"`   // a release ended a hold
}

func (m *Mover) serveHold(w http.ResponseWriter, r *http.Request) {
	var h HoldRequest
	if err := json.NewDecoder(r.Body).Decode(&h); err != nil {
		control.WriteError(w, http.StatusBadRequest, fmt.Errorf("hold: bad request: %w", err))
		return
	}
	if h.For <= 0 || h.For > MaxHold {
		control.WriteError(w, http.StatusBadRequest, fmt.Errorf("hold: for_ns: %v is not in (0, %v]", h.For, MaxHold))
		return
	}
	if err := m.Hold(r.Context(), m.cfg.Now().Add(h.For)); err != nil {
		control.WriteError(w, http.StatusServiceUnavailable, err)
		return
	}
	until := m.HeldUntil()
	if until.IsZero() {
		control.WriteError(w, http.StatusConflict, errors.New("hold: released before the running pass ended"))
		return
	}
	control.WriteJSON(w, http.StatusOK, HoldState{HeldUntil: &until})
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
	if errors.Is(err, ErrHeld) {
		control.WriteError(w, http.StatusConflict, fmt.Errorf("migrate: %w", err))
		return
	}
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
