package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dc "github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/require"

	"github.com/ballastdb/ballast/linearizability"
)

// testImage is the image the Docker tests run: BALLAST_IMAGE when set (an id or tag, which
// must exist), else the image of make image's staged context .bin/image, built by BuildImage
// (tagged with the context's hash: built once per binary). Without Docker or the stage the
// test fails when CI=true (naming what is missing) and skips otherwise.
func testImage(t *testing.T) string {
	t.Helper()
	return stagedImage(t, "BALLAST_IMAGE", "image")
}

// stagedImage is the image named by the variable env, else BuildImage's image of
// .bin/<stage> with the project's Dockerfile.
func stagedImage(t *testing.T, env, stage string) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Docker chaos test cannot run: %s", why)
		}
		t.Skipf("the Docker chaos test cannot run (with CI=true this fails): %s", why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := CheckDocker(ctx); err != nil {
		missing(err.Error())
	}
	image := os.Getenv(env)
	if image == "" {
		dir := filepath.Join("..", ".bin", stage)
		if _, err := os.Stat(dir); err != nil {
			missing(fmt.Sprintf("%s is unset and %s is missing: run make image (make chaos-images for the chaos builds)", env, dir))
		}
		tag, built, err := BuildImage(ctx, BuildConfig{Stage: dir, Dockerfile: filepath.Join("..", "Dockerfile"), Logf: t.Logf})
		if err != nil {
			missing(err.Error())
		}
		t.Logf("image %s (built now: %v)", tag, built)
		image = tag
	}
	if err := CheckImage(ctx, image); err != nil {
		missing(err.Error())
	}
	return image
}

// testClient is the engine's client, for the tests' own inspections.
func testClient(t *testing.T) *dc.Client {
	t.Helper()
	client, err := engine(context.Background())
	require.NoError(t, err)
	return client
}

// requireNothingLabelled fails if any container, network or volume carries label.
func requireNothingLabelled(t *testing.T, label string) {
	t.Helper()
	left, err := listLabelled(context.Background(), testClient(t), label)
	require.NoError(t, err)
	require.Empty(t, left.containers, "containers labelled %s left behind", label)
	require.Empty(t, left.networks, "networks labelled %s left behind", label)
	require.Empty(t, left.volumes, "volumes labelled %s left behind", label)
}

// TestDockerLeaderCrash is go test's one Docker run: the catalogue's leader-crash (kill -9 of
// the leader twice, each restarted on its volume) on 3 containers for the scenario's own 14 s
// under 8 clients. It passes only if every check passes (linearizable by the revision-guided
// checker, every acknowledged write in the store, equal HashKV), writes resumed after each
// kill, the report was written, and nothing the run made is left in Docker.
func TestDockerLeaderCrash(t *testing.T) {
	image := testImage(t)
	seed := time.Now().UnixNano() % 1_000_000
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "CHAOS_SEED")
	}
	t.Logf("seed %d (re-run with CHAOS_SEED=%d)", seed, seed)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, RunConfig{Image: image, Scenario: "leader-crash", Nodes: 3, Clients: 8, Seed: seed, Out: out,
		Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	require.NoError(t, err)
	t.Logf("%d operations, %d acknowledged writes, %d unknown outcomes, verdict %s in %s; HashKV at %d: %v",
		rep.Operations, rep.AckedWrites, rep.Unknown, rep.Verdict, rep.CheckerTime, rep.HashRevision, rep.Hashes)
	for i, d := range rep.WriteResumeAfterLeaderKill {
		fmt.Printf("chaos test: writes resumed %s after kill -9 of the leader (kill %d)\n", d.Round(time.Millisecond), i+1)
	}
	require.True(t, rep.Passed(), "problems: %v (report in %s)", rep.Problems, out)
	require.Equal(t, string(linearizability.VerdictOK), rep.Verdict)
	require.Len(t, rep.Faults, 2, "both kills were applied: %+v", rep.Faults)
	require.Len(t, rep.WriteResumeAfterLeaderKill, 2, "writes resumed after each kill of the leader")
	require.NotEqual(t, rep.Faults[0].Members, rep.Faults[1].Members, "the second kill hit the new leader")
	require.Positive(t, rep.AckedWrites)
	require.Len(t, rep.Hashes, 3)
	for _, f := range []string{"history.jsonl", linearizability.ReportSummary, linearizability.ReportHTML} {
		require.FileExists(t, filepath.Join(out, f))
	}
	requireNothingLabelled(t, LabelRun+"="+rep.RunID)
}

// leaderOtherThan waits until a running member other than not reports itself leader.
func leaderOtherThan(ctx context.Context, t *testing.T, c *Cluster, not *Member) *Member {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m == not {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := m.client.Status(sctx, m.Endpoint)
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no member but %s became leader within 30 s", not.Name)
	return nil
}

// TestDockerNetworkFaults: the iptables rules cut what they claim to. Isolating the leader
// makes the others elect another; a one-way cut of the new leader's messages to the others
// (its connections to their peer ports) makes them elect a third time, although the leader
// still hears them; removing the rules leaves no DROP rule behind, and every member serves.
func TestDockerNetworkFaults(t *testing.T) {
	image := testImage(t)
	if err := CheckNetworkFaults(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, ClusterConfig{Image: image, Nodes: 3, Logf: t.Logf})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()

	first, err := c.Leader(ctx, 20*time.Second)
	require.NoError(t, err)
	others := func(m *Member) []*Member {
		var out []*Member
		for _, o := range c.Members {
			if o != m {
				out = append(out, o)
			}
		}
		return out
	}
	want, err := c.cutRules(ctx, []*Member{first}, others(first))
	require.NoError(t, err)
	cut, note, err := c.addRules(ctx, want)
	require.NoError(t, err)
	require.Empty(t, note)
	require.Len(t, cut, 8, "two rules on each side of each of the 2 links")
	second := leaderOtherThan(ctx, t, c, first)
	t.Logf("isolated %s: %s leads", first.Name, second.Name)
	require.NoError(t, c.removeRules(ctx, cut))

	want, err = c.oneWayRules(ctx, second, others(second))
	require.NoError(t, err)
	oneWay, _, err := c.addRules(ctx, want)
	require.NoError(t, err)
	third := leaderOtherThan(ctx, t, c, second)
	t.Logf("cut %s's messages to the others: %s leads", second.Name, third.Name)
	require.NoError(t, c.removeRules(ctx, oneWay))

	for _, m := range c.Members {
		pid, err := c.memberPID(ctx, m)
		require.NoError(t, err)
		out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "iptables", "-S").CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.NotContains(t, string(out), "DROP", "%s keeps a rule", m.Name)
		require.NoError(t, c.WaitHealthy(ctx, m, 30*time.Second))
	}
}

// TestDockerMembership: a member added as a learner is promoted and serves, leadership moves
// to it, a founding member removed leaves the member list and stops, and the current members
// agree on HashKV.
func TestDockerMembership(t *testing.T) {
	image := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := Start(ctx, ClusterConfig{Image: image, Nodes: 3, Logf: t.Logf})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()

	lead, err := c.Leader(ctx, 20*time.Second)
	require.NoError(t, err)
	added, err := c.AddMember(ctx, lead)
	require.NoError(t, err)
	require.Equal(t, "m3", added.Name)
	require.NoError(t, c.WaitHealthy(ctx, added, 30*time.Second))
	require.NoError(t, c.TransferLeader(ctx, lead, added))
	now, err := c.Leader(ctx, 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, added, now, "leadership moved to the new member")

	removed := c.Members[1]
	require.NoError(t, c.RemoveMember(ctx, added, removed))
	list, err := added.client.MemberList(ctx)
	require.NoError(t, err)
	var names []string
	for _, m := range list.Members {
		names = append(names, m.Name)
		require.False(t, m.IsLearner, "%s is a voter", m.Name)
	}
	require.ElementsMatch(t, []string{"m0", "m2", "m3"}, names)
	require.Equal(t, []*Member{c.Members[0], c.Members[2], added}, c.Current())
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = c.client.WaitContainerWithContext(removed.Container, wctx)
	wcancel()
	require.NoError(t, err, "the removed member stops itself")
	ct, err := c.client.InspectContainerWithContext(removed.Container, ctx)
	require.NoError(t, err)
	require.False(t, ct.State.Running, "the removed member stopped itself")

	resp, err := added.client.Put(ctx, "k", "v")
	require.NoError(t, err)
	hashes, err := hashKV(ctx, c.Current(), resp.Header.Revision, time.Minute)
	require.NoError(t, err)
	require.Len(t, hashes, 3)
	require.Equal(t, hashes[0], hashes[1])
	require.Equal(t, hashes[0], hashes[2])
}
