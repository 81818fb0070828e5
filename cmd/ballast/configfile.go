package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// This file reads etcd's --config-file: YAML (or JSON) with etcd's keys, which are its flags'
// names (embed.Config's json tags), read as etcd reads it (sigs.k8s.io/yaml: YAML to JSON,
// then JSON's types). Each key is applied as the flag of the same name would be, so the
// file is held to the flags' rules and refusals: a refused flag named in the file stops
// start-up with the same `flag --X is not supported yet` message. As in etcd, duration
// fields are integer nanoseconds, URL lists comma-separated strings, log-outputs a list,
// TLS settings in the client-transport-security and peer-transport-security blocks.
//
// Two differences from etcd, both so that nothing is ignored silently: a key that names no
// setting is a warning (etcd's YAML decoder skips it without a word), and a key a refused
// flag has is accepted only when it holds etcd's default value (sample files list every key
// with its default; etcd cannot tell those from an absent key either).

// etcdDefaults are etcd v3.7's defaults (embed.NewConfig) of the refused flags whose default
// is not the zero value, as the file spells them once decoded.
var etcdDefaults = map[string]string{
	"discovery-insecure-transport": "true", "max-snapshots": "5", "max-wals": "5",
	"raft-read-timeout": "5s", "raft-write-timeout": "5s",
	"discovery-dial-timeout": "2s", "discovery-request-timeout": "5s", "discovery-keepalive-time": "2s",
	"discovery-keepalive-timeout": "6s",
	"auth-token":                  "simple", "bcrypt-cost": "10", "auth-token-ttl": "300",
	"metrics": "basic", "distributed-tracing-address": "localhost:4317",
	"distributed-tracing-service-name": "etcd", "downgrade-check-time": "5s",
	"backend-bbolt-freelist-type": "map",
	"log-rotation-config-json":    `{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}`,
}

// transportSecurityKeys map the keys of etcd's client- and peer-transport-security blocks to
// the flags they stand for.
var transportSecurityKeys = map[string][2]string{
	"cert-file":                    {"cert-file", "peer-cert-file"},
	"key-file":                     {"key-file", "peer-key-file"},
	"client-cert-file":             {"client-cert-file", "peer-client-cert-file"},
	"client-key-file":              {"client-key-file", "peer-client-key-file"},
	"client-cert-auth":             {"client-cert-auth", "peer-client-cert-auth"},
	"trusted-ca-file":              {"trusted-ca-file", "peer-trusted-ca-file"},
	"auto-tls":                     {"auto-tls", "peer-auto-tls"},
	"allowed-cn":                   {"", "peer-cert-allowed-cn"},
	"allowed-hostname":             {"client-cert-allowed-hostname", "peer-cert-allowed-hostname"},
	"skip-client-san-verification": {"", "peer-skip-client-san-verification"},
}

// applyConfigFile sets fs's flags from the file at path; the warnings go to warn.
func applyConfigFile(fs *flag.FlagSet, path string, warn func(string)) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "client-transport-security", "peer-transport-security":
			side := 0
			if k == "peer-transport-security" {
				side = 1
			}
			if err := applyBlock(fs, path, k, m[k], func(sub string) string { return transportSecurityKeys[sub][side] }, warn); err != nil {
				return err
			}
			continue
		case "socket-options":
			if err := applyBlock(fs, path, k, m[k], func(sub string) string {
				return map[string]string{"reuse-port": "socket-reuse-port", "reuse-address": "socket-reuse-address"}[sub]
			}, warn); err != nil {
				return err
			}
			continue
		case "discovery-config":
			// etcd's v3discovery.DiscoveryConfig: the token, and clientv3.ConfigSpec under
			// "client" (its TLS under "secure", its credentials under "auth").
			if err := applyBlock(fs, path, k, m[k], func(sub string) string { return discoveryConfigKeys[sub] }, warn); err != nil {
				return err
			}
			continue
		case "config-file", "version":
			warn(fmt.Sprintf("config file %s: key %q is not a setting of the file; ignored", path, k))
			continue
		}
		if err := applyKey(fs, path, k, k, m[k], warn); err != nil {
			if err == errUnknownKey {
				warn(fmt.Sprintf("config file %s: unknown key %q ignored (etcd ignores it too)", path, k))
				continue
			}
			return err
		}
	}
	return nil
}

var errUnknownKey = fmt.Errorf("unknown key")

// discoveryConfigKeys map the keys of etcd's discovery-config block (flattened with dots)
// to the flags they stand for.
var discoveryConfigKeys = map[string]string{
	"token":                                  "discovery-token",
	"client.endpoints":                       "discovery-endpoints",
	"client.dial-timeout":                    "discovery-dial-timeout",
	"client.request-timeout":                 "discovery-request-timeout",
	"client.keepalive-time":                  "discovery-keepalive-time",
	"client.keepalive-timeout":               "discovery-keepalive-timeout",
	"client.secure.cert":                     "discovery-cert",
	"client.secure.key":                      "discovery-key",
	"client.secure.cacert":                   "discovery-cacert",
	"client.secure.insecure-transport":       "discovery-insecure-transport",
	"client.secure.insecure-skip-tls-verify": "discovery-insecure-skip-tls-verify",
	"client.auth.username":                   "discovery-user",
	"client.auth.password":                   "discovery-password",
}

// applyBlock applies a nested block's keys through flagOf (which names "" for a key the
// block does not have).
func applyBlock(fs *flag.FlagSet, path, key string, raw json.RawMessage, flagOf func(string) string, warn func(string)) error {
	if string(raw) == "null" {
		return nil
	}
	var sub map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&sub); err != nil {
		return fmt.Errorf("config file %s: %s: %w", path, key, err)
	}
	subKeys := make([]string, 0, len(sub))
	for k := range sub {
		subKeys = append(subKeys, k)
	}
	slices.Sort(subKeys)
	for _, k := range subKeys {
		name := flagOf(k)
		if name == "" && bytes.HasPrefix(bytes.TrimSpace(sub[k]), []byte("{")) {
			// a block within the block: its keys are "k.sub"
			if err := applyBlock(fs, path, key+"."+k, sub[k], func(s string) string { return flagOf(k + "." + s) }, warn); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			warn(fmt.Sprintf("config file %s: unknown key %q in %s ignored", path, k, key))
			continue
		}
		if err := applyKey(fs, path, key+"."+k, name, sub[k], warn); err != nil {
			return err
		}
	}
	return nil
}

// applyKey sets flag name from the file's value raw (at key). For a flag Ballast refuses, a
// zero value or etcd's default asks for nothing and is skipped; when etcd's default is a
// behaviour Ballast does not have, the skip is a warning naming the refusal.
func applyKey(fs *flag.FlagSet, path, key, name string, raw json.RawMessage, warn func(string)) error {
	f := fs.Lookup(name)
	if f == nil {
		return errUnknownKey
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("config file %s: %s: %w", path, key, err)
	}
	var s string
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case json.Number:
		s = x.String()
		if isDurationFlag(f) {
			ns, err := x.Int64()
			if err != nil {
				return fmt.Errorf("config file %s: %s: a duration is integer nanoseconds, not %s", path, key, x)
			}
			s = time.Duration(ns).String()
		}
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		s = strings.Join(parts, ",")
	default:
		return fmt.Errorf("config file %s: %s: unexpected value %s", path, key, raw)
	}
	if isRefusedOrFixed(f) && (s == "" || s == "false" || s == "0" || s == "0s" || etcdDefaults[name] == s) {
		if d, ok := etcdDefaults[name]; ok && d == s {
			if msg := refusal(f, s); msg != "" {
				warn(fmt.Sprintf("config file %s: %s: %s is etcd's default, taken as not given; Ballast's behaviour differs: %s", path, key, s, msg))
			}
		}
		return nil
	}
	if s == "" && (name == "cors" || name == "host-whitelist") {
		return nil // etcd's file: an empty value leaves the default
	}
	if err := fs.Set(name, s); err != nil {
		return fmt.Errorf("config file %s: invalid value %q for %s: %w", path, s, key, err)
	}
	return nil
}

// refusedDurations are the refused flags whose values are durations.
var refusedDurations = []string{"backend-batch-interval", "raft-read-timeout", "raft-write-timeout",
	"compact-hash-check-time",
	"compaction-sleep-interval", "downgrade-check-time"}

func isDurationFlag(f *flag.Flag) bool {
	if slices.Contains(refusedDurations, f.Name) {
		return true
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return false
	}
	_, ok = g.Get().(time.Duration)
	return ok
}

// refusal is the message setting f to s would stop start-up with ("" when it would not).
func refusal(f *flag.Flag, s string) string {
	var refused []string
	switch v := f.Value.(type) {
	case *refusedValue:
		c := *v
		c.refused = &refused
		_ = c.Set(s)
	case *fixedValue:
		c := *v
		c.refused = &refused
		_ = c.Set(s)
	}
	if len(refused) == 0 {
		return ""
	}
	return refused[0]
}

func isRefusedOrFixed(f *flag.Flag) bool {
	switch f.Value.(type) {
	case *refusedValue, *fixedValue:
		return true
	}
	return false
}
