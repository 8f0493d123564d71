//! The runner's refusal of a disruptive suite on a kube context it did not create comes before
//! it contacts the cluster (moved from the core's kube tests: it drives the runner).

use crate::config::Config;

#[tokio::test]
async fn connect_refuses_disruptive_suites_on_a_context_it_did_not_create_before_contacting_it() {
    use crate::platform::KubeOptions;
    use crate::platform::PlatformKind;
    use crate::run::{self, RunOptions};
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    // The server would refuse connections: a refusal must come first, and be exit 2, not 3.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: prod-eu\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:9\n\
         contexts:\n- name: prod-eu\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\n",
    )
    .unwrap();
    let opts = |suite: &str, allow: Option<&str>| RunOptions {
        platform: PlatformKind::Kube,
        suites: vec![suite.to_string()],
        manifest: Some("fixtures/zookeeper.yaml".into()),
        results: dir.path().join("results"),
        config: Config::default(),
        keep: false,
        fail_fast: false,
        kube: KubeOptions { kubeconfig: Some(kubeconfig.clone()), allow_disruption: allow.map(str::to_string), ..Default::default() },
    };
    let p = run::prepare(opts("process-failure", None)).unwrap();
    let err = run::connect(&p, &run::Session::without_cluster(dir.path().join("runs")), "zk-chaos-20261128-162600-ab12", true).await.err().expect("refused");
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("--allow-disruption=prod-eu"), "{err}");
    // Allowed, or not disruptive: it goes on to the cluster, which is unreachable (exit 3).
    let p = run::prepare(opts("process-failure", Some("prod-eu"))).unwrap();
    assert_eq!(run::connect(&p, &run::Session::without_cluster(dir.path().join("runs")), "r", true).await.err().expect("unreachable").exit_code(), 3);
    let p = run::prepare(opts("conformance", None)).unwrap();
    assert_eq!(run::connect(&p, &run::Session::without_cluster(dir.path().join("runs")), "r", true).await.err().expect("unreachable").exit_code(), 3);
}
