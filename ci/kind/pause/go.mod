// The pod sandbox's pause process for the kind node image (ci/build-kind.sh).
module zk-chaos.local/kind/pause

go 1.24.0
