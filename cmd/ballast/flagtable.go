package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file holds what Ballast does with each flag of etcd v3.7's `etcd --help` that it does
// not parse into embed.Config itself (flags.go): the flags refused with a reason, the flags
// accepted only with the value Ballast's behaviour already has, the v3.6 --experimental-*
// spellings, and --feature-gates with etcd's gate names.

// issue names, for the flags that later issues bring.
const issueOperations = "the operations issue"

// unsupportedFlag is one flag of etcd v3.7's `etcd --help` that Ballast does not implement
// yet. Giving it (on the command line, as ETCD_*, or in --config-file) stops start-up with
// `flag --NAME is not supported yet: REASON`; it is never silently ignored.
type unsupportedFlag struct {
	name   string
	isBool bool // takes no value (--auto-tls), as etcd's boolean flags
	reason string
}

// unsupportedFlags lists them all, in the order of etcd's help, with the issue that brings
// each.
var unsupportedFlags = []unsupportedFlag{
	// Member
	{"max-snapshots", false, "snapshot file retention: Ballast keeps no .snap files to retain (a raft snapshot is read from Pebble when one is sent)"},
	{"max-wals", false, "Ballast's write-ahead log is Pebble's, which keeps no numbered WAL files to retain"},
	{"backend-bbolt-freelist-type", false, "Ballast stores in Pebble, not bbolt: it has no freelist"},
	{"backend-batch-interval", false, "Ballast commits each applied batch to Pebble at once: it has no backend batch to time"},
	{"backend-batch-limit", false, "Ballast commits each applied batch to Pebble at once: it has no backend batch to bound"},
	{"raft-read-timeout", false, "Ballast's peer transport is not rafthttp; its timeouts are its own"},
	{"raft-write-timeout", false, "Ballast's peer transport is not rafthttp; its timeouts are its own"},
	// Clustering
	{"discovery", false, "v2 discovery: etcd v3.7 lists it in its help but no longer defines it (the v2 store is gone)"},
	{"discovery-proxy", false, "v2 discovery's proxy: etcd v3.7 lists it in its help but no longer defines it (the v2 store is gone)"},
	// Logging
	// Features
	{"bootstrap-defrag-threshold-megabytes", false, "etcd compares it with bbolt's free pages (db size minus size in use); Ballast's Pebble has no such figure: its size in use counts the live sstables with the data tombstones shadow, so a start-up compaction keyed on Pebble's garbage estimates is not built yet (" + issueOperations + ")"},
	{"compaction-sleep-interval", false, "Ballast compacts the history in steps between applies inside kv/node, which the simulator runs without a wall clock; a pause between steps needs a step scheduler outside it, not built yet (" + issueOperations + ")"},
	{"downgrade-check-time", false, "Maintenance.Downgrade is answered Unimplemented (Ballast has no earlier storage version to go back to), so no downgrade is ever in progress for the check to watch"},
	// Unsafe
}

// fixedFlag is an etcd flag whose behaviour Ballast has, with etcd's default, and cannot
// change: the default value (and its spellings) is accepted and honoured, any other refused.
type fixedFlag struct {
	name   string
	isBool bool
	values []string // the accepted spellings of the one value
	reason string   // why another value is refused
}

var fixedFlags = []fixedFlag{
	{"logger", false, []string{"zap"}, "Ballast logs zap's JSON shape through log/slog; only --logger=zap"},
}

// experimentalFlag is one of the v3.6 --experimental-* flags that etcd v3.7 removed
// (etcd-io/etcd#19959; the list is the v3.6-to-v3.7 upgrade guide's). Older manifests (kubeadm's)
// still pass them, so Ballast takes them as etcd v3.6 did: the non-boolean ones set the flag
// of the same name without the prefix, the boolean ones a feature gate. This is a Ballast
// extension over etcd v3.7 (which refuses them as unknown flags), listed among the intended
// differences of the compat harness.
type experimentalFlag struct {
	name   string // without the "experimental-" prefix
	isBool bool
	target string // the flag it sets, or "" for a feature gate
	gate   string // the feature gate a boolean one sets
}

var experimentalFlags = []experimentalFlag{
	{"bootstrap-defrag-threshold-megabytes", false, "bootstrap-defrag-threshold-megabytes", ""},
	{"compact-hash-check-enabled", true, "", "CompactHashCheck"},
	{"compact-hash-check-time", false, "compact-hash-check-time", ""},
	{"compaction-batch-limit", false, "compaction-batch-limit", ""},
	{"compaction-sleep-interval", false, "compaction-sleep-interval", ""},
	{"corrupt-check-time", false, "corrupt-check-time", ""},
	{"distributed-tracing-address", false, "distributed-tracing-address", ""},
	{"distributed-tracing-instance-id", false, "distributed-tracing-instance-id", ""},
	{"distributed-tracing-sampling-rate", false, "distributed-tracing-sampling-rate", ""},
	{"distributed-tracing-service-name", false, "distributed-tracing-service-name", ""},
	{"downgrade-check-time", false, "downgrade-check-time", ""},
	{"enable-distributed-tracing", true, "enable-distributed-tracing", ""},
	{"enable-lease-checkpoint", true, "", "LeaseCheckpoint"},
	{"enable-lease-checkpoint-persist", true, "", "LeaseCheckpointPersist"},
	{"initial-corrupt-check", true, "", "InitialCorruptCheck"},
	{"memory-mlock", true, "memory-mlock", ""},
	{"peer-skip-client-san-verification", true, "peer-skip-client-san-verification", ""},
	{"snapshot-catchup-entries", false, "snapshot-catchup-entries", ""},
	{"stop-grpc-service-on-defrag", true, "", "StopGRPCServiceOnDefrag"},
	{"txn-mode-write-with-shared-buffer", true, "", "TxnModeWriteWithSharedBuffer"},
	{"warning-apply-duration", false, "warning-apply-duration", ""},
	{"warning-unary-request-duration", false, "warning-unary-request-duration", ""},
	{"watch-progress-notify-interval", false, "watch-progress-notify-interval", ""},
}

// featureGate is one of etcd v3.7's server feature gates (server/features/etcd_features.go).
type featureGate struct {
	name       string
	defaultOn  bool
	preRelease string // ALPHA or BETA, as etcd's help prints it
	// ballast is what Ballast does: the value it runs with, whatever is asked. Asking for it
	// is accepted; asking for the other value is refused with reason.
	ballast bool
	reason  string
	// performanceOnly: the gate tunes only how fast etcd answers, never what it answers, and
	// Ballast has no such path: either value is accepted, with a warning saying so.
	performanceOnly bool
	// honoured: Ballast does what the gate asks, either way (buildConfig passes it on).
	honoured bool
}

var featureGates = []featureGate{
	{"CompactHashCheck", false, "ALPHA", false, "", false, true},
	{"FastLeaseKeepAlive", true, "BETA", true, "etcd's leader skips waiting for its applied index before renewing a lease it knows; Ballast's renewal path is its own", true, false},
	{"InitialCorruptCheck", false, "ALPHA", false, "", false, true},
	{"LeaseCheckpoint", false, "ALPHA", true, "Ballast always checkpoints leases' remaining TTL through the log (kv/lease), so a leader change does not reset them; turning it off is not built", false, false},
	{"LeaseCheckpointPersist", false, "ALPHA", true, "Ballast always persists the checkpointed remaining TTL; turning it off is not built", false, false},
	{"PriorityRequest", false, "ALPHA", false, "request priorities under overload come with " + issueOperations, false, false},
	{"SetMemberLocalAddr", false, "ALPHA", false, "choosing the peer transport's local address comes with " + issueOperations, false, false},
	{"StopGRPCServiceOnDefrag", false, "ALPHA", false, "reporting NOT_SERVING during a defragmentation comes with " + issueOperations, false, false},
	{"TxnModeWriteWithSharedBuffer", true, "BETA", true, "bbolt's shared read buffer of write transactions has no counterpart in Ballast's Pebble store", true, false},
}

// featureGatesValue is --feature-gates: etcd's featuregate.Set syntax (key=bool pairs,
// comma-separated), its error messages, AllAlpha and AllBeta.
type featureGatesValue struct {
	raw string
	set map[string]bool // as asked, in order of featureGates after expanding AllAlpha/AllBeta
}

func (v *featureGatesValue) String() string { return v.raw }

func (v *featureGatesValue) Set(s string) error {
	m := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return fmt.Errorf("missing bool value for %s", k)
		}
		val = strings.TrimSpace(val)
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("invalid value of %s=%s, err: %w", k, val, err)
		}
		m[k] = b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if v.set == nil {
		v.set = map[string]bool{}
	}
	for _, k := range keys {
		switch k {
		case "AllAlpha", "AllBeta":
			stage := strings.ToUpper(strings.TrimPrefix(k, "All"))
			for _, g := range featureGates {
				if g.preRelease == stage {
					if _, explicit := m[g.name]; !explicit {
						v.set[g.name] = m[k]
					}
				}
			}
			continue
		}
		if !slices.ContainsFunc(featureGates, func(g featureGate) bool { return g.name == k }) {
			return fmt.Errorf("unrecognized feature gate: %s", k)
		}
		v.set[k] = m[k]
	}
	if v.raw != "" {
		v.raw += ","
	}
	v.raw += s
	return nil
}

// check refuses a gate asked for a value Ballast does not run with.
func (v *featureGatesValue) check(warnings *[]string) error {
	for _, g := range featureGates {
		on, ok := v.set[g.name]
		if ok && g.performanceOnly {
			*warnings = append(*warnings, fmt.Sprintf("feature gate %s=%t changes nothing in Ballast: %s", g.name, on, g.reason))
			continue
		}
		if g.honoured {
			continue
		}
		if ok && on != g.ballast {
			return fmt.Errorf("flag --feature-gates is not supported yet: %s=%t: %s", g.name, on, g.reason)
		}
	}
	return nil
}

// fixedValue is a fixedFlag in the flag set.
type fixedValue struct {
	flag    fixedFlag
	value   string
	refused *[]string // refusal messages, in the order given
}

func (v *fixedValue) String() string   { return v.value }
func (v *fixedValue) IsBoolFlag() bool { return v.flag.isBool }
func (v *fixedValue) Set(s string) error {
	if v.flag.isBool {
		if _, err := strconv.ParseBool(s); err != nil {
			return errors.New("parse error")
		}
	}
	v.value = s
	if !slices.Contains(v.flag.values, s) {
		*v.refused = append(*v.refused, fmt.Sprintf("flag --%s is not supported yet: %s=%s is not built (%s)", v.flag.name, v.flag.name, s, v.flag.reason))
	}
	return nil
}

// refusedValue records that an unsupported flag was given.
type refusedValue struct {
	flag    unsupportedFlag
	refused *[]string
}

func (v *refusedValue) String() string   { return "" }
func (v *refusedValue) IsBoolFlag() bool { return v.flag.isBool }
func (v *refusedValue) Set(string) error {
	*v.refused = append(*v.refused, fmt.Sprintf("flag --%s is not supported yet: %s", v.flag.name, v.flag.reason))
	return nil
}

// experimentalValue is a v3.6 --experimental-* flag: it sets its target flag (whose own
// refusal, if any, is then reported under the experimental name) or its feature gate.
type experimentalValue struct {
	flag     experimentalFlag
	fs       *flag.FlagSet
	gates    *featureGatesValue
	warnings *[]string
	refused  *[]string
}

func (v *experimentalValue) String() string   { return "" }
func (v *experimentalValue) IsBoolFlag() bool { return v.flag.isBool }
func (v *experimentalValue) Set(s string) error {
	name := "experimental-" + v.flag.name
	if v.flag.gate != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("parse error")
		}
		*v.warnings = append(*v.warnings, fmt.Sprintf("--%s is deprecated in v3.6 and will be decommissioned in v3.7. Use '--feature-gates=%s=true' instead.", name, v.flag.gate))
		return v.gates.Set(fmt.Sprintf("%s=%t", v.flag.gate, b))
	}
	*v.warnings = append(*v.warnings, fmt.Sprintf("--%s is deprecated in v3.6 and will be decommissioned in v3.7. Use '--%s' instead.", name, v.flag.target))
	before := len(*v.refused)
	if err := v.fs.Set(v.flag.target, s); err != nil {
		return err
	}
	for i := before; i < len(*v.refused); i++ {
		(*v.refused)[i] = strings.Replace((*v.refused)[i], "flag --"+v.flag.target+" ", "flag --"+name+" ", 1)
	}
	return nil
}
