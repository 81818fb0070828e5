package history

import "bytes"

// Holds evaluates the compare against one key-value as etcd's applyCompare does: the target
// field of kv against the compare's value by its result. For an absent key pass the zero
// KeyValue; a value compare of an absent key is false in etcd, which the caller decides (it
// alone knows the key is absent). A target or result Validate would refuse holds for no kv.
// The checker's evaluator and the generator's model both judge compares with it.
func (c *Compare) Holds(kv *KeyValue) bool {
	var cmp int
	switch c.Target {
	case TargetValue:
		cmp = bytes.Compare(kv.Value, c.Value)
	case TargetVersion:
		cmp = compareInt(kv.Version, c.Version)
	case TargetCreate:
		cmp = compareInt(kv.CreateRevision, c.CreateRevision)
	case TargetMod:
		cmp = compareInt(kv.ModRevision, c.ModRevision)
	case TargetLease:
		cmp = compareInt(kv.Lease, c.Lease)
	default:
		return false
	}
	switch c.Result {
	case ResultEqual:
		return cmp == 0
	case ResultNotEqual:
		return cmp != 0
	case ResultLess:
		return cmp < 0
	case ResultGreater:
		return cmp > 0
	}
	return false
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
