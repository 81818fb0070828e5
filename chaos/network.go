package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Network faults: iptables rules in the members' network namespaces, entered from the host
// with nsenter (the containers have no shell and no tools; the host's iptables works in any
// namespace). Each fault adds its rules when it starts and deletes exactly those rules when
// it is undone. A member that restarts while a fault is on gets a fresh namespace without
// the rules, so the cut ends early for it; the runner notes that in the fault's record
// rather than re-adding them.
//
// What the kernel here offers decided the translations. Symmetric cuts and random loss are
// iptables DROP rules (with -m statistic for loss). A one-way cut (Targets[0] cannot send to
// Targets[1:]) uses how rpc/peer carries messages: data flows one way on a stream, from the
// member that dialed to the one that accepted, so dropping every packet of the connections
// A opens to B's peer port (both directions of those connections, which is what a real
// one-way cut does to TCP: the sender's side of the handshake never completes) stops A's
// messages to B while B's own connections to A carry B's messages on. Latency, duplication
// and reordering would need the netem qdisc, which this kernel lacks (`tc qdisc add dev
// eth0 root netem delay 50ms` answers "Specified qdisc kind is unknown"); over TCP
// duplication and reordering do not reach the application at all. The Docker runner
// refuses latency, and skips duplicate and reorder faults with a note in the report.

// peerPort is the members' --listen-peer-urls port in the containers.
const peerPort = "2380"

// CheckNetworkFaults says whether this process can inject network faults: it needs root
// (nsenter into another process's network namespace) and the host's nsenter and iptables.
func CheckNetworkFaults() error {
	if os.Geteuid() != 0 {
		return errors.New("network faults need root: they enter the containers' network namespaces with nsenter and add iptables rules there (run as root, or pick a scenario without network faults)")
	}
	for _, tool := range []string{"nsenter", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("network faults need %s on the host (Debian: apt-get install %s): %w", tool, map[string]string{"nsenter": "util-linux", "iptables": "iptables"}[tool], err)
		}
	}
	return nil
}

// netRule is one iptables rule added to a member's namespace: the chain and the match, as
// iptables -A takes them, and the pid whose namespace holds it.
type netRule struct {
	m    *Member
	pid  int
	rule []string
}

// memberPID is the pid of the member's container's first process, or an error when it is
// not running. The container is inspected on every call: a restart gives it a new process
// (and nsenter needs the current one).
func (c *Cluster) memberPID(ctx context.Context, m *Member) (int, error) {
	ct, err := c.client.InspectContainerWithContext(m.Container, ctx)
	if err != nil {
		return 0, fmt.Errorf("inspecting %s: %w", m.Container, err)
	}
	if !ct.State.Running || ct.State.Pid == 0 {
		return 0, fmt.Errorf("%s is not running (pid %d)", m.Name, ct.State.Pid)
	}
	return ct.State.Pid, nil
}

// memberIP is the member's address on the run's network; a member that is down keeps the
// address it had when last seen.
func (c *Cluster) memberIP(ctx context.Context, m *Member) (string, error) {
	ct, err := c.client.InspectContainerWithContext(m.Container, ctx)
	if err == nil {
		if ep, ok := ct.NetworkSettings.Networks[c.Network]; ok && ep.IPAddress != "" {
			m.ip = ep.IPAddress
		}
	}
	if m.ip == "" {
		return "", fmt.Errorf("%s has no address on %s (%v)", m.Name, c.Network, err)
	}
	return m.ip, nil
}

func iptables(ctx context.Context, pid int, op string, rule []string) error {
	args := append([]string{"-t", strconv.Itoa(pid), "-n", "iptables", "-w", "5", op}, rule...)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("nsenter %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// addRules adds each rule to its member's namespace; members that are down are skipped (they
// come back without the rules: see the file comment), and so counted in the returned note.
func (c *Cluster) addRules(ctx context.Context, want map[*Member][][]string) ([]netRule, string, error) {
	var added []netRule
	var down []string
	for _, m := range c.Members { // member order, not map order: the same seed adds the same rules in the same order
		rules, ok := want[m]
		if !ok {
			continue
		}
		pid, err := c.memberPID(ctx, m)
		if err != nil {
			down = append(down, m.Name)
			continue
		}
		for _, r := range rules {
			if err := iptables(ctx, pid, "-A", r); err != nil {
				return added, "", err
			}
			added = append(added, netRule{m: m, pid: pid, rule: r})
		}
	}
	note := ""
	if len(down) > 0 {
		note = "not applied on " + strings.Join(down, ",") + " (down)"
	}
	return added, note, nil
}

// removeRules deletes rules added by addRules; a rule whose member restarted since (another
// pid, a fresh namespace) is already gone.
func (c *Cluster) removeRules(ctx context.Context, rules []netRule) error {
	for _, r := range rules {
		pid, err := c.memberPID(ctx, r.m)
		if err != nil || pid != r.pid {
			continue
		}
		if err := iptables(ctx, pid, "-D", r.rule); err != nil {
			return err
		}
	}
	return nil
}

// cutRules drops all traffic between the members of a and those of b, in both directions,
// with rules on both sides (so a member of either side that restarts leaves the cut standing
// from the other side).
func (c *Cluster) cutRules(ctx context.Context, a, b []*Member) (map[*Member][][]string, error) {
	want := map[*Member][][]string{}
	for _, x := range a {
		for _, y := range b {
			xip, err := c.memberIP(ctx, x)
			if err != nil {
				return nil, err
			}
			yip, err := c.memberIP(ctx, y)
			if err != nil {
				return nil, err
			}
			want[x] = append(want[x], []string{"INPUT", "-s", yip, "-j", "DROP"}, []string{"OUTPUT", "-d", yip, "-j", "DROP"})
			want[y] = append(want[y], []string{"INPUT", "-s", xip, "-j", "DROP"}, []string{"OUTPUT", "-d", xip, "-j", "DROP"})
		}
	}
	return want, nil
}

// oneWayRules stops from's messages to each of to: every packet of the connections from
// opens to their peer port is dropped in from's namespace (see the file comment).
func (c *Cluster) oneWayRules(ctx context.Context, from *Member, to []*Member) (map[*Member][][]string, error) {
	want := map[*Member][][]string{}
	for _, y := range to {
		yip, err := c.memberIP(ctx, y)
		if err != nil {
			return nil, err
		}
		want[from] = append(want[from],
			[]string{"OUTPUT", "-d", yip, "-p", "tcp", "--dport", peerPort, "-j", "DROP"},
			[]string{"INPUT", "-s", yip, "-p", "tcp", "--sport", peerPort, "-j", "DROP"})
	}
	return want, nil
}

// lossRules drops each packet between members with probability rate, on the receiving side
// of every link.
func (c *Cluster) lossRules(ctx context.Context, rate float64) (map[*Member][][]string, error) {
	want := map[*Member][][]string{}
	p := strconv.FormatFloat(rate, 'f', -1, 64)
	for _, x := range c.Members {
		for _, y := range c.Members {
			if x == y {
				continue
			}
			yip, err := c.memberIP(ctx, y)
			if err != nil {
				return nil, err
			}
			want[x] = append(want[x], []string{"INPUT", "-s", yip, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"})
		}
	}
	return want, nil
}
