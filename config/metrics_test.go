package config

import (
	"strings"
	"testing"
)

const metricsBase = `
[[tier]]
name = "fast"
path = "/srv/fast"
kind = "local"

[[rule]]
match = "**"
tier = "fast"
`

func TestMetricsListen(t *testing.T) {
	tests := []struct {
		listen      string
		wantNet     string
		wantAddr    string
		wantErrPart string
	}{
		{"", "tcp", "", ""},
		{"127.0.0.1:9105", "tcp", "127.0.0.1:9105", ""},
		{"[::1]:9105", "tcp", "[::1]:9105", ""},
		{":9105", "tcp", ":9105", ""},
		{"localhost:9105", "tcp", "localhost:9105", ""},
		{"unix:/run/tierfs/metrics.sock", "unix", "/run/tierfs/metrics.sock", ""},
		{"unix:metrics.sock", "", "", "must be absolute"},
		{"127.0.0.1", "", "", "want HOST:PORT or unix:/PATH"},
		{"127.0.0.1:http", "", "", `port "http" is not a number`},
		{"127.0.0.1:0", "", "", `port "0" is not a number`},
		{"127.0.0.1:70000", "", "", `port "70000" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			text := metricsBase
			if tt.listen != "" {
				text += "\n[metrics]\nlisten = \"" + tt.listen + "\"\n"
			}
			c, err := Parse("m.toml", []byte(text))
			if tt.wantErrPart != "" {
				if err == nil || !strings.Contains(err.Error(), "m.toml: metrics.listen: ") || !strings.Contains(err.Error(), tt.wantErrPart) {
					t.Fatalf("err = %v, want metrics.listen error containing %q", err, tt.wantErrPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Metrics.Listen != tt.listen {
				t.Errorf("Listen = %q, want %q", c.Metrics.Listen, tt.listen)
			}
			if tt.listen == "" {
				return
			}
			n, a := c.Metrics.Network()
			if n != tt.wantNet || a != tt.wantAddr {
				t.Errorf("Network() = %q, %q, want %q, %q", n, a, tt.wantNet, tt.wantAddr)
			}
		})
	}
}

func TestMetricsUnknownKey(t *testing.T) {
	_, err := Parse("m.toml", []byte(metricsBase+"\n[metrics]\nlisten = \":9105\"\nport = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "metrics.port: unknown key (want listen)") {
		t.Fatalf("err = %v", err)
	}
}

func TestMetricsMarshalRoundTrip(t *testing.T) {
	for _, listen := range []string{"", "unix:/run/tierfs/m.sock"} {
		text := metricsBase
		if listen != "" {
			text += "\n[metrics]\nlisten = \"" + listen + "\"\n"
		}
		c, err := Parse("m.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		c2, err := Parse("again.toml", out)
		if err != nil {
			t.Fatalf("reparse: %v\n%s", err, out)
		}
		if c2.Metrics != c.Metrics {
			t.Errorf("round trip: %+v, want %+v\n%s", c2.Metrics, c.Metrics, out)
		}
	}
}
