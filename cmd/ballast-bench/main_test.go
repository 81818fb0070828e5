package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBadCommandLines: every refusal is exit status 2 with a message naming the flag, and
// none dials (the default endpoint has no server).
func TestBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"put", "--total", "5", "--duration", "1s"}, "give --total or --duration, not both"},
		{[]string{"put", "--conns", "3", "--clients", "2"}, "--conns (3) is more than --clients (2)"},
		{[]string{"put", "--clients", "0"}, "--clients must be at least 1"},
		{[]string{"put", "--key-size", "2", "--key-space-size", "101"}, "does not fit in --key-size 2"},
		{[]string{"put", "extra"}, `put takes no arguments, got ["extra"]`},
		{[]string{"put", "--rate", "-1"}, "--rate must not be negative"},
		{[]string{"range"}, "range takes KEY [END], got 0 arguments"},
		{[]string{"range", "a", "--consistency", "x"}, `--consistency is l (linearizable) or s (serializable), got "x"`},
		{[]string{"range", "a", "b", "--prefix"}, "--prefix and END exclude each other"},
		{[]string{"range", "a", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"txn-put", "--txn-ops", "2"}, "--txn-ops must be between 1 and --key-space-size (1), got 2"},
		{[]string{"watch", "--val-size", "4"}, "watch needs --val-size of at least 8"},
		{[]string{"watch", "--streams", "11", "--watchers", "10", "--val-size", "8"}, "--streams must be between 1 and --watchers (10), got 11"},
		{[]string{"watch", "--conns", "11", "--val-size", "8"}, "--conns (11) is more than --streams and --clients (10)"},
		{[]string{"lease-keepalive", "--endpoints", ""}, "no endpoint given"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errOut)
			require.Equal(t, 2, code, "stderr: %s", errOut.String())
			require.Contains(t, errOut.String(), tc.want)
			require.Empty(t, out.String())
		})
	}
}
