package main

import (
	"context"
	"log/slog"
	"net"
)

// notifyReady tells systemd the member serves, as etcd does (sd_notify READY=1 on the unix
// datagram socket NOTIFY_SOCKET names, once the member is ready), with etcd's log lines.
// Without NOTIFY_SOCKET it does nothing; a socket name starting with @ is Linux's abstract
// namespace, as sd_notify takes it.
func notifyReady(ctx context.Context, ready <-chan struct{}, environ []string, lg *slog.Logger) {
	socket := lookupEnv(environ, "NOTIFY_SOCKET")
	if socket == "" {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-ready:
	}
	lg.Info("notifying init daemon")
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if socket[0] == '@' {
		addr.Name = "\x00" + socket[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, addr)
	if err == nil {
		_, err = conn.Write([]byte("READY=1"))
		_ = conn.Close()
	}
	if err != nil {
		lg.Error("failed to notify systemd for readiness", "error", err.Error())
		return
	}
	lg.Info("successfully notified init daemon")
}
