package linearizability

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHandWrittenHistories runs every history in testdata: good-*.jsonl must pass every check;
// each bad-*.jsonl must fail, with the named check reporting a violation whose message holds
// the key phrase.
func TestHandWrittenHistories(t *testing.T) {
	bad := map[string]struct {
		check, kind, phrase string
	}{
		"bad-stale-read.jsonl":                {CheckRevision, "stale-read", "acknowledged before the get was called"},
		"bad-lost-write.jsonl":                {CheckDurability, "lost-write", "lost acknowledged write: k1=v2"},
		"bad-revision-backwards.jsonl":        {CheckRevision, "revision-backwards", "the revision went backwards"},
		"bad-revision-backwards-by-1ns.jsonl": {CheckRevision, "revision-backwards", "the revision went backwards"},
		"bad-txn-wrong-branch.jsonl":          {CheckRevision, "wrong-txn", "succeeded=false, but the compares evaluate to true"},
		"bad-watch-duplicate-event.jsonl":     {CheckWatch, "watch-duplicate", "duplicate event: PUT k1=v2 at rev 3"},
		"bad-watch-gap-at-resume.jsonl":       {CheckWatch, "watch-gap-resume", "watch gap at a resume"},
		"bad-watch-event-split.jsonl":         {CheckWatch, "watch-split", "event split across responses: events of rev 2"},
		"bad-watch-progress-ahead.jsonl":      {CheckWatch, "watch-progress-ahead", "progress notification at rev 3 arrived before the event PUT k1=v2"},
		"bad-watch-wrong-prev-kv.jsonl":       {CheckWatch, "watch-prev-kv", "wrong prev_kv"},
		"bad-lease-key-outlived.jsonl":        {CheckLease, "lease-outlived", "key k1 attached to lease 100 outlived its lease"},
		"bad-lease-early-expiry.jsonl":        {CheckLease, "lease-early-expiry", "lease 100 expired early"},
		"bad-watch-phantom-value.jsonl":       {CheckWatch, "watch-phantom", "no such key"},
		"bad-serializable-future.jsonl":       {CheckRevision, "future-read", "before the write that created it"},
		"bad-duplicate-revision.jsonl":        {CheckRevision, "duplicate-revision", "both claim to have created revision 2"},
		"bad-watch-filter.jsonl":              {CheckWatch, "watch-filter", "despite the filter"},
		"bad-watch-compaction.jsonl":          {CheckWatch, "watch-compaction", "compact revision"},
		"bad-lease-alive-after-expiry.jsonl":  {CheckLease, "lease-alive-after-expiry", "found it alive"},
		"bad-auth-unpermitted.jsonl":          {CheckAuth, "auth-unpermitted", "bob may not write k3"},
	}
	files, err := filepath.Glob("testdata/*.jsonl")
	require.NoError(t, err)
	seenBad := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			h := readHistory(t, path)
			res := Check(h, Options{})
			cmp := compareCheckers(h)
			if strings.HasPrefix(name, "good-") {
				for _, c := range res.Checks {
					require.Equal(t, VerdictOK, c.Verdict, "%s: %s %v", name, c.Name, c.Violations)
				}
				require.Equal(t, VerdictOK, res.Verdict)
				require.Empty(t, res.FirstViolation)
				require.True(t, cmp.agree(), "%s: porcupine %s, revision %s", name, cmp.porcupine, cmp.revision)
				return
			}
			want, ok := bad[name]
			require.True(t, ok, "%s: a bad history without an expected explanation in this test", name)
			seenBad++
			require.Equal(t, VerdictViolation, res.Verdict, name)
			require.NotEmpty(t, res.FirstViolation)
			c := res.Check(want.check)
			require.NotNil(t, c)
			require.Equal(t, VerdictViolation, c.Verdict, "%s: %s did not fire; checks: %+v", name, want.check, res.Checks)
			found := false
			for _, v := range c.Violations {
				if v.Kind == want.kind && strings.Contains(v.Message, want.phrase) {
					found = true
				}
			}
			require.True(t, found, "%s: no %s violation of kind %s saying %q in %+v", name, want.check, want.kind, want.phrase, c.Violations)
			require.True(t, cmp.agree(), "%s: porcupine %s, revision %s", name, cmp.porcupine, cmp.revision)
		})
	}
	require.GreaterOrEqual(t, seenBad, 11)
}
