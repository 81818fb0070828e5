package chaos

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"
)

// The labels on every container, network and volume a run makes. LabelRun names the run (its
// resources are removed by Cluster.Close); LabelOwner is the pid of the process that made
// them, so the sweep at the start of the next run removes what a run killed before its
// cleanup (kill -9, a test binary's timeout panic) left behind, and nothing of a run that is
// still going in another process. LabelImage is on the images BuildImage makes: their build
// context's hash (the tag's too).
const (
	LabelRun   = "org.ballastdb.chaos.run"
	LabelOwner = "org.ballastdb.chaos.owner"
	LabelImage = "org.ballastdb.chaos.image"
)

// minAPIVersion is the oldest engine API the runner accepts: the classic builder's version
// parameter and the API's label filters are older, and Debian's engine here speaks 1.41.
const minAPIVersion = "1.25"

var (
	engineMu     sync.Mutex
	engineClient *dc.Client
)

// engine is the process's client of the Docker engine: dockertest's pool finds the endpoint
// (DOCKER_HOST, else the local socket; TLS when DOCKER_CERT_PATH is set), then the client is
// made again pinned to the API version the engine says it speaks (GET /version), so every
// request carries a version the engine serves, whichever is newer, the client or the engine.
// A failed attempt is not kept: the next call tries again.
func engine(ctx context.Context) (*dc.Client, error) {
	engineMu.Lock()
	defer engineMu.Unlock()
	if engineClient != nil {
		return engineClient, nil
	}
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("no Docker engine: %w", err)
	}
	endpoint := pool.Client.Endpoint()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pool.Client.PingWithContext(pctx); err != nil {
		return nil, fmt.Errorf("no Docker engine answers at %s: %w", endpoint, err)
	}
	ver, err := pool.Client.Version()
	if err != nil {
		return nil, fmt.Errorf("the Docker engine at %s does not say its version: %w", endpoint, err)
	}
	api := ver.Get("ApiVersion")
	have, err := dc.NewAPIVersion(api)
	if err != nil {
		return nil, fmt.Errorf("the Docker engine at %s says API version %q: %w", endpoint, api, err)
	}
	if min, _ := dc.NewAPIVersion(minAPIVersion); have.LessThan(min) {
		return nil, fmt.Errorf("the Docker engine at %s speaks API %s; the chaos runner needs %s or later", endpoint, api, minAPIVersion)
	}
	var client *dc.Client
	if certs := os.Getenv("DOCKER_CERT_PATH"); certs != "" && !strings.HasPrefix(endpoint, "unix://") && !strings.HasPrefix(endpoint, "http://") {
		client, err = dc.NewVersionedTLSClient(endpoint, filepath.Join(certs, "cert.pem"), filepath.Join(certs, "key.pem"), filepath.Join(certs, "ca.pem"), api)
	} else {
		client, err = dc.NewVersionedClient(endpoint, api)
	}
	if err != nil {
		return nil, fmt.Errorf("client of the Docker engine at %s, API %s: %w", endpoint, api, err)
	}
	engineClient = client
	return client, nil
}

// CheckDocker reports why Docker cannot be used here, or nil: an engine that answers, at an
// API version the runner can use.
func CheckDocker(ctx context.Context) error {
	_, err := engine(ctx)
	return err
}

// CheckImage reports whether image (an id or a tag) exists in the local engine. A run never
// pulls: the image is the project's own (make image, or BuildImage), and this machine has no
// registry; containers are made with the API's create, which never pulls either.
func CheckImage(ctx context.Context, image string) error {
	if image == "" {
		return errors.New("no image given: build it with make image (its id is in .bin/image.id)")
	}
	client, err := engine(ctx)
	if err != nil {
		return err
	}
	if _, err := client.InspectImage(image); err != nil {
		return fmt.Errorf("image %q is not in the local engine (build it with make image; a chaos run never pulls): %w", image, err)
	}
	return nil
}

// BuildConfig is what BuildImage builds from.
type BuildConfig struct {
	// Stage is the staged build context make image writes (.bin/image, .bin/image-ballast-chaos,
	// .bin/image-ballast-canary): usr/local/bin holds ballast and the other programs.
	Stage string
	// Dockerfile is the project's Dockerfile (sent as the context's Dockerfile).
	Dockerfile string
	// Repository names the image (default: StageRepository(Stage)); the tag is the hash.
	Repository string
	// Logf receives progress lines (nil: none).
	Logf func(format string, args ...any)
}

// BuildImage builds the image of a staged build context once per binary: the tag is the
// sha256 of the context (every staged file's path, mode, link target and bytes, and the
// Dockerfile: a new ballast binary is a new tag), and an image that already has the tag is
// used as it is, not built again. The build goes through the engine's API with the classic
// builder (the engine here has no BuildKit; FROM scratch needs no registry), without pull;
// images of the same repository built more than 2 hours before are removed unless a container
// uses them (a younger one may be about to run in another process). It returns
// the tag (repository:hash) to run, and whether it built it. The context is read into
// memory first and the hash taken of what was read, so a make image that restages meanwhile
// cannot make the tag name other bytes than the image holds.
func BuildImage(ctx context.Context, cfg BuildConfig) (tag string, built bool, err error) {
	if cfg.Repository == "" {
		cfg.Repository = StageRepository(cfg.Stage)
	}
	if _, err := os.Stat(filepath.Join(cfg.Stage, "usr", "local", "bin", "ballast")); err != nil {
		return "", false, fmt.Errorf("build context %s has no usr/local/bin/ballast (make image stages it): %w", cfg.Stage, err)
	}
	client, err := engine(ctx)
	if err != nil {
		return "", false, err
	}
	archive, sum, err := contextTar(cfg.Stage, cfg.Dockerfile)
	if err != nil {
		return "", false, err
	}
	tag = cfg.Repository + ":" + sum[:20]
	if _, err := client.InspectImage(tag); err == nil {
		return tag, false, nil
	} else if !errors.Is(err, dc.ErrNoSuchImage) {
		return "", false, fmt.Errorf("inspecting image %s: %w", tag, err)
	}
	if cfg.Logf != nil {
		cfg.Logf("building image %s from %s (%.1f MB of context)", tag, cfg.Stage, float64(len(archive))/1e6)
	}
	var out bytes.Buffer
	err = client.BuildImage(dc.BuildImageOptions{
		Context:             ctx,
		Name:                tag,
		Dockerfile:          "Dockerfile",
		InputStream:         bytes.NewReader(archive),
		OutputStream:        &out,
		Pull:                false,
		RmTmpContainer:      true,
		ForceRmTmpContainer: true,
		SuppressOutput:      true,
		Version:             "1", // the classic builder: this engine has no BuildKit
		Labels:              map[string]string{LabelImage: sum},
		BuildArgs:           []dc.BuildArg{{Name: "VERSION", Value: "chaos-" + sum[:12]}},
	})
	if err != nil {
		return "", false, fmt.Errorf("building image %s from %s: %w: %s", tag, cfg.Stage, err, strings.TrimSpace(out.String()))
	}
	img, err := client.InspectImage(tag)
	if err != nil {
		return "", false, fmt.Errorf("image %s after its build: %w", tag, err)
	}
	old, err := client.ListImages(dc.ListImagesOptions{Filters: map[string][]string{"label": {LabelImage}, "reference": {cfg.Repository}}, Context: ctx})
	if err == nil {
		for _, o := range old {
			if o.ID != img.ID && time.Since(time.Unix(o.Created, 0)) > 2*time.Hour {
				// An image a container still uses is refused (no Force): another run has it.
				_ = client.RemoveImageExtended(o.ID, dc.RemoveImageOptions{Context: ctx})
			}
		}
	}
	return tag, true, nil
}

// StageRepository is the repository BuildImage names a stage's images with: make image's
// .bin/image gives ballast-build, .bin/image-ballast-chaos ballast-chaos-build (never the
// repositories make image tags, so the two never retag each other's images).
func StageRepository(stage string) string {
	base := filepath.Base(filepath.Clean(stage))
	if name, ok := strings.CutPrefix(base, "image-"); ok && name != "" {
		return name + "-build"
	}
	return "ballast-build"
}

// contextTar is the build context as a tar (the Dockerfile first, then the stage's files in
// path order, every header's time zero) and the sha256 of its bytes.
func contextTar(stage, dockerfile string) ([]byte, string, error) {
	df, err := os.ReadFile(dockerfile)
	if err != nil {
		return nil, "", fmt.Errorf("the Dockerfile: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write(df); err != nil {
		return nil, "", err
	}
	var paths []string
	err = filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != stage {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("reading build context %s: %w", stage, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(stage, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, "", fmt.Errorf("reading build context %s: %w", stage, err)
		}
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(fi.Mode().Perm())}
		var data []byte
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil, "", err
			}
			h.Typeflag, h.Linkname = tar.TypeSymlink, target
		case fi.Mode().IsRegular():
			if data, err = os.ReadFile(p); err != nil {
				return nil, "", fmt.Errorf("reading build context %s: %w", stage, err)
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
		default:
			return nil, "", fmt.Errorf("build context %s: %s is neither a file, a directory nor a link", stage, rel)
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return buf.Bytes(), hex.EncodeToString(sum[:]), nil
}

// fileTar is a tar holding one file, name, with data (for UploadToContainer).
func fileTar(name string, data []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
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

// labelled are the containers, networks and volumes carrying label (key or key=value), each
// with its LabelOwner.
type labelled struct {
	containers, networks, volumes []ownedResource
}

type ownedResource struct{ id, owner string }

func listLabelled(ctx context.Context, client *dc.Client, label string) (labelled, error) {
	var out labelled
	var errs []error
	cs, err := client.ListContainers(dc.ListContainersOptions{All: true, Filters: map[string][]string{"label": {label}}, Context: ctx})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing containers labelled %s: %w", label, err))
	}
	for _, c := range cs {
		out.containers = append(out.containers, ownedResource{c.ID, c.Labels[LabelOwner]})
	}
	ns, err := client.FilteredListNetworks(dc.NetworkFilterOpts{"label": {label: true}})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing networks labelled %s: %w", label, err))
	}
	for _, n := range ns {
		out.networks = append(out.networks, ownedResource{n.ID, n.Labels[LabelOwner]})
	}
	vs, err := client.ListVolumes(dc.ListVolumesOptions{Filters: map[string][]string{"label": {label}}, Context: ctx})
	if err != nil {
		errs = append(errs, fmt.Errorf("listing volumes labelled %s: %w", label, err))
	}
	for _, v := range vs {
		out.volumes = append(out.volumes, ownedResource{v.Name, v.Labels[LabelOwner]})
	}
	return out, errors.Join(errs...)
}

// removeLabelled removes the containers (forced, with their anonymous volumes), then the
// volumes (named volumes outlive their containers: RemoveVolumes and dockertest's Purge
// remove only anonymous ones) and the networks carrying label whose owner keep does not
// keep. It returns how many it removed.
func removeLabelled(ctx context.Context, label string, keep func(owner string) bool) (int, error) {
	client, err := engine(ctx)
	if err != nil {
		return 0, err
	}
	found, err := listLabelled(ctx, client, label)
	errs := []error{err}
	removed := 0
	for _, c := range found.containers {
		if keep(c.owner) {
			continue
		}
		// A forced remove kills a paused container too (the engine unpauses it first).
		err := client.RemoveContainer(dc.RemoveContainerOptions{ID: c.id, Force: true, RemoveVolumes: true, Context: ctx})
		var gone *dc.NoSuchContainer
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, fmt.Errorf("removing container %s: %w", c.id, err))
			continue
		}
		removed++
	}
	for _, v := range found.volumes {
		if keep(v.owner) {
			continue
		}
		err := client.RemoveVolumeWithOptions(dc.RemoveVolumeOptions{Name: v.id, Force: true, Context: ctx})
		if err != nil && !errors.Is(err, dc.ErrNoSuchVolume) {
			errs = append(errs, fmt.Errorf("removing volume %s: %w", v.id, err))
			continue
		}
		removed++
	}
	for _, n := range found.networks {
		if keep(n.owner) {
			continue
		}
		err := client.RemoveNetwork(n.id)
		var gone *dc.NoSuchNetwork
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, fmt.Errorf("removing network %s: %w", n.id, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// SweepStale removes the containers, then the volumes and networks (which containers hold),
// labelled by runs whose owner process is gone. It returns how many it removed.
func SweepStale(ctx context.Context) (int, error) {
	return removeLabelled(ctx, LabelOwner, ownerAlive)
}
