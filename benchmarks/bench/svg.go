package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// svgColors are the bar colours per target, in AllTargets order.
var svgColors = map[string]string{
	TargetNative:   "#4d4d4d",
	TargetTierfs:   "#1f77b4",
	TargetMergerfs: "#ff7f0e",
	TargetSlowMail: "#2ca02c",
	TargetSlow:     "#d62728",
}

// Chart layout in pixels.
const (
	svgWidth     = 960
	svgLabelW    = 190
	svgBarH      = 13
	svgGroupGap  = 12
	svgTop       = 70
	svgRightPad  = 110
	svgMaxFactor = 3.0 // bars longer than 3x the baseline are cut off
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
	maxRel := 1.0
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
			maxRel = math.Max(maxRel, math.Min(v/ref, svgMaxFactor))
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	axisMax := math.Ceil(maxRel*4) / 4
	plotW := float64(svgWidth - svgLabelW - svgRightPad)
	x := func(rel float64) float64 { return svgLabelW + plotW*math.Min(rel, axisMax)/axisMax }

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
	title := fmt.Sprintf("tierfs benchmark %s — %s, %d CPUs, kernel %s — median of %d rounds, relative to %s (longer is better)",
		r.Date.Format("2006-01-02"), r.Machine.CPU, r.Machine.CPUs, r.Machine.Kernel, r.Rounds, ref)
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	// Legend.
	lx := 10.0
	for _, t := range r.Targets {
		fmt.Fprintf(&b, `<rect x="%.0f" y="30" width="12" height="12" fill="%s"/><text x="%.0f" y="40">%s</text>`+"\n",
			lx, svgColors[t], lx+16, html.EscapeString(t))
		lx += 30 + 7*float64(len(t))
	}
	// Grid lines every 0.25 (labelled every 0.5) of the baseline.
	plotBottom := height - 30
	for v := 0.0; v <= axisMax+1e-9; v += 0.25 {
		stroke := "#e0e0e0"
		if v == 1 {
			stroke = "#888"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(v), svgTop-8, x(v), plotBottom, stroke)
		if math.Mod(v, 0.5) < 1e-9 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.1f×</text>`+"\n", x(v), plotBottom+14, v)
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
			label := fmt.Sprintf("%.2f× (%s)", br.rel, formatValue(br.value))
			if br.rel > axisMax {
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
