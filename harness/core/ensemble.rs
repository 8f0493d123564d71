//! The ensemble as a whole: every member's platform status and what its server says of itself,
//! and the conditions suites wait for ("whole": one leader, every other member a synced follower,
//! all Ready; "quorum": a leader that serves).

use std::fmt::Write;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::fourlw::{self, Mode, ServerState};
use crate::platform::{MemberStatus, Platform};
use crate::wait::{self, Seen};

#[derive(Debug, Clone)]
pub struct MemberView {
    pub status: MemberStatus,
    /// `Ok(None)`: the server answers but does not serve (no quorum). `Err`: no answer.
    pub server: Result<Option<ServerState>, String>,
}

#[derive(Debug, Clone)]
pub struct EnsembleView {
    pub members: Vec<MemberView>,
}

impl EnsembleView {
    /// Looks at every member once, concurrently: its status as the platform's watch last saw it
    /// ([`Platform::watched_status`]) and its server's answer now.
    pub async fn observe(p: &dyn Platform, timeout: Duration) -> anyhow::Result<EnsembleView> {
        let names = p.members();
        let looks = names.iter().map(|m| async move {
            let status = p.watched_status(m).await?;
            let server = if status.running {
                match p.client_addr(m).await {
                    Ok(addr) => fourlw::server_state(addr, timeout).await.map_err(|e| format!("{e:#}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            } else {
                Err(format!("{} is not running ({})", m, status.phase))
            };
            anyhow::Ok(MemberView { status, server })
        });
        let members = futures::future::try_join_all(looks).await?;
        Ok(EnsembleView { members })
    }

    pub fn leaders(&self) -> Vec<&str> {
        self.with_mode(Mode::Leader)
    }

    pub fn followers(&self) -> Vec<&str> {
        self.with_mode(Mode::Follower)
    }

    fn with_mode(&self, mode: Mode) -> Vec<&str> {
        self.members.iter().filter(|m| matches!(&m.server, Ok(Some(s)) if s.mode == mode)).map(|m| m.status.name.as_str()).collect()
    }

    /// Whole: exactly one leader that counts every other member as a synced follower, every
    /// other member a follower, and every member Ready. `Err` says what is missing. Where the
    /// leader's whitelist refuses `mntr`, its count cannot be read, and every other member
    /// serving as a follower stands for it ([`EnsembleView::unobserved`] says so).
    pub fn whole(&self) -> Result<String, String> {
        let n = self.members.len();
        let leaders = self.leaders();
        let followers = self.followers();
        if n == 1 {
            return match &self.members[0].server {
                Ok(Some(s)) if s.mode == Mode::Standalone && self.members[0].status.ready => Ok(self.describe()),
                _ => Err(self.describe()),
            };
        }
        if leaders.len() != 1 {
            return Err(format!("{} leaders: {}", leaders.len(), self.describe()));
        }
        if followers.len() != n - 1 {
            return Err(format!("{} of {} followers: {}", followers.len(), n - 1, self.describe()));
        }
        let leader = self.members.iter().find(|m| m.status.name == leaders[0]).expect("a leader");
        let leader = leader.server.as_ref().ok().and_then(|s| s.as_ref());
        let synced = leader.and_then(|s| s.synced_followers);
        // Without `mntr` (whitelist) the count is not there to read; every other member answering
        // `srvr` as a follower is the same fact: a follower serves clients only once the leader
        // has synced it (UPTODATE), and before that answers that it is not serving.
        let unobserved = synced.is_none() && leader.is_some_and(|s| s.sync_unobserved.is_some());
        if synced != Some((n - 1) as u32) && !unobserved {
            return Err(format!("leader {} has {} synced followers of {}: {}", leaders[0], synced.map_or("?".into(), |s| s.to_string()), n - 1, self.describe()));
        }
        if let Some(m) = self.members.iter().find(|m| !m.status.ready) {
            return Err(format!("{} is not Ready: {}", m.status.name, self.describe()));
        }
        Ok(self.describe())
    }

    /// What this view could not observe, for the report: the leader's synced-follower count
    /// when its whitelist refuses `mntr`. Empty when everything was seen.
    pub fn unobserved(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .members
            .iter()
            .filter_map(|m| match &m.server {
                Ok(Some(s)) => s.sync_unobserved.as_ref().map(|why| format!("{}: {why}; followers serving stand for it", m.status.name)),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }

    /// Every member Ready and serving as leader or follower: what can still be missing for
    /// "whole" is a follower's sync, which the leader reports moments later.
    pub fn all_serving_and_ready(&self) -> bool {
        self.members.iter().all(|m| m.status.ready && matches!(&m.server, Ok(Some(s)) if matches!(s.mode, Mode::Leader | Mode::Follower)))
    }

    /// Every member's server serves clients, in any mode (standalone included).
    pub fn all_serving(&self) -> bool {
        self.members.iter().all(|m| matches!(&m.server, Ok(Some(_))))
    }

    /// A leader serves and a majority of members serve with it.
    pub fn has_quorum(&self) -> bool {
        let serving = self.leaders().len() + self.followers().len();
        self.leaders().len() == 1 && serving > self.members.len() / 2
    }

    /// `zk-0 follower 0x100000002 ready; zk-1 leader 0x100000002 (2 synced) ready; zk-2 down (...)`
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (i, m) in self.members.iter().enumerate() {
            if i > 0 {
                s.push_str("; ");
            }
            let _ = write!(s, "{} ", m.status.name);
            match &m.server {
                Ok(Some(st)) => {
                    let _ = write!(s, "{:?} {:#x}", st.mode, st.zxid);
                    if let Some(n) = st.synced_followers {
                        let _ = write!(s, " ({n} synced)");
                    } else if st.sync_unobserved.is_some() {
                        s.push_str(" (sync unobserved: no mntr)");
                    }
                }
                Ok(None) => s.push_str("not serving"),
                Err(e) => {
                    let _ = write!(s, "down ({e})");
                }
            }
            s.push_str(if m.status.ready { " ready" } else { " not-ready" });
        }
        s.to_lowercase()
    }
}

/// Looks at the ensemble that may be out at once while waiting for it to be whole.
pub const OVERLAP: usize = 3;

/// Waits until the ensemble is whole; returns the whole view. Looks overlap ([`OVERLAP`]): on
/// Kubernetes one look takes about as long as a port-forwarded exchange, longer than the wait's
/// interval. While the platform's watch shows a member not Ready, a look asks no server (see
/// [`ASK_SERVERS_EVERY`]).
pub async fn wait_whole(p: &dyn Platform, deadline: Duration, op_timeout: Duration) -> anyhow::Result<EnsembleView> {
    wait_view(p, "ensemble whole (one leader, every follower synced, all Ready)", deadline, op_timeout, Some(ASK_SERVERS_EVERY), |view| match view.whole() {
        Ok(_) => Seen::Done(()),
        Err(missing) if view.all_serving_and_ready() => Seen::Soon(missing),
        Err(missing) => Seen::NotYet(missing),
    })
    .await
}

/// "Whole" needs every member Ready, so while the platform's watch shows one that is not, a look
/// of [`wait_whole`] reads only the watched statuses and says so, and asks the servers at most
/// this often (for what the wait reports if it gives up). Asking them at every look (three or
/// four exchanges, on Kubernetes each through a port-forward) loaded the API server and used up
/// the port-forwards opened ahead that the look after the last Ready needs. The judgement is the
/// same: the full look reads readiness from the same watch.
pub const ASK_SERVERS_EVERY: Duration = Duration::from_secs(1);

/// Waits until every member's server serves clients, as leader, follower or standalone; returns
/// that view. Running and Ready is not that: the walkthrough's readiness probe asks `ruok`, which a
/// server answers while it elects, or while it leads before any follower joined it (seen on kind:
/// zk-2, elected by a vote zk-0 then changed, led no one for initLimit x tickTime, 20 s, and closed
/// every client's connection, after Ready).
pub async fn wait_serving(p: &dyn Platform, deadline: Duration, op_timeout: Duration) -> anyhow::Result<EnsembleView> {
    wait_view(p, "every member serving", deadline, op_timeout, None, |view| if view.all_serving() { Seen::Done(()) } else { Seen::NotYet(view.describe()) }).await
}

/// Observes the ensemble (again at each change the platform reports, overlapping slow
/// observations) until `judge` says a view is done; returns that view. With `unready_asks`, a
/// look while a watched member is not Ready asks no server unless the last look that did is that
/// old ([`ASK_SERVERS_EVERY`]): for judges that need every member Ready.
async fn wait_view(
    p: &dyn Platform,
    what: &str,
    deadline: Duration,
    op_timeout: Duration,
    unready_asks: Option<Duration>,
    judge: fn(&EnsembleView) -> Seen<()>,
) -> anyhow::Result<EnsembleView> {
    // When the servers were last asked, and what that look saw.
    let asked: std::sync::Mutex<Option<(Instant, String)>> = std::sync::Mutex::new(None);
    let asked = &asked;
    wait::until_overlapping(what, deadline, OVERLAP, Some(p.subscribe()), || async move {
        if let Some(every) = unready_asks {
            let last = asked.lock().expect("never poisoned").clone();
            if let Some(seen) = unready_without_asking(p, every, last.as_ref()).await? {
                return Ok(Seen::NotYet(seen));
            }
        }
        let view = EnsembleView::observe(p, op_timeout).await?;
        *asked.lock().expect("never poisoned") = Some((Instant::now(), view.describe()));
        Ok(match judge(&view) {
            Seen::Done(()) => Seen::Done(view),
            Seen::Soon(missing) => Seen::Soon(missing),
            Seen::NotYet(missing) => Seen::NotYet(missing),
        })
    })
    .await
}

/// `Some(what is missing)` when the platform's watch shows a member not Ready and the servers were
/// asked less than `every` ago (`asked`: when, and what that look saw); `None`: ask them now.
async fn unready_without_asking(p: &dyn Platform, every: Duration, asked: Option<&(Instant, String)>) -> anyhow::Result<Option<String>> {
    let Some((at, seen)) = asked.filter(|(at, _)| at.elapsed() < every) else { return Ok(None) };
    for m in p.members() {
        let status = p.watched_status(&m).await?;
        if !status.ready {
            return Ok(Some(format!("{m} is not Ready ({}); the servers, {} ms ago: {seen}", status.phase.to_lowercase(), at.elapsed().as_millis())));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, mode: Option<Mode>, synced: Option<u32>, ready: bool) -> MemberView {
        MemberView {
            status: MemberStatus {
                name: name.into(),
                ordinal: 0,
                exists: true,
                running: mode.is_some(),
                ready,
                restart_count: 0,
                container_id: None,
                started_at: None,
                revision: None,
                node: None,
                phase: "Running".into(),
                reason: None,
            },
            server: match mode {
                Some(mode) => Ok(Some(ServerState { mode, zxid: 0x100000002, synced_followers: synced, version: "3.8.0".into(), sync_unobserved: None })),
                None => Err("connection refused".into()),
            },
        }
    }

    #[test]
    fn only_a_followers_sync_can_be_missing_once_all_serve_and_are_ready() {
        let syncing = EnsembleView {
            members: vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", Some(Mode::Follower), None, true)],
        };
        assert!(syncing.whole().is_err() && syncing.all_serving_and_ready());
        let unready = EnsembleView {
            members: vec![member("zk-0", Some(Mode::Follower), None, false), member("zk-1", Some(Mode::Leader), Some(2), true), member("zk-2", Some(Mode::Follower), None, true)],
        };
        assert!(!unready.all_serving_and_ready());
        let down =
            EnsembleView { members: vec![member("zk-0", None, None, true), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", Some(Mode::Follower), None, true)] };
        assert!(!down.all_serving_and_ready());
    }

    #[test]
    fn whole_needs_one_leader_synced_followers_and_readiness() {
        let v = EnsembleView {
            members: vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(2), true), member("zk-2", Some(Mode::Follower), None, true)],
        };
        assert!(v.whole().is_ok(), "{:?}", v.whole());
        assert!(v.has_quorum());
        assert_eq!(v.leaders(), ["zk-1"]);

        let mut lagging = v.clone();
        lagging.members[1] = member("zk-1", Some(Mode::Leader), Some(1), true);
        assert!(lagging.whole().unwrap_err().contains("1 synced followers of 2"));
        // A leader whose mntr gave no count, though its whitelist allows it: the count is not
        // known, so the ensemble is not judged whole.
        let mut no_count = v.clone();
        no_count.members[1] = member("zk-1", Some(Mode::Leader), None, true);
        assert!(no_count.whole().unwrap_err().contains("leader zk-1 has ? synced followers of 2"), "{:?}", no_count.whole());

        let mut down = v.clone();
        down.members[2] = member("zk-2", None, None, false);
        let why = down.whole().unwrap_err();
        assert!(why.contains("1 of 2 followers") && why.contains("zk-2 down (connection refused)"), "{why}");
        assert!(down.has_quorum(), "two of three serve");

        let mut two_down = down.clone();
        two_down.members[0] = member("zk-0", None, None, false);
        assert!(!two_down.has_quorum());

        let mut unready = v.clone();
        unready.members[0].status.ready = false;
        assert!(unready.whole().unwrap_err().starts_with("zk-0 is not Ready"));
    }

    /// `srvr` only: the leader's count is unobserved. Whole is then every other member a
    /// follower, all Ready, and the view says what it could not see; a member down or not
    /// following is still "not whole" for that reason, never for the whitelist.
    #[test]
    fn with_srvr_only_whole_is_every_other_member_following() {
        let no_mntr = |name: &str, ready| {
            let mut m = member(name, Some(Mode::Leader), None, ready);
            if let Ok(Some(s)) = &mut m.server {
                s.sync_unobserved = Some(fourlw::SYNC_UNOBSERVED.into());
            }
            m
        };
        let v = EnsembleView { members: vec![member("zk-0", Some(Mode::Follower), None, true), no_mntr("zk-1", true), member("zk-2", Some(Mode::Follower), None, true)] };
        assert!(v.whole().is_ok(), "{:?}", v.whole());
        assert_eq!(v.unobserved(), [format!("zk-1: {}; followers serving stand for it", fourlw::SYNC_UNOBSERVED)]);
        assert!(v.describe().contains("zk-1 leader 0x100000002 (sync unobserved: no mntr) ready"), "{}", v.describe());

        let mut down = v.clone();
        down.members[2] = member("zk-2", None, None, false);
        assert!(down.whole().unwrap_err().starts_with("1 of 2 followers"));
        let mut unready = v.clone();
        unready.members[1] = no_mntr("zk-1", false);
        assert!(unready.whole().unwrap_err().starts_with("zk-1 is not Ready"));
        let mut not_serving = v.clone();
        not_serving.members[0].server = Ok(None);
        assert!(not_serving.whole().is_err(), "a follower still syncing answers that it does not serve");
        // A leader whose mntr answered is judged by its count, as before.
        let counted = EnsembleView {
            members: vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", Some(Mode::Follower), None, true)],
        };
        assert!(counted.whole().is_err() && counted.unobserved().is_empty());
    }

    #[test]
    fn quorum_is_a_leader_with_a_strict_majority_serving() {
        let of = |serving: usize, n: usize| EnsembleView {
            members: (0..n)
                .map(|i| match i {
                    0 => member("zk-0", Some(Mode::Leader), None, true),
                    i if i < serving => member(&format!("zk-{i}"), Some(Mode::Follower), None, true),
                    i => member(&format!("zk-{i}"), None, None, false),
                })
                .collect(),
        };
        assert!(of(3, 5).has_quorum());
        assert!(!of(2, 5).has_quorum(), "2 of 5 is no majority");
        assert!(!of(2, 4).has_quorum(), "2 of 4 is no majority");
        assert!(of(3, 4).has_quorum());
        assert!(of(1, 1).has_quorum());
    }

    #[test]
    fn the_description_names_every_member_in_order() {
        let v =
            EnsembleView { members: vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", None, None, false)] };
        assert_eq!(v.describe(), "zk-0 follower 0x100000002 ready; zk-1 leader 0x100000002 (1 synced) ready; zk-2 down (connection refused) not-ready");
        let not_serving = EnsembleView { members: vec![MemberView { server: Ok(None), ..member("zk-0", Some(Mode::Follower), None, false) }] };
        assert_eq!(not_serving.describe(), "zk-0 not serving not-ready");
    }

    #[test]
    fn a_single_member_is_whole_only_standalone_and_ready() {
        let one = |mode, ready| EnsembleView { members: vec![member("zk-0", mode, None, ready)] };
        assert!(one(Some(Mode::Standalone), true).whole().is_ok());
        assert!(one(Some(Mode::Standalone), false).whole().is_err(), "not Ready");
        assert!(one(Some(Mode::Follower), true).whole().is_err(), "a follower alone has no leader");
        assert!(one(Some(Mode::Leader), true).whole().is_err(), "a one-member StatefulSet runs standalone, not as a leader");
        assert!(one(None, true).whole().is_err(), "down");
    }

    #[test]
    fn three_standalones_are_not_an_ensemble() {
        let v = EnsembleView { members: (0..3).map(|i| member(&format!("zk-{i}"), Some(Mode::Standalone), None, true)).collect() };
        assert!(v.whole().unwrap_err().starts_with("0 leaders"));
        assert!(!v.has_quorum());
    }

    /// "Serving" (what the suites wait for before they start) is every member's server serving
    /// clients in any mode, readiness aside; one down, or answering that it does not serve, is
    /// not.
    #[test]
    fn all_serving_is_every_server_serving_in_any_mode() {
        let v = |members| EnsembleView { members };
        assert!(v(vec![member("zk-0", Some(Mode::Follower), None, false), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", Some(Mode::Standalone), None, true)])
            .all_serving());
        assert!(!v(vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(1), true), member("zk-2", None, None, true)]).all_serving());
        let mut not_serving = member("zk-2", Some(Mode::Follower), None, true);
        not_serving.server = Ok(None);
        assert!(!v(vec![member("zk-0", Some(Mode::Follower), None, true), member("zk-1", Some(Mode::Leader), Some(1), true), not_serving]).all_serving());
    }
}
