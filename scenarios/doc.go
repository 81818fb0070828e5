// Package scenarios is the catalogue of named workloads and fault schedules, written once and
// run by both sim and chaos. It is data.
//
// Imports: nothing of Ballast's but linearizability.
package scenarios
