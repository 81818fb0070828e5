#!/usr/bin/env bash
# Makes snapshot.db here: a snapshot saved by etcd v3.6.16 (the server built from its modules
# in a temporary module, as tools/etcd builds v3.7.3's) after the workload below, with
# etcdctl v3.7.3 from .bin/. TestEtcd36SnapshotToBallast restores it. Run from the
# repository root: bash tools/etcd/roundtrip/testdata/etcd-v3.6.16/make.sh (ETCD36=path reuses a
# built etcd v3.6.16).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../../.." && pwd)
etcdctl="$root/.bin/etcdctl-v3.7.3"
work=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/build"
cat > "$work/build/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
if [ -n "${ETCD36:-}" ]; then # an etcd v3.6.16 built before (the check below still applies)
	cp "$ETCD36" "$work/etcd"
else
	(cd "$work/build" && go mod init tmp/etcd36 && go get go.etcd.io/etcd/server/v3@v3.6.16 && go mod tidy &&
		CGO_ENABLED=0 go build -o "$work/etcd" .)
fi
"$work/etcd" --version | grep -qx 'etcd Version: 3.6.16'
ep=http://127.0.0.1:23790
"$work/etcd" --name s --data-dir "$work/data" --listen-client-urls $ep --advertise-client-urls $ep \
	--listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
	--initial-cluster s=http://127.0.0.1:23800 > "$work/etcd.log" 2>&1 &
pid=$!
ctl() { "$etcdctl" --endpoints $ep "$@"; }
for _ in $(seq 50); do ctl endpoint health >/dev/null 2>&1 && break; sleep 0.2; done
ctl put k1 v1            # revision 2
ctl put k2 v2            # 3
ctl put k1 v1b           # 4
ctl del k2               # 5
lease=$(ctl lease grant 3600 | awk '{print $2}')
ctl put leased x --lease="$lease"   # 6
printf '\nput t/a 1\nput t/b 2\n\n\n' | ctl txn >/dev/null   # 7 (two sub revisions)
ctl compaction --physical 4
ctl put k3 v3            # 8
ctl user add root --new-user-password rootpw
ctl user grant-role root root
ctl user add alice --new-user-password alicepw
ctl role add reader
ctl role grant-permission reader read --prefix t/
ctl user grant-role alice reader
ctl snapshot save "$here/snapshot.db"
