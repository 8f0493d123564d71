//! The core's wait for a whole ensemble ([`wait_whole`]) on the fake platform: here because the
//! fake lives with the suites (it answers their scans and flags), above the core.

use std::time::Duration;

use super::FakePlatform;
use crate::ensemble::{wait_whole, ASK_SERVERS_EVERY};

// A survivor of the mutation test explained (cargo mutants, 2026-12-06): in
// `unready_without_asking`, `at.elapsed() < every` as `<=` differs only when the time since
// the servers were last asked is `every` to the nanosecond, and then asking and not asking
// are both within the rate; no test can stop a wall clock there.

/// A wait for "whole" asks no server while the watch shows a member not Ready (but at most
/// [`ASK_SERVERS_EVERY`] apart, and says what they said), and asks at once when it turns
/// Ready; the judgement is the same as with every look asking.
#[tokio::test]
async fn a_wait_for_whole_asks_no_server_while_a_member_is_not_ready() {
    let p = FakePlatform::new();
    p.set("zk-2", |m| m.ready = false);
    let ms = Duration::from_millis;
    let drive = async {
        tokio::time::sleep(ms(700)).await;
        // The first look asked all three and the leader's mntr; none since (7 looks at POLL).
        let early = p.exchanges();
        assert!((3..=4).contains(&early), "{early} exchanges in the first 700 ms");
        tokio::time::sleep(ASK_SERVERS_EVERY).await;
        let later = p.exchanges();
        assert!(later > early && later <= 2 * early, "{later} exchanges after a second more: one more full look");
        p.set("zk-2", |m| m.ready = true);
        tokio::time::Instant::now()
    };
    let (view, readied) = tokio::join!(wait_whole(&p, Duration::from_secs(10), Duration::from_secs(1)), drive);
    let view = view.expect("whole once zk-2 is Ready");
    assert!(readied.elapsed() < ms(300), "noticed {} ms after Ready", readied.elapsed().as_millis());
    assert!(view.whole().is_ok());
}

#[tokio::test]
async fn a_wait_for_whole_that_gives_up_says_who_is_not_ready_and_what_the_servers_said() {
    let p = FakePlatform::new();
    p.set("zk-0", |m| m.ready = false);
    let err = wait_whole(&p, Duration::from_millis(500), Duration::from_secs(1)).await.unwrap_err().to_string();
    assert!(err.contains("zk-0 is not Ready (running); the servers, "), "{err}");
    assert!(err.contains("zk-1 leader 0x100000002 (2 synced) ready"), "{err}");
    assert!(p.exchanges() <= 4, "one full look in 500 ms: {}", p.exchanges());
}

/// Every member Ready, the leader still syncing one follower: every look asks (the skip is
/// only for a member not Ready), and the sync is noticed within a few looks.
#[tokio::test]
async fn a_follower_still_syncing_is_asked_about_at_every_look() {
    let p = FakePlatform::new();
    p.set("zk-1", |m| m.synced = 1);
    let drive = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = p.exchanges();
        assert!(asked >= 12, "looks every 20 ms once only the sync is missing: {asked} exchanges in 300 ms");
        p.set("zk-1", |m| m.synced = 2);
    };
    let (view, ()) = tokio::join!(wait_whole(&p, Duration::from_secs(5), Duration::from_secs(1)), drive);
    assert!(view.unwrap().whole().is_ok());
}
