# Ballast's image: FROM scratch, built by `make image` (which also tags ballast:<git describe>
# and ballast:latest). There is no builder stage: this machine, CI's and many air-gapped sites
# have no registry to pull a Go image from, so the binaries are built static (CGO_ENABLED=0)
# on the host and staged in .bin/image/usr/local/bin, which is the whole build context
# (`docker build -f Dockerfile .bin/image`: the legacy builder sends nothing else, not .bin's
# other files, reports/ or a module cache). The staged programs:
#
#   ballast      the server
#   etcd         a symbolic link to ballast: under that name it answers as etcd does, so
#                `docker run IMAGE etcd --name ...` and compose `command:` lists written for
#                etcd's images start it
#   etcdctl      etcd v3.7.3's, built static from tools/etcd (`docker exec NODE etcdctl ...`)
#   etcdutl      etcd v3.7.3's, likewise
#   ballast-sim  the simulator, for simulation swarms (deploy/kubernetes/sim-swarm.yaml)
#
# Temporary files: a scratch image has no /tmp, and none is needed: Ballast writes its
# temporary files inside --data-dir (rpc/embed's ballast.json.tmp beside ballast.json, Pebble's
# temporary.*.dbtmp in its own directory), never under os.TempDir, so TMPDIR is not set either.
# Any Docker named volume works as the data dir (`-v etcd_data:/etcd-data`): the member creates
# its directories below the mount point. The process runs as root, as in etcd's images.
#
# No HEALTHCHECK: it would probe plain http on 2379 whatever ports and TLS the user chose. The
# compose file and the Kubernetes manifests carry their own checks, in exec form (no shell).
FROM scratch
ARG VERSION=unknown
LABEL org.opencontainers.image.title="ballast" \
      org.opencontainers.image.description="Ballast: an etcd-compatible key-value store (etcd v3 API and flags)" \
      org.opencontainers.image.version="${VERSION}"
COPY usr/ /usr/
ENV PATH=/usr/local/bin
EXPOSE 2379 2380
CMD ["/usr/local/bin/etcd"]
