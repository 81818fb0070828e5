package chaos

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dc "github.com/ory/dockertest/v3/docker"
	"github.com/stretchr/testify/require"
)

// TestStageRepository: each of make image's stages builds into a repository of its own, none
// of them one make image tags.
func TestStageRepository(t *testing.T) {
	for stage, want := range map[string]string{
		"../.bin/image":                "ballast-build",
		"/x/.bin/image-ballast-chaos/": "ballast-chaos-build",
		".bin/image-ballast-canary":    "ballast-canary-build",
	} {
		require.Equal(t, want, StageRepository(stage), stage)
	}
}

// TestDockerBuildImageOncePerBinary: BuildImage builds a staged context through the API
// (FROM scratch, the classic builder, no pull), tagged with the context's hash; the same
// binary again reuses the image without building; another binary is another tag.
func TestDockerBuildImageOncePerBinary(t *testing.T) {
	testImage(t) // Docker is there (or the test skips / fails under CI saying why)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := testClient(t)
	dir := t.TempDir()
	stage := filepath.Join(dir, "image-buildtest")
	bin := filepath.Join(stage, "usr", "local", "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	dockerfile := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(dockerfile, []byte("FROM scratch\nCOPY usr/ /usr/\nCMD [\"/usr/local/bin/etcd\"]\n"), 0o644))
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	write := func(content string) {
		require.NoError(t, os.WriteFile(filepath.Join(bin, "ballast"), []byte(content), 0o755))
	}
	require.NoError(t, os.Symlink("ballast", filepath.Join(bin, "etcd")))
	write("binary one " + hex.EncodeToString(nonce))
	cfg := BuildConfig{Stage: stage, Dockerfile: dockerfile, Logf: t.Logf}
	var tags []string
	defer func() {
		for _, tag := range tags {
			_ = client.RemoveImageExtended(tag, dc.RemoveImageOptions{Force: true})
		}
	}()

	first, built, err := BuildImage(ctx, cfg)
	require.NoError(t, err)
	tags = append(tags, first)
	require.True(t, built, "a new binary is built")
	require.Regexp(t, `^buildtest-build:[0-9a-f]{20}$`, first)
	img, err := client.InspectImage(first)
	require.NoError(t, err)
	require.Contains(t, first, img.Config.Labels[LabelImage][:20], "the tag is the context's hash, also in the image's label")

	again, built, err := BuildImage(ctx, cfg)
	require.NoError(t, err)
	require.False(t, built, "the same binary is not built again")
	require.Equal(t, first, again)

	write("binary two " + hex.EncodeToString(nonce))
	second, built, err := BuildImage(ctx, cfg)
	require.NoError(t, err)
	tags = append(tags, second)
	require.True(t, built)
	require.NotEqual(t, first, second, "another binary is another tag")

	require.NoError(t, os.Remove(filepath.Join(bin, "ballast")))
	_, _, err = BuildImage(ctx, cfg)
	require.ErrorContains(t, err, "has no usr/local/bin/ballast")
}

// TestDockerStartRefusesMissingImage: a run of an image the engine lacks fails before it makes
// anything, naming the image, and never pulls it.
func TestDockerStartRefusesMissingImage(t *testing.T) {
	testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	image := "ballast-chaos-no-such-image:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c, err := Start(ctx, ClusterConfig{Image: image, Nodes: 1})
	require.Nil(t, c)
	require.ErrorContains(t, err, image)
	require.ErrorContains(t, err, "never pulls")
	requireNothingLabelled(t, LabelOwner+"="+strconv.Itoa(os.Getpid()))
	_, err = testClient(t).InspectImage(image)
	require.ErrorIs(t, err, dc.ErrNoSuchImage, "nothing was pulled")
}

// TestDockerSweepStale: the sweep removes the containers, networks and named volumes labelled
// by an owner process that is gone (volumes too: removing a container leaves its named
// volumes), and keeps those of a live owner.
func TestDockerSweepStale(t *testing.T) {
	image := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := testClient(t)
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	dead := strconv.Itoa(gone.ProcessState.Pid())
	require.False(t, ownerAlive(dead))
	run := "sweeptest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	stale := map[string]string{LabelRun: run, LabelOwner: dead}
	live := map[string]string{LabelRun: run + "-live", LabelOwner: strconv.Itoa(os.Getpid())}
	defer func() {
		_, _ = removeLabelled(context.Background(), LabelRun+"="+run+"-live", func(string) bool { return false })
	}()
	defer func() {
		_, _ = removeLabelled(context.Background(), LabelRun+"="+run, func(string) bool { return false })
	}()

	net, err := client.CreateNetwork(dc.CreateNetworkOptions{Name: run, Driver: "bridge", Labels: stale, Context: ctx})
	require.NoError(t, err)
	_, err = client.CreateVolume(dc.CreateVolumeOptions{Name: run, Labels: stale, Context: ctx})
	require.NoError(t, err)
	_, err = client.CreateVolume(dc.CreateVolumeOptions{Name: run + "-live", Labels: live, Context: ctx})
	require.NoError(t, err)
	ct, err := client.CreateContainer(dc.CreateContainerOptions{Name: run,
		Config:     &dc.Config{Image: image, Cmd: []string{"etcd", "--version"}, Labels: stale},
		HostConfig: &dc.HostConfig{Binds: []string{run + ":/etcd-data"}, NetworkMode: run}, Context: ctx})
	require.NoError(t, err)

	n, err := SweepStale(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 3, "the container, the network and the volume")
	_, err = client.InspectContainerWithContext(ct.ID, ctx)
	var noContainer *dc.NoSuchContainer
	require.ErrorAs(t, err, &noContainer)
	_, err = client.NetworkInfo(net.ID)
	var noNetwork *dc.NoSuchNetwork
	require.ErrorAs(t, err, &noNetwork)
	_, err = client.InspectVolume(run)
	require.ErrorIs(t, err, dc.ErrNoSuchVolume, "the stale named volume is removed too")
	_, err = client.InspectVolume(run + "-live")
	require.NoError(t, err, "a live owner's volume stays")
}

// TestDockerMemberContainer: every member's container carries the run's labels, publishes
// only its client port and only on 127.0.0.1 (never all exposed ports, never all
// interfaces), and stops on SIGTERM; a graceful Stop delivers SIGTERM (the member logs its
// clean shutdown and exits 0); after a restart the member has a new process, which memberPID
// finds by inspecting again; a control file reaches the data dir (UploadToContainer); Close
// removes the containers, the network and the named volumes.
func TestDockerMemberContainer(t *testing.T) {
	image := testImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := testClient(t)
	c, err := Start(ctx, ClusterConfig{Image: image, Nodes: 1, Logf: t.Logf})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			require.NoError(t, c.Close())
		}
	}()
	owner := strconv.Itoa(os.Getpid())
	m := c.Members[0]

	ct, err := client.InspectContainerWithContext(m.Container, ctx)
	require.NoError(t, err)
	require.Equal(t, c.RunID, ct.Config.Labels[LabelRun])
	require.Equal(t, owner, ct.Config.Labels[LabelOwner])
	require.Equal(t, "SIGTERM", ct.Config.StopSignal)
	require.False(t, ct.HostConfig.PublishAllPorts)
	require.Contains(t, ct.Config.ExposedPorts, dc.Port("2380/tcp"), "the image exposes the peer port")
	published := map[dc.Port][]dc.PortBinding{}
	for port, bindings := range ct.NetworkSettings.Ports {
		if len(bindings) > 0 {
			published[port] = bindings
		}
	}
	require.Len(t, published, 1, "only the client port is published: %v", ct.NetworkSettings.Ports)
	require.Len(t, published[clientPort], 1)
	require.Equal(t, "127.0.0.1", published[clientPort][0].HostIP, "published on loopback only")
	require.Equal(t, m.Endpoint, "http://127.0.0.1:"+published[clientPort][0].HostPort)
	nw, err := client.NetworkInfo(c.Network)
	require.NoError(t, err)
	require.Equal(t, c.RunID, nw.Labels[LabelRun])
	vol, err := client.InspectVolume(m.Volume)
	require.NoError(t, err)
	require.Equal(t, c.RunID, vol.Labels[LabelRun])
	require.Equal(t, owner, vol.Labels[LabelOwner])

	require.NoError(t, c.SetNetDelay(ctx, m, 7*time.Millisecond))
	var archive bytes.Buffer
	require.NoError(t, client.DownloadFromContainer(m.Container, dc.DownloadFromContainerOptions{
		Path: "/etcd-data/" + m.Name + "/" + netDelayFile, OutputStream: &archive, Context: ctx}))
	tr := tar.NewReader(&archive)
	_, err = tr.Next()
	require.NoError(t, err)
	content, err := io.ReadAll(tr)
	require.NoError(t, err)
	require.Equal(t, "7ms\n", string(content))

	before, err := c.memberPID(ctx, m)
	require.NoError(t, err)
	require.NoError(t, c.Stop(ctx, m, time.Minute), "SIGTERM stops the member with status 0")
	require.Contains(t, c.Logs(m, 20), "received signal; shutting down")
	ct, err = client.InspectContainerWithContext(m.Container, ctx)
	require.NoError(t, err)
	require.False(t, ct.State.Running)
	require.Equal(t, 0, ct.State.ExitCode)
	_, err = c.memberPID(ctx, m)
	require.ErrorContains(t, err, "not running")
	require.NoError(t, c.StartMember(ctx, m))
	require.NoError(t, c.WaitHealthy(ctx, m, time.Minute))
	after, err := c.memberPID(ctx, m)
	require.NoError(t, err)
	require.NotEqual(t, before, after, "the restarted member is a new process")

	require.NoError(t, c.Close())
	closed = true
	requireNothingLabelled(t, LabelRun+"="+c.RunID)
	_, err = client.InspectVolume(m.Volume)
	require.True(t, errors.Is(err, dc.ErrNoSuchVolume), "the member's named volume is removed: %v", err)
}
