package history

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCompareHolds(t *testing.T) {
	kv := &KeyValue{Key: Bytes("k"), Value: Bytes("b"), Version: 2, CreateRevision: 3, ModRevision: 5, Lease: 7}
	for _, tc := range []struct {
		c    Compare
		want bool
	}{
		{Compare{Target: TargetValue, Result: ResultEqual, Value: Bytes("b")}, true},
		{Compare{Target: TargetValue, Result: ResultLess, Value: Bytes("c")}, true},
		{Compare{Target: TargetValue, Result: ResultGreater, Value: Bytes("c")}, false},
		{Compare{Target: TargetVersion, Result: ResultNotEqual, Version: 2}, false},
		{Compare{Target: TargetVersion, Result: ResultGreater, Version: 1}, true},
		{Compare{Target: TargetCreate, Result: ResultEqual, CreateRevision: 3}, true},
		{Compare{Target: TargetMod, Result: ResultLess, ModRevision: 5}, false},
		{Compare{Target: TargetMod, Result: ResultLess, ModRevision: 6}, true},
		{Compare{Target: TargetLease, Result: ResultEqual, Lease: 7}, true},
		{Compare{Target: "bogus", Result: ResultEqual}, false},
		{Compare{Target: TargetVersion, Result: "~", Version: 2}, false},
	} {
		t.Run(fmt.Sprintf("%s %s", tc.c.Target, tc.c.Result), func(t *testing.T) {
			require.Equal(t, tc.want, tc.c.Holds(kv))
		})
	}
	// An absent key is the zero KeyValue: version 0.
	require.True(t, (&Compare{Target: TargetVersion, Result: ResultEqual}).Holds(&KeyValue{}))
}
