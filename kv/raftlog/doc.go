// Package raftlog stores raft's log, hard state and snapshot metadata in the member's Pebble
// DB under its own key prefix.
//
// Imports: raft and Pebble; nothing of Ballast's outside raft and kv.
package raftlog
