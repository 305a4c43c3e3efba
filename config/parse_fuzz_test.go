package config

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents. Whatever the input, Parse
// must not panic, every problem it reports must be a *FieldError naming
// the source, and a config it accepts must survive Marshal: the text
// Marshal writes parses back and marshals to the same text (what
// `tierfs config` prints is a config tierfs reads as it was).
//
// go test runs the seeds; `go test -fuzz FuzzParse ./config` explores.
func FuzzParse(f *testing.F) {
	def, err := Default("/var/lib/tierfs").Marshal()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		goodConfig,
		string(def),
		clusterTiers + "[cluster]\nhost = \"mx1\"\nlease_wait = \"2s\"\nusers = [\"mail/{hash}/{user}\"]\n",
		strings.Replace(goodConfig, `name = "fast"`, "name = \"fast\"\nmin_free = \"7.5%\"\ntarget_free = \"3GiB\"", 1),
		goodConfig + "[cache]\nsize = \"64MiB\"\nmax_nodes = 1000\n[mover]\ninterval = \"5m\"\nbytes_per_second = \"10MiB\"\n",
		strings.Replace(goodConfig, "[[rule]]\nmatch = \"**\"", "[[rule]]\nmatch = \"new/{hash}/{user}/**\"\ntier = \"fast\"\ndemote_after = \"30d\"\ndemote_to = \"slow\"\nonly_seen = true\nmin_size = \"64KiB\"\nquiet = \"10m\"\n\n[[rule]]\nmatch = \"**\"", 1),
		goodConfig + "[metrics]\nlisten = \"127.0.0.1:9100\"\n",
		"[[tier]]\nname = \"a\"\n",
		"[[rule]]\nmatch = \"**\"\ntier = \"nope\"\n",
		"[kernel]\nentry_timeout = \"-1s\"\n",
		"x = 1\n[[tier]]\nnmae = \"t\"\n",
		"[[tier]]\nname = 3\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			checkFieldErrors(t, err)
			return
		}
		first, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		back, err := Parse("fuzz", first)
		if err != nil {
			t.Fatalf("Parse(Marshal()) = %v\ninput:\n%s\nmarshalled:\n%s", err, data, first)
		}
		second, err := back.Marshal()
		if err != nil {
			t.Fatalf("second Marshal: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("Marshal(Parse(Marshal(c))) differs from Marshal(c)\ninput:\n%s\nfirst:\n%s\nsecond:\n%s", data, first, second)
		}
	})
}

// checkFieldErrors fails t unless every leaf of err is a *FieldError
// from source "fuzz" with a reason.
func checkFieldErrors(t *testing.T, err error) {
	t.Helper()
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			checkFieldErrors(t, e)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *FieldError", err, err)
	}
	if fe.Source != "fuzz" || fe.Err == nil || fe.Err.Error() == "" {
		t.Fatalf("field error %q: source %q, reason %v", err, fe.Source, fe.Err)
	}
	if !strings.HasPrefix(err.Error(), "fuzz: ") {
		t.Fatalf("error %q does not start with its source", err)
	}
}
