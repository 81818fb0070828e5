package peer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// handler is the Config.Handle of the call tests: it records who called and answers by
// method.
func handler(calls chan<- string) func(ctx context.Context, from uint64, method string, body []byte) ([]byte, error) {
	return func(ctx context.Context, from uint64, method string, body []byte) ([]byte, error) {
		calls <- fmt.Sprintf("%x %s", from, method)
		switch method {
		case "echo":
			return append([]byte("echo:"), body...), nil
		case "member-not-found":
			return nil, rpctypes.ErrGRPCMemberNotFound
		case "plain-error":
			return nil, errors.New("the handler failed")
		case "wait":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, status.Errorf(codes.Unimplemented, "unknown method %q", method)
	}
}

// TestCall: a call's answer, or its handler's error with the gRPC code and message unchanged
// (etcd's rpctypes errors recognised by errors.Is and status.FromError), between members
// and from a guest.
func TestCall(t *testing.T) {
	dir := newDirectory()
	calls := make(chan string, 100)
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "", func(_ *member, cfg *Config) { cfg.Handle = handler(calls) })
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i)
	}
	for _, c := range []struct {
		name     string
		method   string
		body     []byte
		want     []byte
		wantCode codes.Code // codes.OK: no error
		wantMsg  string
		// is: the server-side error errors.Is must match; clientErr: what clientv3 makes
		// of the re-raised status (rpctypes.Error).
		is, clientErr error
	}{
		{"answer", "echo", []byte("ping"), []byte("echo:ping"), codes.OK, "", nil, nil},
		{"large answer", "echo", big, append([]byte("echo:"), big...), codes.OK, "", nil, nil},
		{"empty body", "echo", nil, []byte("echo:"), codes.OK, "", nil, nil},
		{"etcd's error", "member-not-found", nil, nil, codes.NotFound, "etcdserver: member not found", rpctypes.ErrGRPCMemberNotFound, rpctypes.ErrMemberNotFound},
		{"a plain error", "plain-error", nil, nil, codes.Unknown, "the handler failed", nil, nil},
		{"unknown method", "nope", nil, nil, codes.Unimplemented, `unknown method "nope"`, nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitMax)
			defer cancel()
			for _, via := range []struct {
				name string
				call func() ([]byte, error)
				from uint64
			}{
				{"Call", func() ([]byte, error) { return one.tr.Call(ctx, idTwo, c.method, c.body) }, idOne},
				{"Fetch", func() ([]byte, error) { return Fetch(ctx, "http://"+two.addr, nil, c.method, c.body) }, 0},
			} {
				resp, err := via.call()
				require.Equal(t, fmt.Sprintf("%x %s", via.from, c.method), <-calls, via.name)
				if c.wantCode == codes.OK {
					require.NoError(t, err, via.name)
					require.Equal(t, c.want, resp, via.name)
					continue
				}
				require.Nil(t, resp)
				var re *RemoteError
				require.ErrorAs(t, err, &re, via.name)
				require.Equal(t, c.wantCode, re.Code, via.name)
				require.Equal(t, c.wantMsg, re.Message, via.name)
				s, ok := status.FromError(err)
				require.True(t, ok)
				require.Equal(t, c.wantCode, s.Code())
				require.Equal(t, c.wantMsg, s.Message())
				if c.is != nil {
					require.ErrorIs(t, err, c.is)
					require.Equal(t, c.clientErr, rpctypes.Error(status.Error(s.Code(), s.Message())), "clientv3's mapping of the re-raised error")
				}
			}
		})
	}
	require.Equal(t, uint64(2*6), two.tr.Stats().CallsServed)
}

// TestCallContext: the caller's deadline ends the handler's context (it travels as a
// budget, and the caller's close ends it too); an unknown member fails at once; a member
// without Handle answers Unimplemented.
func TestCallContext(t *testing.T) {
	dir := newDirectory()
	calls := make(chan string, 100)
	one := startMember(t, dir, idOne, clusterA, "")
	startMember(t, dir, idTwo, clusterA, "", func(_ *member, cfg *Config) { cfg.Handle = handler(calls) })

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := one.tr.Call(ctx, idTwo, "wait", nil)
		// The caller's deadline ends the call, or, if the callee's (a little later) passed
		// first under load, the handler's DeadlineExceeded comes back.
		require.True(t, errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded, "%v", err)
		require.Less(t, time.Since(start), 5*time.Second)
		<-calls
	})
	t.Run("unknown member", func(t *testing.T) {
		_, err := one.tr.Call(context.Background(), idThree, "echo", nil)
		require.ErrorIs(t, err, errNoAddress)
		require.ErrorContains(t, err, "call echo to member d3")
	})
	t.Run("no handler", func(t *testing.T) {
		_, err := Fetch(context.Background(), "http://"+one.addr, nil, "echo", nil)
		var re *RemoteError
		require.ErrorAs(t, err, &re)
		require.Equal(t, codes.Unimplemented, re.Code)
	})
	t.Run("bad method name", func(t *testing.T) {
		_, err := one.tr.Call(context.Background(), idTwo, "", nil)
		require.ErrorContains(t, err, "length must be 1 to 255 bytes")
	})
	t.Run("bad URL", func(t *testing.T) {
		_, err := Fetch(context.Background(), "ftp://127.0.0.1:1", nil, "echo", nil)
		require.ErrorContains(t, err, "scheme must be http, https, unix or unixs")
		_, err = Fetch(context.Background(), "unix://", nil, "echo", nil)
		require.ErrorContains(t, err, "needs a socket path")
		for _, u := range []string{"https://127.0.0.1:1", "unixs:///tmp/x"} {
			_, err = Fetch(context.Background(), u, nil, "echo", nil)
			require.ErrorContains(t, err, "no client TLS configuration", u)
		}
	})
}

// TestRemoteErrorIs: errors.Is compares code and message.
func TestRemoteErrorIs(t *testing.T) {
	err := &RemoteError{Code: codes.FailedPrecondition, Message: rpctypes.ErrGRPCMemberExist.Error()[len("rpc error: code = FailedPrecondition desc = "):]}
	for _, c := range []struct {
		target error
		want   bool
	}{
		{rpctypes.ErrGRPCMemberExist, true},
		{rpctypes.ErrGRPCMemberNotFound, false},
		{&RemoteError{Code: codes.FailedPrecondition, Message: "etcdserver: member ID already exist"}, true},
		{&RemoteError{Code: codes.Unknown, Message: "etcdserver: member ID already exist"}, false},
		{errors.New("etcdserver: member ID already exist"), false},
	} {
		require.Equal(t, c.want, errors.Is(err, c.target), "%v", c.target)
	}
}

// TestProbe: a probe is answered by the transport itself (the handler never sees it) and
// measures a round trip; a member that does not answer is an error, not a figure.
func TestProbe(t *testing.T) {
	dir := newDirectory()
	calls := make(chan string, 100)
	one := startMember(t, dir, idOne, clusterA, "")
	two := startMember(t, dir, idTwo, clusterA, "", func(_ *member, cfg *Config) { cfg.Handle = handler(calls) })
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	for range 3 {
		rtt, err := one.tr.Probe(ctx, idTwo)
		require.NoError(t, err)
		require.Positive(t, rtt)
	}
	st := two.tr.Stats()
	require.Equal(t, uint64(3), st.ProbesServed)
	require.Zero(t, st.CallsServed)
	require.Empty(t, calls, "the handler saw a probe")

	dir.set(idThree, "http://127.0.0.1:1")
	_, err := one.tr.Probe(ctx, idThree)
	require.ErrorContains(t, err, "probe member d3")
	_, err = one.tr.Probe(ctx, 0xee) // no address
	require.Error(t, err)
}
