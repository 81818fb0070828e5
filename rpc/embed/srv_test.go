package embed

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/ballastdb/ballast/rpc/embed/embedtest"
)

// loopbackDNS serves the SRV records srv (by question name, "_etcd-server._tcp.example.test.")
// and the records' target localhost. (A 127.0.0.1) on a UDP port of 127.0.0.1 and returns a
// resolver that asks it. Other questions get NXDOMAIN.
func loopbackDNS(t *testing.T, srv map[string][]net.SRV) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			records, ok := srv[q.Name.String()]
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeSuccess}
			host := q.Name.String() == "localhost." // the SRV targets: A 127.0.0.1, no AAAA
			if (!ok || q.Type != dnsmessage.TypeSRV) && !host {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if host && q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			}
			if rh.RCode == dnsmessage.RCodeSuccess && !host {
				for _, r := range records {
					_ = b.SRVResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeSRV, Class: dnsmessage.ClassINET, TTL: 60},
						dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: dnsmessage.MustNewName(r.Target)})
				}
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, addr)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestDiscoverySRV: --discovery-srv example.test with --discovery-srv-name: three members
// whose only bootstrap setting is the domain find each other in the SRV records
// _etcd-server-NAME._tcp.example.test (served by a DNS server on loopback the test runs),
// and form one cluster of three with etcd's IDs (those of the peer URLs the records give);
// a member the records do not list is refused with etcd's error.
func TestDiscoverySRV(t *testing.T) {
	ports := embedtest.FreePorts(t, 6)
	var records []net.SRV
	for i := range 3 {
		records = append(records, net.SRV{Target: "localhost.", Port: uint16(ports[2*i+1]), Priority: 0, Weight: 10})
	}
	resolver := loopbackDNS(t, map[string][]net.SRV{"_etcd-server-ballast._tcp.example.test.": records})
	var ms []*testMember
	for i := range 3 {
		name := fmt.Sprintf("s%d", i+1)
		client := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])
		ms = append(ms, &testMember{cfg: Config{Name: name, DataDir: filepath.Join(t.TempDir(), name),
			ListenClientURLs: mustURL(t, client), AdvertiseClientURLs: mustURL(t, client),
			ListenPeerURLs:    mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])),
			AdvertisePeerURLs: mustURL(t, fmt.Sprintf("http://localhost:%d", ports[2*i+1])),
			DiscoverySRV:      "example.test", DiscoverySRVName: "ballast", resolver: resolver,
			InitialClusterToken: "srv-test", HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			Logger: testLogger(t, name)}})
	}
	t.Cleanup(func() {
		for _, m := range ms {
			if m.srv != nil {
				m.srv.Stop()
			}
		}
	})
	for _, m := range ms {
		m.start(t)
	}
	waitReady(t, ms...)
	c := testClient(t, ms[0].cfg.AdvertiseClientURLs[0].String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var names []string
	require.Eventually(t, func() bool {
		list, err := c.MemberList(ctx)
		if err != nil {
			return false
		}
		names = names[:0]
		for _, pm := range list.Members {
			names = append(names, pm.Name)
			want := MemberID(pm.PeerURLs, "srv-test", nil)
			require.Equal(t, want, pm.ID, "etcd's ID for %v", pm.PeerURLs)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"s1", "s2", "s3"})
	}, 30*time.Second, 100*time.Millisecond, "members %v", names)

	// A member whose peer URL no record names is refused, as etcd refuses it.
	other := embedtest.FreePorts(t, 2)
	lone := Config{Name: "s9", DataDir: filepath.Join(t.TempDir(), "s9"),
		ListenClientURLs: mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", other[0])), AdvertiseClientURLs: mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", other[0])),
		ListenPeerURLs: mustURL(t, fmt.Sprintf("http://127.0.0.1:%d", other[1])), AdvertisePeerURLs: mustURL(t, fmt.Sprintf("http://localhost:%d", other[1])),
		DiscoverySRV: "example.test", DiscoverySRVName: "ballast", resolver: resolver, Logger: testLogger(t, "s9")}
	_, err := Start(context.Background(), lone)
	require.EqualError(t, err, `cannot find local etcd member "s9" in SRV records`)
	// No record at all: etcd's error for each service.
	lone.DiscoverySRVName = "none"
	_, err = Start(context.Background(), lone)
	require.ErrorContains(t, err, "error querying DNS SRV records for _etcd-server-ssl-none")
	require.True(t, strings.Contains(err.Error(), "error querying DNS SRV records for _etcd-server-none"), "%v", err)
	// --discovery-srv with --initial-cluster: etcd's conflict.
	lone.InitialCluster = "s9=http://localhost:1"
	require.ErrorIs(t, lone.Validate(), ErrConflictBootstrapFlags)
}
