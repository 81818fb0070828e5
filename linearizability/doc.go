// Package linearizability reads histories (see FORMAT.md once it exists) and judges them:
// Porcupine models of etcd's KV and leases, a revision-guided checker, watch, lease,
// durability and liveness validators, and the HTML/JSON report.
//
// Imports: nothing of the store. It reads histories only.
package linearizability
