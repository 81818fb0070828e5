package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ballastdb/ballast/kv/node"
	"github.com/ballastdb/ballast/scenarios"
)

// scenarioByName finds a run's scenario (its declared purposes); tests replace it.
var scenarioByName = scenarios.ByName

// printCoverage prints the coverage table: per scenario, the share of its seeds in which each
// purpose event happened (a declared purpose marked *), and the counts of the rare paths the
// members reported, summed over its seeds. A purpose declared random by design (MinShare)
// whose share is below it is a failure of the sweep: one line each, and the count of them is
// returned. Runs without coverage (merged from older results) are left out.
func printCoverage(w io.Writer, s summary) int {
	events := node.EventKinds()
	purposes := scenarios.PurposeEvents()
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "coverage\tseeds\t")
	for _, p := range purposes {
		fmt.Fprintf(tw, "%s\t", p)
	}
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t", e)
	}
	fmt.Fprintln(tw)
	var short []string
	for _, t := range s.perScenario {
		sc, _ := scenarioByName(t.name)
		declared := map[scenarios.PurposeEvent]float64{}
		for _, p := range sc.Purposes {
			declared[p.Event] = p.MinShare
		}
		n := 0
		happened := map[scenarios.PurposeEvent]int{}
		counts := map[string]int{}
		for _, r := range t.all {
			if r.Coverage == nil {
				continue
			}
			n++
			for _, p := range purposes {
				if r.Coverage.Purposes[p] {
					happened[p]++
				}
			}
			for _, e := range events {
				counts[e.String()] += r.Coverage.Events[e.String()]
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t", t.name, n)
		for _, p := range purposes {
			share := float64(happened[p]) / float64(n)
			mark := ""
			if min, ok := declared[p]; ok {
				mark = "*"
				if min > 0 && share < min {
					short = append(short, fmt.Sprintf("FAIL %s: purpose %s reached in %.0f%% of %d seeds, below its %.0f%%",
						t.name, p, 100*share, n, 100*min))
				}
			}
			fmt.Fprintf(tw, "%.0f%%%s\t", 100*share, mark)
		}
		for _, e := range events {
			fmt.Fprintf(tw, "%d\t", counts[e.String()])
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	if len(short) > 0 {
		fmt.Fprintln(w, strings.Join(short, "\n"))
	}
	return len(short)
}
