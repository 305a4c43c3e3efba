package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordLevel(t *testing.T) {
	for _, format := range []logFormat{logText, logJSON} {
		for _, l := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			var buf bytes.Buffer
			log := newLogger(&logDest{w: &buf, noTime: true}, format)
			log.Log(context.Background(), l, "msg with level=ERROR inside", "k", "level=ERROR")
			if got := recordLevel(buf.Bytes()); got != l {
				t.Errorf("%s %v: recordLevel(%q) = %v", format, l, buf.String(), got)
			}
		}
	}
}

func TestLoggerFormats(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&logDest{w: &buf}, logJSON).Info("mounted", "mountpoint", "/srv/mail")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("JSON log line %q: %v", buf.String(), err)
	}
	if rec["msg"] != "mounted" || rec["mountpoint"] != "/srv/mail" || rec["time"] == nil {
		t.Errorf("JSON record = %v", rec)
	}
	buf.Reset()
	newLogger(&logDest{w: &buf, noTime: true}, logText).Info("mounted")
	if got := buf.String(); got != "level=INFO msg=mounted\n" {
		t.Errorf("text record without time = %q", got)
	}
	if _, err := parseLogFormat("xml"); err == nil {
		t.Error("log format xml accepted")
	}
}

func TestLogFileReopen(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tierfs.log")
	d, err := openLogDest(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	log := newLogger(d, logText)
	log.Info("before")
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := d.reopen(); err != nil {
		t.Fatal(err)
	}
	log.Info("after")
	old, _ := os.ReadFile(p + ".1")
	cur, _ := os.ReadFile(p)
	if !strings.Contains(string(old), "msg=before") || strings.Contains(string(old), "after") || !strings.Contains(string(cur), "msg=after") {
		t.Errorf("rotated log %q, new log %q", old, cur)
	}
}
