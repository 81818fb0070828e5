//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// capIPCLock is CAP_IPC_LOCK's bit: a process holding it may lock memory beyond
// RLIMIT_MEMLOCK.
const capIPCLock = 14

// procStatusField reads one field of /proc/PID/status ("VmLck", "CapEff").
func procStatusField(t *testing.T, pid int, field string) string {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, field)
	return ""
}

// mayLockBeyondLimit: this process holds CAP_IPC_LOCK (root in most containers).
func mayLockBeyondLimit(t *testing.T) bool {
	caps, err := strconv.ParseUint(procStatusField(t, os.Getpid(), "CapEff"), 16, 64)
	require.NoError(t, err)
	return caps&(1<<capIPCLock) != 0
}

// TestMemoryMlock: --memory-mlock locks the member's pages in RAM (the kernel's VmLck of the
// running process is above zero, and without the flag it is zero), and a lock that
// RLIMIT_MEMLOCK refuses stops start-up with etcd's "mlock error: ..." (exit 1) before the
// data dir is written. The child's limit is set with the shell's ulimit; a test run as root
// drops CAP_IPC_LOCK (which ignores the limit) for the refused case by starting the child as
// nobody.
func TestMemoryMlock(t *testing.T) {
	bin := processBinary(t)
	root := os.Geteuid() == 0
	// The child may run as nobody: its binary, and a data dir it may write, must be reachable.
	require.NoError(t, os.Chmod(filepath.Dir(bin), 0o755))
	base, err := os.MkdirTemp("", "ballast-mlock-test")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o777))

	var hard unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_MEMLOCK, &hard))
	capLock := mayLockBeyondLimit(t)

	// start runs a member under `ulimit -l ULIMIT` (KiB, "unlimited", or "-" for this
	// process's limit).
	start := func(t *testing.T, name, ulimit string, asNobody bool, extra ...string) (*exec.Cmd, *embedtest.LockedBuffer, chan error, string) {
		dataDir := filepath.Join(base, name)
		ports := embedtest.FreePorts(t, 2)
		client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		args := append([]string{"--name", name, "--data-dir", dataDir,
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", name + "=" + peer}, extra...)
		cmd := exec.Command("sh", append([]string{"-c", `{ [ "$0" = - ] || ulimit -l "$0"; } && exec "$@"`, ulimit, bin}, args...)...)
		cmd.Env = processEnv()
		cmd.Dir = base
		if asNobody {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		var out embedtest.LockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		exited := make(chan struct{})
		go func() { err := cmd.Wait(); done <- err; close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("%s's log:\n%s", name, out.String())
			}
		})
		return cmd, &out, done, dataDir
	}
	waitReady := func(t *testing.T, out *embedtest.LockedBuffer, done chan error) {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out.String(), `"msg":"ready to serve client requests"`) {
			select {
			case err := <-done:
				t.Fatalf("exited before it was ready (%v):\n%s", err, out.String())
			case <-time.After(50 * time.Millisecond):
			}
			require.True(t, time.Now().Before(deadline), "not ready after 60s")
		}
	}
	vmLck := func(t *testing.T, pid int) int {
		f := strings.Fields(procStatusField(t, pid, "VmLck"))
		require.Len(t, f, 2)
		require.Equal(t, "kB", f[1])
		n, err := strconv.Atoi(f[0])
		require.NoError(t, err)
		return n
	}

	t.Run("locked", func(t *testing.T) {
		// The whole process is locked: only CAP_IPC_LOCK or an unlimited hard limit lets a Go
		// server of some 100 MB do that; otherwise the refusal is what etcd gives too.
		if !capLock && hard.Max != unix.RLIM_INFINITY {
			t.Logf("no CAP_IPC_LOCK and RLIMIT_MEMLOCK's hard limit is %d bytes: the member must refuse to start", hard.Max)
			_, out, done, _ := start(t, "locked", strconv.FormatUint(hard.Max/1024, 10), false, "--memory-mlock")
			err := <-done
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "%v", err)
			require.Equal(t, 1, ee.ExitCode())
			require.Contains(t, out.String(), "mlock error: ")
			return
		}
		limit := "-" // CAP_IPC_LOCK: the limit does not apply
		if !capLock {
			limit = "unlimited"
		}
		cmd, out, done, _ := start(t, "locked", limit, false, "--memory-mlock")
		waitReady(t, out, done)
		locked := vmLck(t, cmd.Process.Pid)
		require.Positive(t, locked, "VmLck of the member with --memory-mlock")
		require.Contains(t, out.String(), "locked the member's memory in RAM (--memory-mlock)")
		t.Logf("VmLck with --memory-mlock: %d kB", locked)

		plain, out2, done2, _ := start(t, "plain", limit, false)
		waitReady(t, out2, done2)
		require.Zero(t, vmLck(t, plain.Process.Pid), "VmLck of a member without the flag")
	})

	t.Run("refused by RLIMIT_MEMLOCK", func(t *testing.T) {
		// 64 KiB is far below what the process has mapped at start: mlockall's MCL_CURRENT
		// fails with ENOMEM (without CAP_IPC_LOCK).
		_, out, done, dataDir := start(t, "refused", "64", root, "--memory-mlock")
		err := <-done
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "want an exit status, got %v:\n%s", err, out.String())
		require.Equal(t, 1, ee.ExitCode(), out.String())
		require.Contains(t, out.String(), `"msg":"failed to open database"`)
		require.Contains(t, out.String(), `"error":"mlock error: cannot allocate memory"`)
		require.Contains(t, out.String(), `"msg":"failed to start","error":"mlock error: cannot allocate memory"`)
		_, statErr := os.Stat(filepath.Join(dataDir, "member"))
		require.True(t, os.IsNotExist(statErr), "a refused start writes nothing to the data dir: %v", statErr)
	})
}
