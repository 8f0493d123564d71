//go:build tools

// The command ci/build-kind.sh builds from this module; this file only records the dependency.
package tools

import _ "github.com/rancher/local-path-provisioner"
