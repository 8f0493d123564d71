//! `zk-chaos check`: a recorded history judged from the command line, in each format and model,
//! with each exit code.

use std::path::Path;
use std::process::Command;

fn zk_chaos(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zk-chaos")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_string()
}

/// Jepsen's log lines: process 1's CAS from 0 failed although the register held 0 all along
/// (the read before and after saw nil, then 0 written and read back).
const JEPSEN_BAD: &str = "INFO  jepsen.util - 0\t:invoke\t:write\t0
INFO  jepsen.util - 0\t:ok\t:write\t0
INFO  jepsen.util - 1\t:invoke\t:cas\t[0 3]
INFO  jepsen.util - 1\t:fail\t:cas\t[0 3]
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:ok\t:read\t0
";

#[test]
fn a_jepsen_log_judged_as_a_register_of_values() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.log", JEPSEN_BAD);
    let svg = dir.path().join("part.svg");
    let (code, out, err) = zk_chaos(&["check", &bad, "--model", "register", "--svg", svg.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not linearizable on register") && out.contains("cas(\"0\" -> \"3\") failed"), "the failing part is printed: {out}");
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.contains("xmlns=\"http://www.w3.org/2000/svg\"") && drawn.contains("CAS &quot;0&quot; &quot;3&quot;"), "{drawn}");
    // The CAS succeeding instead is linearizable, and nothing is drawn.
    let ok = write(dir.path(), "ok.log", &JEPSEN_BAD.replace(":fail\t:cas", ":ok\t:cas").replace(":read\t0", ":read\t3"));
    let svg2 = dir.path().join("none.svg");
    let (code, out, err) = zk_chaos(&["check", &ok, "--model", "register", "--svg", svg2.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": linearizable"), "{out}");
    assert!(!svg2.exists());
}

#[test]
fn kv_edn_lines_and_our_json_each_with_their_model() {
    let dir = tempfile::tempdir().unwrap();
    let kv = write(
        dir.path(),
        "kv.txt",
        "{:process 0, :type :invoke, :f :append, :key \"1\", :value \"x\"}\n{:process 0, :type :ok, :f :append, :key \"1\", :value \"x\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 1, :type :ok, :f :get, :key \"1\", :value \"xx\"}\n",
    );
    let (code, out, err) = zk_chaos(&["check", &kv, "--model", "kv"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not linearizable on 1"), "{out}");
    // The same history as a znode: it has no append, which is bad input naming the operation.
    let (code, out, err) = zk_chaos(&["check", &kv, "--model", "zk-register"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("the model zk-register") && err.contains("append(\"x\")") && err.contains("choose another --model"), "{err}");
    // Our JSON, a znode by default.
    let json = write(
        dir.path(),
        "h.json",
        r#"{"ops": [{"id": 0, "process": 0, "key": "/r/k0", "kind": "write", "value": "a", "invoked": 0, "completed": 10, "outcome": "ok"},
                    {"id": 1, "process": 1, "key": "/r/k0", "kind": "read", "synced_at": 20, "invoked": 20, "completed": 30, "outcome": "ok", "read": {"value": "a", "version": 1}}]}"#,
    );
    let (code, out, err) = zk_chaos(&["check", &json]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 operations on 1 key(s), model zk-register: linearizable"), "{out}");
}

#[test]
fn undecided_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    // Many concurrent writes whose outcomes are unknown, and reads of a value never written: the
    // search tries their orders until the budget runs out.
    let mut lines = String::new();
    for p in 0..24 {
        lines.push_str(&format!("{{:process {p}, :type :invoke, :f :put, :key \"k\", :value \"u{p}\"}}\n"));
    }
    for p in 0..24 {
        lines.push_str(&format!("{{:process {p}, :type :info, :f :put, :key \"k\", :value \"u{p}\"}}\n"));
    }
    for _ in 0..24 {
        lines.push_str("{:process 100, :type :invoke, :f :get, :key \"k\", :value nil}\n{:process 100, :type :ok, :f :get, :key \"k\", :value \"never\"}\n");
    }
    let hard = write(dir.path(), "hard.txt", &lines);
    let (code, out, err) = zk_chaos(&["check", &hard, "--model", "kv", "--budget", "300ms"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unknown: no legal order found or ruled out within 300ms"), "{out}");

    let (code, _, err) = zk_chaos(&["check", &hard, "--model", "cas-register"]);
    assert_eq!(code, 2);
    assert!(err.contains("--model cas-register: unknown model (known: zk-register, register, kv)"), "{err}");
    let garbage = write(dir.path(), "g.txt", "hello\n");
    let (code, _, err) = zk_chaos(&["check", &garbage]);
    assert_eq!(code, 2);
    assert!(err.contains("g.txt: not a history"), "{err}");
    let (code, _, err) = zk_chaos(&["check", dir.path().join("absent.json").to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("absent.json: cannot read it"), "{err}");
}
