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
	Min, Max      float64
	From, To      string // the first and last labels, for the axis
	Empty         bool
}

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
	}
	c.Points = b.String()
	return c
}
