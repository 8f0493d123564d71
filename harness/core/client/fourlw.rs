//! The four-letter words: one short TCP exchange with a server's client port, parsed.
//! ZooKeeper >= 3.5.3 answers only `srvr` unless `4lw.commands.whitelist` allows more; the
//! fixture image allows `ruok, srvr, stat, mntr, conf, envi, cons`. A word outside the whitelist
//! is answered "<word> is not executed because it is not in the whitelist." and closed: that is
//! [`NotWhitelisted`], which callers tell from a server that does not answer, and work without.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// After a reply that ends a line, how long the connection may stay silent before the reply is
/// taken as complete.
pub const REPLY_IDLE: Duration = Duration::from_millis(100);

/// Sends `word` and reads the reply until the server closes the connection, or until the reply
/// ends a line (or is `imok`) and nothing more comes for [`REPLY_IDLE`]. The server writes its
/// reply at once and closes; a port-forward (Kubernetes) passes the close on about a second
/// later, which is not worth waiting for. A reply cut inside a line is never taken. A `srvr`
/// reply ends at its last line, without waiting.
pub async fn ask(addr: SocketAddr, word: &str, timeout: Duration) -> anyhow::Result<String> {
    let whole = if word == "srvr" { srvr_complete } else { never };
    ask_until(addr, word, timeout, whole).await
}

fn never(_: &[u8]) -> bool {
    false
}

/// As [`ask`], but the reply also ends as soon as `enough` says it holds what the caller needs
/// (checked after every read): the rest is not waited for.
pub async fn ask_until(addr: SocketAddr, word: &str, timeout: Duration, enough: fn(&[u8]) -> bool) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connect {addr}"))?;
        stream.write_all(word.as_bytes()).await?;
        let mut reply = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if enough(&reply) {
                break;
            }
            let complete = reply.ends_with(b"\n") || reply == b"imok";
            let n = if complete {
                match tokio::time::timeout(REPLY_IDLE, stream.read(&mut chunk)).await {
                    Ok(read) => read?,
                    Err(_) => break,
                }
            } else {
                stream.read(&mut chunk).await?
            };
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&chunk[..n]);
        }
        anyhow::Ok(String::from_utf8_lossy(&reply).into_owned())
    };
    let reply = tokio::time::timeout(timeout, exchange).await.map_err(|_| anyhow::anyhow!("'{word}' to {addr}: no reply within {}", humantime::format_duration(timeout)))??;
    if reply.contains(REFUSAL) {
        return Err(anyhow::Error::new(NotWhitelisted { word: word.to_string(), addr }));
    }
    Ok(reply)
}

/// How a server refuses a word its `4lw.commands.whitelist` leaves out.
const REFUSAL: &str = "is not executed because it is not in the whitelist";

/// A four-letter word the server's `4lw.commands.whitelist` does not allow: the server answered,
/// and said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotWhitelisted {
    pub word: String,
    pub addr: SocketAddr,
}

impl std::fmt::Display for NotWhitelisted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}' to {}: not in the server's 4lw.commands.whitelist", self.word, self.addr)
    }
}

impl std::error::Error for NotWhitelisted {}

/// Whether `e` is (or wraps) a whitelist refusal.
pub fn not_whitelisted(e: &anyhow::Error) -> bool {
    e.downcast_ref::<NotWhitelisted>().is_some()
}

/// A `mntr` reply that says what [`server_state`] needs: a leader's whole `zk_synced_followers`
/// line (the key is not a prefix of any other, such as `zk_synced_non_voting_followers`), the
/// whole `zk_server_state` line of a server that does not lead (it has no such line), or the
/// refusal of a server without quorum.
fn mntr_enough(reply: &[u8]) -> bool {
    let mut lines = reply.split(|&b| b == b'\n').rev().skip(1);
    lines.any(|line| {
        line.starts_with(b"zk_synced_followers\t")
            || line.strip_prefix(b"zk_server_state\t").is_some_and(|state| state != b"leader")
            || line.starts_with(b"This ZooKeeper instance is not currently serving requests")
            || line.ends_with(REFUSAL.as_bytes())
            || line.ends_with(format!("{REFUSAL}.").as_bytes())
    })
}

/// A `srvr` reply known to be whole: its last line ("Node count: N", then for a leader
/// "Proposal sizes last/min/max: ..."), or the refusal of a server without quorum.
fn srvr_complete(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    if !text.ends_with('\n') {
        return false;
    }
    if text.contains("not currently serving requests") {
        return true;
    }
    let has = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    has("Node count:") && (!has("Mode: leader") || has("Proposal sizes"))
}

/// The role a server reports (`Mode:` in `srvr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    Standalone,
}

/// What `srvr` (and, for a leader, `mntr`) says about one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerState {
    pub mode: Mode,
    /// The last zxid the server has processed.
    pub zxid: i64,
    /// Leaders only: followers in sync (`zk_synced_followers`).
    pub synced_followers: Option<u32>,
    pub version: String,
    /// Leaders only: why `synced_followers` could not be observed (`mntr` is not in the
    /// server's whitelist); `None` when it was, or need not be.
    pub sync_unobserved: Option<String>,
}

/// Parses a `srvr` reply. A server not in quorum answers "This ZooKeeper instance is not
/// currently serving requests": that is `Ok(None)`, not an error.
pub fn parse_srvr(reply: &str) -> anyhow::Result<Option<ServerState>> {
    if reply.contains("not currently serving requests") {
        return Ok(None);
    }
    let field = |name: &str| reply.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
    let mode = match field("Mode:").as_deref() {
        Some("leader") => Mode::Leader,
        Some("follower") => Mode::Follower,
        Some("observer") => Mode::Observer,
        Some("standalone") => Mode::Standalone,
        other => bail!("srvr reply has no known Mode (got {other:?}): {reply:?}"),
    };
    let zxid = field("Zxid:").ok_or_else(|| anyhow::anyhow!("srvr reply has no Zxid: {reply:?}"))?;
    let zxid = i64::from_str_radix(zxid.trim_start_matches("0x"), 16).with_context(|| format!("srvr Zxid {zxid:?}"))?;
    let version = field("Zookeeper version:").unwrap_or_default();
    Ok(Some(ServerState { mode, zxid, synced_followers: None, version, sync_unobserved: None }))
}

/// Parses a `mntr` reply (tab-separated `key value` lines).
pub fn parse_mntr(reply: &str) -> BTreeMap<String, String> {
    reply.lines().filter_map(|l| l.split_once('\t')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect()
}

/// Parses `conf` or zoo.cfg (`key=value` lines; comments skipped).
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The addresses whose server led at its last `srvr` here: a guess of who leads now, so that
/// its `mntr` can be asked at once instead of after `srvr`. It never changes a result, only
/// whether the leader's look takes one round trip or two.
static LED_LAST: std::sync::Mutex<Vec<SocketAddr>> = std::sync::Mutex::new(Vec::new());

/// `srvr`, plus `mntr`'s synced-follower count when the server leads. `Ok(None)` when the
/// server answers but is not serving (no quorum). A leader whose whitelist leaves `mntr` out
/// has no count: [`ServerState::sync_unobserved`] says why, and the look is not an error. Through a port-forward each exchange costs a
/// connection set-up (two TLS handshakes), so `mntr` goes only to a leader: at once beside `srvr`
/// to a server that led last time, after `srvr` to one that did not. It counts only when both
/// replies say the server leads; a follower's is cut after its state line.
pub async fn server_state(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Option<ServerState>> {
    let led = LED_LAST.lock().expect("never poisoned").contains(&addr);
    let (srvr, early) = if led {
        let (s, m) = tokio::join!(ask(addr, "srvr", timeout), ask_until(addr, "mntr", timeout, mntr_enough));
        (s, Some(m))
    } else {
        (ask(addr, "srvr", timeout).await, None)
    };
    let srvr = match srvr {
        // A whitelist without srvr (it is in ZooKeeper's default one, but a deployment may list
        // others only): `stat` says the same Mode and Zxid, after the client list.
        Err(e) if not_whitelisted(&e) => ask(addr, "stat", timeout).await.map_err(|stat| e.context(format!("and {stat:#}")))?,
        other => other?,
    };
    let state = parse_srvr(&srvr)?;
    let leads = state.as_ref().is_some_and(|s| s.mode == Mode::Leader);
    {
        let mut last = LED_LAST.lock().expect("never poisoned");
        last.retain(|a| *a != addr);
        if leads {
            last.push(addr);
        }
    }
    let Some(mut state) = state else { return Ok(None) };
    if leads {
        let mntr = match early {
            Some(m) => m,
            None => ask_until(addr, "mntr", timeout, mntr_enough).await,
        };
        let mntr = match mntr {
            Ok(m) => m,
            Err(e) if not_whitelisted(&e) => {
                state.sync_unobserved = Some(SYNC_UNOBSERVED.to_string());
                return Ok(Some(state));
            }
            Err(e) => return Err(e),
        };
        let mntr = parse_mntr(&mntr);
        if mntr.get("zk_server_state").map(String::as_str) == Some("leader") {
            state.synced_followers = mntr.get("zk_synced_followers").and_then(|v| v.parse().ok());
        }
    }
    Ok(Some(state))
}

/// Why a leader's synced-follower count is missing when its whitelist refuses `mntr`.
pub const SYNC_UNOBSERVED: &str = "mntr is not in 4lw.commands.whitelist: the leader's synced-follower count cannot be observed";

/// The release in `srvr`'s version line, without the build date and without what the build left
/// unexpanded: Debian's 3.8 reports "3.8.0-${mvngit.commit.id}, built on ...", which is "3.8.0".
pub fn release(version: &str) -> String {
    let v = version.split(',').next().unwrap_or_default().trim();
    match v.find("${") {
        Some(i) => v[..i].trim_end_matches(['-', '+', ' ']).to_string(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_release_is_shown_without_unexpanded_placeholders() {
        assert_eq!(release("3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC"), "3.8.0");
        assert_eq!(release("3.9.2-e454e8c7283100c7caec6dcae2bc82aaecb63023, built on 2024-02-12 20:59 UTC"), "3.9.2-e454e8c7283100c7caec6dcae2bc82aaecb63023");
        assert_eq!(release("3.8.4"), "3.8.4");
    }

    const SRVR_LEADER: &str = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
        Latency min/avg/max: 0/0.0/0\nReceived: 2\nSent: 1\nConnections: 1\nOutstanding: 0\n\
        Zxid: 0x100000002\nMode: leader\nNode count: 6\nProposal sizes last/min/max: 48/48/48\n";

    #[test]
    fn srvr_of_a_leader() {
        let s = parse_srvr(SRVR_LEADER).unwrap().unwrap();
        assert_eq!(s.mode, Mode::Leader);
        assert_eq!(s.zxid, 0x100000002);
        assert!(s.version.starts_with("3.8.0"));
    }

    #[test]
    fn srvr_of_a_server_without_quorum_is_none() {
        assert_eq!(parse_srvr("This ZooKeeper instance is not currently serving requests\n").unwrap(), None);
    }

    #[test]
    fn srvr_garbage_is_an_error() {
        assert!(parse_srvr("hello").is_err());
    }

    #[test]
    fn mntr_and_properties() {
        let m = parse_mntr("zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\n");
        assert_eq!(m["zk_synced_followers"], "2");
        let p = parse_properties("# c\nclientPort=2181\nserver.1=zk-0.zk-hs.default.svc.cluster.local:2888:3888\n");
        assert_eq!(p["server.1"], "zk-0.zk-hs.default.svc.cluster.local:2888:3888");
        assert_eq!(p.len(), 2);
    }

    #[tokio::test]
    async fn ask_reads_until_close_and_recognises_the_whitelist_refusal() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for reply in ["imok", "mntr is not executed because it is not in the whitelist.\n"] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut word = [0u8; 4];
                s.read_exact(&mut word).await.unwrap();
                s.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        assert_eq!(ask(addr, "ruok", Duration::from_secs(5)).await.unwrap(), "imok");
        let err = ask(addr, "mntr", Duration::from_secs(5)).await.unwrap_err().to_string();
        assert!(err.contains("whitelist"), "{err}");
    }

    /// The exact reply of a ZooKeeper 3.9 server whose whitelist is `srvr` only (the default).
    const MNTR_REFUSED: &str = "mntr is not executed because it is not in the whitelist.\n";

    #[test]
    fn a_whitelist_refusal_ends_the_mntr_reply() {
        assert!(mntr_enough(MNTR_REFUSED.as_bytes()));
        assert!(!mntr_enough(&MNTR_REFUSED.as_bytes()[..20]), "a refusal cut short is not yet one");
    }

    /// With `srvr` only, a leader's look is not an error and does not wait: its count is
    /// unobserved, and says why; a follower's look never asks `mntr`.
    #[tokio::test]
    async fn a_leader_that_refuses_mntr_has_its_sync_unobserved_not_an_error() {
        let (addr, leader) = scripted(&[("srvr", SRVR_LEADER), ("mntr", MNTR_REFUSED)]).await;
        let started = std::time::Instant::now();
        let state = server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2), "the held-open connection was waited for: {:?}", started.elapsed());
        assert_eq!((state.mode, state.synced_followers), (Mode::Leader, None));
        assert_eq!(state.sync_unobserved.as_deref(), Some(SYNC_UNOBSERVED));
        // Asked again (the leader is remembered: srvr and mntr at once), the same.
        let again = server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(again, state);
        leader.abort();
        let err = ask(addr_of_refusal().await, "mntr", Duration::from_secs(5)).await.unwrap_err();
        assert!(not_whitelisted(&err), "{err:#}");
        assert_eq!(err.to_string().split(':').nth(2).map(str::trim), Some("not in the server's 4lw.commands.whitelist"));
    }

    /// A whitelist of `stat` but not `srvr`: the same state, read from `stat`; with neither, an
    /// error that names the whitelist.
    #[tokio::test]
    async fn without_srvr_the_state_is_read_from_stat() {
        const STAT_FOLLOWER: &str = "Zookeeper version: 3.9.5, built on 2025-01-01 00:00 UTC\nClients:\n /127.0.0.1:51234[0](queued=0,recved=1,sent=0)\n\n\
            Latency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x200000001\nMode: follower\nNode count: 5\n";
        let (addr, server) = scripted(&[("srvr", "srvr is not executed because it is not in the whitelist.\n"), ("stat", STAT_FOLLOWER)]).await;
        let state = server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!((state.mode, state.zxid), (Mode::Follower, 0x200000001));
        server.abort();
        let (addr, _none) =
            scripted(&[("srvr", "srvr is not executed because it is not in the whitelist.\n"), ("stat", "stat is not executed because it is not in the whitelist.\n")]).await;
        let err = server_state(addr, Duration::from_secs(5)).await.unwrap_err();
        assert!(not_whitelisted(&err) && format!("{err:#}").contains("'stat'"), "{err:#}");
    }

    async fn addr_of_refusal() -> SocketAddr {
        scripted(&[("mntr", MNTR_REFUSED)]).await.0
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_is_not_a_whitelist_refusal() {
        let (addr, _silent) = scripted(&[]).await;
        let err = ask(addr, "mntr", Duration::from_millis(300)).await.unwrap_err();
        assert!(!not_whitelisted(&err) && err.to_string().contains("no reply within"), "{err:#}");
    }

    #[test]
    fn a_srvr_reply_is_whole_at_its_last_line() {
        let follower = "Zookeeper version: 3.8.0\nZxid: 0x100000002\nMode: follower\nNode count: 5\n";
        assert!(srvr_complete(follower.as_bytes()));
        assert!(!srvr_complete(&follower.as_bytes()[..follower.len() - 1]), "the last line is not ended yet");
        let leader = "Zookeeper version: 3.8.0\nZxid: 0x100000002\nMode: leader\nNode count: 5\n";
        assert!(!srvr_complete(leader.as_bytes()), "a leader's reply goes on with its proposal sizes");
        assert!(srvr_complete(format!("{leader}Proposal sizes last/min/max: -1/-1/-1\n").as_bytes()));
        assert!(srvr_complete(b"This ZooKeeper instance is not currently serving requests\n"));
        assert!(!srvr_complete(b"Zookeeper version: 3.8.0\nZxid: 0x10"));
    }

    #[test]
    fn mntr_is_enough_once_the_line_server_state_needs_ended() {
        assert!(mntr_enough(b"zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\n"));
        assert!(mntr_enough(b"zk_synced_followers\t2\nzk_pending_syncs\t0"), "later lines need not be whole");
        assert!(!mntr_enough(b"zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t1"), "the count may go on: 1 could be 12");
        assert!(!mntr_enough(b"zk_server_state\tleader\nzk_synced_non_voting_followers\t0\nzk_synced_observers\t0\n"), "a leader's count is still to come");
        assert!(mntr_enough(b"zk_version\t3.8.0\nzk_server_state\tfollower\n"), "a follower has no count to wait for");
        assert!(!mntr_enough(b"zk_version\t3.8.0\nzk_server_state\tfollow"));
        assert!(mntr_enough(b"This ZooKeeper instance is not currently serving requests\n"));
        assert!(!mntr_enough(b""));
    }

    /// A scripted server: answers each of `replies` (keyed by the word asked) on one connection,
    /// then holds the connection open, as a late-closing port-forward does.
    async fn scripted(replies: &'static [(&'static str, &'static str)]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut word = [0u8; 4];
                    s.read_exact(&mut word).await.unwrap();
                    let reply = replies.iter().find(|(w, _)| w.as_bytes() == word).map_or("", |(_, r)| *r);
                    s.write_all(reply.as_bytes()).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(30)).await;
                });
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_leaders_state_has_its_synced_followers_and_a_followers_mntr_is_not_waited_for() {
        const LEADER_MNTR: &str = "zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\nzk_pending_sy";
        let (addr, leader) = scripted(&[("srvr", SRVR_LEADER), ("mntr", LEADER_MNTR)]).await;
        let state = server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!((state.mode, state.synced_followers), (Mode::Leader, Some(2)));
        leader.abort();
        const FOLLOWER_SRVR: &str = "Zookeeper version: 3.8.0\nZxid: 0x100000002\nMode: follower\nNode count: 5\n";
        // The follower's mntr stops inside a line and stays open: only the state line can end it.
        let (addr, follower) = scripted(&[("srvr", FOLLOWER_SRVR), ("mntr", "zk_version\t3.8.0\nzk_server_state\tfollower\nzk_avg_lat")]).await;
        let state = server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!((state.mode, state.synced_followers), (Mode::Follower, None));
        follower.abort();
        // srvr and mntr disagree (the leader changed between them): no count, so not whole.
        let (addr, changed) = scripted(&[("srvr", SRVR_LEADER), ("mntr", "zk_version\t3.8.0\nzk_server_state\tfollower\n")]).await;
        assert_eq!(server_state(addr, Duration::from_secs(5)).await.unwrap().unwrap().synced_followers, None);
        changed.abort();
    }

    /// A leader's mntr through a late-closing port-forward: once the synced-followers line came,
    /// the reply is taken. Here the rest stops inside a line and the connection stays open, so
    /// neither the close nor the idle rule could end the read before the timeout.
    #[tokio::test]
    async fn the_leaders_mntr_ends_at_the_line_it_needs() {
        let (addr, server) = scripted(&[("mntr", "zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\nzk_pending_sy")]).await;
        let reply = ask_until(addr, "mntr", Duration::from_secs(5), mntr_enough).await.unwrap();
        assert_eq!(parse_mntr(&reply)["zk_synced_followers"], "2");
        server.abort();
    }

    /// As through a port-forward: the reply comes, the close does not (yet). The reply is taken
    /// whole once a line ended and the connection went quiet; a line cut in two is waited for.
    #[tokio::test]
    async fn a_reply_whose_close_is_late_is_taken_whole_and_never_cut_inside_a_line() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut word = [0u8; 4];
            s.read_exact(&mut word).await.unwrap();
            s.write_all(b"Zookeeper version: 3.8.0\nZxid: 0x10").await.unwrap();
            // The rest of the line after a pause longer than REPLY_IDLE.
            tokio::time::sleep(REPLY_IDLE * 3).await;
            s.write_all(b"0000002\nMode: leader\nNode count: 5\n").await.unwrap();
            // Held open well past the client's timeout: only the idle rule can end the read.
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let reply = ask(addr, "srvr", Duration::from_secs(5)).await.unwrap();
        assert_eq!(reply, "Zookeeper version: 3.8.0\nZxid: 0x100000002\nMode: leader\nNode count: 5\n");
        assert_eq!(parse_srvr(&reply).unwrap().unwrap().zxid, 0x100000002);
        server.abort();
    }
}
