package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// The labels on every container, network and volume a run makes. LabelRun names the run (its
// resources are removed by Cluster.Close); LabelOwner is the pid of the process that made
// them, so the sweep at the start of the next run removes what a run killed before its
// cleanup (kill -9, a test binary's timeout panic) left behind, and nothing of a run that is
// still going in another process.
const (
	LabelRun   = "org.ballastdb.chaos.run"
	LabelOwner = "org.ballastdb.chaos.owner"
)

// docker runs the docker CLI and returns its trimmed standard output; the error carries the
// command and its standard error, which is where the CLI says what went wrong.
func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// CheckDocker reports why Docker cannot be used here, or nil: the CLI on PATH and an engine
// that answers.
func CheckDocker(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return errors.New("docker is not installed (the Docker engine and CLI are needed)")
	}
	if _, err := docker(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return fmt.Errorf("no Docker engine answers: %w", err)
	}
	return nil
}

// CheckImage reports whether image (an id or a tag) exists in the local engine. A run never
// pulls: the image is the project's own (make image), and this machine has no registry.
func CheckImage(ctx context.Context, image string) error {
	if image == "" {
		return errors.New("no image given: build it with make image (its id is in .bin/image.id)")
	}
	if _, err := docker(ctx, "image", "inspect", "--format", "{{.Id}}", image); err != nil {
		return fmt.Errorf("image %q is not in the local engine (build it with make image; a chaos run never pulls): %w", image, err)
	}
	return nil
}

// ownerAlive reports whether the process with that pid is still running (its resources are
// not stale). A pid that does not parse counts as dead.
func ownerAlive(pid string) bool {
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	if n == os.Getpid() {
		return true
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// SweepStale removes the containers, then the networks and volumes (which containers hold),
// labelled by runs whose owner process is gone. It returns how many it removed.
func SweepStale(ctx context.Context) (int, error) {
	removed := 0
	var errs []error
	for _, kind := range []struct {
		list, remove []string
	}{
		{[]string{"ps", "-a", "--filter", "label=" + LabelOwner, "--format", `{{.ID}}	{{.Label "` + LabelOwner + `"}}`}, []string{"rm", "-f", "-v"}},
		{[]string{"network", "ls", "--filter", "label=" + LabelOwner, "--format", `{{.ID}}	{{.Label "` + LabelOwner + `"}}`}, []string{"network", "rm"}},
		{[]string{"volume", "ls", "--filter", "label=" + LabelOwner, "--format", `{{.Name}}	{{.Label "` + LabelOwner + `"}}`}, []string{"volume", "rm", "-f"}},
	} {
		out, err := docker(ctx, kind.list...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, line := range strings.Split(out, "\n") {
			id, owner, _ := strings.Cut(line, "\t")
			if id == "" || ownerAlive(owner) {
				continue
			}
			if _, err := docker(ctx, append(kind.remove, id)...); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}
