package main

import (
	"net/http"
	"os"
	"time"

	"github.com/tierfs/tierfs/control"
)

// registerControl installs the daemon's control-socket handlers. The
// mover adds its own (POST /migrate) the same way.
func (d *mountd) registerControl(s *control.Server) {
	s.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		control.WriteJSON(w, http.StatusOK, d.statusReport())
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
	}
}
