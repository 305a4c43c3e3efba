package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// formatValue prints a rate with about three significant digits.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// rows returns the table as header plus rows of cells: metric, unit, a
// median per target, then the ratios that apply to the run's targets.
func (r *Report) rows() [][]string {
	header := append([]string{"metric", "unit"}, r.Targets...)
	var ratios []string
	for _, p := range ratioPairs {
		if r.hasTarget(p.num) && r.hasTarget(p.den) {
			ratios = append(ratios, p.name)
		}
	}
	header = append(header, ratios...)
	out := [][]string{header}
	for _, m := range r.Metrics {
		row := []string{m.Name, m.Unit}
		for _, t := range r.Targets {
			cell := "-"
			if v, ok := r.Median(t, m.Name); ok {
				cell = formatValue(v)
			}
			row = append(row, cell)
		}
		for _, name := range ratios {
			cell := "-"
			if v, ok := r.RatioValue(name, m.Name); ok {
				cell = fmt.Sprintf("%.2f", v)
			}
			row = append(row, cell)
		}
		out = append(out, row)
	}
	return out
}

func (r *Report) hasTarget(t string) bool {
	for _, x := range r.Targets {
		if x == t {
			return true
		}
	}
	return false
}

// WriteTable prints the report for a terminal: the medians, ratios,
// goals, request counts and errors.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "tierfs benchmark, %s, %s (%s, %d CPUs, kernel %s)\n",
		r.Date.Format("2006-01-02 15:04 MST"), r.Machine.Hostname, r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel)
	fmt.Fprintf(w, "tierfs %s, transport %s; medians of %d round(s); every metric is a rate, higher is better; slow tier delay %s, xattrs %s\n\n",
		r.Machine.Source, cmp.Or(r.Transport, "dev"), r.Rounds, r.SlowDelay, r.slowXattrs())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range r.rows() {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Goals) > 0 {
		fmt.Fprintln(w, "\ngoals:")
		for _, g := range r.Goals {
			fmt.Fprintf(w, "  %-45s %-16s %-15s %s\n", g.Description, g.Ratio, g.Metric, g.status())
		}
	}
	r.writeCounts(w)
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  round %d %s: %s\n", e.Round, e.Target, e.Error)
		}
	}
	return nil
}

// writeCounts prints the request counts of the first round that has
// them, one line per target and workload, operations by name.
func (r *Report) writeCounts(w io.Writer) {
	if len(r.Counts) == 0 {
		return
	}
	fmt.Fprintln(w, "\nrequests served per workload (first round):")
	first := r.Counts[0].Round
	for _, c := range r.Counts {
		if c.Round != first || len(c.Ops) == 0 {
			continue
		}
		ops := make([]string, 0, len(c.Ops))
		for k := range c.Ops {
			ops = append(ops, k)
		}
		sort.Strings(ops)
		var b strings.Builder
		for _, k := range ops {
			fmt.Fprintf(&b, " %s=%d", k, c.Ops[k])
		}
		fmt.Fprintf(w, "  %-16s %-9s%s\n", c.Target, c.Workload, b.String())
	}
}

// WriteMarkdown writes the table as GitHub Markdown, for the README.
func (r *Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "Measured %s on %s: %s, %d CPUs, %s RAM, kernel %s, %s, %s, tierfs %s (transport %s). Medians of %d rounds; rates, higher is better. Slow tier delay %s, xattrs %s.\n\n",
		r.Date.Format("2006-01-02"), r.Machine.Hostname, r.Machine.CPU, r.Machine.CPUs, r.Machine.Memory,
		r.Machine.Kernel, r.Machine.Go, r.Machine.Mergerfs, r.Machine.Source, cmp.Or(r.Transport, "dev"), r.Rounds, r.SlowDelay, r.slowXattrs())
	rows := r.rows()
	for i, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
		if i == 0 {
			sep := make([]string, len(row))
			for j := range sep {
				sep[j] = "---"
				if j >= 2 {
					sep[j] = "---:"
				}
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(sep, " | "))
		}
	}
	if len(r.Goals) > 0 {
		fmt.Fprintln(w, "\n| goal | ratio | status |\n|---|---|---|")
		for _, g := range r.Goals {
			fmt.Fprintf(w, "| %s | %s of %s | %s |\n", g.Description, g.Ratio, g.Metric, g.status())
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// WriteJSON writes the whole report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// slowXattrs says which xattrs slowfs carried.
func (r *Report) slowXattrs() string {
	if r.SlowXattrs == "user" {
		return "user.* only"
	}
	return "all"
}
