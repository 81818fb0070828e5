package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ballastdb/ballast/chaos"
	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// server starts one single-member server (bin takes etcd's flags) on loopback and returns
// its client URL once it serves; it is killed at the end of the test.
func server(t *testing.T, bin string) string {
	t.Helper()
	ports := embedtest.FreePorts(t, 2)
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cmd := exec.Command(bin, "--name", "s", "--data-dir", t.TempDir(), "--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "s="+peer)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer c.Close()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "health")
		cancel()
		if err == nil {
			return client
		}
	}
	t.Fatalf("%s did not serve within 30 s; its log:\n%s", bin, logs.String())
	return ""
}

func ballastBinary(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "ballast")
	out, err := exec.Command("go", "build", "-o", bin, "../ballast").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// run -endpoints against etcd v3.7.3 and against Ballast, side by side: the same traffic and
// checks pass on both, the user's kill and restart commands run and are recorded, and the run
// leaves no key behind. A prefix already holding keys is refused before anything is written.
func TestEndpointsEtcdAndBallast(t *testing.T) {
	for _, tc := range []struct{ name, bin string }{{"etcd", embedtest.EtcdTool(t, "etcd", "BALLAST_ETCD")}, {"ballast", ballastBinary(t)}} {
		t.Run(tc.name, func(t *testing.T) {
			url := server(t, tc.bin)
			marks := t.TempDir()
			code, stdout, stderr := runArgs(t, "run", "-endpoints", url, "-duration", "6s", "-clients", "4", "-seed", "3", "-out", "", "-json",
				"-kill-cmd", "touch "+filepath.Join(marks, "killed"), "-restart-cmd", "touch "+filepath.Join(marks, "restarted"))
			require.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var sum struct {
				Runs   []chaos.Report `json:"runs"`
				Failed int            `json:"failed"`
			}
			require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &sum))
			require.Len(t, sum.Runs, 1)
			r := sum.Runs[0]
			require.Equal(t, "ok", r.Verdict)
			require.Positive(t, r.AckedWrites)
			require.Len(t, r.Faults, 2)
			require.Equal(t, []string{"user-kill", "user-restart"}, []string{r.Faults[0].Kind, r.Faults[1].Kind})
			require.FileExists(t, filepath.Join(marks, "killed"))
			require.FileExists(t, filepath.Join(marks, "restarted"))
			t.Logf("%s: %d operations, %d acknowledged writes, verdict %s in %s", tc.name, r.Operations, r.AckedWrites, r.Verdict, r.CheckerTime)

			c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			left, err := c.Get(ctx, "/ballast-chaos/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			require.NoError(t, err)
			require.Zero(t, left.Count, "the run's keys are deleted")

			_, err = c.Put(ctx, "/taken/k", "v")
			require.NoError(t, err)
			code, _, stderr = runArgs(t, "run", "-endpoints", url, "-prefix", "/taken/", "-duration", "2s", "-out", "")
			require.Equal(t, exitSetup, code)
			require.Contains(t, stderr, "prefix /taken/ holds 1 keys")
			got, err := c.Get(ctx, "/taken/k")
			require.NoError(t, err)
			require.Equal(t, "v", string(got.Kvs[0].Value), "a refused run changes nothing")
		})
	}
}
