// Package cmd holds Ballast's programs, one folder each: ballast (the server), ballast-sim,
// ballast-check, ballast-chaos and ballast-bench.
//
// Imports: anything of Ballast's; cmd is the only importer of sim and chaos.
package cmd
