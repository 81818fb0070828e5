//go:build !embedwip

package embed

import (
	"context"
	"errors"
)

// Server is a stand-in until rpc/peer and kv/node's member table land (server.go, build tag
// embedwip, is the real one).
type Server struct{}

// Start refuses until the member can be assembled.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, errors.New("embed: the member cannot be assembled yet (waiting for rpc/peer and kv/node's member table)")
}

// ReadyNotify, Err and Stop: see server.go.
func (s *Server) ReadyNotify() <-chan struct{} { return nil }
func (s *Server) Err() <-chan error            { return nil }
func (s *Server) Stop()                        {}
