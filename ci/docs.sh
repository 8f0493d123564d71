#!/usr/bin/env bash
# Builds the book (docs/, mdBook) into a temporary folder and checks the relative links and anchors
# of README.md, CHANGELOG.md and the book (ci/check-links.py). Installs mdbook from crates.io with
# `cargo install --locked` when the pinned version is not on PATH (or in ~/.cargo/bin): minutes
# once, on 2 cores; seconds after that.
#
# Exit codes: 0 the book builds and every link resolves; 1 the build failed or a link is broken;
# 3 mdbook is missing and cannot be installed (no cargo, or crates.io not reachable).
#
# Environment: MDBOOK_VERSION (default below), ZK_CHAOS_DOCS_OUT (keep the built book there
# instead of a temporary folder that is removed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MDBOOK_VERSION=${MDBOOK_VERSION:-0.5.4}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

have_mdbook() { command -v mdbook >/dev/null && [ "$(mdbook --version 2>/dev/null)" = "mdbook v$MDBOOK_VERSION" ]; }

if ! have_mdbook; then
  if ! command -v cargo >/dev/null; then
    echo "ci/docs.sh: mdbook v$MDBOOK_VERSION is not installed and there is no cargo to install it with; install Rust (rustup) or mdbook" >&2
    exit 3
  fi
  echo "ci/docs.sh: installing mdbook v$MDBOOK_VERSION (cargo install --locked; minutes the first time)" >&2
  # cargo install builds in a temporary folder of its own unless CARGO_TARGET_DIR (set for the
  # project's build in CI) says otherwise: mdbook's build does not belong in the project's cache.
  if ! env -u CARGO_TARGET_DIR cargo install mdbook --locked --version "$MDBOOK_VERSION" >&2; then
    echo "ci/docs.sh: cargo install mdbook --locked --version $MDBOOK_VERSION failed (is crates.io reachable?)" >&2
    exit 3
  fi
fi

out=${ZK_CHAOS_DOCS_OUT:-}
if [ -z "$out" ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mdbook build docs --dest-dir "$out" >&2
[ -f "$out/index.html" ] && [ -f "$out/configuration.html" ] || { echo "ci/docs.sh: mdbook built no index.html or configuration.html in $out" >&2; exit 1; }
echo "ci/docs.sh: the book built ($(find "$out" -name '*.html' | wc -l) pages)" >&2
python3 ci/check-links.py --self-test
python3 ci/check-links.py --html "$out"
