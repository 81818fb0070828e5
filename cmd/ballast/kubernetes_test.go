package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"testing"

	"github.com/stretchr/testify/require"
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
