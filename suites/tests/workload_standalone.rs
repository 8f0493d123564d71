//! End-to-end: the workload against a real Docker ensemble while java is killed in a follower
//! that holds workload sessions. The checker must find no acknowledged write lost and every
//! session's reads monotonic, some writes acknowledged, and the unavailability window reported.
//! Everything labelled with the test's run id is removed, also when the test fails.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zk_chaos::client::fourlw;
use zk_chaos::config::{Config, WorkloadConfig};
use zk_chaos::ensemble::{self, EnsembleView};
use zk_chaos::manifest::Manifest;
use zk_chaos::platform::docker::{engine, DockerPlatform};
use zk_chaos::platform::{LifecycleKind, Platform};
use zk_chaos::suites::faults::first_after;
use zk_chaos::wait::{self, Seen};
use zk_chaos::workload::{self, CheckOptions, Workload, WorkloadOptions};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_when_java_dies_in_a_follower() {
    common::start_docker();
    let clock = Instant::now();
    let manifest = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/zookeeper.yaml")).unwrap();
    let config = Config::default();
    let run_id = zk_chaos::run::new_run_id("zk-chaos-wltest");
    let platform = Arc::new(DockerPlatform::connect(manifest, config.clone(), run_id.clone()).await.expect("a Docker engine with the fixture image"));

    // The body runs as its own task so that a failed assertion still reaches the teardown below.
    let body = tokio::spawn(scenario(platform.clone(), config.clone()));
    let outcome = body.await;
    let teardown = platform.teardown().await;
    let left = engine::find(platform.docker(), Some(&run_id)).await.unwrap();
    eprintln!("workload_standalone: {:.1}s in all", clock.elapsed().as_secs_f64());
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    teardown.expect("teardown");
    assert!(left.is_empty(), "run {run_id} left {}", left.describe());
}

/// Sessions a member holds (`cons` lines of client sessions).
async fn sessions_on(p: &dyn Platform, member: &str) -> usize {
    let addr = p.client_addr(member).await.unwrap();
    let cons = fourlw::ask(addr, "cons", Duration::from_secs(5)).await.unwrap_or_default();
    cons.lines().filter(|l| l.contains("sid=0x")).count()
}

async fn scenario(p: Arc<DockerPlatform>, config: Config) {
    let op = config.timeouts.operation;
    let started = Instant::now();
    p.deploy().await.expect("deploy");
    // Ready is not serving: the walkthrough's probe asks `ruok`, answered while the members still
    // elect. A run waits for every member to serve before its suites; so does this test (its
    // workload's first session timed out in CI, started on Ready under load).
    ensemble::wait_serving(p.as_ref(), config.timeouts.ensemble_whole, op).await.expect("every member serving");
    eprintln!("ensemble up in {:.1}s", started.elapsed().as_secs_f64());
    let mut addrs = Vec::new();
    for m in p.members() {
        addrs.push(p.client_addr(&m).await.unwrap());
    }
    let origin = chrono::Utc::now();
    let prefix = format!("/zk-chaos/{}/standalone", p.run_id());
    // Busy enough that a session on the killed follower has an operation in flight when it dies.
    let cfg = WorkloadConfig { rate_per_second: 600, max_duration: Duration::from_secs(40), max_operations: 20_000 };
    let opts = WorkloadOptions { workers: 6, ..Default::default() };
    let load = Workload::start_with(addrs.clone(), prefix.clone(), &cfg, op, opts).await.expect("workload start");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The follower holding the most workload sessions, so the fault moves some of them.
    let view = EnsembleView::observe(p.as_ref(), op).await.unwrap();
    let mut followers = Vec::new();
    for f in view.followers() {
        followers.push((sessions_on(p.as_ref(), f).await, f.to_string()));
    }
    followers.sort();
    let (held, victim) = followers.last().cloned().unwrap_or_else(|| panic!("no follower: {}", view.describe()));
    assert!(held > 0, "no workload session on any follower ({followers:?}); {}", view.describe());
    let fault_at = chrono::Utc::now();
    let killed = p.exec(&victim, &["pkill", "java"]).await;
    eprintln!("pkill java in {victim} (holding {held} sessions): {killed:?}");

    // The fault happened: the container exited and was restarted.
    let restarted = wait::until(&format!("{victim} exited and restarted"), Duration::from_secs(30), Some(p.subscribe()), || async {
        let events = p.lifecycle();
        Ok(match (first_after(&events, &victim, &[LifecycleKind::Exited], fault_at), first_after(&events, &victim, &[LifecycleKind::Restarted], fault_at)) {
            (Some(e), Some(r)) => Seen::Done((e, r)),
            _ => Seen::NotYet(format!("{} events since the fault", events.iter().filter(|e| e.at >= fault_at).count())),
        })
    })
    .await
    .expect("the fault took effect");
    eprintln!("{victim}: exited {} ms, restarted {} ms after pkill", (restarted.0.at - fault_at).num_milliseconds(), (restarted.1.at - fault_at).num_milliseconds());
    tokio::time::sleep(Duration::from_secs(3)).await;

    let history = load.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workload-history.jsonl");
    history.save(&file).unwrap();
    assert_eq!(workload::History::load(&file).unwrap(), history);

    let final_state = workload::read_final_state(&addrs, &prefix, config.timeouts.ensemble_whole).await.expect("final state");
    let j = workload::check(&history, &final_state, &CheckOptions { bucket: Duration::from_secs(1), origin });
    eprintln!("{}", j.describe());
    assert!(j.lost.is_empty(), "lost: {:?}", j.lost);
    assert!(j.phantoms.is_empty(), "phantoms: {:?}", j.phantoms);
    assert!(j.stale_reads.is_empty(), "stale: {:?}", j.stale_reads);
    assert!(j.acknowledged_writes > 100, "{}", j.describe());
    assert!(final_state.values.len() as u64 >= j.acknowledged_writes, "fewer znodes than acknowledged writes");
    // Sessions on the killed follower lost an operation in flight, then moved on.
    assert!(j.unknown + j.failed > 0, "the fault cost no operation: {}", j.describe());
    let unavailable = j.unavailable_ms.expect("an unavailability window is reported");
    assert!(unavailable < 30_000, "unavailable {unavailable} ms for a follower's death: {}", j.describe());
    assert!(!j.series.is_empty() && j.series.iter().map(|b| u64::from(b.ok)).sum::<u64>() == j.acknowledged);
}
