package embed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMaxLearners: with etcd's default (--max-learners 1) a second learner is refused with
// etcd's error; with --max-learners 2 it is added.
func TestMaxLearners(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want string // the second add's error, "" accepted
	}{
		{0, "etcdserver: too many learner members in cluster"}, // 0 takes etcd's default, 1
		{2, ""},
	} {
		ms := testCluster(t, 1)
		ms[0].cfg.MaxLearners = tc.max
		ms[0].start(t)
		waitReady(t, ms[0])
		c := testClient(t, ms[0].srv.ClientURLs()...)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := c.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:1"})
		require.NoError(t, err, "the first learner")
		_, err = c.MemberAddAsLearner(ctx, []string{"http://127.0.0.1:2"})
		cancel()
		if tc.want == "" {
			require.NoError(t, err)
		} else {
			require.EqualError(t, err, tc.want)
		}
		ms[0].srv.Stop()
	}
}
