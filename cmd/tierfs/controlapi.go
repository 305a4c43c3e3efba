package main

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tierfs/tierfs/control"
)

// registerControl installs the daemon's control-socket handlers. The
// mover adds its own (POST /migrate) the same way.
func (d *mountd) registerControl(s *control.Server) {
	s.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		// Status reads every tier's statfs; a tier that hangs (NFS) before
		// the health probe marks it down must not hang the caller.
		ch := make(chan control.StatusReport, 1)
		go func() { ch <- d.statusReport() }()
		select {
		case rep := <-ch:
			control.WriteJSON(w, http.StatusOK, rep)
		case <-time.After(statusDeadline):
			control.WriteError(w, http.StatusServiceUnavailable,
				fmt.Errorf("status did not complete within %v: a tier is not answering", statusDeadline))
		}
	})
	s.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		d.log.Info("control: reloading", "config", d.cfg.Load().Source)
		res, err := d.reload()
		if err != nil {
			control.WriteError(w, http.StatusUnprocessableEntity, err)
			return
		}
		control.WriteJSON(w, http.StatusOK, res)
	})
}

// statusDeadline bounds how long GET /status waits for the tiers.
const statusDeadline = 3 * time.Second

// statusReport is the answer to GET /status.
func (d *mountd) statusReport() control.StatusReport {
	return control.StatusReport{
		Mountpoint: d.args.mountpoint,
		Config:     d.cfg.Load().Source,
		PID:        os.Getpid(),
		Started:    d.started,
		Uptime:     time.Since(d.started).Seconds(),
		Status:     d.root.Status(),
		Mover:      d.mover.StatsJSON(),
		Rebalance:  d.rebalance.pending(),
	}
}
