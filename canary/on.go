//go:build canary

package canary

import "fmt"

// Enabled is true in canary builds: Set may pick a canary and On may report it.
const Enabled = true

// active is the canary this process runs, "" for none. See the package doc on why a plain
// variable is deterministic here.
var active string

// Set makes name the active canary ("" for none). It refuses an unknown name. Call it only
// when no run is in flight.
func Set(name string) error {
	if name != "" && !Known(name) {
		return fmt.Errorf("canary: unknown canary %q (known: %v)", name, Names())
	}
	active = name
	return nil
}

// Active returns the active canary's name, "" for none.
func Active() string { return active }

// On reports whether name is the active canary. It panics on a name that is not a canary, so
// a misspelt guard cannot silently never fire.
func On(name string) bool {
	if active == "" {
		return false
	}
	if !Known(name) {
		panic(fmt.Sprintf("canary: On(%q): not a canary", name))
	}
	return active == name
}
