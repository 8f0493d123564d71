// Command porcupine-check judges zk-chaos register histories with Porcupine, for the cross-check
// of zk-chaos's own linearizability checker (ci/porcupine-crosscheck.sh).
//
// Usage: porcupine-check [-timeout 10s] [-reads synced|all|none] FILE-OR-DIR...
//
// It reads the JSON histories documented in harness/core/workload/register/history.rs and prints one
// JSON line per history: {"file", "seed", "verdict", "keys": {key: verdict}}, where a verdict is
// "linearizable", "not_linearizable" or "unknown". "verdict" is one CheckOperationsTimeout call
// on the whole history with a Partition function by key; "keys" checks each key's operations
// alone, so the two sides can also be compared key by key. "whole_ms" times the whole-history
// check alone, "ms" both (ci/bench/checker.rs reads "whole_ms").
//
// The history is fed to Porcupine as zk-chaos feeds its own search, written here again from the
// format's documentation rather than shared:
//   - failed operations are left out (they did not take effect);
//   - an unknown write or CAS returns at +infinity (math.MaxInt64) with an output marked unknown,
//     which the model accepts in any state (a CAS whose version does not match changes nothing):
//     Porcupine's way of saying "may have happened at any time after the invocation, or never";
//   - reads: by default only ok reads after a sync, their interval starting at the sync's
//     invocation; unknown reads are left out.
//
// The register's state is (value, version); every write adds one to the version.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

type state struct {
	Value   string `json:"value"`
	Version int64  `json:"version"`
}

type op struct {
	ID              int    `json:"id"`
	Key             string `json:"key"`
	Kind            string `json:"kind"`
	Value           string `json:"value"`
	ExpectedVersion int64  `json:"expected_version"`
	Invoked         int64  `json:"invoked"`
	Completed       int64  `json:"completed"`
	Outcome         string `json:"outcome"`
	Read            *state `json:"read"`
	Version         *int64 `json:"version"`
	SyncedAt        *int64 `json:"synced_at"`
}

type history struct {
	Seed    *uint64 `json:"seed"`
	Initial *state  `json:"initial"`
	Ops     []op    `json:"ops"`
}

// The model's input and output.
type input struct {
	key      string
	kind     string // "read", "write", "cas"
	value    string
	expected int64
}

type output struct {
	unknown    bool
	read       state
	version    int64
	hasVersion bool
}

func model(initial state) porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, o := range history {
				k := o.Input.(input).key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], o)
			}
			sort.Strings(keys)
			var parts [][]porcupine.Operation
			for _, k := range keys {
				parts = append(parts, byKey[k])
			}
			return parts
		},
		Init: func() interface{} { return initial },
		Step: func(st, in, out interface{}) (bool, interface{}) {
			s, i, o := st.(state), in.(input), out.(output)
			written := func() (bool, interface{}) {
				next := state{Value: i.value, Version: s.Version + 1}
				if !o.unknown && o.hasVersion && o.version != next.Version {
					return false, s
				}
				return true, next
			}
			switch i.kind {
			case "read":
				return o.read == s, s
			case "write":
				return written()
			default: // cas
				if s.Version == i.expected {
					return written()
				}
				// An unknown CAS may have run against another version and changed nothing.
				return o.unknown, s
			}
		},
		DescribeOperation: func(in, out interface{}) string {
			i, o := in.(input), out.(output)
			switch {
			case o.unknown:
				return fmt.Sprintf("%s %s(%q) unknown", i.key, i.kind, i.value)
			case i.kind == "read":
				return fmt.Sprintf("%s read -> (%q, v%d)", i.key, o.read.Value, o.read.Version)
			default:
				return fmt.Sprintf("%s %s(%q) ok", i.key, i.kind, i.value)
			}
		},
	}
}

// operations turns a history into Porcupine operations (see the package documentation).
func operations(h history, reads string) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, o := range h.Ops {
		if o.Outcome == "failed" {
			continue
		}
		in := input{key: o.Key, kind: o.Kind, value: o.Value, expected: o.ExpectedVersion}
		out := output{unknown: o.Outcome == "unknown"}
		call, ret := o.Invoked, o.Completed
		if out.unknown {
			ret = math.MaxInt64
		}
		switch o.Kind {
		case "read":
			wanted := reads == "all" || (reads == "synced" && o.SyncedAt != nil)
			if !wanted || out.unknown || o.Read == nil {
				continue
			}
			if o.SyncedAt != nil {
				call = *o.SyncedAt
			}
			out.read = *o.Read
		case "write", "cas":
			if !out.unknown && o.Version != nil {
				out.version, out.hasVersion = *o.Version, true
			}
		default:
			fmt.Fprintf(os.Stderr, "operation %d: unknown kind %q\n", o.ID, o.Kind)
			os.Exit(2)
		}
		ops = append(ops, porcupine.Operation{ClientId: 0, Input: in, Call: call, Output: out, Return: ret})
	}
	return ops
}

func verdict(r porcupine.CheckResult) string {
	switch r {
	case porcupine.Ok:
		return "linearizable"
	case porcupine.Illegal:
		return "not_linearizable"
	default:
		return "unknown"
	}
}

type result struct {
	File    string            `json:"file"`
	Seed    *uint64           `json:"seed,omitempty"`
	Verdict string            `json:"verdict"`
	Keys    map[string]string `json:"keys"`
	Ms      float64           `json:"ms"`
	// WholeMs: the whole-history check alone (the speed benchmark's number).
	WholeMs float64 `json:"whole_ms"`
}

func files(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, a)
			continue
		}
		found, err := filepath.Glob(filepath.Join(a, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func main() {
	timeout := flag.Duration("timeout", 10*time.Second, "Porcupine's budget per check (0: none)")
	reads := flag.String("reads", "synced", "which reads must be linearizable: synced, all or none")
	flag.Parse()
	if *reads != "synced" && *reads != "all" && *reads != "none" {
		fmt.Fprintf(os.Stderr, "-reads %q: want synced, all or none\n", *reads)
		os.Exit(2)
	}
	paths, err := files(flag.Args())
	if err != nil || len(paths) == 0 {
		fmt.Fprintf(os.Stderr, "usage: porcupine-check [-timeout D] [-reads synced|all|none] FILE-OR-DIR... (%v)\n", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var h history
		if err := json.Unmarshal(text, &h); err != nil {
			fmt.Fprintf(os.Stderr, "%s: not a register history: %v\n", p, err)
			os.Exit(2)
		}
		initial := state{Value: "", Version: 0}
		if h.Initial != nil {
			initial = *h.Initial
		}
		m := model(initial)
		ops := operations(h, *reads)
		start := time.Now()
		res := result{File: filepath.Base(p), Seed: h.Seed, Keys: map[string]string{}}
		res.Verdict = verdict(porcupine.CheckOperationsTimeout(m, ops, *timeout))
		res.WholeMs = float64(time.Since(start).Microseconds()) / 1000
		alone := m
		alone.Partition = nil
		for _, part := range m.Partition(ops) {
			res.Keys[part[0].Input.(input).key] = verdict(porcupine.CheckOperationsTimeout(alone, part, *timeout))
		}
		// Keys with no operation fed to the search are trivially linearizable.
		for _, o := range h.Ops {
			if _, ok := res.Keys[o.Key]; !ok {
				res.Keys[o.Key] = "linearizable"
			}
		}
		res.Ms = float64(time.Since(start).Microseconds()) / 1000
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}
