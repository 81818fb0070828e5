// Package chaos runs real Ballast server processes in Docker and kills, pauses, restarts and
// partitions them while real etcd clients record histories.
//
// Imports: linearizability and scenarios. Only cmd imports chaos.
package chaos
