package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestLogRotation: --enable-log-rotation with --log-rotation-config-json rotates the file
// output as etcd's lumberjack does: with maxsize 1 (MB) a member logging every request (at
// debug level) moves its log aside to NAME-TIMESTAMP.log once it passes 1 MB and goes on in
// a new file. The rotation's settings are checked as etcd checks them, with its messages.
func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	ports := embedtest.FreePorts(t, 2)
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	logFile := filepath.Join(dir, "etcd.log")
	args := []string{"--name", "r1", "--data-dir", filepath.Join(dir, "r1.etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "r1=" + peer,
		"--log-outputs", logFile, "--log-level", "debug",
		"--enable-log-rotation", "--log-rotation-config-json", `{"maxsize": 1, "maxbackups": 3}`}
	readLog := func() string { data, _ := os.ReadFile(logFile); return string(data) }
	var stdout embedtest.LockedBuffer
	startRun(t, args, nil, &stdout, readLog, `"msg":"ready to serve client requests"`)
	backups := func() []string {
		m, err := filepath.Glob(filepath.Join(dir, "etcd-*.log"))
		require.NoError(t, err)
		return m
	}
	require.Empty(t, backups(), "nothing rotated before 1 MB")
	c := newTestClient(t, client)
	ctx := context.Background()
	calls := 0
	for len(backups()) == 0 {
		for range 200 {
			_, err := c.Get(ctx, "k", clientv3.WithSerializable())
			require.NoError(t, err)
		}
		calls += 200
		require.Less(t, calls, 40000, "no rotation after %d logged calls", calls)
	}
	b := backups()
	require.Len(t, b, 1)
	old, err := os.ReadFile(b[0])
	require.NoError(t, err)
	require.LessOrEqual(t, len(old), 1<<20, "the rotated file holds at most maxsize")
	require.Greater(t, len(old), 1<<19)
	first, _, _ := strings.Cut(string(old), "\n")
	require.Contains(t, first, `"msg":"Running: "`, "the rotated file is the log from its start")
	require.Contains(t, string(old), `"msg":"ready to serve client requests"`)
	cur, err := os.Stat(logFile)
	require.NoError(t, err)
	require.Less(t, cur.Size(), int64(len(old)), "the member goes on in a new file")
	t.Logf("rotated after %d calls: %s (%d bytes)", calls, filepath.Base(b[0]), len(old))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--enable-log-rotation"}, "--log-outputs requires a single file path when --log-rotate-config-json is defined"},
		{[]string{"--enable-log-rotation", "--log-outputs", "stdout"}, "--log-outputs requires a single file path when --log-rotate-config-json is defined"},
		{[]string{"--enable-log-rotation", "--log-outputs", "a.log,b.log"}, "--log-outputs requires a single file path when --log-rotate-config-json is defined"},
		{[]string{"--enable-log-rotation", "--log-outputs", "a.log", "--log-rotation-config-json", "{maxsize"}, "improperly formatted log rotation config: "},
		{[]string{"--enable-log-rotation", "--log-outputs", "a.log", "--log-rotation-config-json", `{"maxsize": "big"}`}, "invalid log rotation config: "},
	} {
		_, err := parseCommandLine("etcd", tc.args, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
	for _, ok := range [][]string{
		{"--enable-log-rotation", "--log-outputs", "stderr,a.log"},
		{"--log-rotation-config-json", "{maxsize"}, // not read without --enable-log-rotation, as etcd
	} {
		_, err := parseCommandLine("etcd", ok, nil, &bytes.Buffer{}, &bytes.Buffer{})
		require.NoError(t, err, "%v", ok)
	}
}
