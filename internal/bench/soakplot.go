package bench

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The soak's plot: one panel per quantity, stacked, sharing the time axis,
// each y axis from zero (a flat line must look flat at its true scale), the
// phases after the soak shaded. Plain SVG written here: five line charts do
// not need a plotting library.
const (
	plotWidth    = 960
	plotLeft     = 80
	plotRight    = 150 // the legend
	plotPanelH   = 150
	plotPanelGap = 60
	plotTop      = 50
)

type plotSeries struct {
	label, color string
	y            []float64 // NaN: no value (a gap in the line)
}

type plotPanel struct {
	title  string
	series []plotSeries
}

// soakPanels are the quantities plotted, from the samples.
func soakPanels(samples []SoakSample) []plotPanel {
	col := func(f func(SoakSample) float64) []float64 {
		out := make([]float64, len(samples))
		for i, s := range samples {
			out[i] = f(s)
		}
		return out
	}
	latency := func(d func(SoakSample) float64) func(SoakSample) float64 {
		return func(s SoakSample) float64 {
			if s.Checkouts == 0 {
				return math.NaN()
			}
			return d(s)
		}
	}
	perSecond := func(n func(SoakSample) int) func(SoakSample) float64 {
		return func(s SoakSample) float64 { return float64(n(s)) / max(s.Interval.Seconds(), 1e-9) }
	}
	return []plotPanel{
		{"memory (MiB)", []plotSeries{
			{"resident (VmRSS)", "#1f77b4", col(func(s SoakSample) float64 { return mib(s.RSS) })},
			{"heap held", "#2ca02c", col(func(s SoakSample) float64 { return mib(int64(s.HeapTotal)) })},
			{"heap live", "#ff7f0e", col(func(s SoakSample) float64 { return mib(int64(s.HeapLive)) })},
			{"hash workers", "#8c564b", col(func(s SoakSample) float64 { return mib(s.WorkerRSS) })},
		}},
		{"goroutines", []plotSeries{{"goroutines", "#9467bd", col(func(s SoakSample) float64 { return float64(s.Goroutines) })}}},
		{"open file descriptors", []plotSeries{{"open fds", "#8c564b", col(func(s SoakSample) float64 { return float64(s.FDs) })}}},
		{"checkout latency per interval (ms)", []plotSeries{
			{"p99", "#d62728", col(latency(func(s SoakSample) float64 { return ms(s.CheckoutP99) }))},
			{"p50", "#17becf", col(latency(func(s SoakSample) float64 { return ms(s.CheckoutP50) }))},
		}},
		{"throughput per interval (/s)", []plotSeries{
			{"requests", "#7f7f7f", col(perSecond(SoakSample.requests))},
			{"checkouts", "#e377c2", col(perSecond(func(s SoakSample) int { return s.Checkouts }))},
		}},
		{"the machine's load average; the process's and its hash workers' CPU (cores), CPU per request (ms)", []plotSeries{
			{"load, 1 min", "#bcbd22", col(func(s SoakSample) float64 { return s.Load1 })},
			{"process cores", "#1f77b4", col(func(s SoakSample) float64 { return s.CPU.Seconds() / max(s.Interval.Seconds(), 1e-9) })},
			{"hash worker cores", "#8c564b", col(func(s SoakSample) float64 { return s.WorkerCPU.Seconds() / max(s.Interval.Seconds(), 1e-9) })},
			{"CPU ms/request", "#d62728", col(func(s SoakSample) float64 {
				if s.requests() == 0 {
					return math.NaN()
				}
				return s.cpuPerRequest()
			})},
		}},
	}
}

// writeSoakPlot draws the samples as an SVG document.
func writeSoakPlot(w io.Writer, samples []SoakSample) error {
	if len(samples) < 2 {
		return fmt.Errorf("plot: %d samples, need at least 2", len(samples))
	}
	panels := soakPanels(samples)
	height := plotTop + len(panels)*(plotPanelH+plotPanelGap)
	innerW := float64(plotWidth - plotLeft - plotRight)
	t0, t1 := 0.0, samples[len(samples)-1].At.Minutes()
	if t1 <= t0 {
		t1 = t0 + 1
	}
	x := func(t float64) float64 { return plotLeft + (t-t0)/(t1-t0)*innerW }
	xTicks := ticks(t1 - t0)

	b := bufio.NewWriter(w)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		plotWidth, height, plotWidth, height)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, height)
	fmt.Fprintln(b, `<text x="10" y="24" font-size="13" font-weight="bold">bulwark-bench -soak, a sample an interval. Shaded: no soak traffic (at rest, then the login flood: its checkouts printed, not plotted)</text>`)
	for pi, p := range panels {
		top := float64(plotTop + pi*(plotPanelH+plotPanelGap) + 20)
		bottom := top + plotPanelH
		hi := 0.0
		for _, s := range p.series {
			for _, v := range s.y {
				if !math.IsNaN(v) {
					hi = max(hi, v)
				}
			}
		}
		yTicks := ticks(hi * 1.1)
		yMax := yTicks[len(yTicks)-1]
		y := func(v float64) float64 { return bottom - v/yMax*plotPanelH }

		fmt.Fprintf(b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", plotLeft, top-8, html.EscapeString(p.title))
		// Phases other than the soak, shaded.
		for i := 1; i < len(samples); i++ {
			if samples[i].Phase != "soak" {
				fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="#eeeeee"/>`+"\n",
					x(samples[i-1].At.Minutes()), top, x(samples[i].At.Minutes())-x(samples[i-1].At.Minutes()), plotPanelH)
			}
		}
		for _, v := range yTicks {
			fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", plotLeft, plotLeft+innerW, y(v), y(v))
			fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotLeft-6, y(v)+4, tickLabel(v))
		}
		for _, t := range xTicks {
			if t0+t > t1+1e-9 {
				break
			}
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#999999"/>`+"\n", x(t0+t), x(t0+t), bottom, bottom+4)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x(t0+t), bottom+17, tickLabel(t0+t))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555555">minutes</text>`+"\n", plotLeft+innerW/2, bottom+32)
		fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#333333"/>`+"\n", plotLeft, top, innerW, plotPanelH)
		for si, s := range p.series {
			for _, seg := range segments(s.y) {
				var pts strings.Builder
				for _, i := range seg {
					fmt.Fprintf(&pts, "%.1f,%.1f ", x(samples[i].At.Minutes()), y(s.y[i]))
				}
				if len(seg) == 1 {
					i := seg[0]
					fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>`+"\n", x(samples[i].At.Minutes()), y(s.y[i]), s.color)
					continue
				}
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", s.color, strings.TrimSpace(pts.String()))
			}
			ly := top + 14 + float64(si)*18
			lx := plotLeft + innerW + 12
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, lx+18, ly-4, ly-4, s.color)
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+24, ly, html.EscapeString(s.label))
		}
	}
	fmt.Fprintln(b, "</svg>")
	return b.Flush()
}

// segments splits the indexes of ys into runs without NaN.
func segments(ys []float64) [][]int {
	var out [][]int
	var cur []int
	for i, v := range ys {
		if math.IsNaN(v) {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, i)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// ticks are round values from 0 to at least hi, about five of them, a step
// of 1, 2 or 5 times a power of ten.
func ticks(hi float64) []float64 {
	if !(hi > 0) {
		hi = 1
	}
	raw := hi / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := pow
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	var out []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		out = append(out, v)
		if v >= hi {
			return out
		}
	}
}

func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
