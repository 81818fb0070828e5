package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The names issue 10 asks for, written out here rather than read from the catalogue.
var requiredNames = []string{
	"steady", "leader-crash", "crash-restart-power-loss", "partition-minority",
	"partition-majority-flapping", "asymmetric-link", "lossy-network", "clock-skew-leases",
	"membership-churn", "disk-faults", "disk-corruption", "snapshot-catch-up", "everything",
}

func TestCatalogueEntriesValidate(t *testing.T) {
	for _, s := range Catalogue() {
		t.Run(s.Name, func(t *testing.T) {
			require.NoError(t, s.Validate())
			require.NotEmpty(t, s.Description)
			require.Contains(t, []int{3, 5}, s.Members, "catalogue clusters have 3 or 5 members")
			require.LessOrEqual(t, s.Duration, 20*time.Second, "keep make sim about a minute")
			require.Positive(t, s.Watchers)
			require.Positive(t, s.Liveness.MinAckShare)
			require.Positive(t, s.Liveness.MaxRecovery)
			if s.Name != "steady" {
				require.True(t, len(s.Faults) > 0 || s.RandomFaults != nil, "a fault scenario without faults")
			}
		})
	}
}

func TestCatalogueNamesUniqueAndComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Catalogue() {
		require.False(t, seen[s.Name], "name %q twice", s.Name)
		seen[s.Name] = true
	}
	for _, name := range requiredNames {
		require.True(t, seen[name], "catalogue lacks %q", name)
		s, ok := ByName(name)
		require.True(t, ok)
		require.Equal(t, name, s.Name)
	}
	_, ok := ByName("no-such-scenario")
	require.False(t, ok)
	require.Equal(t, len(Catalogue()), len(Names()))
}

func TestCatalogueOrderIsFixedAndCopiesAreFresh(t *testing.T) {
	a, b := Catalogue(), Catalogue()
	require.Equal(t, a, b)
	a[0].Faults = append(a[0].Faults, Fault{Kind: Crash})
	a[len(a)-1].RandomFaults.Count = 99
	c := Catalogue()
	require.Equal(t, b, c, "changing a returned catalogue changed the next one")
}

func TestEverythingCoversAllFaultKinds(t *testing.T) {
	s, ok := ByName("everything")
	require.True(t, ok)
	require.NotNil(t, s.RandomFaults)
	require.ElementsMatch(t, AllFaultKinds(), s.RandomFaults.Kinds)
}

func TestTargetMemberIndex(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		i    int
		isOK bool
	}{
		{Member(0), 0, true}, {Member(4), 4, true}, {"m12", 12, true},
		{"m", 0, false}, {"m-1", 0, false}, {"m01", 0, false}, {"x1", 0, false},
		{Leader, 0, false}, {Follower, 0, false}, {Minority, 0, false},
	} {
		i, ok := tc.t.MemberIndex()
		require.Equal(t, tc.isOK, ok, "%q", tc.t)
		require.Equal(t, tc.i, i, "%q", tc.t)
	}
}

func validScenario() Scenario {
	return Scenario{
		Name: "tiny", Description: "d", Members: 3, Duration: 10 * time.Second, Clients: 2,
		OpsPerSecond: 10, Keys: 4, Mix: Mix{Put: 1},
		Faults:   []Fault{{Kind: Crash, At: time.Second, Duration: time.Second, Targets: []Target{Member(2)}}},
		Liveness: Liveness{MinAckShare: 0.5, MaxRecovery: time.Second},
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Scenario)
		errHas string // "" means valid
	}{
		{"valid", func(*Scenario) {}, ""},
		{"no name", func(s *Scenario) { s.Name = "" }, "Name is empty"},
		{"zero members", func(s *Scenario) { s.Members = 0 }, "Members = 0"},
		{"negative clients", func(s *Scenario) { s.Clients = -1 }, "Clients = -1"},
		{"zero duration", func(s *Scenario) { s.Duration = 0 }, "Duration = 0s"},
		{"zero rate", func(s *Scenario) { s.OpsPerSecond = 0 }, "OpsPerSecond = 0"},
		{"zero keys", func(s *Scenario) { s.Keys = 0 }, "Keys = 0"},
		{"negative watchers", func(s *Scenario) { s.Watchers = -2 }, "Watchers = -2"},
		{"negative max append bytes", func(s *Scenario) { s.MaxAppendBytes = -1 }, "MaxAppendBytes = -1"},
		{"empty mix", func(s *Scenario) { s.Mix = Mix{} }, "the Mix has no positive weight"},
		{"negative weight", func(s *Scenario) { s.Mix.Txn = -1 }, "Mix.Txn = -1"},
		{"unknown kind", func(s *Scenario) { s.Faults[0].Kind = "meteor" }, `unknown fault kind "meteor"`},
		{"target out of range", func(s *Scenario) { s.Faults[0].Targets = []Target{Member(3)} }, `target "m3" out of range`},
		{"target garbage", func(s *Scenario) { s.Faults[0].Targets = []Target{"boss"} }, `target "boss" is neither`},
		{"target twice", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: Partition, Targets: []Target{Member(1), Member(1)}}
		}, `target "m1" named twice`},
		{"crash without target", func(s *Scenario) { s.Faults[0].Targets = nil }, "0 targets, want 1"},
		{"one-way with one target", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: OneWay, Targets: []Target{Leader}}
		}, "1 targets, want at least 2"},
		{"loss with targets", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: Loss, Rate: 0.1, Targets: []Target{Leader}}
		}, "1 targets, want 0"},
		{"role targets", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: Partition, Targets: []Target{Leader, Follower, Minority}}
		}, ""},
		{"loss rate above 1", func(s *Scenario) { s.Faults[0] = Fault{Kind: Loss, Rate: 1.5} }, "rate = 1.5, want within [0,1]"},
		{"loss rate negative", func(s *Scenario) { s.Faults[0] = Fault{Kind: Duplicate, Rate: -0.1} }, "rate = -0.1"},
		{"loss rate 1", func(s *Scenario) { s.Faults[0] = Fault{Kind: Reorder, Rate: 1} }, ""},
		{"skew negative ok", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: ClockSkew, Rate: -0.1, Targets: []Target{Member(0)}}
		}, ""},
		{"skew too large", func(s *Scenario) {
			s.Faults[0] = Fault{Kind: ClockSkew, Rate: 1, Targets: []Target{Member(0)}}
		}, "want within (-1,1)"},
		{"rate on crash", func(s *Scenario) { s.Faults[0].Rate = 0.5 }, "has no rate"},
		{"latency without delay", func(s *Scenario) { s.Faults[0] = Fault{Kind: Latency} }, "delay = 0s, want > 0"},
		{"delay on crash", func(s *Scenario) { s.Faults[0].Delay = time.Second }, "has no delay"},
		{"fault after end", func(s *Scenario) { s.Faults[0].At = 9500 * time.Millisecond }, "ends at 10.5s, after the scenario's Duration 10s"},
		{"fault ends at end", func(s *Scenario) { s.Faults[0].At = 9 * time.Second; s.Faults[0].Duration = time.Second }, ""},
		{"negative at", func(s *Scenario) { s.Faults[0].At = -time.Second }, "negative time"},
		{"random empty kinds", func(s *Scenario) { s.RandomFaults = &RandomFaults{Count: 1} }, "RandomFaults.Kinds is empty"},
		{"random unknown kind", func(s *Scenario) {
			s.RandomFaults = &RandomFaults{Kinds: []FaultKind{Crash, "flood"}, Count: 1}
		}, `RandomFaults.Kinds: unknown fault kind "flood"`},
		{"random zero count", func(s *Scenario) {
			s.RandomFaults = &RandomFaults{Kinds: []FaultKind{Crash}}
		}, "RandomFaults.Count = 0"},
		{"ack share above 1", func(s *Scenario) { s.Liveness.MinAckShare = 1.01 }, "MinAckShare = 1.01"},
		{"negative recovery", func(s *Scenario) { s.Liveness.MaxRecovery = -time.Second }, "MaxRecovery = -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validScenario()
			tc.change(&s)
			err := s.Validate()
			if tc.errHas == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.errHas)
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	s := validScenario()
	s.Members, s.Clients = 0, 0
	err := s.Validate()
	require.Error(t, err)
	require.Contains(t, err.Error(), "Members = 0")
	require.Contains(t, err.Error(), "Clients = 0")
	require.Contains(t, err.Error(), `scenario "tiny"`)
}

// TestDescriptorsWellFormed: one descriptor per kind, each with a summary for the docs and
// target bounds that a schedule can meet.
func TestDescriptorsWellFormed(t *testing.T) {
	seen := map[FaultKind]bool{}
	for _, d := range Descriptors() {
		require.False(t, seen[d.Kind], "kind %q described twice", d.Kind)
		seen[d.Kind] = true
		require.NotEmpty(t, d.Summary, "kind %q has no summary", d.Kind)
		require.True(t, d.MaxTargets < 0 || d.MaxTargets >= d.MinTargets, "kind %q: MaxTargets %d < MinTargets %d", d.Kind, d.MaxTargets, d.MinTargets)
		if d.Random == RandomMember {
			require.True(t, d.MinTargets <= 1 && (d.MaxTargets < 0 || d.MaxTargets >= 1), "kind %q draws one target it cannot take", d.Kind)
		}
	}
}
