// Package kubernetes holds Ballast's Kubernetes manifests and their test: ballast.yaml (a
// StatefulSet of three members, its headless Service and a PodDisruptionBudget),
// sim-swarm.yaml (an Indexed Job running the simulator's seeds in shards) and sim-merge.yaml
// (the Job merging the shards' results). No cluster exists where the tests run, so the test
// decodes the manifests strictly into k8s.io/api's types, checks the settings the members
// need to bootstrap (a headless Service with publishNotReadyAddresses, podManagementPolicy
// Parallel, every member's URLs on the stable DNS names, readiness on /health, the data dir
// on the claim, a budget that keeps a quorum) and the Job's shards, and expands every
// container's command line as the kubelet does ($(VAR) from the container's env, the downward
// API's fields and the Job controller's JOB_COMPLETION_INDEX; $$ for a literal $).
//
// The expanded command lines are kept in testdata/command-lines.json, and the programs' own
// flag parsers read them in the root module's tests (cmd/ballast: TestKubernetesCommandLines
// parses each member's line as the server does at start-up; cmd/ballast-sim: each shard's
// run line, and the shards together cover every seed once). A manifest that passes a flag
// the binary refuses fails there; a manifest changed without the file fails here, until
// `go test -update` rewrites it (review the diff).
//
// Why a module of its own, and why the hand-over file: k8s.io/api and k8s.io/apimachinery
// (with their dozen dependencies, and about 1.5 minutes of compilation on the development
// machine, twice that under -race) would enter Ballast's root go.mod, so every user of the
// module (the nested compat and etcdparity modules, anyone embedding rpc/embed) would carry
// them in its module graph, and every make lint and make test would compile them, for one
// test of YAML files. The flag parsers live in package main (cmd/ballast/flags.go), which no
// other package can import, and moving them out would reshape the server's command for a
// test; the file hands the expanded lines across instead. This module imports nothing of
// Ballast's, so it needs no replace directive. make nested runs it.
//
// Imports: k8s.io/api, k8s.io/apimachinery, sigs.k8s.io/yaml; nothing of Ballast's.
package kubernetes
