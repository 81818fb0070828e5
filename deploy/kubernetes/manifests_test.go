package kubernetes

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/command-lines.json from the manifests")

const commandLinesFile = "testdata/command-lines.json"

// commandLine is one container's command line as the kubelet would start it: what
// testdata/command-lines.json holds for the root module's tests.
type commandLine struct {
	Manifest  string            `json:"manifest"`
	Object    string            `json:"object"` // Kind/name
	Pod       string            `json:"pod"`
	Namespace string            `json:"namespace"`
	Index     int               `json:"index"`                 // the pod's ordinal or completion index
	Count     int               `json:"count"`                 // replicas or completions
	Argv      []string          `json:"argv"`                  // command then args, expanded
	Env       map[string]string `json:"env,omitempty"`         // the container's environment, expanded
	Results   string            `json:"results,omitempty"`     // for ballast-sim run: its -results file
	Files     []string          `json:"merge_files,omitempty"` // for ballast-sim merge: its files
}

// objects are one manifest file's documents, decoded strictly (an unknown field fails).
type objects struct {
	services     []corev1.Service
	statefulSets []appsv1.StatefulSet
	pdbs         []policyv1.PodDisruptionBudget
	jobs         []batchv1.Job
	pvcs         []corev1.PersistentVolumeClaim
}

func decodeFile(t *testing.T, name string) objects {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	var objs objects
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal([]byte(doc), &tm), "%s document %d", name, i)
		into := func(gv string, dst any) {
			require.Equal(t, gv, tm.APIVersion, "%s document %d (%s)", name, i, tm.Kind)
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), dst), "%s document %d (%s)", name, i, tm.Kind)
		}
		switch tm.Kind {
		case "Service":
			var o corev1.Service
			into("v1", &o)
			objs.services = append(objs.services, o)
		case "StatefulSet":
			var o appsv1.StatefulSet
			into("apps/v1", &o)
			objs.statefulSets = append(objs.statefulSets, o)
		case "PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			into("policy/v1", &o)
			objs.pdbs = append(objs.pdbs, o)
		case "Job":
			var o batchv1.Job
			into("batch/v1", &o)
			objs.jobs = append(objs.jobs, o)
		case "PersistentVolumeClaim":
			var o corev1.PersistentVolumeClaim
			into("v1", &o)
			objs.pvcs = append(objs.pvcs, o)
		default:
			t.Fatalf("%s document %d: kind %q is not one this test knows", name, i, tm.Kind)
		}
	}
	return objs
}

// expand is the kubelet's expansion of $(VAR) in a command, an argument or an env value:
// $(NAME) becomes NAME's value when it is defined and stays as written when not; $$ is a
// literal $ (so $$(NAME) is the text $(NAME)); any other $ is itself.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:]) // unterminated: the rest as written
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "B": "$(A)"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"":                 "",
		"$(A)":             "x",
		"--name=$(A)-$(A)": "--name=x-x",
		"$(B)":             "$(A)", // no second round
		"$(C)":             "$(C)", // undefined: as written
		"$$(A)":            "$(A)",
		"$$$(A)":           "$x",
		"a$b":              "a$b",
		"$":                "$",
		"$(A":              "$(A",
		"100$$":            "100$",
	} {
		require.Equal(t, want, expand(in, lookup), in)
	}
}

// podFields are the downward API values of one pod.
type podFields struct {
	name, namespace string
	annotations     map[string]string
}

// containerEnv resolves a container's env in order, as the kubelet does: each value may refer
// to the variables defined before it; valueFrom fieldRef reads the pod's own fields.
func containerEnv(t *testing.T, c corev1.Container, pod podFields, preset map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range preset {
		env[k] = v
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, lookup)
		case e.ValueFrom.FieldRef != nil:
			switch p := e.ValueFrom.FieldRef.FieldPath; {
			case p == "metadata.name":
				env[e.Name] = pod.name
			case p == "metadata.namespace":
				env[e.Name] = pod.namespace
			case strings.HasPrefix(p, "metadata.annotations['"):
				env[e.Name] = pod.annotations[strings.TrimSuffix(strings.TrimPrefix(p, "metadata.annotations['"), "']")]
			default:
				t.Fatalf("container %s: env %s: fieldRef %q is not one this test resolves", c.Name, e.Name, p)
			}
		default:
			t.Fatalf("container %s: env %s: only values and fieldRefs are resolved here", c.Name, e.Name)
		}
	}
	return env
}

// argv is the container's command and args expanded; none may keep an unresolved $(VAR).
func argv(t *testing.T, c corev1.Container, env map[string]string) []string {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var out []string
	for _, s := range append(slices.Clone(c.Command), c.Args...) {
		x := expand(s, lookup)
		require.NotRegexp(t, `\$\([A-Za-z_][A-Za-z0-9_]*\)`, x, "container %s: %q refers to a variable the pod does not define", c.Name, s)
		out = append(out, x)
	}
	require.NotEmpty(t, out, "container %s has no command: the image has no ENTRYPOINT and its CMD takes no flags", c.Name)
	return out
}

// flagValues reads --name=value (or -name=value) arguments; a flag given twice fails.
func flagValues(t *testing.T, args []string) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		require.True(t, ok, "argument %q: the manifests write flags as --name=value", a)
		_, dup := vals[k]
		require.False(t, dup, "flag %s given twice", k)
		vals[k] = v
	}
	return vals
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	require.NoError(t, err)
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

func port(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Port()
}

// memberLines checks ballast.yaml and returns every member's command line, for two
// namespaces (the URLs must follow the namespace).
func memberLines(t *testing.T) []commandLine {
	objs := decodeFile(t, "ballast.yaml")
	require.Len(t, objs.statefulSets, 1)
	require.Len(t, objs.services, 1)
	require.Len(t, objs.pdbs, 1)
	sts, svc, pdb := objs.statefulSets[0], objs.services[0], objs.pdbs[0]

	// The two settings without which the members never find each other to bootstrap.
	require.Equal(t, appsv1.ParallelPodManagement, sts.Spec.PodManagementPolicy)
	require.Equal(t, sts.Spec.ServiceName, svc.Name, "the StatefulSet's serviceName is the headless Service")
	require.Equal(t, corev1.ClusterIPNone, svc.Spec.ClusterIP, "the Service is headless")
	require.True(t, svc.Spec.PublishNotReadyAddresses)
	podLabels := sts.Spec.Template.Labels
	require.True(t, selects(t, sts.Spec.Selector, podLabels), "the StatefulSet selects its pods")
	require.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)), "the Service selects the pods")
	require.True(t, selects(t, pdb.Spec.Selector, podLabels), "the budget selects the pods")

	require.NotNil(t, sts.Spec.Replicas)
	replicas := int(*sts.Spec.Replicas)
	require.Equal(t, 3, replicas)
	require.NotNil(t, pdb.Spec.MinAvailable)
	require.Equal(t, replicas/2+1, pdb.Spec.MinAvailable.IntValue(), "the budget keeps a quorum")

	require.Len(t, sts.Spec.Template.Spec.Containers, 1)
	c := sts.Spec.Template.Spec.Containers[0]
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	claim := sts.Spec.VolumeClaimTemplates[0].Name
	var dataMount string
	for _, m := range c.VolumeMounts {
		if m.Name == claim {
			dataMount = m.MountPath
		}
	}
	require.NotEmpty(t, dataMount, "the container mounts the claim template %s", claim)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probe := c.ReadinessProbe
	require.NotNil(t, probe)
	require.NotNil(t, probe.HTTPGet, "readiness is an HTTP GET (no shell in the image for exec probes)")
	require.Equal(t, "/health", probe.HTTPGet.Path)
	probePort := probe.HTTPGet.Port.String()
	if p, ok := ports[probePort]; ok {
		probePort = strconv.Itoa(int(p))
	}

	var lines []commandLine
	for _, ns := range []string{"default", "prod"} {
		initialCluster := map[string]string{}
		for i := range replicas {
			pod := podFields{name: fmt.Sprintf("%s-%d", sts.Name, i), namespace: ns}
			env := containerEnv(t, c, pod, nil)
			av := argv(t, c, env)
			require.Equal(t, "etcd", path.Base(av[0]), "the member starts as etcd (the image's link to ballast)")
			f := flagValues(t, av[1:])
			require.Equal(t, pod.name, f["name"], "the member's name is its pod's")
			require.True(t, strings.HasPrefix(f["data-dir"], dataMount+"/") || f["data-dir"] == dataMount, "--data-dir %s is on the claim mounted at %s", f["data-dir"], dataMount)
			stable := fmt.Sprintf("%s.%s.%s.svc", pod.name, svc.Name, ns)
			require.Equal(t, "http://"+stable+":2380", f["initial-advertise-peer-urls"], "the peer URL is the pod's stable DNS name")
			require.Equal(t, "http://"+stable+":2379", f["advertise-client-urls"])
			require.Equal(t, probePort, port(t, f["listen-client-urls"]), "readiness probes the client port")
			require.Equal(t, strconv.Itoa(int(ports["peer"])), port(t, f["listen-peer-urls"]))
			for _, m := range strings.Split(f["initial-cluster"], ",") {
				k, v, _ := strings.Cut(m, "=")
				if prev, ok := initialCluster[k]; ok {
					require.Equal(t, prev, v, "every member's --initial-cluster is the same")
				}
				initialCluster[k] = v
			}
			require.Equal(t, f["initial-advertise-peer-urls"], initialCluster[pod.name], "--initial-cluster names the member at its peer URL")
			lines = append(lines, commandLine{Manifest: "ballast.yaml", Object: "StatefulSet/" + sts.Name, Pod: pod.name, Namespace: ns,
				Index: i, Count: replicas, Argv: av, Env: env})
		}
		require.Len(t, initialCluster, replicas, "--initial-cluster names exactly the StatefulSet's pods")
	}
	return lines
}

// simLines checks sim-swarm.yaml and sim-merge.yaml and returns every shard's command line
// and the merge's.
func simLines(t *testing.T) []commandLine {
	swarm := decodeFile(t, "sim-swarm.yaml")
	require.Len(t, swarm.jobs, 1)
	require.Len(t, swarm.pvcs, 1)
	job := swarm.jobs[0]
	require.NotNil(t, job.Spec.CompletionMode)
	require.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	require.NotNil(t, job.Spec.Completions)
	completions := int(*job.Spec.Completions)
	require.Greater(t, completions, 1)
	require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	c := job.Spec.Template.Spec.Containers[0]
	claimOf := func(spec corev1.PodSpec, mount string) string {
		for _, m := range spec.Containers[0].VolumeMounts {
			for _, v := range spec.Volumes {
				if v.Name == m.Name && m.MountPath == mount && v.PersistentVolumeClaim != nil {
					return v.PersistentVolumeClaim.ClaimName
				}
			}
		}
		return ""
	}

	var lines []commandLine
	var results []string
	var out string
	for i := range completions {
		pod := podFields{name: fmt.Sprintf("%s-%d-x", job.Name, i), namespace: "default",
			annotations: map[string]string{"batch.kubernetes.io/job-completion-index": strconv.Itoa(i)}}
		// The Job controller sets JOB_COMPLETION_INDEX in every container of an Indexed Job.
		env := containerEnv(t, c, pod, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i)})
		av := argv(t, c, env)
		require.Equal(t, []string{"ballast-sim", "run"}, []string{path.Base(av[0]), av[1]})
		f := flagValues(t, av[2:])
		require.Equal(t, fmt.Sprintf("%d/%d", i, completions), f["shard"], "pod %d runs shard %d of the Job's %d completions", i, i, completions)
		require.NotEmpty(t, f["results"])
		require.NotContains(t, results, f["results"], "each shard writes its own results file")
		results = append(results, f["results"])
		if out == "" {
			out = f["out"]
		}
		require.Equal(t, out, f["out"], "the shards write their run reports into one directory")
		require.True(t, strings.HasPrefix(f["results"], out+"/"))
		lines = append(lines, commandLine{Manifest: "sim-swarm.yaml", Object: "Job/" + job.Name, Pod: pod.name, Namespace: pod.namespace,
			Index: i, Count: completions, Argv: av, Env: env, Results: f["results"]})
	}
	claim := claimOf(job.Spec.Template.Spec, out)
	require.Equal(t, swarm.pvcs[0].Name, claim, "-out %s is on the shared claim", out)
	require.Contains(t, swarm.pvcs[0].Spec.AccessModes, corev1.ReadWriteMany, "the shards' pods share the claim")

	merge := decodeFile(t, "sim-merge.yaml")
	require.Len(t, merge.jobs, 1)
	mc := merge.jobs[0].Spec.Template.Spec.Containers
	require.Len(t, mc, 1)
	av := argv(t, mc[0], containerEnv(t, mc[0], podFields{name: merge.jobs[0].Name + "-x", namespace: "default"}, nil))
	require.Equal(t, []string{"ballast-sim", "merge"}, []string{path.Base(av[0]), av[1]})
	var files []string
	for _, a := range av[2:] {
		if !strings.HasPrefix(a, "-") {
			files = append(files, a)
		}
	}
	require.Equal(t, results, files, "the merge reads every shard's results file, in index order")
	require.Contains(t, av, "-out="+out)
	require.Equal(t, claim, claimOf(merge.jobs[0].Spec.Template.Spec, out), "the merge reads the shards' claim")
	lines = append(lines, commandLine{Manifest: "sim-merge.yaml", Object: "Job/" + merge.jobs[0].Name, Pod: merge.jobs[0].Name + "-x",
		Namespace: "default", Count: 1, Argv: av, Files: files})
	return lines
}

// TestManifests checks the manifests and that testdata/command-lines.json is what they expand to.
func TestManifests(t *testing.T) {
	lines := append(memberLines(t), simLines(t)...)
	data, err := json.MarshalIndent(lines, "", "  ")
	require.NoError(t, err)
	data = append(data, '\n')
	if *update {
		require.NoError(t, os.WriteFile(commandLinesFile, data, 0o644))
		return
	}
	have, err := os.ReadFile(commandLinesFile)
	require.NoError(t, err, "run go test -update in deploy/kubernetes to write it")
	require.True(t, bytes.Equal(data, have), "%s is not what the manifests expand to: run go test -update in deploy/kubernetes and review the diff", commandLinesFile)
}
