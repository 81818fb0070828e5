package embed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The expected IDs below were produced by etcd v3.7.3's own functions, in a scratch program
// (not part of this repository) that called membership.NewClusterFromURLsMap(zap.NewNop(),
// token, types.NewURLsMap(cluster)) and printed c.ID() and each member's ID, and
// membership.NewMember("m4", types.MustNewURLs([]string{"http://127.0.0.1:42380"}),
// "etcd-cluster", &time.Unix(1700000000, 0)) for member add. The first case is also the
// well-known pair every `etcd` started with no flags reports (member 8e9e05c52164694d in
// cluster cdf818194e3a8c32).
func TestMemberAndClusterIDsAsEtcd(t *testing.T) {
	for _, tc := range []struct {
		cluster, token string
		members        map[string]uint64
		clusterID      uint64
	}{
		{"default=http://localhost:2380", "etcd-cluster",
			map[string]uint64{"default": 0x8e9e05c52164694d}, 0xcdf818194e3a8c32},
		{"m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380", "etcd-cluster",
			map[string]uint64{"m1": 0xddd67b312462fd7b, "m2": 0x9e737febb6b99eee, "m3": 0x628170c800dbcee}, 0x73841b4a9097c907},
		{"m1=http://127.0.0.1:12380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:32380", "ballast-test",
			map[string]uint64{"m1": 0x78d6e180708cc4ba, "m2": 0xfe6c9866573c8988, "m3": 0xec433b36965a094c}, 0x8cad848ef0110549},
		// A member with two peer URLs given out of order: they are sorted before hashing.
		{"a=http://10.0.0.2:2380,a=http://10.0.0.1:2380,b=http://10.0.0.3:2380", "tok",
			map[string]uint64{"a": 0xd3b8edf9430e965, "b": 0x7aa181191753809e}, 0x7500647585bee8b3},
	} {
		t.Run(tc.cluster+"/"+tc.token, func(t *testing.T) {
			ic, err := ParseInitialCluster(tc.cluster)
			require.NoError(t, err)
			founders, err := Founders(ic, tc.token)
			require.NoError(t, err)
			got := map[string]uint64{}
			var ids []uint64
			for i, f := range founders {
				got[f.Name] = f.ID
				ids = append(ids, f.ID)
				if i > 0 {
					require.Less(t, founders[i-1].ID, f.ID, "founders sorted by ID")
				}
			}
			require.Equal(t, tc.members, got)
			require.Equal(t, tc.clusterID, ClusterID(ids))
		})
	}
	now := time.Unix(1700000000, 0)
	require.Equal(t, uint64(0xed8a7d588f1d6958), MemberID([]string{"http://127.0.0.1:42380"}, "etcd-cluster", &now),
		"member add hashes the time too")
}

func TestParseInitialCluster(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    InitialCluster
		wantErr string
	}{
		{in: "a=http://1.1.1.1:2380", want: InitialCluster{"a": {"http://1.1.1.1:2380"}}},
		{in: "a=http://2.2.2.2:2380,,a=http://1.1.1.1:2380,b=https://h:1", want: InitialCluster{
			"a": {"http://1.1.1.1:2380", "http://2.2.2.2:2380"}, "b": {"https://h:1"}}},
		{in: "", want: InitialCluster{}},
		{in: "a=ftp://h:1", wantErr: "URL scheme must be http, https, unix, or unixs: ftp://h:1"},
		{in: "a", wantErr: "URL scheme must be http, https, unix, or unixs: "},
		{in: "a=http://h", wantErr: `URL address does not have the form "host:port": http://h`},
		{in: "a=http://h:1/p", wantErr: "URL must not contain a path: http://h:1/p"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseInitialCluster(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	ic, err := ParseInitialCluster("b=http://h:2,a=http://h:3,a=http://h:1")
	require.NoError(t, err)
	require.Equal(t, "a=http://h:1,a=http://h:3,b=http://h:2", ic.String())
}

// The messages are etcd's (config.ServerConfig.VerifyBootstrap and its helpers).
func TestVerifyBootstrap(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, cluster string
		advertise     []string
		wantErr       string
	}{
		{"a", "a=http://127.0.0.1:1,b=http://127.0.0.1:2", []string{"http://127.0.0.1:1"}, ""},
		{"a", "a=http://localhost:1", []string{"http://127.0.0.1:1"}, ""}, // resolved as etcd does
		{"c", "a=http://127.0.0.1:1,b=http://127.0.0.1:2", []string{"http://127.0.0.1:3"},
			`couldn't find local name "c" in the initial cluster configuration`},
		{"a", "a=http://127.0.0.1:1,b=http://127.0.0.1:2", []string{"http://127.0.0.1:9"},
			`--initial-cluster has a=http://127.0.0.1:1 but missing from --initial-advertise-peer-urls=http://127.0.0.1:9 (resolved urls: "http://127.0.0.1:9" != "http://127.0.0.1:1")`},
		{"a", "a=http://127.0.0.1:1", []string{"http://127.0.0.1:1", "http://127.0.0.1:5"},
			"--initial-advertise-peer-urls has http://127.0.0.1:5 but missing from --initial-cluster=a=http://127.0.0.1:1,a=http://127.0.0.1:5"},
		{"a", "a=http://127.0.0.1:1,a=http://127.0.0.1:5", []string{"http://127.0.0.1:1", "http://127.0.0.1:5"}, ""},
		{"a", "a=http://127.0.0.1:1,b=http://127.0.0.1:1", []string{"http://127.0.0.1:1"},
			"initial cluster a=http://127.0.0.1:1,b=http://127.0.0.1:1 has duplicate url"},
	} {
		t.Run(tc.name+"/"+tc.cluster, func(t *testing.T) {
			ic, err := ParseInitialCluster(tc.cluster)
			require.NoError(t, err)
			err = verifyBootstrap(ctx, tc.name, tc.advertise, ic)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.wantErr)
		})
	}
}

func TestVerifyJoinExistingAndAssignIDs(t *testing.T) {
	ctx := context.Background()
	ic, err := ParseInitialCluster("a=http://127.0.0.1:1,b=http://127.0.0.1:2,c=http://127.0.0.1:3")
	require.NoError(t, err)
	require.EqualError(t, verifyJoinExisting("d", ic), `couldn't find local name "d" in the initial cluster configuration`)
	require.NoError(t, verifyJoinExisting("c", ic))

	// The cluster's IDs are whatever member add chose; c is matched by its peer URLs.
	existing := []Founder{{ID: 11, PeerURLs: []string{"http://127.0.0.1:1"}}, {ID: 22, PeerURLs: []string{"http://127.0.0.1:2"}},
		{ID: 33, PeerURLs: []string{"http://127.0.0.1:3"}}}
	id, err := assignExistingIDs(ctx, "c", ic, existing)
	require.NoError(t, err)
	require.Equal(t, uint64(33), id)

	_, err = assignExistingIDs(ctx, "c", ic, existing[:2])
	require.EqualError(t, err, "member count is unequal")
	_, err = assignExistingIDs(ctx, "c", ic, append(existing[:2:2], Founder{ID: 44, PeerURLs: []string{"http://127.0.0.1:4"}}))
	require.ErrorContains(t, err, "PeerURLs: no match found for existing member (2c, [http://127.0.0.1:4])")
}
