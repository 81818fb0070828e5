package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// kubernetesCommandLine is an entry of deploy/kubernetes/testdata/command-lines.json: a
// container's command line as the kubelet would start it, expanded from the manifests by
// the nested module deploy/kubernetes (whose test keeps the file current).
type kubernetesCommandLine struct {
	Manifest string            `json:"manifest"`
	Pod      string            `json:"pod"`
	Argv     []string          `json:"argv"`
	Env      map[string]string `json:"env"`
}

// TestKubernetesCommandLines parses every Ballast member's command line of the Kubernetes
// manifests with the server's own parser, as it would at start-up: a flag the binary
// refuses, or a configuration etcd's checks refuse, fails here.
func TestKubernetesCommandLines(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/testdata/command-lines.json")
	require.NoError(t, err)
	var lines []kubernetesCommandLine
	require.NoError(t, json.Unmarshal(data, &lines))
	members := 0
	for _, l := range lines {
		if name := path.Base(l.Argv[0]); name != "etcd" && name != "ballast" {
			continue
		}
		members++
		var environ []string
		for k, v := range l.Env {
			environ = append(environ, k+"="+v)
		}
		var stdout, stderr bytes.Buffer
		opts, err := parseCommandLine(role(l.Argv[0]), l.Argv[1:], environ, &stdout, &stderr)
		require.NoError(t, err, "%s, pod %s: %v\n%s", l.Manifest, l.Pod, l.Argv, stderr.String())
		require.Equal(t, l.Pod, opts.cfg.Name, "%s: the member is named after its pod", l.Manifest)
		require.Equal(t, "etcd", role(l.Argv[0]), "the manifests start the image's etcd")
	}
	require.GreaterOrEqual(t, members, 3, "the manifests' members")
}

// kubeadmPod is what TestKubeadmStaticPod reads of kubeadm's manifest.
type kubeadmPod struct {
	Spec struct {
		Containers []struct {
			Command []string `json:"command"`
			Ports   []struct {
				ContainerPort int    `json:"containerPort"`
				Name          string `json:"name"`
			} `json:"ports"`
			LivenessProbe, ReadinessProbe, StartupProbe struct {
				HTTPGet struct {
					Host, Path, Port, Scheme string
				} `json:"httpGet"`
			}
		} `json:"containers"`
	} `json:"spec"`
}

// TestKubeadmStaticPod starts a member with the command line of kubeadm's etcd static pod
// (deploy/kubernetes/testdata/kubeadm-etcd.yaml, kept as kubeadm writes it: mutual TLS on
// the client and peer URLs, --feature-gates=InitialCorruptCheck=true, the metrics URL its
// probes use) with certificates made in the test, its paths moved into a temporary
// directory and its addresses to free loopback ports, the binary started as "etcd" as the
// kubelet starts it. Its liveness, readiness and startup probes (the manifest's paths on the
// metrics URL) answer 200, and etcdctl with the API server's client certificate writes and
// reads over the client URL.
func TestKubeadmStaticPod(t *testing.T) {
	data, err := os.ReadFile("../../deploy/kubernetes/testdata/kubeadm-etcd.yaml")
	require.NoError(t, err)
	var pod kubeadmPod
	require.NoError(t, yaml.Unmarshal(data, &pod))
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	require.Equal(t, "etcd", c.Command[0])

	dir := t.TempDir()
	pki := filepath.Join(dir, "pki", "etcd")
	require.NoError(t, os.MkdirAll(pki, 0o700))
	ca := embedtest.NewCA(t, "etcd-ca")
	require.NoError(t, os.WriteFile(filepath.Join(pki, "ca.crt"), ca.PEM, 0o600))
	issue := func(name, as string, serial int64) (cert, key string) {
		crt, k := ca.Issue(t, dir, name, serial)
		cert, key = filepath.Join(pki, as+".crt"), filepath.Join(pki, as+".key")
		require.NoError(t, os.Rename(crt, cert))
		require.NoError(t, os.Rename(k, key))
		return cert, key
	}
	issue("control-plane-1", "server", 2)
	issue("control-plane-1-peer", "peer", 3)
	apiCert, apiKey := issue("kube-apiserver-etcd-client", "apiserver-etcd-client", 4)

	ports := embedtest.FreePorts(t, 4)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	probePort := 0
	for _, p := range c.Ports {
		if p.Name == c.LivenessProbe.HTTPGet.Port {
			probePort = p.ContainerPort
		}
	}
	require.Equal(t, 2381, probePort, "the probes' named port")
	rewrite := strings.NewReplacer(
		"/etc/kubernetes/pki/etcd", pki, "/var/lib/etcd", filepath.Join(dir, "data"),
		"127.0.0.1:2379", addr(0), "10.0.0.10:2379", addr(1), "10.0.0.10:2380", addr(2), "127.0.0.1:2381", addr(3))
	var args []string
	for _, a := range c.Command[1:] {
		args = append(args, rewrite.Replace(a))
	}
	require.Contains(t, args, "--feature-gates=InitialCorruptCheck=true")

	cmd := exec.Command(processBinary(t), args...)
	cmd.Args[0] = "etcd"
	cmd.Env = processEnv()
	logs := &embedtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	hc := &http.Client{Timeout: 5 * time.Second}
	for _, probe := range []string{"liveness", "readiness", "startup"} {
		g := map[string]struct{ Host, Path, Port, Scheme string }{"liveness": c.LivenessProbe.HTTPGet,
			"readiness": c.ReadinessProbe.HTTPGet, "startup": c.StartupProbe.HTTPGet}[probe]
		require.Equal(t, "HTTP", g.Scheme)
		url := fmt.Sprintf("http://%s%s", rewrite.Replace(fmt.Sprintf("%s:%d", g.Host, probePort)), g.Path)
		require.Eventually(t, func() bool {
			r, err := hc.Get(url)
			if err != nil {
				return false
			}
			r.Body.Close()
			return r.StatusCode == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond, "%s probe %s; log:\n%s", probe, url, logs)
	}
	require.Contains(t, logs.String(), `"msg":"initial corruption checking passed; no corruption"`)

	etcdctl := embedtest.EtcdTool(t, "etcdctl", "BALLAST_ETCDCTL")
	ctl := func(args ...string) string {
		out, err := exec.Command(etcdctl, append([]string{"--endpoints", "https://" + addr(0), "--cacert", filepath.Join(pki, "ca.crt"),
			"--cert", apiCert, "--key", apiKey, "--command-timeout", "5s"}, args...)...).CombinedOutput()
		require.NoError(t, err, "etcdctl %v: %s\nlog:\n%s", args, out, logs)
		return string(out)
	}
	require.Equal(t, "OK\n", ctl("put", "/registry/namespaces/default", "v"))
	require.Equal(t, "/registry/namespaces/default\nv\n", ctl("get", "/registry/namespaces/default"))
}
