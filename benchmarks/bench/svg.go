package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// svgColors are the bar colours per target, in AllTargets order.
var svgColors = map[string]string{
	TargetNative:   "#4d4d4d",
	TargetTierfs:   "#1f77b4",
	TargetMergerfs: "#ff7f0e",
	TargetSlowMail: "#2ca02c",
	TargetAllSlow:  "#9467bd",
	TargetSlow:     "#d62728",
	TargetCluster:  "#17becf",
}

// Chart layout in pixels.
const (
	svgWidth     = 960
	svgLabelW    = 190
	svgBarH      = 13
	svgGroupGap  = 12
	svgTop       = 80
	svgRightPad  = 110
	svgMaxFactor = 100.0 // bars longer than 100x the baseline are cut off
)

// WriteSVG draws a horizontal grouped bar chart: one group per metric, a
// bar per target, each value divided by the baseline target's value (native
// when measured, else the group's largest) so that metrics with different
// units share one axis. The value label gives the ratio and the absolute
// median.
func (r *Report) WriteSVG(w io.Writer) error {
	base := TargetNative
	if !r.hasTarget(base) {
		base = ""
	}
	type bar struct {
		target string
		value  float64
		rel    float64
	}
	type group struct {
		metric, unit string
		bars         []bar
	}
	var groups []group
	minRel, maxRel := 1.0, 1.0
	for _, m := range r.Metrics {
		g := group{metric: m.Name, unit: m.Unit}
		ref, ok := r.Median(base, m.Name)
		if !ok || ref == 0 {
			ref = 0
			for _, t := range r.Targets {
				if v, ok := r.Median(t, m.Name); ok && v > ref {
					ref = v
				}
			}
		}
		for _, t := range r.Targets {
			v, ok := r.Median(t, m.Name)
			if !ok || ref == 0 {
				continue
			}
			g.bars = append(g.bars, bar{t, v, v / ref})
			if v > 0 {
				minRel = math.Min(minRel, v/ref)
			}
			maxRel = math.Max(maxRel, math.Min(v/ref, svgMaxFactor))
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	// A log axis: FUSE metadata rates are 0.01–0.1 of native while
	// cached and data paths are near 1, and both must stay readable.
	lo := math.Pow(10, math.Floor(math.Log10(math.Max(minRel, 1e-4))))
	hi := math.Pow(10, math.Ceil(math.Log10(math.Max(maxRel, 1)*1.0001)))
	plotW := float64(svgWidth - svgLabelW - svgRightPad)
	x := func(rel float64) float64 {
		rel = math.Min(math.Max(rel, lo), hi)
		return svgLabelW + plotW*math.Log10(rel/lo)/math.Log10(hi/lo)
	}

	height := svgTop + 40
	for _, g := range groups {
		height += len(g.bars)*svgBarH + svgGroupGap
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	ref := "native"
	if base == "" {
		ref = "the fastest target"
	}
	title := fmt.Sprintf("tierfs benchmark %s — %s, %d CPUs, kernel %s",
		r.Date.Format("2006-01-02"), r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel)
	sub := fmt.Sprintf("median of %d rounds; each bar relative to %s on a log scale, longer is better; slow tier delay %s",
		r.Rounds, ref, r.SlowDelay)
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="10" y="34" fill="#444">%s</text>`+"\n", html.EscapeString(sub))
	// Legend.
	lx := 10.0
	for _, t := range r.Targets {
		fmt.Fprintf(&b, `<rect x="%.0f" y="42" width="12" height="12" fill="%s"/><text x="%.0f" y="52">%s</text>`+"\n",
			lx, svgColors[t], lx+16, html.EscapeString(t))
		lx += 30 + 7*float64(len(t))
	}
	// Grid lines at 1, 2 and 5 of every decade, labelled at decades.
	plotBottom := height - 30
	for dec := lo; dec < hi*1.0001; dec *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := dec * m
			if v > hi*1.0001 {
				break
			}
			stroke := "#eeeeee"
			if m == 1 {
				stroke = "#cccccc"
			}
			if math.Abs(v-1) < 1e-9 {
				stroke = "#666666"
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(v), svgTop-8, x(v), plotBottom, stroke)
			if m == 1 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s×</text>`+"\n", x(v), plotBottom+14, strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
	}
	y := svgTop
	for _, g := range groups {
		gh := len(g.bars) * svgBarH
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", svgLabelW-8, y+gh/2+4,
			html.EscapeString(g.metric+" ("+g.unit+")"))
		for _, br := range g.bars {
			wd := x(br.rel) - svgLabelW
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s %s</title></rect>`+"\n",
				svgLabelW, y, math.Max(wd, 0.5), svgBarH-2, svgColors[br.target],
				html.EscapeString(br.target), html.EscapeString(g.metric), formatValue(br.value), html.EscapeString(g.unit))
			label := fmt.Sprintf("%s× (%s)", formatRatio(br.rel), formatValue(br.value))
			if br.rel > hi {
				label = "▶ " + label
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="9">%s</text>`+"\n", x(br.rel)+3, y+svgBarH-3, html.EscapeString(label))
			y += svgBarH
		}
		y += svgGroupGap
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// formatRatio prints a ratio with at least two significant digits.
func formatRatio(v float64) string {
	switch {
	case v >= 0.1 || v == 0:
		return fmt.Sprintf("%.2f", v)
	case v >= 0.01:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}
