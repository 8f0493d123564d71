#!/usr/bin/env bash
# Builds, offline, what `--platform kind` and the kind tests need: the `kind` CLI and a kind node
# image with Kubernetes in it, from Go modules and Debian packages only (no image is pulled).
#
#   bash ci/build-kind.sh          # prints where everything is; a second run takes seconds
#
# What it makes:
#   - kind:  `go install sigs.k8s.io/kind@$KIND_VERSION` into $(go env GOPATH)/bin;
#   - Go binaries (cached by content under ${XDG_CACHE_HOME:-~/.cache}/zk-chaos/kind/bin):
#     Kubernetes (kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
#     kube-scheduler, kube-proxy) through the wrapper module ci/kind/k8s, etcd, CoreDNS, crictl,
#     local-path-provisioner and pause through ci/kind/{etcd,coredns,crictl,local-path,pause};
#   - two Debian root filesystems by debootstrap, imported as base images: the node's (systemd,
#     containerd, runc, iptables, CNI plugins) and a small tools image's (iproute2, iptables);
#   - the images kubeadm and kind's manifests ask for, named as kubeadm names them
#     (registry.k8s.io/kube-apiserver:$K8S_VERSION, ...), built from those binaries;
#   - the node image $NODE_IMAGE: the node root filesystem, the binaries, ci/kind/node/ (entrypoint,
#     units, containerd configuration, CNI and storage manifests) and those images imported into
#     its containerd.
# Every step is keyed by the content it is made from: the node image carries the label
# zk-chaos.kind-hash, and a run whose inputs did not change only checks that label.
#
# Needs: Docker (bash ci/start-docker.sh), Go, debootstrap (installed if missing, as root).
# Exit codes: 0 built or up to date; 3 no Docker engine or no Go; 1 a build step failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KIND_VERSION=${KIND_VERSION:-v0.33.0}
K8S_VERSION=v1.34.4 # the version of ci/kind/k8s/go.mod
NODE_IMAGE=${ZK_CHAOS_KIND_NODE_IMAGE:-zk-chaos/kind-node:$K8S_VERSION}
suite=bookworm
mirror=${ZK_CHAOS_DEBIAN_MIRROR:-}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/zk-chaos/kind
# The names kubeadm v1.34 gives its images (`kubeadm config images list`), and our own two.
ETCD_TAG=3.6.5-0
PAUSE_TAG=3.10.1
COREDNS_TAG=v1.12.1
TOOLS_IMAGE=zk-chaos.local/kind-tools:1
LOCAL_PATH_IMAGE=zk-chaos.local/local-path-provisioner:v0.0.30

node_packages=systemd,systemd-sysv,dbus,containerd,runc,iptables,iproute2,conntrack,ethtool,socat,util-linux,mount,kmod,procps,ca-certificates,jq,containernetworking-plugins,libseccomp2,bash,pigz,e2fsprogs
tools_packages=iptables,iproute2,conntrack,procps,kmod

started=$(date +%s)
log() { printf 'build-kind (+%ss): %s\n' "$(($(date +%s) - started))" "$*" >&2; }
die() { log "$2"; exit "$1"; }

docker info >/dev/null 2>&1 || die 3 "no Docker engine answers (docker info failed): run bash ci/start-docker.sh first"
command -v go >/dev/null 2>&1 || die 3 "Go is not installed (needed to build kind and Kubernetes from the Go module proxy)"
mkdir -p "$cache/bin"

if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

sha() { sha256sum | cut -c1-16; }
# quiet COMMAND...: runs it with its output in a file, shown only when it fails.
quiet() {
  local out="$work/quiet.log"
  if ! "$@" >"$out" 2>&1; then tail -n 30 "$out" >&2; return 1; fi
}
# The content hash of files and folders (relative paths and bytes) plus any extra words.
hash_of() {
  local extra=$1; shift
  { (cd "$here" && find "$@" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); echo "$extra"; } | sha
}

work=$(mktemp -d /tmp/zk-chaos-build-kind.XXXXXX)
builder=''
cleanup() {
  [ -n "$builder" ] && docker rm -f "$builder" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- kind -------------------------------------------------------------------------------------
gobin=$(go env GOPATH)/bin
if [ "$("$gobin/kind" version 2>/dev/null | awk '{print $2}')" != "$KIND_VERSION" ]; then
  log "go install sigs.k8s.io/kind@$KIND_VERSION"
  go install "sigs.k8s.io/kind@$KIND_VERSION"
fi
log "kind: $gobin/kind ($("$gobin/kind" version))"

# --- Go binaries --------------------------------------------------------------------------------
goversion=$(go env GOVERSION)
ldflags_k8s="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  # Fixed build date and commit: the same inputs link the same binaries, and the Go build cache hits.
  ldflags_k8s+=" -X '$p.gitVersion=$K8S_VERSION' -X '$p.gitMajor=1' -X '$p.gitMinor=34' -X '$p.gitTreeState=clean'"
  ldflags_k8s+=" -X '$p.gitCommit=0000000000000000000000000000000000000000' -X '$p.buildDate=1970-01-01T00:00:00Z'"
done

# build_go MODULE_DIR "LDFLAGS" PACKAGE... : builds into $cache/bin/<module>-<key>/, prints that folder.
build_go() {
  local module=$1 ldflags=$2; shift 2
  local key out
  key=$(hash_of "$goversion $ldflags $*" "ci/kind/$module")
  out="$cache/bin/$module-$key"
  if [ ! -f "$out/.done" ]; then
    log "go build ($module): $*"
    rm -rf "$out" && mkdir -p "$out"
    (cd "$here/ci/kind/$module" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/" "$@") >&2
    touch "$out/.done"
  fi
  echo "$out"
}
k8s_bin=$(build_go k8s "$ldflags_k8s" \
  k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy)
etcd_bin=$(build_go etcd "-s -w" .)
coredns_bin=$(build_go coredns "-s -w" .)
crictl_bin=$(build_go crictl "-s -w" sigs.k8s.io/cri-tools/cmd/crictl)
localpath_bin=$(build_go local-path "-s -w" github.com/rancher/local-path-provisioner)
pause_bin=$(build_go pause "-s -w" .)
[ "$("$k8s_bin/kubelet" --version)" = "Kubernetes $K8S_VERSION" ] || die 1 "$k8s_bin/kubelet reports $("$k8s_bin/kubelet" --version), not $K8S_VERSION"
log "Go binaries: $k8s_bin, etcd, coredns, crictl, local-path-provisioner, pause"

# --- Debian root filesystems --------------------------------------------------------------------
# rootfs IMAGE_REPO PACKAGES: imports a debootstrap of $suite with PACKAGES (cached by its inputs).
rootfs() {
  local repo=$1 packages=$2 key image dir
  key=$(echo "$suite $packages" | sha)
  image="$repo:$key"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || {
      [ "$(id -u)" -eq 0 ] || die 3 "debootstrap is missing and this is not root: install it"
      log "installing debootstrap from Debian's packages"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    dir="$work/rootfs-${repo##*/}"
    log "debootstrap $suite for $repo from $mirror (a few minutes, once): $packages"
    debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 || {
      tail -n 30 "$dir.log" >&2; die 1 "debootstrap failed for $repo (log above)"; }
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    tar -C "$dir" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
    rm -rf "$dir" "$dir.log"
  fi
  echo "$image"
}
node_base=$(rootfs zk-chaos/kind-node-rootfs "$node_packages")
tools_base=$(rootfs zk-chaos/kind-tools-rootfs "$tools_packages")
log "root filesystems: $node_base, $tools_base"

# --- is the node image up to date? --------------------------------------------------------------
# The binaries by their folders' names (module and input hash), not their paths: a cache elsewhere
# (XDG_CACHE_HOME) holds the same binaries and must not make the image look out of date.
bins="${k8s_bin##*/} ${etcd_bin##*/} ${coredns_bin##*/} ${crictl_bin##*/} ${localpath_bin##*/} ${pause_bin##*/}"
key=$(hash_of "$KIND_VERSION $K8S_VERSION $bins $node_base $tools_base" \
  ci/build-kind.sh ci/kind/node ci/kind/images ci/docker/runc-drop-sys-resource)
current=$(docker image inspect -f '{{ index .Config.Labels "zk-chaos.kind-hash" }}' "$NODE_IMAGE" 2>/dev/null || true)
if [ "$current" = "$key" ]; then
  log "$NODE_IMAGE is up to date (kind hash $key)"
  exit 0
fi

# --- the images inside the node -----------------------------------------------------------------
# image TAG BASE FILE... -- DOCKERFILE-LINES : builds TAG from BASE with FILEs copied into the context.
image() {
  local tag=$1 base=$2; shift 2
  local ctx="$work/image-$(echo "$tag" | sha)"
  mkdir -p "$ctx"
  while [ "$1" != "--" ]; do cp -a "$1" "$ctx/"; shift; done
  shift
  { echo "FROM $base"; printf '%s\n' "$@"; } >"$ctx/Dockerfile"
  quiet docker build -t "$tag" "$ctx" || die 1 "docker build of $tag failed"
}
log "building the control-plane, DNS, network and storage images"
scratch_path='ENV PATH=/usr/local/bin:/usr/bin:/bin'
image "registry.k8s.io/pause:$PAUSE_TAG" scratch "$pause_bin/pause" -- 'COPY pause /pause' 'ENTRYPOINT ["/pause"]'
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  image "registry.k8s.io/$c:$K8S_VERSION" scratch "$k8s_bin/$c" -- "COPY $c /usr/local/bin/$c" "$scratch_path" "ENTRYPOINT [\"/usr/local/bin/$c\"]"
done
image "registry.k8s.io/etcd:$ETCD_TAG" scratch "$etcd_bin/etcd" -- 'COPY etcd /usr/local/bin/etcd' "$scratch_path"
image "registry.k8s.io/coredns/coredns:$COREDNS_TAG" scratch "$coredns_bin/coredns" -- 'COPY coredns /coredns' 'ENTRYPOINT ["/coredns"]'
image "$TOOLS_IMAGE" "$tools_base" "$k8s_bin/kubectl" "$here/ci/kind/images/zk-chaos-net" -- \
  'COPY kubectl zk-chaos-net /usr/local/bin/'
image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$TOOLS_IMAGE" "$k8s_bin/kube-proxy" -- 'COPY kube-proxy /usr/local/bin/kube-proxy'
image "$LOCAL_PATH_IMAGE" scratch "$localpath_bin/local-path-provisioner" -- \
  'COPY local-path-provisioner /local-path-provisioner' 'ENTRYPOINT ["/local-path-provisioner"]'
inner=("registry.k8s.io/pause:$PAUSE_TAG" "registry.k8s.io/etcd:$ETCD_TAG" "registry.k8s.io/coredns/coredns:$COREDNS_TAG"
  "registry.k8s.io/kube-proxy:$K8S_VERSION" "$TOOLS_IMAGE" "$LOCAL_PATH_IMAGE")
for c in kube-apiserver kube-controller-manager kube-scheduler; do inner+=("registry.k8s.io/$c:$K8S_VERSION"); done
docker save -o "$work/images.tar" "${inner[@]}"

# --- the node image -----------------------------------------------------------------------------
log "assembling $NODE_IMAGE on $node_base"
ctx="$work/node"
mkdir -p "$ctx"
cp -a "$here/ci/kind/node/." "$ctx/"
cp "$here/ci/docker/runc-drop-sys-resource" "$k8s_bin/kubeadm" "$k8s_bin/kubelet" "$k8s_bin/kubectl" "$crictl_bin/crictl" "$ctx/"
echo "$K8S_VERSION" >"$ctx/version"
cat >"$ctx/Dockerfile" <<EOF
FROM $node_base
COPY kubeadm kubelet kubectl /usr/bin/
COPY crictl /usr/local/bin/
COPY runc-drop-sys-resource /usr/local/libexec/zk-chaos/
COPY entrypoint /usr/local/bin/entrypoint
COPY bin/ /kind/bin/
COPY manifests/ /kind/manifests/
COPY version /kind/version
COPY containerd.toml /etc/containerd/config.toml
COPY crictl.yaml /etc/crictl.yaml
COPY kubelet.default /etc/default/kubelet
COPY systemd/kubelet.service systemd/kubelet.slice /etc/systemd/system/
COPY systemd/containerd.conf /etc/systemd/system/containerd.service.d/10-zk-chaos.conf
# systemd as a container's init: only what a node needs starts (no gettys, udev or logins), the
# journal does not read the host's kmsg.
RUN rm -f /etc/systemd/system/*.wants/* /lib/systemd/system/multi-user.target.wants/* \\
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service \\
 && echo ReadKMsg=no >>/etc/systemd/journald.conf \\
 && systemctl enable containerd.service kubelet.service \\
 && systemctl mask systemd-binfmt.service systemd-udevd.service getty.target console-getty.service systemd-logind.service \\
 && mkdir -p /etc/kubernetes/manifests /etc/cni/net.d /var/lib/zk-chaos-shared \\
 && chmod 0755 /usr/local/bin/entrypoint /kind/bin/* /usr/local/libexec/zk-chaos/runc-drop-sys-resource
ENV container=docker
# systemd's "halt" signal: docker stop shuts the node down cleanly.
STOPSIGNAL SIGRTMIN+3
EOF
quiet docker build -t "$NODE_IMAGE-stage" "$ctx" || die 1 "docker build of the node stage failed"

# The images go into the node's containerd now, as kind's own node images have them: a node
# starts with them, and kubeadm finds every image it would pull. containerd runs alone here (no
# systemd); the layers are unpacked in each node on first use (--no-unpack: the build container's
# root is overlayfs, which containerd's overlayfs snapshotter cannot use).
log "importing ${#inner[@]} images into the node's containerd"
builder=$(docker run -d --privileged -v "$work/images.tar:/images.tar:ro" --entrypoint containerd "$NODE_IMAGE-stage")
for _ in $(seq 1 60); do
  docker exec "$builder" ctr version >/dev/null 2>&1 && break
  sleep 0.5
done
docker exec "$builder" ctr -n k8s.io images import --no-unpack --all-platforms /images.tar >/dev/null || die 1 "ctr images import failed"
docker exec "$builder" ctr -n k8s.io images ls -q | LC_ALL=C sort >"$work/imported"
for i in "${inner[@]}"; do
  grep -qx "docker.io/$i\|$i" "$work/imported" || die 1 "$i is missing from the node's containerd after the import"
done
docker stop -t 10 "$builder" >/dev/null
docker commit \
  -c 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' -c 'CMD []' \
  -c "LABEL zk-chaos.kind-hash=$key" -c "LABEL zk-chaos.kubernetes-version=$K8S_VERSION" \
  "$builder" "$NODE_IMAGE" >/dev/null
docker rm -f "$builder" >/dev/null
builder=''
docker rmi "$NODE_IMAGE-stage" >/dev/null 2>&1 || true
log "built $NODE_IMAGE (kind hash $key; $(docker image inspect -f '{{.Size}}' "$NODE_IMAGE" | awk '{printf "%.0f MiB", $1/1048576}'))"
