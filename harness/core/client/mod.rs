//! Talking to ZooKeeper: data through the `zookeeper-client` crate, one chosen member at a time;
//! server state through the four-letter words (`srvr`, `mntr`, `conf`).

pub mod fourlw;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use zookeeper_client as zk;

pub use fourlw::{Mode, ServerState};

/// Session timeout the harness asks for (the walkthrough's minimum is 4 s, maximum 40 s).
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects a session to exactly one server, failing within `timeout` if it cannot. A server that
/// refuses or drops the connection is tried again until then: a member that has just turned Ready
/// may not serve clients yet (its readiness probe asks `ruok`, which answers before the server has
/// synced with the leader), and a port-forward can drop the first connection to a new pod.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> anyhow::Result<zk::Client> {
    let cluster = addr.to_string();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = "no answer".to_string();
    loop {
        let attempt = zk::Client::connector().with_session_timeout(SESSION_TIMEOUT).with_fail_eagerly().connect(&cluster);
        match tokio::time::timeout_at(deadline, attempt).await {
            Ok(Ok(c)) => return Ok(c),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => break,
        }
        let pause = tokio::time::Instant::now() + Duration::from_millis(200);
        if pause >= deadline {
            break;
        }
        tokio::time::sleep_until(pause).await;
    }
    anyhow::bail!("no ZooKeeper session with {addr} within {}: {last}", humantime::format_duration(timeout))
}

/// Connects a session that may move between all of `addrs` (the workload's clients).
pub async fn connect_any(addrs: &[SocketAddr], session_timeout: Duration, timeout: Duration) -> anyhow::Result<zk::Client> {
    let cluster = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
    let connect = zk::Client::connector().with_session_timeout(session_timeout).connect(&cluster);
    tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| anyhow::anyhow!("no ZooKeeper session with {cluster} within {}", humantime::format_duration(timeout)))?
        .with_context(|| format!("connecting a ZooKeeper session to {cluster}"))
}

/// The znode fields the walkthrough prints with `get /hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ZnodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub version: i32,
    pub data_length: i32,
    pub num_children: i32,
    pub ephemeral_owner: i64,
}

impl From<&zk::Stat> for ZnodeStat {
    fn from(s: &zk::Stat) -> Self {
        ZnodeStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            pzxid: s.pzxid,
            version: s.version,
            data_length: s.data_length,
            num_children: s.num_children,
            ephemeral_owner: s.ephemeral_owner,
        }
    }
}

/// Creates `path` with `data` (persistent, open ACL), or, if it exists, leaves it as it is.
/// Returns the znode's stat and whether this call created it.
pub async fn create_or_get(client: &zk::Client, path: &str, data: &[u8]) -> anyhow::Result<(ZnodeStat, bool)> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.create(path, data, &opts).await {
        Ok((stat, _)) => Ok(((&stat).into(), true)),
        Err(zk::Error::NodeExists) => {
            let (_, stat) = client.get_data(path).await.with_context(|| format!("get {path}"))?;
            Ok(((&stat).into(), false))
        }
        Err(e) => Err(e).with_context(|| format!("create {path}")),
    }
}

/// Creates `path` and any missing parents, all empty and persistent.
pub async fn ensure_path(client: &zk::Client, path: &str) -> anyhow::Result<()> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.mkdir(path, &opts).await {
        Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("mkdir {path}")),
    }
}

/// Reads `path` after a `sync`, so a read through a follower sees every write committed before.
/// `Ok(None)` when the znode does not exist.
pub async fn read_synced(client: &zk::Client, path: &str) -> anyhow::Result<Option<(Vec<u8>, ZnodeStat)>> {
    client.sync(path).await.or_else(|e| if e == zk::Error::NoNode { Ok(()) } else { Err(e) }).with_context(|| format!("sync {path}"))?;
    match client.get_data(path).await {
        Ok((data, stat)) => Ok(Some((data, (&stat).into()))),
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("get {path}")),
    }
}

/// Deletes `path` and everything under it; a missing znode is fine.
pub async fn delete_tree(client: &zk::Client, path: &str) -> anyhow::Result<()> {
    let mut stack = vec![path.to_string()];
    let mut order = Vec::new();
    while let Some(p) = stack.pop() {
        match client.list_children(&p).await {
            Ok(children) => {
                for c in children {
                    stack.push(if p == "/" { format!("/{c}") } else { format!("{p}/{c}") });
                }
                order.push(p);
            }
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(e).with_context(|| format!("list {p}")),
        }
    }
    for p in order.into_iter().rev() {
        match client.delete(&p, None).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(e) => return Err(e).with_context(|| format!("delete {p}")),
        }
    }
    Ok(())
}

/// `0x100000002` as the walkthrough prints zxids.
pub fn hex_zxid(zxid: i64) -> String {
    format!("{zxid:#x}")
}
