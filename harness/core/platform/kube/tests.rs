//! KubePlatform against a mock API server (tower-test): each test answers the requests the
//! platform sends, asserting method, path, query and body, with bodies shaped as the Kubernetes
//! API reference documents them. No cluster is involved.
//!
//! One file of tests for one platform: each answers a whole exchange with the mock, and they share
//! its helpers (`mock.rs`); split by concern they would repeat the set-up.

use std::path::Path;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock;

use super::KubePlatform;
use crate::config::Config;
use crate::manifest::Manifest;
use crate::platform::{Cluster, EvictionOutcome, Partitions, Platform};

use super::mock::*;

#[tokio::test]
async fn eviction_refused_by_the_budget_then_accepted() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        for (status, body) in [(429, budget_refusal()), (201, eviction_accepted())] {
            let sent = expect(&mut h, Method::POST, "/api/v1/namespaces/ns/pods/zk-2/eviction?", status, body).await;
            assert_eq!(sent["apiVersion"], "policy/v1");
            assert_eq!(sent["kind"], "Eviction");
            assert_eq!(sent["metadata"]["name"], "zk-2");
            assert_eq!(sent["metadata"]["namespace"], "ns");
        }
    });
    match p.evict("zk-2").await.unwrap() {
        EvictionOutcome::RefusedByBudget { message } => {
            assert!(message.contains("needs 2 healthy pods and has 2 currently"), "{message}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(p.evict("zk-2").await.unwrap(), EvictionOutcome::Accepted);
    server.await.unwrap();
}

#[tokio::test]
async fn a_429_without_a_budget_cause_is_an_error_not_a_refusal() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let throttled = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"Too many requests, please try again later.","reason":"TooManyRequests",
            "details":{"retryAfterSeconds":1},"code":429});
        expect(&mut h, Method::POST, "/api/v1/namespaces/ns/pods/zk-2/eviction?", 429, throttled).await;
    });
    let err = p.evict("zk-2").await.unwrap_err();
    assert!(err.to_string().contains("not by a disruption budget"), "{err:#}");
    server.await.unwrap();
}

#[tokio::test]
async fn cordon_and_uncordon_are_merge_patches_of_spec_unschedulable_and_teardown_undoes_leftovers() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let (body, ct) = expect_typed(&mut h, Method::PATCH, "/api/v1/nodes/worker2?", 200, node("worker2", true)).await;
        // The cordon names the run and its host (`clean` finds it by that); the uncordon removes both.
        let host = crate::ownership::this_host();
        assert_eq!(
            body,
            json!({"metadata": {"annotations": {"zk-chaos.run/cordoned-by": "zk-chaos-20261128-162600-ab12", "zk-chaos.run/cordoned-from": host}}, "spec": {"unschedulable": true}})
        );
        assert_eq!(ct, "application/merge-patch+json");
        // Teardown asks the API server which nodes still carry the run's cordon (the nodes are
        // the record): worker2 does, worker3 is cordoned by another run, worker1 by nobody.
        let cordoned = |name: &str, by: &str| {
            let mut n = node(name, true);
            n["metadata"]["annotations"] = json!({"zk-chaos.run/cordoned-by": by, "zk-chaos.run/cordoned-from": host});
            n
        };
        let list = json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {},
            "items": [node("worker1", false), cordoned("worker2", "zk-chaos-20261128-162600-ab12"), cordoned("worker3", "zk-chaos-20261128-170000-cd34")]});
        expect(&mut h, Method::GET, "/api/v1/nodes?", 200, list).await;
        // Only worker2 is uncordoned, then the run's objects deleted.
        let (body, _) = expect_typed(&mut h, Method::PATCH, "/api/v1/nodes/worker2?", 200, node("worker2", false)).await;
        assert_eq!(body, json!({"metadata": {"annotations": {"zk-chaos.run/cordoned-by": null, "zk-chaos.run/cordoned-from": null}}, "spec": {"unschedulable": false}}));
        h
    });
    p.cordon("worker2").await.unwrap();
    // Teardown runs until it meets a request the server does not answer: only check the uncordon.
    let t = tokio::spawn(async move { p.teardown().await });
    let mut h = server.await.unwrap();
    let (req, send) = h.next_request().await.unwrap();
    assert_eq!(req.method(), Method::DELETE);
    assert_eq!(req.uri().path(), "/apis/apps/v1/namespaces/ns/statefulsets/zk");
    drop(send);
    drop(h);
    let _ = t.await;
}

#[tokio::test]
async fn nodes_budget_and_pinned_volume() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let mut cp = node("zk-chaos-control-plane", false);
        cp["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = json!("");
        expect(
            &mut h,
            Method::GET,
            "/api/v1/nodes?",
            200,
            json!({"apiVersion":"v1","kind":"NodeList","metadata":{"resourceVersion":"1"},"items":[node("w2", true), cp, node("w1", false)]}),
        )
        .await;
        expect(
            &mut h,
            Method::GET,
            "/apis/policy/v1/namespaces/ns/poddisruptionbudgets/zk-pdb",
            200,
            json!({
            "apiVersion":"policy/v1","kind":"PodDisruptionBudget",
            "metadata":{"name":"zk-pdb","namespace":"ns","generation":1},
            "spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"zk"}}},
            "status":{"observedGeneration":1,"currentHealthy":3,"desiredHealthy":2,"disruptionsAllowed":1,"expectedPods":3}}),
        )
        .await;
        expect(
            &mut h,
            Method::GET,
            "/api/v1/namespaces/ns/persistentvolumeclaims/datadir-zk-1",
            200,
            json!({
            "apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"datadir-zk-1","namespace":"ns"},
            "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"10Gi"}},"volumeName":"pvc-3f1c","storageClassName":"standard"},
            "status":{"phase":"Bound"}}),
        )
        .await;
        expect(
            &mut h,
            Method::GET,
            "/api/v1/persistentvolumes/pvc-3f1c",
            200,
            json!({
            "apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pvc-3f1c","uid":"8d3e"},
            "spec":{"capacity":{"storage":"10Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/var/local-path-provisioner/pvc-3f1c","type":"DirectoryOrCreate"},
              "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["zk-chaos-worker3"]}]}]}},
              "storageClassName":"standard","persistentVolumeReclaimPolicy":"Delete"}}),
        )
        .await;
    });
    let nodes = p.nodes().await.unwrap();
    let names: Vec<(&str, bool, bool)> = nodes.iter().map(|n| (n.name.as_str(), n.schedulable, n.control_plane)).collect();
    assert_eq!(names, vec![("w1", true, false), ("w2", false, false), ("zk-chaos-control-plane", true, true)]);
    let b = p.budget().await.unwrap();
    assert_eq!((b.current_healthy, b.desired_healthy, b.disruptions_allowed, b.observed_generation, b.generation), (3, 2, 1, Some(1), Some(1)));
    assert_eq!(p.volume_pinned_node("zk-1").await.unwrap().as_deref(), Some("zk-chaos-worker3"));
    server.await.unwrap();
}

fn revision(n: i64, hash: &str, image: &str, owner: &str) -> Value {
    json!({"apiVersion":"apps/v1","kind":"ControllerRevision",
        "metadata":{"name":format!("zk-{hash}"),"namespace":"ns","labels":{"app":"zk","controller.kubernetes.io/hash":hash},
            "ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"zk","uid":owner,"controller":true,"blockOwnerDeletion":true}]},
        "data":{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"zk"}},
            "spec":{"containers":[{"name":"kubernetes-zookeeper","image":image}]}}}},
        "revision":n})
}

fn statefulset(uid: &str) -> Value {
    json!({"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"zk","namespace":"ns","uid":uid,"generation":2},
        "spec":{"selector":{"matchLabels":{"app":"zk"}},"serviceName":"zk-hs","replicas":3,
            "template":{"metadata":{"labels":{"app":"zk"}},"spec":{"containers":[{"name":"kubernetes-zookeeper","image":"zk:b"}]}}}})
}

#[tokio::test]
async fn a_rollout_followed_through_controller_revisions_and_undone_like_kubectl() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let list = json!({"apiVersion":"apps/v1","kind":"ControllerRevisionList","metadata":{"resourceVersion":"9"},
            // Out of order, and one revision of another (deleted) StatefulSet with the same labels.
            "items":[revision(2, "7b9c", "zk:b", "sts-1"), revision(1, "5d4f", "zk:a", "sts-1"), revision(1, "0000", "zk:old", "sts-0")]});
        for _ in 0..2 {
            expect(&mut h, Method::GET, "/apis/apps/v1/namespaces/ns/statefulsets/zk", 200, statefulset("sts-1")).await;
            expect(&mut h, Method::GET, "/apis/apps/v1/namespaces/ns/controllerrevisions?&labelSelector=app%3Dzk", 200, list.clone()).await;
        }
        let (body, ct) = expect_typed(&mut h, Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/zk?", 200, statefulset("sts-1")).await;
        assert_eq!(ct, "application/strategic-merge-patch+json");
        assert_eq!(body["spec"]["template"]["spec"]["containers"][0]["image"], "zk:a");
        assert_eq!(body["spec"]["template"]["$patch"], "replace");
    });
    let revs = p.revisions().await.unwrap();
    let seen: Vec<(i64, &str)> = revs.iter().map(|r| (r.number, r.hash.as_str())).collect();
    // The hash is the revision's name, as pods carry it in their controller-revision-hash label.
    assert_eq!(seen, vec![(1, "zk-5d4f"), (2, "zk-7b9c")]);
    assert_eq!(revs[1].template["spec"]["containers"][0]["image"], "zk:b");
    p.rollback().await.unwrap();
    server.await.unwrap();
}

#[test]
fn a_pod_the_controller_cannot_create_is_explained_by_its_newest_failed_create_event() {
    let ev = |name: &str, at: &str, msg: &str| -> k8s_openapi::api::core::v1::Event {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"}, "involvedObject": {"kind": "StatefulSet", "name": "zk"},
            "reason": "FailedCreate", "type": "Warning", "lastTimestamp": at, "message": msg}))
        .unwrap()
    };
    let events = [
        ev("a", "2026-12-01T10:00:00Z", "create Pod zk-0 in StatefulSet zk failed error: pods \"zk-0\" is forbidden: error looking up service account ns/old"),
        ev("b", "2026-12-01T10:00:05Z", "create Pod zk-0 in StatefulSet zk failed error: pods \"zk-0\" is forbidden: error looking up service account ns/missing"),
        ev("c", "2026-12-01T10:00:09Z", "create Pod zk-1 in StatefulSet zk failed error: pods \"zk-1\" is forbidden: exceeded quota"),
    ];
    let why = super::failed_create_message(&events, "zk-0").unwrap();
    assert!(why.starts_with("FailedCreate: create Pod zk-0") && why.ends_with("ns/missing"), "{why}");
    assert!(super::failed_create_message(&events, "zk-1").unwrap().ends_with("exceeded quota"));
    assert_eq!(super::failed_create_message(&events, "zk-2"), None);
    // "zk-1" must not match "zk-10".
    assert_eq!(super::failed_create_message(&[ev("d", "2026-12-01T10:00:00Z", "create Pod zk-10 in StatefulSet zk failed error: pods \"zk-10\" is forbidden")], "zk-1"), None);
}

#[tokio::test(start_paused = true)]
async fn a_read_is_sent_again_when_its_connection_failed_but_not_forever() {
    let calls = std::sync::atomic::AtomicU32::new(0);
    let flaky = || async {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n < 2 {
            Err(kube::Error::Service("connection closed before message completed".into()))
        } else {
            Ok(n)
        }
    };
    assert_eq!(super::reread(flaky).await.unwrap(), 2);
    let calls = std::sync::atomic::AtomicU32::new(0);
    let dead = || async {
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err::<(), _>(kube::Error::Service("connection refused".into()))
    };
    assert!(super::reread(dead).await.is_err());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 4, "the first try and 3 more");
}

#[test]
fn the_update_revision_counts_only_once_the_controller_observed_the_generation() {
    let mut s: k8s_openapi::api::apps::v1::StatefulSet = serde_json::from_value(statefulset("sts-1")).unwrap();
    assert_eq!(super::observed_update_revision(&s), None, "no status yet");
    // Right after a patch: generation 2, the controller still at 1 with the old revision.
    s.status = Some(serde_json::from_value(json!({"replicas": 3, "observedGeneration": 1, "updateRevision": "zk-5d4f"})).unwrap());
    assert_eq!(super::observed_update_revision(&s), None);
    s.status = Some(serde_json::from_value(json!({"replicas": 3, "observedGeneration": 2, "updateRevision": "zk-7b9c"})).unwrap());
    assert_eq!(super::observed_update_revision(&s).as_deref(), Some("zk-7b9c"));
    s.status = Some(serde_json::from_value(json!({"replicas": 3, "observedGeneration": 2})).unwrap());
    assert_eq!(super::observed_update_revision(&s), None, "observed but no revision named");
}

#[tokio::test]
async fn the_template_patch_is_a_json_patch() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let (body, ct) = expect_typed(&mut h, Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/zk?", 200, statefulset("sts-1")).await;
        assert_eq!(ct, "application/json-patch+json");
        assert_eq!(body, json!([{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"0.3"}]));
    });
    let patch: json_patch::Patch = serde_json::from_value(json!([{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"0.3"}])).unwrap();
    p.patch_statefulset(&patch).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn an_image_change_patches_the_server_container_and_a_forced_rollback_deletes_the_pod() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let (body, ct) = expect_typed(&mut h, Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/zk?", 200, statefulset("sts-1")).await;
        assert_eq!(ct, "application/json-patch+json");
        assert_eq!(body, json!([{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"zk-chaos/zookeeper:3.9.5"}]));
        let pod = pod_json("zk-2", "u2", false, 4, "2026-12-07T09:00:00Z");
        let sent = expect(&mut h, Method::DELETE, "/api/v1/namespaces/ns/pods/zk-2?", 200, pod).await;
        assert_eq!(sent, json!({}), "default delete options: the pod's own grace period");
    });
    p.set_image("zk-chaos/zookeeper:3.9.5").await.unwrap();
    p.delete_member("zk-2").await.unwrap();
    let err = p.delete_member("zk-9").await.unwrap_err().to_string();
    assert_eq!(err, "zk-9 is not a member of StatefulSet zk");
    server.await.unwrap();
}

#[tokio::test]
async fn deploy_applies_the_four_objects_server_side_into_the_namespace() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns", 200, json!({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns"}})).await;
        let mut applied = Vec::new();
        // The poller lists pods and events concurrently; answer those with empty lists.
        while applied.len() < 4 {
            let (req, send) = h.next_request().await.unwrap();
            let uri = req.uri().to_string();
            let method = req.method().clone();
            let ct = req.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
            let bytes = req.into_body().collect_bytes().await.unwrap();
            if method == Method::GET {
                let kind = if uri.contains("/pods") { "PodList" } else { "EventList" };
                send.send_response(Response::builder().body(Body::from(serde_json::to_vec(&json!({"apiVersion":"v1","kind":kind,"metadata":{},"items":[]})).unwrap())).unwrap());
                continue;
            }
            assert_eq!(method, Method::PATCH, "{uri}");
            assert_eq!(ct, "application/apply-patch+yaml");
            assert!(uri.contains("fieldManager=zk-chaos") && uri.contains("force=true"), "{uri}");
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(body["metadata"]["namespace"], "ns");
            assert_eq!(body["metadata"]["labels"]["zk-chaos.run"], "zk-chaos-20261128-162600-ab12");
            send.send_response(Response::builder().body(Body::from(bytes)).unwrap());
            applied.push((uri.split('?').next().unwrap().to_string(), body));
        }
        let paths: Vec<&str> = applied.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "/api/v1/namespaces/ns/services/zk-hs",
                "/api/v1/namespaces/ns/services/zk-cs",
                "/apis/policy/v1/namespaces/ns/poddisruptionbudgets/zk-pdb",
                "/apis/apps/v1/namespaces/ns/statefulsets/zk",
            ]
        );
        // The PVCs the StatefulSet makes carry the run label, so cleanup finds them.
        assert_eq!(applied[3].1["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["zk-chaos.run"], "zk-chaos-20261128-162600-ab12");
        // The pod template is applied as written (no label added: it would change the revision).
        assert!(applied[3].1["spec"]["template"]["metadata"]["labels"].get("zk-chaos.run").is_none());
    });
    // deploy then waits for the pods, which this server never creates: the apply part is what is checked.
    let d = tokio::spawn(async move { p.deploy().await });
    server.await.unwrap();
    d.abort();
}

#[tokio::test]
async fn exec_request_shape_and_a_refused_upgrade() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        let (req, send) = h.next_request().await.unwrap();
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().to_string(), "/api/v1/namespaces/ns/pods/zk-1/exec?&stdout=true&stderr=true&command=pkill&command=java");
        assert_eq!(req.headers().get("upgrade").map(|v| v.to_str().unwrap()), Some("websocket"));
        let forbidden = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":"pods \"zk-1\" is forbidden: User \"dev\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"ns\"",
            "reason":"Forbidden","details":{"name":"zk-1","kind":"pods"},"code":403});
        send.send_response(Response::builder().status(403).body(Body::from(serde_json::to_vec(&forbidden).unwrap())).unwrap());
    });
    let err = p.exec("zk-1", &["pkill", "java"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("exec [\"pkill\", \"java\"] in zk-1"), "{err:#}");
    server.await.unwrap();
}

/// Port-forwards are opened ahead ([`super::forward::SPARES`] of them, at once), before any connection;
/// a connection that finds none ready (theirs are still unanswered here, so none is on offer)
/// opens its own.
#[tokio::test]
async fn port_forwards_opened_ahead_and_per_connection_without_a_spare() {
    let (p, mut h) = platform();
    let addr = p.client_addr("zk-0").await.unwrap();
    assert!(addr.ip().is_loopback());
    assert_eq!(p.client_addr("zk-0").await.unwrap(), addr, "one listener per member");
    let is_port_forward = |req: &Request<Body>| {
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().to_string(), "/api/v1/namespaces/ns/pods/zk-0/portforward?&ports=2181");
        assert_eq!(req.headers().get("upgrade").map(|v| v.to_str().unwrap()), Some("websocket"));
    };
    let mut pending = Vec::new();
    for i in 0..super::forward::SPARES {
        let (spare, send) = tokio::time::timeout(Duration::from_secs(5), h.next_request()).await.unwrap_or_else(|_| panic!("spare {i} opened with no connection")).unwrap();
        is_port_forward(&spare);
        pending.push(send);
    }
    assert!(tokio::time::timeout(Duration::from_millis(300), h.next_request()).await.is_err(), "no more than SPARES opened ahead");
    let _conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (own, own_send) = tokio::time::timeout(Duration::from_secs(5), h.next_request()).await.expect("the connection's own port-forward").unwrap();
    is_port_forward(&own);
    drop((pending, own_send));
}

#[test]
fn exec_exit_codes_from_the_final_status() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
    let ok: Status = serde_json::from_value(json!({"metadata":{},"status":"Success"})).unwrap();
    assert_eq!(super::exit_code(Some(&ok)).unwrap(), 0);
    let one: Status = serde_json::from_value(json!({"metadata":{},"status":"Failure",
        "message":"command terminated with non-zero exit code: error executing command [pkill java], exit code 1",
        "reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"1"}]}}))
    .unwrap();
    assert_eq!(super::exit_code(Some(&one)).unwrap(), 1);
    assert!(super::exit_code(None).is_err());
}

#[test]
fn member_status_reports_why_a_pod_is_pending() {
    let pod: k8s_openapi::api::core::v1::Pod = serde_json::from_value(json!({
        "metadata":{"name":"zk-1","namespace":"ns","uid":"u","labels":{"controller-revision-hash":"zk-5d4f"}},
        "spec":{"containers":[{"name":"kubernetes-zookeeper"}]},
        "status":{"phase":"Pending","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable",
            "message":"0/5 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match pod anti-affinity rules, 2 node(s) were unschedulable."}]}})).unwrap();
    let s = super::member_status("zk-1", 1, Some(&pod));
    assert_eq!((s.exists, s.running, s.ready, s.phase.as_str()), (true, false, false, "Pending"));
    assert!(s.reason.as_deref().unwrap().starts_with("Unschedulable: 0/5 nodes"), "{:?}", s.reason);
    assert_eq!(s.revision.as_deref(), Some("zk-5d4f"));
}

#[tokio::test]
async fn teardown_of_a_run_namespace_deletes_it_and_waits_until_it_is_gone() {
    let (svc, mut h) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let manifest = Manifest::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/zookeeper.yaml"))).unwrap();
    let run = "zk-chaos-20261128-162600-ab12";
    let p = KubePlatform::new(client, "kind-test".into(), manifest, Config::default(), run.into(), None);
    assert_eq!(p.namespace(), run);
    let server = tokio::spawn(async move {
        let terminating = json!({"apiVersion":"v1","kind":"Namespace",
            "metadata":{"name":run,"labels":{"zk-chaos.run":run},"deletionTimestamp":"2026-11-28T16:40:00Z"},
            "spec":{"finalizers":["kubernetes"]},"status":{"phase":"Terminating"}});
        // The pods first, with no grace period: the namespace would wait for theirs.
        let pods = json!({"apiVersion":"v1","kind":"PodList","metadata":{},"items":[]});
        let sent = expect(&mut h, Method::DELETE, &format!("/api/v1/namespaces/{run}/pods?"), 200, pods).await;
        assert_eq!((sent["gracePeriodSeconds"].as_i64(), sent["propagationPolicy"].as_str()), (Some(0), Some("Background")), "{sent}");
        let sent = expect(&mut h, Method::DELETE, &format!("/api/v1/namespaces/{run}?"), 200, terminating.clone()).await;
        assert_eq!(sent["propagationPolicy"], "Background");
        expect(&mut h, Method::GET, &format!("/api/v1/namespaces/{run}"), 200, terminating).await;
        let not_found = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
            "message":format!("namespaces \"{run}\" not found"),"reason":"NotFound","details":{"name":run,"kind":"namespaces"},"code":404});
        expect(&mut h, Method::GET, &format!("/api/v1/namespaces/{run}"), 404, not_found).await;
    });
    p.teardown().await.unwrap();
    server.await.unwrap();
    assert!(p.keep_instructions().contains(&format!("delete namespace {run}")));
}

fn not_found(kind: &str, name: &str) -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":format!("{kind} \"{name}\" not found"),"reason":"NotFound","details":{"name":name,"kind":kind},"code":404})
}

#[tokio::test]
async fn status_of_an_absent_pod_and_volumes_by_claim_and_pv_uid() {
    let (p, mut h) = platform();
    let server = tokio::spawn(async move {
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-2", 404, not_found("pods", "zk-2")).await;
        expect(
            &mut h,
            Method::GET,
            "/api/v1/namespaces/ns/persistentvolumeclaims/datadir-zk-2",
            200,
            json!({
            "apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"datadir-zk-2","namespace":"ns","uid":"claim-uid"},
            "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"10Gi"}},"volumeName":"pvc-77aa"},
            "status":{"phase":"Bound"}}),
        )
        .await;
        expect(
            &mut h,
            Method::GET,
            "/api/v1/persistentvolumes/pvc-77aa",
            200,
            json!({
            "apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pvc-77aa","uid":"6b1e2c44-pv"},
            "spec":{"capacity":{"storage":"10Gi"},"accessModes":["ReadWriteOnce"],"csi":{"driver":"ebs.csi.aws.com","volumeHandle":"vol-0abc"}}}),
        )
        .await;
        expect(
            &mut h,
            Method::GET,
            "/api/v1/namespaces/ns/persistentvolumeclaims/datadir-zk-2",
            200,
            json!({
            "apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"datadir-zk-2","namespace":"ns"},
            "spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"10Gi"}}},
            "status":{"phase":"Pending"}}),
        )
        .await;
    });
    let s = p.status("zk-2").await.unwrap();
    assert_eq!((s.exists, s.phase.as_str(), s.ordinal), (false, "Absent", 2));
    let v = p.volumes("zk-2").await.unwrap();
    assert_eq!(v, vec![crate::platform::VolumeIdentity { claim: "datadir-zk-2".into(), id: "6b1e2c44-pv".into() }]);
    assert!(p.volumes("zk-2").await.unwrap_err().to_string().contains("not bound"));
    server.await.unwrap();
}

/// `object` at the API server's resourceVersion `version` (every object a watch delivers has one).
fn versioned(mut object: Value, version: &str) -> Value {
    object["metadata"]["resourceVersion"] = json!(version);
    object
}

fn pod_json(name: &str, uid: &str, ready: bool, restarts: i32, started: &str) -> Value {
    json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"ns","uid":uid,"labels":{"app":"zk"}},
        "spec":{"containers":[{"name":"kubernetes-zookeeper"}],"nodeName":"w1"},
        "status":{"phase":"Running","conditions":[{"type":"Ready","status":if ready {"True"} else {"False"}}],
            "containerStatuses":[{"name":"kubernetes-zookeeper","image":"zk","imageID":"","ready":ready,"restartCount":restarts,
                "state":{"running":{"startedAt":started}},
                "lastState": if restarts > 0 {json!({"terminated":{"exitCode":143,"reason":"Error","finishedAt":"2026-11-28T16:00:30Z"}})} else {json!({})}}]}})
}

#[tokio::test]
async fn the_watchers_turn_pod_changes_and_kubelet_events_into_lifecycle_events_as_they_arrive() {
    use crate::platform::LifecycleKind::*;
    let (p, mut h) = platform();
    let began = chrono::Utc::now();
    let listed = json!({"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"10"},"items":[pod_json("zk-0", "u0", true, 0, "2026-11-28T16:00:00Z")]});
    let restarted = json!({"type":"MODIFIED","object":versioned(pod_json("zk-0", "u0", false, 1, "2026-11-28T16:00:31Z"), "12")});
    // A member beyond the manifest's three replicas (the scale suite's zk-3): watched like the rest.
    let added = json!({"type":"ADDED","object":versioned(pod_json("zk-3", "u3", true, 0, "2026-11-28T16:00:40Z"), "13")});
    let killing = json!({"type":"ADDED","object":{"apiVersion":"v1","kind":"Event",
        "metadata":{"name":"zk-0.187a","namespace":"ns","uid":"e1","resourceVersion":"12"},
        "involvedObject":{"kind":"Pod","name":"zk-0","namespace":"ns"},
        "reason":"Killing","type":"Normal","count":1,"lastTimestamp":"2026-11-28T16:00:29Z",
        "message":"Container kubernetes-zookeeper failed liveness probe, will be restarted"}});
    // The two watchers ask concurrently: answer by what is asked; later watches stay unanswered.
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        let mut answered = 0;
        while answered < 4 {
            let (req, send) = h.next_request().await.expect("a request");
            let uri = req.uri().to_string();
            let reply = |body: String| Response::builder().status(200).body(Body::from(body.into_bytes())).unwrap();
            match (req.uri().path(), uri.contains("watch=true")) {
                ("/api/v1/namespaces/ns/pods", false) => {
                    assert!(uri.contains("labelSelector=app%3Dzk"), "{uri}");
                    send.send_response(reply(listed.to_string()));
                }
                ("/api/v1/namespaces/ns/pods", true) => {
                    assert!(uri.contains("resourceVersion=10") && uri.contains("labelSelector=app%3Dzk"), "the watch starts where the list ended: {uri}");
                    send.send_response(reply(format!("{restarted}\n{added}\n")));
                }
                ("/api/v1/namespaces/ns/events", false) => {
                    send.send_response(reply(json!({"apiVersion":"v1","kind":"EventList","metadata":{"resourceVersion":"11"},"items":[]}).to_string()))
                }
                ("/api/v1/namespaces/ns/events", true) => {
                    assert!(uri.contains("resourceVersion=11"), "{uri}");
                    send.send_response(reply(format!("{killing}\n")));
                }
                other => panic!("unexpected request {other:?}: {uri}"),
            }
            answered += 1;
        }
        // The watches ended; their renewals wait here until the test is over.
        while let Some((req, send)) = h.next_request().await {
            assert!(req.uri().to_string().contains("watch=true"), "a renewed watch, not a new list: {}", req.uri());
            held.push(send);
        }
    });
    p.start_poller();
    let all = crate::wait::until("the watched events recorded", std::time::Duration::from_secs(5), None, || async {
        let kinds: Vec<_> = p.lifecycle().into_iter().filter(|e| e.member == "zk-0").map(|e| e.kind).collect();
        Ok(if [Created, Started, Ready, LivenessKilled, Exited, NotReady, Restarted].iter().all(|k| kinds.contains(k)) {
            crate::wait::Seen::Done(())
        } else {
            crate::wait::Seen::NotYet(format!("{kinds:?}"))
        })
    })
    .await;
    all.unwrap();
    // The waits' looks read the pods as the watch delivered them, with no request of their own:
    // the mock server above answers only watches now, and would fail a GET.
    let zk0 = p.watched_status("zk-0").await.unwrap();
    assert_eq!((zk0.exists, zk0.ready, zk0.restart_count), (true, false, 1), "the watched MODIFIED pod, not the listed one: {zk0:?}");
    let zk1 = p.watched_status("zk-1").await.unwrap();
    assert!(!zk1.exists, "the watch never saw zk-1, so there is none: {zk1:?}");
    let zk3 = p.watched_status("zk-3").await.unwrap();
    assert!(zk3.exists && zk3.ready, "a member added by scaling is watched too: {zk3:?}");
    assert!(p.lifecycle().iter().any(|e| e.member == "zk-3" && e.kind == Ready), "{:?}", p.lifecycle());
    // Dated when they arrived: the kubelet's second-precision times (16:00:29, finishedAt 16:00:30)
    // are not used, so an event cannot land before the fault that caused it.
    for e in p.lifecycle() {
        assert!(e.at >= began, "{e:?} dated before the test began");
    }
    p.stop_background().await;
    server.abort();
}

/// A pod watch that fails: the watched pods say nothing (a wait then asks the API server) until
/// the watcher, after its backoff, resumes the watch where the list ended, with no new list, and
/// delivers again.
#[tokio::test]
async fn a_failed_pod_watch_says_nothing_until_the_watcher_resumes_it() {
    let (p, mut h) = platform();
    let listed = json!({"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"10"},"items":[pod_json("zk-0", "u0", true, 0, "2026-11-28T16:00:00Z")]});
    let restarted = json!({"type":"MODIFIED","object":versioned(pod_json("zk-0", "u0", false, 1, "2026-11-28T16:00:31Z"), "12")});
    let failure = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"etcd leader changed","reason":"InternalError","code":500});
    let (failed, failed_seen) = tokio::sync::oneshot::channel::<()>();
    let (resume, resume_asked) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let (mut failed, mut resume_asked) = (Some(failed), Some(resume_asked));
        let mut pod_watches = 0;
        let mut held = Vec::new();
        while let Some((req, send)) = h.next_request().await {
            let uri = req.uri().to_string();
            let reply = |status: u16, body: String| Response::builder().status(status).body(Body::from(body.into_bytes())).unwrap();
            match (req.uri().path(), uri.contains("watch=true")) {
                ("/api/v1/namespaces/ns/pods", false) => {
                    assert_eq!(pod_watches, 0, "listed again after the failure, not resumed: {uri}");
                    send.send_response(reply(200, listed.to_string()));
                }
                ("/api/v1/namespaces/ns/pods", true) => {
                    pod_watches += 1;
                    match pod_watches {
                        1 => {
                            send.send_response(reply(500, failure.to_string()));
                            failed.take().unwrap().send(()).unwrap();
                        }
                        2 => {
                            assert!(uri.contains("resourceVersion=10"), "resumed where the list ended: {uri}");
                            resume_asked.take().unwrap().await.unwrap();
                            send.send_response(reply(200, format!("{restarted}\n")));
                        }
                        _ => {
                            assert!(uri.contains("resourceVersion=12"), "resumed after the last change: {uri}");
                            held.push(send);
                        }
                    }
                }
                ("/api/v1/namespaces/ns/events", false) => {
                    send.send_response(reply(200, json!({"apiVersion":"v1","kind":"EventList","metadata":{"resourceVersion":"11"},"items":[]}).to_string()))
                }
                ("/api/v1/namespaces/ns/events", true) => held.push(send),
                other => panic!("unexpected request {other:?}: {uri}"),
            }
        }
    });
    p.start_poller();
    failed_seen.await.unwrap();
    let said = |want: Option<bool>| {
        let p = &p;
        crate::wait::until("the watched zk-0", Duration::from_secs(5), None, move || async move {
            let restarted = p.watched.pod("zk-0").map(|pod| pod.and_then(|pod| pod.status?.container_statuses?.first().map(|c| c.restart_count)) == Some(1));
            Ok(if restarted == want { crate::wait::Seen::Done(()) } else { crate::wait::Seen::NotYet(format!("{restarted:?}")) })
        })
    };
    said(None).await.expect("the failed watch leaves the watched pods saying nothing");
    resume.send(()).unwrap();
    said(Some(true)).await.expect("the resumed watch's change, over the listed pods");
    assert!(p.lifecycle().iter().any(|e| e.member == "zk-0" && e.kind == crate::platform::LifecycleKind::Restarted), "{:?}", p.lifecycle());
    p.stop_background().await;
    server.abort();
}

#[test]
fn watched_pods_say_nothing_until_listed_and_after_the_watch_is_lost() {
    use super::Watched;
    use k8s_openapi::api::core::v1::Pod;
    use std::collections::BTreeMap;
    let pod = |name: &str, uid: &str| -> Pod { serde_json::from_value(pod_json(name, uid, true, 0, "2026-11-28T16:00:00Z")).unwrap() };
    let w = Watched::default();
    assert!(w.pod("zk-0").is_none(), "before the first list the watch knows nothing");
    w.changed("zk-0", Some(pod("zk-0", "u0")));
    assert!(w.pod("zk-0").is_none(), "a change without a list is not a view of every pod");
    w.listed(BTreeMap::from([("zk-0".to_string(), pod("zk-0", "u0"))]));
    assert_eq!(w.pod("zk-0").unwrap().unwrap().metadata.uid.as_deref(), Some("u0"));
    assert!(w.pod("zk-1").unwrap().is_none(), "listed without zk-1: there is none");
    w.changed("zk-1", Some(pod("zk-1", "u1")));
    w.changed("zk-0", None);
    assert!(w.pod("zk-0").unwrap().is_none(), "deleted");
    assert_eq!(w.pod("zk-1").unwrap().unwrap().metadata.uid.as_deref(), Some("u1"));
    w.lost();
    assert!(w.pod("zk-1").is_none(), "a lost watch says nothing until it delivers again");
    w.changed("zk-2", Some(pod("zk-2", "u2")));
    assert_eq!(w.pod("zk-1").unwrap().unwrap().metadata.uid.as_deref(), Some("u1"), "the resumed watch's change, over the pods kept");
    assert_eq!(w.pod("zk-2").unwrap().unwrap().metadata.uid.as_deref(), Some("u2"));
}

/// A cut on Kubernetes: the pod has no helper, so one is added through the ephemeralcontainers
/// subresource (a strategic merge patch), waited for until running, and the rules are set by an
/// exec into that container, with the peers' pod IPs.
#[tokio::test]
async fn a_cut_adds_the_helper_as_an_ephemeral_container_and_execs_into_it() {
    use crate::platform::kube::partition::HELPER;
    let (p, mut h) = platform();
    let pod = |name: &str, ip: &str, helper: Option<&str>| {
        let mut v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": [{"name": "kubernetes-zookeeper"}]}, "status": {"podIP": ip}});
        if let Some(state) = helper {
            v["spec"]["ephemeralContainers"] = json!([{"name": HELPER}]);
            v["status"]["ephemeralContainerStatuses"] = json!([{"name": HELPER, "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {state: {}}}]);
        }
        v
    };
    let server = tokio::spawn(async move {
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-1", 200, pod("zk-1", "10.244.2.3", None)).await;
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-2", 200, pod("zk-2", "10.244.3.4", None)).await;
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-0", 200, pod("zk-0", "10.244.1.2", None)).await;
        let (sent, ct) = expect_typed(&mut h, Method::PATCH, "/api/v1/namespaces/ns/pods/zk-0/ephemeralcontainers?", 200, pod("zk-0", "10.244.1.2", Some("waiting"))).await;
        assert_eq!(ct, "application/strategic-merge-patch+json");
        assert_eq!(sent["spec"]["ephemeralContainers"][0]["name"], HELPER);
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-0", 200, pod("zk-0", "10.244.1.2", Some("waiting"))).await;
        expect(&mut h, Method::GET, "/api/v1/namespaces/ns/pods/zk-0", 200, pod("zk-0", "10.244.1.2", Some("running"))).await;
        let (req, send) = h.next_request().await.unwrap();
        let uri = req.uri().to_string();
        let (path, query) = uri.split_once('?').unwrap();
        assert_eq!(path, "/api/v1/namespaces/ns/pods/zk-0/exec");
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert!(pairs.contains(&("container".into(), HELPER.into())), "{uri}");
        let command: Vec<&str> = pairs.iter().filter(|(k, _)| k == "command").map(|(_, v)| v.as_str()).collect();
        assert_eq!(command[..2], ["sh", "-c"]);
        let script = command[2];
        assert!(script.contains("-d 10.244.2.3 -j DROP") && script.contains("-s 10.244.3.4 -j DROP"), "{script}");
        drop(send);
    });
    let cut = crate::platform::Cut { member: "zk-0".into(), peers: vec!["zk-1".into(), "zk-2".into()], one_way: false };
    assert!(p.cut(&cut).await.is_err(), "the mock refuses the exec's upgrade");
    server.await.unwrap();
}

/// `kubectl scale`: a merge patch of the StatefulSet's scale subresource; the members follow at
/// once, and a member scaled away is still asked about by name.
#[tokio::test]
async fn scale_patches_the_scale_subresource_and_the_members_follow() {
    let (p, mut h) = platform();
    assert_eq!(p.members(), ["zk-0", "zk-1", "zk-2"]);
    let server = tokio::spawn(async move {
        let scale =
            |n: u64| json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "zk", "namespace": "ns"}, "spec": {"replicas": n}, "status": {"replicas": 3}});
        let (sent, ct) = expect_typed(&mut h, Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/zk/scale?", 200, scale(5)).await;
        assert_eq!(sent, json!({"spec": {"replicas": 5}}));
        assert_eq!(ct, "application/merge-patch+json");
        let (sent, _) = expect_typed(&mut h, Method::PATCH, "/apis/apps/v1/namespaces/ns/statefulsets/zk/scale?", 200, scale(3)).await;
        assert_eq!(sent, json!({"spec": {"replicas": 3}}));
        // zk-4 after the scale-down: its pod is gone (404), and it is reported absent.
        expect(
            &mut h,
            Method::GET,
            "/api/v1/namespaces/ns/pods/zk-4",
            404,
            json!({"kind": "Status", "code": 404, "reason": "NotFound", "status": "Failure", "message": "pods \"zk-4\" not found"}),
        )
        .await;
        // A refused scale (an admission webhook, a quota) leaves the members as they were.
        expect(
            &mut h,
            Method::PATCH,
            "/apis/apps/v1/namespaces/ns/statefulsets/zk/scale?",
            403,
            json!({"kind": "Status", "code": 403, "reason": "Forbidden", "status": "Failure", "message": "denied"}),
        )
        .await;
    });
    p.scale(5).await.unwrap();
    assert_eq!(p.members(), ["zk-0", "zk-1", "zk-2", "zk-3", "zk-4"]);
    p.scale(3).await.unwrap();
    assert_eq!(p.members(), ["zk-0", "zk-1", "zk-2"]);
    let gone = p.status("zk-4").await.unwrap();
    assert!(!gone.exists && gone.ordinal == 4, "{gone:?}");
    let refused = p.scale(1).await.unwrap_err();
    assert!(format!("{refused:#}").contains("scaling StatefulSet zk to 1 replicas"), "{refused:#}");
    assert_eq!(p.members().len(), 3);
    server.await.unwrap();
}
