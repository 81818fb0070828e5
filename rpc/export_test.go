package rpc

// ParseTokenOptionsForTest exposes --auth-token parsing to the external tests: a function
// signing tokens as a member with those options would.
func ParseTokenOptionsForTest(spec string) (func(user string, rev uint64) (string, error), error) {
	t, err := parseTokenOptions(spec)
	if err != nil {
		return nil, err
	}
	return t.assign, nil
}
