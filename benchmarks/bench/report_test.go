package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleReport is a report with three targets and two metrics.
func sampleReport() *Report {
	r := &Report{
		Date:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine: Machine{Hostname: "box", CPU: "Test CPU", CPUs: 2, Kernel: "6.18"},
		Rounds:  3, SlowDelay: "250µs",
		Targets: []string{TargetNative, TargetTierfs, TargetMergerfs},
		Metrics: []MetricInfo{{Name: "seq-read", Workload: "seq"}, {Name: "postmark", Workload: "postmark"}},
	}
	for round, vals := range [][3]float64{{1000, 950, 400}, {1200, 900, 500}, {1100, 1000, 450}} {
		for i, t := range r.Targets {
			r.add(t, round, Sample{"seq-read", "MiB/s", vals[i]})
		}
	}
	for round, vals := range [][3]float64{{100, 40, 10}, {90, 50, 20}, {110, 45, 30}} {
		for i, t := range r.Targets {
			r.add(t, round, Sample{"postmark", "ops/s", vals[i]})
		}
	}
	r.Finish()
	return r
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range tests {
		in := append([]float64(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("median reordered its input: %v", tc.in)
			}
		}
	}
}

func TestReportMediansRatiosGoals(t *testing.T) {
	r := sampleReport()
	tests := []struct {
		target, metric string
		want           float64
	}{
		{TargetNative, "seq-read", 1100},
		{TargetTierfs, "seq-read", 950},
		{TargetMergerfs, "postmark", 20},
	}
	for _, tc := range tests {
		if got, ok := r.Median(tc.target, tc.metric); !ok || got != tc.want {
			t.Errorf("Median(%s, %s) = %v, %v; want %v", tc.target, tc.metric, got, ok, tc.want)
		}
	}
	if v, ok := r.RatioValue("tierfs/mergerfs", "postmark"); !ok || v != 45.0/20 {
		t.Errorf("tierfs/mergerfs postmark = %v, %v; want 2.25", v, ok)
	}
	if _, ok := r.RatioValue("slowmail/slow", "postmark"); ok {
		t.Error("slowmail/slow computed without either target")
	}
	goals := map[string]Goal{}
	for _, g := range r.Goals {
		goals[g.Description] = g
	}
	if g := goals["PostMark >= 2x mergerfs"]; !g.Measured || !g.Met {
		t.Errorf("PostMark goal = %+v, want measured and met (2.25 >= 2)", g)
	}
	if g := goals["seq read >= 90% native"]; !g.Measured || g.Met {
		t.Errorf("seq read goal = %+v, want measured and not met (950/1100 = 0.86)", g)
	}
	if g, ok := goals["slow mail tier Dovecot >= 2x all-slow"]; ok {
		t.Errorf("slow-mail goal = %+v, want it left out (its targets did not run)", g)
	}
	if g := goals["Dovecot >= 85% native"]; g.Measured {
		t.Errorf("Dovecot goal = %+v, want not measured (no dovecot metric)", g)
	}
}

func TestGoalRounds(t *testing.T) {
	r := sampleReport()
	goals := map[string]Goal{}
	for _, g := range r.Goals {
		goals[g.Description] = g
	}
	tests := []struct {
		goal      string
		perRound  []float64
		metRounds int
		status    string
	}{
		{"PostMark >= 2x mergerfs", []float64{4, 2.5, 1.5}, 2, "met (2.25 >= 2.00); by round 4.00, 2.50, 1.50: reached in 2 of 3"},
		{"seq read >= 90% native", []float64{0.95, 0.75, 1000.0 / 1100}, 2, "NOT met (0.86 < 0.90); by round 0.95, 0.75, 0.91: reached in 2 of 3"},
	}
	for _, tc := range tests {
		g := goals[tc.goal]
		if !slices.EqualFunc(g.PerRound, tc.perRound, func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }) {
			t.Errorf("%s: per round %v, want %v", tc.goal, g.PerRound, tc.perRound)
		}
		if g.MetRounds != tc.metRounds {
			t.Errorf("%s: met in %d rounds, want %d", tc.goal, g.MetRounds, tc.metRounds)
		}
		if got := g.status(); got != tc.status {
			t.Errorf("%s: status %q, want %q", tc.goal, got, tc.status)
		}
	}
}

// TestGoalRoundsPairByRound checks that a round a target lost is left
// out of the per-round ratios instead of pairing the next round's value
// with the other target's value for the lost one.
func TestGoalRoundsPairByRound(t *testing.T) {
	r := &Report{
		Targets: []string{TargetTierfs, TargetMergerfs},
		Metrics: []MetricInfo{{Name: "postmark", Workload: "postmark"}},
	}
	r.add(TargetMergerfs, 0, Sample{"postmark", "ops/s", 10})
	r.add(TargetMergerfs, 1, Sample{"postmark", "ops/s", 20})
	r.add(TargetMergerfs, 2, Sample{"postmark", "ops/s", 40})
	r.add(TargetTierfs, 0, Sample{"postmark", "ops/s", 30})
	r.addError(TargetTierfs, 1, errors.New("mount failed"))
	r.add(TargetTierfs, 2, Sample{"postmark", "ops/s", 60})
	r.Finish()
	if len(r.Goals) != 2 {
		t.Fatalf("goals %+v, want the two tierfs/mergerfs ones", r.Goals)
	}
	g := r.Goals[0]
	if want := []float64{3, 1.5}; !slices.Equal(g.PerRound, want) || g.MetRounds != 1 {
		t.Errorf("per round %v met in %d, want %v met in 1", g.PerRound, g.MetRounds, want)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"2026-01-02", "tierfs/native", "tierfs/mergerfs", "1100", "0.86", "2.25", "NOT met (0.86 < 0.90)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "slowmail/slow") {
		t.Errorf("table has a ratio column for targets that did not run:\n%s", out)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	var table []string
	for _, l := range lines {
		if strings.HasPrefix(l, "| metric") || (len(table) > 0 && strings.HasPrefix(l, "|") && len(table) < 4) {
			table = append(table, l)
		}
	}
	if len(table) != 4 {
		t.Fatalf("want header, separator and 2 rows, got %q", table)
	}
	cols := strings.Count(table[0], "|")
	for _, l := range table {
		if strings.Count(l, "|") != cols {
			t.Errorf("row %q has a different column count than the header", l)
		}
	}
	if !strings.Contains(table[2], "| seq-read | MiB/s | 1100 | 950 | 450 | 0.86 | 2.11 |") {
		t.Errorf("seq-read row = %q", table[2])
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if got, _ := back.Median(TargetTierfs, "postmark"); got != 45 {
		t.Errorf("postmark median after round trip = %v, want 45", got)
	}
	if len(back.Results) != 6 || len(back.Results[0].Values) != 3 {
		t.Errorf("results after round trip: %+v", back.Results)
	}
	if !back.Date.Equal(r.Date) || back.Machine.CPU != "Test CPU" {
		t.Errorf("date/machine lost: %v %+v", back.Date, back.Machine)
	}
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML with one bar per (target, metric).
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	bars := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "height" && a.Value == "11" {
					bars++
				}
			}
		}
	}
	if bars != 6 {
		t.Errorf("SVG has %d bars, want 6", bars)
	}
	for _, want := range []string{"0.86× (950)", "1.00× (1100)", "seq-read (MiB/s)", "2026-01-02"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestParsePromCounter(t *testing.T) {
	text := `# HELP tierfs_fuse_requests_total FUSE requests.
# TYPE tierfs_fuse_requests_total counter
tierfs_fuse_requests_total{op="LOOKUP",tier="fast"} 10
tierfs_fuse_requests_total{op="LOOKUP",tier="slow"} 5
tierfs_fuse_requests_total{tier="fast",op="GETATTR"} 2.0 1700000000000
tierfs_fuse_requests_total_other{op="LOOKUP"} 99
other_metric{op="LOOKUP"} 7
`
	got, err := parsePromCounter(bufio.NewScanner(strings.NewReader(text)), "tierfs_fuse_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["LOOKUP"] != 15 || got["GETATTR"] != 2 {
		t.Errorf("parsePromCounter = %v, want LOOKUP=15 GETATTR=2", got)
	}
	got, err = parsePromCounter(bufio.NewScanner(strings.NewReader(text)), `tierfs_fuse_requests_total{tier="slow"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["LOOKUP"] != 5 {
		t.Errorf("parsePromCounter with tier=\"slow\" = %v, want LOOKUP=5", got)
	}
	_, err = parsePromCounter(bufio.NewScanner(strings.NewReader(`m{op="X"} abc`)), "m")
	if err == nil {
		t.Error("bad value accepted")
	}
}

func TestOptionsValidate(t *testing.T) {
	good := func() *Options {
		return &Options{Rounds: 1, Sizes: QuickSizes(), Targets: []string{"native"}, Workloads: []string{"micro"}}
	}
	tests := []struct {
		name   string
		change func(*Options)
		errHas string
	}{
		{"ok", func(*Options) {}, ""},
		{"rounds", func(o *Options) { o.Rounds = 0 }, "rounds"},
		{"target", func(o *Options) { o.Targets = []string{"ext4"} }, `unknown target "ext4"`},
		{"workload", func(o *Options) { o.Workloads = []string{"fio"} }, `unknown workload "fio"`},
		{"size", func(o *Options) { o.Sizes.Files = 0 }, "files is 0"},
		{"empty", func(o *Options) { o.Targets = nil }, "nothing to run"},
	}
	for _, tc := range tests {
		o := good()
		tc.change(o)
		err := o.Validate()
		if tc.errHas == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", tc.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.errHas)
		}
	}
}
