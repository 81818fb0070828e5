package embed

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// TestInitialElectionTickAdvance: as etcd's adjustTicks, a member of a three-member cluster
// started together finds its two peers and fast-forwards its election timer by election
// ticks - 2 (500 ms / 50 ms: 8), unless it is no longer a follower without a leader by then; with --initial-election-tick-advance=false
// (NoInitialElectionTickAdvance) it skips that; a one-member cluster fast-forwards by
// election ticks - 1 either way. (That the advance brings the first campaign sooner: raft's
// TestAdvanceTicksCampaignsSooner.)
func TestInitialElectionTickAdvance(t *testing.T) {
	run := func(t *testing.T, n int, off bool) []*embedtest.LockedBuffer {
		ms := testCluster(t, n)
		var logs []*embedtest.LockedBuffer
		for _, m := range ms {
			buf := &embedtest.LockedBuffer{}
			logs = append(logs, buf)
			m.cfg.Logger = slog.New(slog.NewJSONHandler(buf, nil))
			m.cfg.NoInitialElectionTickAdvance = off
			m.start(t)
		}
		waitReady(t, ms...)
		return logs
	}
	waitLog := func(t *testing.T, buf *embedtest.LockedBuffer, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(buf.String(), want) {
			require.True(t, time.Now().Before(deadline), "no %q in the log:\n%s", want, buf.String())
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("three members", func(t *testing.T) {
		advanced := 0
		for _, buf := range run(t, 3, false) {
			waitLog(t, buf, `"msg":"starting initial election tick advance","election-ticks":10`)
			// A member that leads, campaigns or follows by the time it found its peers skips it.
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(buf.String(), "fast-forwarding election ticks") && !strings.Contains(buf.String(), "skipping initial election tick advance: the member is no longer a follower without a leader") {
				require.True(t, time.Now().Before(deadline), "neither advanced nor skipped:\n%s", buf.String())
				time.Sleep(50 * time.Millisecond)
			}
			if strings.Contains(buf.String(), `"msg":"initialized peer connections; fast-forwarding election ticks"`) {
				advanced++
				require.Contains(t, buf.String(), `"forward-ticks":8,"forward-duration":"400ms","election-ticks":10,"election-timeout":"500ms","active-remote-members":2`)
			}
		}
		require.Positive(t, advanced, "the members start together: at least one is still a follower without a leader when it finds both peers")
	})
	t.Run("three members, off", func(t *testing.T) {
		for _, buf := range run(t, 3, true) {
			waitLog(t, buf, `"msg":"skipping initial election tick advance","election-ticks":10`)
			require.NotContains(t, buf.String(), "fast-forwarding election ticks")
		}
	})
	t.Run("one member, off", func(t *testing.T) {
		buf := run(t, 1, true)[0]
		waitLog(t, buf, `"msg":"started as single-node; fast-forwarding election ticks"`)
		require.Contains(t, buf.String(), `"forward-ticks":9,`)
	})
}

// TestPreVoteFlag: a member left alone of three campaigns every election timeout. With
// --pre-vote=false (NoPreVote) each campaign raises its term (Status's raft_term climbs);
// with Pre-Vote (etcd's default) its pre-votes get no answer and its term stays.
func TestPreVoteFlag(t *testing.T) {
	for _, noPreVote := range []bool{true, false} {
		ms := testCluster(t, 3)
		for _, m := range ms {
			m.cfg.NoPreVote = noPreVote
			m.start(t)
		}
		waitReady(t, ms...)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c := testClient(t, ms[0].srv.ClientURLs()...)
		ep := ms[0].srv.ClientURLs()[0]
		ms[1].srv.Stop()
		ms[2].srv.Stop()
		// Once the leader (m1 or another) is gone or stepped down, m1 is alone.
		var start uint64
		for {
			st, err := c.Status(ctx, ep)
			require.NoError(t, err)
			if st.Leader == 0 {
				start = st.RaftTerm
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if noPreVote {
			for {
				st, err := c.Status(ctx, ep)
				require.NoError(t, err)
				if st.RaftTerm >= start+3 {
					break
				}
				require.NoError(t, ctx.Err(), "term still %d (from %d)", st.RaftTerm, start)
				time.Sleep(100 * time.Millisecond)
			}
		} else {
			time.Sleep(6 * ms[0].cfg.ElectionTimeout) // at least 3 campaigns
			st, err := c.Status(ctx, ep)
			require.NoError(t, err)
			require.Equal(t, start, st.RaftTerm, "pre-votes raise no term")
		}
		cancel()
		ms[0].srv.Stop()
	}
}
