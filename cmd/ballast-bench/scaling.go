package main

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Scaling (compare --scaling): put throughput against one dimension at a time, the others
// at the goals' defaults (64 clients over 8 connections, 256-byte values): clients 1, 8,
// 64, 256; value size 64 B, 1 KiB, 64 KiB; key count (--scaling-keys, 10k by default:
// the keys, of 12 bytes so that they are apart from the other workloads' 8-byte ones, are
// loaded first, then the puts go to random keys among them). Results: a table in
// results.md and the curves in index.html.

// scalingDims are the dimensions in the order of the page.
var scalingDims = []string{"clients", "value size", "key count"}

func scalingWorkloads(keyCounts []int) []compareWorkload {
	row := []compareRow{{label: "put ops/s", metric: opsPerS, unit: "ops/s"}}
	var out []compareWorkload
	for _, c := range []int{1, 8, 64, 256} {
		conns := min(c, 8)
		out = append(out, compareWorkload{name: fmt.Sprintf("scale-clients-%d", c), dim: "clients", point: strconv.Itoa(c), x: float64(c),
			args: []string{"put", "--clients", strconv.Itoa(c), "--conns", strconv.Itoa(conns), "--val-size", "256", "--key-space-size", "100000"}, rows: row})
	}
	for _, v := range []struct {
		label string
		size  int
	}{{"64 B", 64}, {"1 KiB", 1024}, {"64 KiB", 65536}} {
		out = append(out, compareWorkload{name: fmt.Sprintf("scale-value-%d", v.size), dim: "value size", point: v.label, x: float64(v.size),
			args: []string{"put", "--clients", "64", "--conns", "8", "--val-size", strconv.Itoa(v.size), "--key-space-size", "100000"}, rows: row})
	}
	for _, n := range keyCounts {
		ks := []string{"--key-size", "12", "--key-space-size", strconv.Itoa(n), "--val-size", "256", "--clients", "64", "--conns", "8"}
		out = append(out, compareWorkload{name: fmt.Sprintf("scale-keys-%d", n), dim: "key count", point: countLabel(n), x: float64(n),
			prepare: append([]string{"put", "--sequential-keys", "--total", strconv.Itoa(n)}, ks...),
			args:    append([]string{"put"}, ks...), rows: row})
	}
	return out
}

// parseKeyCounts reads --scaling-keys ("10000,1000000").
func parseKeyCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1e12 {
			return nil, fmt.Errorf("--scaling-keys: %q is not a key count (a positive whole number)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func countLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// scalingPoint is one point of a curve: both stores' mean ops/s.
type scalingPoint struct {
	label              string
	x                  float64
	ballast, etcd      float64
	ballastN, etcdN    []float64
	ballastP99, etcd99 float64
}

func (res *compareResult) curve(dim string) []scalingPoint {
	var out []scalingPoint
	for _, w := range res.workloads {
		if w.dim != dim {
			continue
		}
		p := scalingPoint{label: w.point, x: w.x}
		p.ballastN, p.etcdN = res.values(w, w.rows[0], "ballast"), res.values(w, w.rows[0], "etcd")
		p.ballast, p.etcd = mean(p.ballastN), mean(p.etcdN)
		p.ballastP99, p.etcd99 = mean(res.values(w, compareRow{metric: p99ms}, "ballast")), mean(res.values(w, compareRow{metric: p99ms}, "etcd"))
		out = append(out, p)
	}
	return out
}

func (res *compareResult) scalingMarkdown(b *strings.Builder) {
	header := false
	for _, dim := range scalingDims {
		for _, p := range res.curve(dim) {
			if !header {
				b.WriteString("\nScaling: put throughput, one dimension at a time (others: 64 clients over 8 connections, 256-byte values); the curves are in index.html.\n\n")
				b.WriteString("| dimension | point | Ballast ops/s | etcd ops/s | Ballast / etcd | Ballast p99 | etcd p99 |\n| --- | --- | --- | --- | --- | --- | --- |\n")
				header = true
			}
			ratio := 0.0
			if p.etcd > 0 {
				ratio = p.ballast / p.etcd
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %.2fx | %.1f ms | %.1f ms |\n", dim, p.label, cell(p.ballastN, "ops/s"), cell(p.etcdN, "ops/s"), ratio, p.ballastP99, p.etcd99)
		}
	}
}

// scalingHTML is a page with one SVG chart per dimension: ops/s of both stores against the
// points (evenly spaced, as the points grow geometrically).
func (res *compareResult) scalingHTML(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>\n", html.EscapeString(title))
	b.WriteString("<style>body{font-family:sans-serif;margin:2em;max-width:60em}svg{border:1px solid #ccc;margin:1em 0}" +
		".b{stroke:#1f77b4;fill:#1f77b4}.e{stroke:#d62728;fill:#d62728}polyline.b,polyline.e{fill:none;stroke-width:2}" +
		"text{font-size:12px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p>Put throughput (ops/s, mean of the rounds) against one dimension at a time; the others at 64 clients over 8 connections and 256-byte values. "+
		"<span style=\"color:#1f77b4\">■ Ballast</span> <span style=\"color:#d62728\">■ etcd v3.7.3</span>. The goals' table is in results.md beside this page.</p>\n", html.EscapeString(title))
	for _, dim := range scalingDims {
		pts := res.curve(dim)
		if len(pts) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<h2>%s</h2>\n%s\n", html.EscapeString(dim), svgChart(dim, pts))
		b.WriteString("<table><tr><th>" + html.EscapeString(dim) + "</th><th>Ballast ops/s</th><th>etcd ops/s</th><th>Ballast / etcd</th></tr>\n")
		for _, p := range pts {
			ratio := 0.0
			if p.etcd > 0 {
				ratio = p.ballast / p.etcd
			}
			fmt.Fprintf(&b, "<tr><td>%s</td><td>%.0f</td><td>%.0f</td><td>%.2fx</td></tr>\n", html.EscapeString(p.label), p.ballast, p.etcd, ratio)
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

func svgChart(dim string, pts []scalingPoint) string {
	const w, h, left, right, top, bottom = 560.0, 280.0, 70.0, 20.0, 20.0, 40.0
	top0 := 0.0
	for _, p := range pts {
		top0 = math.Max(top0, math.Max(p.ballast, p.etcd))
	}
	if top0 == 0 {
		top0 = 1
	}
	ymax := niceCeil(top0)
	xAt := func(i int) float64 {
		if len(pts) == 1 {
			return left + (w-left-right)/2
		}
		return left + float64(i)*(w-left-right)/float64(len(pts)-1)
	}
	yAt := func(v float64) float64 { return top + (h-top-bottom)*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-label=\"put ops/s against %s\">\n", w, h, html.EscapeString(dim))
	fmt.Fprintf(&b, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#000\"/>\n", left, h-bottom, w-right, h-bottom)
	fmt.Fprintf(&b, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#000\"/>\n", left, top, left, h-bottom)
	for i := 0; i <= 4; i++ {
		v := ymax * float64(i) / 4
		fmt.Fprintf(&b, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text><line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
			left-6, yAt(v)+4, v, left, yAt(v), w-right, yAt(v))
	}
	for i, p := range pts {
		fmt.Fprintf(&b, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", xAt(i), h-bottom+18, html.EscapeString(p.label))
	}
	fmt.Fprintf(&b, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", (left+w-right)/2, h-4, html.EscapeString(dim))
	for _, series := range []struct {
		class string
		v     func(scalingPoint) float64
	}{{"b", func(p scalingPoint) float64 { return p.ballast }}, {"e", func(p scalingPoint) float64 { return p.etcd }}} {
		var poly []string
		for i, p := range pts {
			poly = append(poly, fmt.Sprintf("%.1f,%.1f", xAt(i), yAt(series.v(p))))
		}
		fmt.Fprintf(&b, "<polyline class=\"%s\" points=\"%s\"/>\n", series.class, strings.Join(poly, " "))
		for i, p := range pts {
			fmt.Fprintf(&b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"><title>%s: %.0f ops/s</title></circle>\n", series.class, xAt(i), yAt(series.v(p)), html.EscapeString(p.label), series.v(p))
		}
	}
	b.WriteString("</svg>")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
