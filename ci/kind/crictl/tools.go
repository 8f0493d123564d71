//go:build tools

// The command ci/build-kind.sh builds from this module; this file only records the dependency.
package tools

import _ "sigs.k8s.io/cri-tools/cmd/crictl"
