package pages

import (
	"fmt"
	"strings"
)

// chart is a line chart drawn by the server as inline SVG: no script, no
// third-party origin, nothing for the Content-Security-Policy to allow.
type chart struct {
	Width, Height int
	Points        string // the polyline's points, in SVG coordinates
	// Dots are the points again, each drawn as a dot: a series of one
	// point has no line to draw.
	Dots     []dot
	Min, Max float64
	From, To string // the first and last labels, for the axis
	Empty    bool
}

// dot is a point of a line chart in SVG coordinates.
type dot struct{ X, Y float64 }

// The chart's drawing area in SVG user units (the stylesheet scales it).
const (
	chartWidth  = 600
	chartHeight = 160
	chartPad    = 8
)

// lineChart plots values in order, left to right, scaled between their
// minimum and maximum (a flat series is drawn mid-height); labels name the
// first and last points.
func lineChart(values []float64, labels []string) chart {
	c := chart{Width: chartWidth, Height: chartHeight, Empty: len(values) == 0}
	if c.Empty {
		return c
	}
	c.Min, c.Max = values[0], values[0]
	for _, v := range values {
		c.Min, c.Max = min(c.Min, v), max(c.Max, v)
	}
	if len(labels) > 0 {
		c.From, c.To = labels[0], labels[len(labels)-1]
	}
	var b strings.Builder
	for i, v := range values {
		x := float64(chartWidth) / 2
		if len(values) > 1 {
			x = chartPad + float64(i)*float64(chartWidth-2*chartPad)/float64(len(values)-1)
		}
		y := float64(chartHeight) / 2
		if c.Max > c.Min {
			y = chartPad + (c.Max-v)*float64(chartHeight-2*chartPad)/(c.Max-c.Min)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
		c.Dots = append(c.Dots, dot{X: x, Y: y})
	}
	c.Points = b.String()
	return c
}

// bars is a bar chart drawn by the server as inline SVG, each bar labelled
// under it; Summary lists every label and value for the accessible name.
type bars struct {
	Width, Height int
	Bars          []bar
	Summary       string
	Empty         bool
}

// bar is one bar in SVG coordinates, its label placed under it.
type bar struct {
	X, Y, W, H   float64
	TextX, TextY float64
	Label, Value string
	ValueY       float64
	Zero         bool
}

// barHeight is the drawing area of a bar chart with room for its labels.
const (
	barHeight  = 180
	barLabels  = 22
	barSlotMax = 80 // a few bars stay bars, not blocks
)

// barChart draws values as bars from a zero baseline, scaled to the
// largest, each named by its label; an all-zero series draws flat bars.
func barChart(values []float64, labels []string) bars {
	c := bars{Width: chartWidth, Height: barHeight, Empty: len(values) == 0}
	if c.Empty {
		return c
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	slot := min(float64(chartWidth-2*chartPad)/float64(len(values)), barSlotMax)
	left := (float64(chartWidth) - slot*float64(len(values))) / 2 // centred when the slots are capped
	area := float64(barHeight - barLabels - 2*chartPad - 14)      // 14: the value above the bar
	var summary []string
	for i, v := range values {
		label := ""
		if i < len(labels) {
			label = labels[i]
		}
		h := 0.0
		if top > 0 {
			h = v * area / top
		}
		b := bar{W: slot * 0.7, H: h, Label: label, Value: formatValue(v), Zero: v == 0}
		b.X = left + float64(i)*slot + slot*0.15
		b.Y = float64(barHeight-barLabels-chartPad) - h
		b.TextX = b.X + b.W/2
		b.TextY = float64(barHeight - chartPad)
		b.ValueY = b.Y - 4
		c.Bars = append(c.Bars, b)
		summary = append(summary, label+": "+b.Value)
	}
	c.Summary = strings.Join(summary, ", ")
	return c
}

// formatValue writes a chart value without needless decimals.
func formatValue(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}
