package history

import (
	"bytes"
	"cmp"
)

// Holds evaluates the compare against one key-value as etcd's applyCompare does: the target
// field of kv against the compare's value by its result. For an absent key pass the zero
// KeyValue; a value compare of an absent key is false in etcd, which the caller decides (it
// alone knows the key is absent). A target or result Validate would refuse holds for no kv.
// The checker's evaluator and the generator's model both judge compares with it.
func (c *Compare) Holds(kv *KeyValue) bool {
	var order int
	switch c.Target {
	case TargetValue:
		order = bytes.Compare(kv.Value, c.Value)
	case TargetVersion:
		order = cmp.Compare(kv.Version, c.Version)
	case TargetCreate:
		order = cmp.Compare(kv.CreateRevision, c.CreateRevision)
	case TargetMod:
		order = cmp.Compare(kv.ModRevision, c.ModRevision)
	case TargetLease:
		order = cmp.Compare(kv.Lease, c.Lease)
	default:
		return false
	}
	switch c.Result {
	case ResultEqual:
		return order == 0
	case ResultNotEqual:
		return order != 0
	case ResultLess:
		return order < 0
	case ResultGreater:
		return order > 0
	}
	return false
}
