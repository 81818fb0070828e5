//go:build !canary

package canary

// Enabled is false in normal builds: no canary can be switched on, and every guarded branch
// is dead code the compiler removes.
const Enabled = false

// Set refuses any canary in a normal build ("" is accepted: it means none).
func Set(name string) error {
	if name == "" {
		return nil
	}
	return ErrNotCanaryBuild
}

// Active returns "": no canary is ever active in a normal build.
func Active() string { return "" }

// On is constant false in a normal build; inlined, it removes the guarded branch.
func On(string) bool { return false }
