package compat

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestListsNameRealFields: every field the lists of ignored.go name exists in etcd's protos
// (a misspelt name would silently compare nothing less, or ignore nothing), each with its
// reason; every intended difference the comparison accepts is in intendedDifferences.
func TestListsNameRealFields(t *testing.T) {
	_ = pb.RangeResponse{} // registers etcd's files
	check := func(list string, name string, reason string) {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("%s: %q is not a field of etcd's protos: %v", list, name, err)
			return
		}
		if _, ok := d.(protoreflect.FieldDescriptor); !ok {
			t.Errorf("%s: %q is not a field", list, name)
		}
		if reason == "" {
			t.Errorf("%s: %q has no reason", list, name)
		}
	}
	for name, reason := range ignoredFields {
		check("ignoredFields", name, reason)
	}
	for name, reason := range mappedFields {
		check("mappedFields", name, reason)
	}
	for name, reason := range unorderedLists {
		check("unorderedLists", name, reason)
	}
	for name := range toleratedFields {
		check("toleratedFields", name, "tolerance")
	}
	var names []string
	for _, d := range intendedDifferences {
		if d.choice == "" || d.harness == "" {
			t.Errorf("intended difference %q lacks its choice or what the harness does", d.name)
		}
		names = append(names, d.name)
	}
	for _, e := range []string{exceptionWatchAtCompact, exceptionCompactedHeader, exceptionHashCache, exceptionHashEmpty} {
		if !slices.Contains(names, e) {
			t.Errorf("the comparison accepts %q, which intendedDifferences does not name", e)
		}
	}
}
