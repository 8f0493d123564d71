#!/usr/bin/env bash
# The layout is the architecture (docs/src/architecture.md): zk-chaos-core (harness/core) below
# zk-chaos-suites (suites/) below zk-chaos (the runner, the CLI and the job; harness/). Checks that
# no arrow runs back up:
#  - no crate depends (normally, for its tests or its build) on a crate above it (cargo metadata);
#  - no source file of a lower crate names a higher one (`zk_chaos_suites`, `zk_chaos::`);
#  - the runner and the CLI (harness/run.rs, cli.rs, main.rs) name no platform's modules
#    (`platform::kube::`, `platform::docker::`), only the platform layer's API;
#  - no `#[path = ...]` attribute in harness/ or suites/: a module is where its name says.
# Cargo itself refuses a cycle of normal dependencies; a dev-dependency cycle or a `#[path` that
# pulls a folder into another crate it would not see.
#
#   bash ci/layers.sh      # needs cargo and python3; run by ci/lint.sh
#
# Exit codes: 0 layered; 1 an arrow runs back (each printed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=0
say() { printf 'layers: %s\n' "$*" >&2; }

# Each crate and the crates above it, which it must not depend on.
if ! cargo metadata --no-deps --format-version 1 --offline | python3 -c '
import json, sys
above = {"zk-chaos-core": {"zk-chaos-suites", "zk-chaos"}, "zk-chaos-suites": {"zk-chaos"}}
bad = 0
for p in json.load(sys.stdin)["packages"]:
    for d in p["dependencies"]:
        if d["name"] in above.get(p["name"], ()):
            kind, mp, name, dep = d["kind"] or "normal", p["manifest_path"], p["name"], d["name"]
            print(f"{mp}: {name} depends on {dep} ({kind}), a crate above it; move what it needs down", file=sys.stderr)
            bad = 1
sys.exit(bad)
'; then
  failed=1
fi

# Source files naming a crate above their own (comments included: a doc link up is an arrow too).
if grep -rnE '\bzk_chaos_suites\b|\bzk_chaos::' harness/core --include='*.rs' >&2; then
  say "harness/core (zk-chaos-core) names the suites or the runner above it, in the lines above"
  failed=1
fi
if grep -rnE '\bzk_chaos::' suites --include='*.rs' --exclude-dir=tests >&2; then
  say "suites/ (zk-chaos-suites) names the runner above it, in the lines above"
  failed=1
fi

# The runner, the CLI and the command line open platforms and clean up through the platform
# layer's own API (`platform::open`, `platform::KubeContext`, ...: harness/core/platform/commands.rs),
# never a platform's modules; the Job (harness/job/) is Kubernetes by nature and may.
if grep -nE '\bplatform::(kube|docker)\b|\bplatform::\{[^}]*\b(kube|docker)\b' harness/run.rs harness/cli.rs harness/main.rs >&2; then
  say "the runner or the CLI names a platform's modules, in the lines above: use (or add) what harness/core/platform/commands.rs offers as platform::X"
  failed=1
fi

if grep -rn '#\[path' harness suites >&2; then
  say "#[path] attributes, in the lines above: declare the module where its file is (mod x; for x.rs or x/mod.rs)"
  failed=1
fi

[ "$failed" = 0 ] && say "zk-chaos-core < zk-chaos-suites < zk-chaos, the runner names no platform's modules, no #[path]"
exit "$failed"
