package linearizability

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability/history"
)

func readHistory(t testing.TB, path string) *history.History {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h, err := history.Read(f)
	require.NoError(t, err, path)
	return h
}
