//! A mock Kubernetes API server (tower-test) for tests of KubePlatform, here and in the suites
//! (the `testing` feature): each test answers the requests the platform sends, asserting
//! method, path, query and body, with bodies shaped as the Kubernetes API reference documents them.

use std::path::Path;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{json, Value};
use tower_test::mock::{self, Handle};

use super::KubePlatform;
use crate::config::Config;
use crate::manifest::Manifest;

pub type MockHandle = Handle<Request<Body>, Response<Body>>;

/// A platform in namespace `ns` on a mock API server.
pub fn platform() -> (KubePlatform, MockHandle) {
    let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(svc, "default");
    let manifest = Manifest::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/zookeeper.yaml"))).expect("the reference manifest");
    let p = KubePlatform::new(client, "kind-test".into(), manifest, Config::default(), "zk-chaos-20261128-162600-ab12".into(), Some("ns".into()));
    (p, handle)
}

/// Waits for the next request, asserts its method and path?query, answers `status` with `body`;
/// returns the request's JSON body (Null when empty).
pub async fn expect(handle: &mut MockHandle, method: Method, uri: &str, status: u16, body: Value) -> Value {
    let (req, send) = handle.next_request().await.unwrap_or_else(|| panic!("no request; expected {method} {uri}"));
    assert_eq!((req.method(), req.uri().to_string().as_str()), (&method, uri));
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let sent = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    send.send_response(Response::builder().status(StatusCode::from_u16(status).unwrap()).body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap());
    sent
}

/// Like [`expect`], also returning the Content-Type (the patch type of a PATCH).
pub async fn expect_typed(handle: &mut MockHandle, method: Method, uri: &str, status: u16, body: Value) -> (Value, String) {
    let (req, send) = handle.next_request().await.unwrap_or_else(|| panic!("no request; expected {method} {uri}"));
    assert_eq!((req.method(), req.uri().to_string().as_str()), (&method, uri));
    let ct = req.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let sent = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    send.send_response(Response::builder().status(StatusCode::from_u16(status).unwrap()).body(Body::from(serde_json::to_vec(&body).unwrap())).unwrap());
    (sent, ct)
}

pub fn node(name: &str, unschedulable: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"unschedulable": unschedulable}})
}

pub fn budget_refusal() -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
        "message":"Cannot evict pod as it would violate the pod's disruption budget.","reason":"TooManyRequests",
        "details":{"causes":[{"reason":"DisruptionBudget","message":"The disruption budget zk-pdb needs 2 healthy pods and has 2 currently"}]},
        "code":429})
}

pub fn eviction_accepted() -> Value {
    json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success"})
}
