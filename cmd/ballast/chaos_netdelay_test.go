//go:build chaos || canary

package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Bytes through a delaying listener arrive whole and in order, and none is readable before
// the control file's delay has passed since it arrived; without the file there is no delay.
func TestDelayListener(t *testing.T) {
	path := filepath.Join(t.TempDir(), NetDelayFileName)
	ctl := &delayControl{path: path}
	require.Zero(t, ctl.current(), "no file, no delay")
	require.NoError(t, os.WriteFile(path, []byte("300ms\n"), 0o644))
	ctl.checked = time.Time{} // read the file now rather than within 100 ms
	require.Equal(t, 300*time.Millisecond, ctl.current())

	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := delayListener{Listener: raw, ctl: ctl}
	defer ln.Close()
	payload := make([]byte, 200<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			return
		}
		c.Write(payload)
		c.Close()
	}()
	c, err := ln.Accept()
	require.NoError(t, err)
	start := time.Now()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "a lower bound: the first bytes wait the delay")
	require.Equal(t, payload, got)
	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "a closed connection reads nothing")

	for _, bad := range []string{"", "soon", "-1s", "0"} {
		require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
		ctl.checked = time.Time{}
		require.Zero(t, ctl.current(), "%q", bad)
	}
}
