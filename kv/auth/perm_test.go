package auth

import (
	"math/rand"
	"testing"
	"time"
)

func TestPermittedTable(t *testing.T) {
	p := func(k, e string) Perm { return Perm{Key: []byte(k), RangeEnd: []byte(e)} }
	for _, tc := range []struct {
		name     string
		perms    []Perm
		key, end string
		want     bool
	}{
		{"no perms", nil, "a", "", false},
		{"exact key", []Perm{p("a", "")}, "a", "", true},
		{"other key", []Perm{p("a", "")}, "b", "", false},
		{"key in range", []Perm{p("a", "c")}, "b", "", true},
		{"range end excluded", []Perm{p("a", "c")}, "c", "", false},
		{"prefix covers range", []Perm{p("foo", "fop")}, "foo/x", "foo/y", true},
		{"range sticks out", []Perm{p("a", "c")}, "b", "d", false},
		{"two perms join", []Perm{p("a", "c"), p("c", "e")}, "b", "d", true},
		{"two perms with gap", []Perm{p("a", "c"), p("d", "e")}, "b", "e", false},
		{"from-key covers range", []Perm{p("m", "\x00")}, "n", "z", true},
		{"from-key covers from-key", []Perm{p("m", "\x00")}, "n", "\x00", true},
		{"range does not cover from-key", []Perm{p("a", "z")}, "b", "\x00", false},
		{"from-key before start", []Perm{p("m", "\x00")}, "a", "", false},
		{"inverted grant covers nothing", []Perm{p("z", "a")}, "m", "", false},
		{"empty request", []Perm{}, "b", "a", false},
		{"empty request at a granted key", []Perm{p("a", "c")}, "b", "a", true},
		{"key-equal end at a granted key", []Perm{p("b", "")}, "b", "b", true},
		{"empty request past a grant", []Perm{p("a", "c")}, "c", "b", false},
		{"single key perm does not cover range", []Perm{p("a", "")}, "a", "b", false},
		{"single key perm covers its own range", []Perm{p("a", "")}, "a", "a\x00", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Permitted(tc.perms, []byte(tc.key), []byte(tc.end)); got != tc.want {
				t.Fatalf("Permitted(%q, %q, %q) = %v, want %v", tc.perms, tc.key, tc.end, got, tc.want)
			}
		})
	}
}

// TestPermittedRandom compares Permitted with a reference model over keys of up to two letters:
// a request is permitted iff every key it names is named by some permission, checked at the
// points where the union's coverage can change.
func TestPermittedRandom(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	alphabet := []string{"a", "b", "c", "d"}
	var keys []string
	for _, x := range alphabet {
		keys = append(keys, x)
		for _, y := range alphabet {
			keys = append(keys, x+y)
		}
	}
	randKey := func() string { return keys[rng.Intn(len(keys))] }
	randEnd := func() string {
		switch rng.Intn(4) {
		case 0:
			return ""
		case 1:
			return "\x00"
		default:
			return randKey()
		}
	}
	// in says whether point k lies in (key, end) in etcd's encoding.
	in := func(k, key, end string) bool {
		switch end {
		case "":
			return k == key
		case "\x00":
			return k >= key
		default:
			return k >= key && k < end
		}
	}
	for i := 0; i < 20000; i++ {
		var perms []Perm
		for n := rng.Intn(4); n > 0; n-- {
			perms = append(perms, Perm{Key: []byte(randKey()), RangeEnd: []byte(randEnd())})
		}
		key, end := randKey(), randEnd()
		mend := end
		if end != "" && end != "\x00" && end <= key {
			mend = "" // an empty request range is checked as its key (etcd's interval tree)
		}
		// Coverage by the union only changes at a permission's start or end, so the request
		// is covered iff its start and every permission boundary inside it are covered.
		points := []string{key}
		for _, p := range perms {
			points = append(points, string(p.Key))
			switch string(p.RangeEnd) {
			case "", "\x00":
				points = append(points, string(p.Key)+"\x00")
			default:
				points = append(points, string(p.RangeEnd))
			}
		}
		want := true
		for _, k := range points {
			if !in(k, key, mend) {
				continue
			}
			ok := false
			for _, p := range perms {
				ok = ok || in(k, string(p.Key), string(p.RangeEnd))
			}
			want = want && ok
		}
		if got := Permitted(perms, []byte(key), []byte(end)); got != want {
			t.Fatalf("seed %d: Permitted(%q, %q, %q) = %v, want %v", seed, perms, key, end, got, want)
		}
	}
}
