//! The fake platform's ZooKeepers: one data tree for the ensemble, served on each member's
//! loopback port in ZooKeeper's own wire protocol, beside the four-letter words. The client
//! protocol is the part the harness's `zookeeper-client` speaks: the session handshake (and its
//! resumption on another member), ping, create (with the sequential flag), delete, exists,
//! getData, setData, getChildren, sync and closeSession, with ZooKeeper's error codes for a
//! missing parent, an existing node, a version mismatch and a non-empty delete. A request of any
//! other kind is answered "unimplemented".
//!
//! What a member serves follows its [`FakeMember`]: a member whose server is down answers
//! nothing (the connection is closed at once), one without quorum (`mode: None`) refuses
//! sessions as ZooKeeper does, and a member that stops serving or is restarted closes every
//! connection it had, so clients move to another member. Writes commit to the one tree at once:
//! what a member acknowledged, every member serves. Reads are therefore never stale here; what
//! the fake certifies is the suites' logic, not ZooKeeper's.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::client::fourlw::Mode;

/// What a fake member's server says of itself, and whether its pod is Ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMember {
    /// `None`: the server answers that it does not serve (it has no quorum).
    pub mode: Option<Mode>,
    /// A leader's `zk_synced_followers`.
    pub synced: u32,
    pub zxid: i64,
    pub ready: bool,
    /// The server process runs: `false` closes every connection unanswered, as a port with
    /// nothing behind it does through a port-forward.
    pub up: bool,
    /// Bumped whenever the member stops serving or changes role: its client connections close.
    pub incarnation: u64,
    /// Cut off from its peers (either way): it cannot be part of a quorum.
    pub isolated: bool,
    /// `4lw.commands.whitelist=srvr` (ZooKeeper's default since 3.5.3): every other word is refused.
    pub srvr_only: bool,
}

impl FakeMember {
    pub fn new(mode: Option<Mode>, synced: u32, zxid: i64) -> FakeMember {
        FakeMember { mode, synced, zxid, ready: true, up: true, incarnation: 0, isolated: false, srvr_only: false }
    }
}

/// ZooKeeper's error codes, as the client reads them.
const NO_NODE: i32 = -101;
const BAD_VERSION: i32 = -103;
const NODE_EXISTS: i32 = -110;
const NOT_EMPTY: i32 = -111;
const BAD_ARGUMENTS: i32 = -8;
const UNIMPLEMENTED: i32 = -6;
/// The ping's fixed xid (the server answers every ping with it).
const PING_XID: i32 = -2;

/// A znode and its stat.
#[derive(Debug, Clone, Default)]
struct Znode {
    data: Vec<u8>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    cversion: i32,
    children: BTreeSet<String>,
}

/// The ensemble's one data tree.
#[derive(Debug)]
pub struct Tree {
    nodes: BTreeMap<String, Znode>,
    /// The last committed zxid: epoch in the high 32 bits, counter in the low.
    pub zxid: i64,
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new(1)
    }
}

impl Tree {
    /// An empty tree (the root and `/zookeeper`) two transactions into `epoch`, as a fresh
    /// ensemble's first `srvr` says (0x100000002 in the first epoch).
    pub fn new(epoch: i64) -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Znode { children: ["zookeeper".to_string()].into(), cversion: 1, ..Znode::default() });
        nodes.insert("/zookeeper".to_string(), Znode::default());
        Tree { nodes, zxid: (epoch << 32) + 2 }
    }

    /// A new leader's epoch: the counter starts again.
    pub fn new_epoch(&mut self) {
        self.zxid = ((self.zxid >> 32) + 1) << 32;
    }

    /// The data of `path`, if it exists (for tests).
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.nodes.get(path).map(|n| n.data.as_slice())
    }

    /// What ZooKeeper's `zk_approximate_data_size` counts: every znode's path and data.
    pub fn approximate_data_size(&self) -> u64 {
        self.nodes.iter().map(|(path, n)| (path.len() + n.data.len()) as u64).sum()
    }

    fn parent(path: &str) -> Option<(&str, &str)> {
        let i = path.rfind('/')?;
        Some((if i == 0 { "/" } else { &path[..i] }, &path[i + 1..]))
    }

    fn create(&mut self, path: &str, data: Vec<u8>, sequential: bool) -> Result<(String, Znode), i32> {
        if !path.starts_with('/') || path.len() < 2 || (path.ends_with('/') && !sequential) {
            return Err(BAD_ARGUMENTS);
        }
        let (parent_path, _) = Tree::parent(path).ok_or(BAD_ARGUMENTS)?;
        let parent = self.nodes.get(parent_path).ok_or(NO_NODE)?;
        let path = if sequential { format!("{path}{:010}", parent.cversion) } else { path.to_string() };
        if self.nodes.contains_key(&path) {
            return Err(NODE_EXISTS);
        }
        self.zxid += 1;
        let zxid = self.zxid;
        let now = chrono::Utc::now().timestamp_millis();
        let node = Znode { data, czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: now, mtime: now, ..Znode::default() };
        let (parent_path, name) = Tree::parent(&path).expect("checked above");
        let parent = self.nodes.get_mut(parent_path).expect("checked above");
        parent.children.insert(name.to_string());
        parent.cversion += 1;
        parent.pzxid = zxid;
        self.nodes.insert(path.clone(), node.clone());
        Ok((path, node))
    }

    fn delete(&mut self, path: &str, version: i32) -> Result<(), i32> {
        if path == "/" {
            return Err(BAD_ARGUMENTS);
        }
        let node = self.nodes.get(path).ok_or(NO_NODE)?;
        if version != -1 && version != node.version {
            return Err(BAD_VERSION);
        }
        if !node.children.is_empty() {
            return Err(NOT_EMPTY);
        }
        self.zxid += 1;
        self.nodes.remove(path);
        let (parent_path, name) = Tree::parent(path).ok_or(BAD_ARGUMENTS)?;
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            parent.children.remove(name);
            parent.cversion += 1;
            parent.pzxid = self.zxid;
        }
        Ok(())
    }

    fn set(&mut self, path: &str, data: Vec<u8>, version: i32) -> Result<Znode, i32> {
        let zxid = self.zxid + 1;
        let node = self.nodes.get_mut(path).ok_or(NO_NODE)?;
        if version != -1 && version != node.version {
            return Err(BAD_VERSION);
        }
        self.zxid = zxid;
        node.data = data;
        node.version += 1;
        node.mzxid = zxid;
        node.mtime = chrono::Utc::now().timestamp_millis();
        Ok(node.clone())
    }
}

/// The members' states and the data, shared by the platform and every connection.
#[derive(Debug)]
pub struct Servers {
    pub members: Vec<FakeMember>,
    /// One tree for the ensemble, or one a member when each is standalone.
    trees: Vec<Tree>,
    standalone: bool,
    next_session: i64,
}

impl Servers {
    pub fn new(members: Vec<FakeMember>, standalone: bool) -> Servers {
        let trees = (0..if standalone { members.len() } else { 1 }).map(|_| Tree::default()).collect();
        Servers { members, trees, standalone, next_session: 0x1000 }
    }

    /// The tree member `i` serves.
    pub fn tree(&self, i: usize) -> &Tree {
        &self.trees[if self.standalone { i } else { 0 }]
    }

    fn tree_mut(&mut self, i: usize) -> &mut Tree {
        &mut self.trees[if self.standalone { i } else { 0 }]
    }

    /// The data is gone (no volume kept it): empty trees, before the first epoch (the next
    /// election starts epoch 1 again).
    pub fn wipe(&mut self) {
        for t in &mut self.trees {
            *t = Tree::new(0);
        }
        for m in &mut self.members {
            m.zxid = 0;
        }
    }

    /// Who serves, after a change of which servers are up or cut off. A standalone member serves
    /// while it is up, cut off or not. In an ensemble a majority up and connected elects a leader:
    /// the one leading keeps leading, else the highest ordinal among them, in a new epoch; a
    /// member cut off, or on a side without a majority, does not serve. A member that stops
    /// serving or changes role is a new incarnation (its connections close), and every serving
    /// member has the tree's last zxid.
    pub fn reconcile(&mut self) {
        let n = self.members.len();
        let up: Vec<usize> = (0..n).filter(|&i| self.members[i].up && !self.members[i].isolated).collect();
        let leader = if self.standalone || up.len() <= n / 2 {
            None
        } else {
            match up.iter().copied().find(|&i| self.members[i].mode == Some(Mode::Leader)) {
                Some(l) => Some(l),
                None => {
                    self.trees[0].new_epoch();
                    up.last().copied()
                }
            }
        };
        for i in 0..n {
            let mode = match (self.members[i].up, self.standalone, leader) {
                (false, _, _) => None,
                (true, true, _) => Some(Mode::Standalone),
                (true, false, None) => None,
                (true, false, Some(_)) if !up.contains(&i) => None,
                (true, false, Some(l)) => Some(if l == i { Mode::Leader } else { Mode::Follower }),
            };
            let m = &mut self.members[i];
            if m.mode != mode {
                m.mode = mode;
                m.incarnation += 1;
            }
            m.synced = if mode == Some(Mode::Leader) { up.len() as u32 - 1 } else { 0 };
            if mode.is_some() {
                m.zxid = self.trees[if self.standalone { i } else { 0 }].zxid;
            }
        }
    }

    /// After a write through member `i`: every member serving that tree has seen it.
    fn committed(&mut self, i: usize) {
        for j in 0..self.members.len() {
            if (j == i || !self.standalone) && self.members[j].up && self.members[j].mode.is_some() {
                self.members[j].zxid = self.tree(j).zxid;
            }
        }
    }
}

/// One member's client port: the shared state, who it is, and a signal that some member's state
/// changed (so a connection can close when its member stops serving).
#[derive(Clone)]
pub struct Port {
    pub servers: Arc<Mutex<Servers>>,
    pub changed: watch::Receiver<u64>,
    pub ordinal: usize,
    pub exchanges: Arc<AtomicUsize>,
}

/// Accepts connections for one member until the listener's task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, port: Port) {
    while let Ok((conn, _)) = listener.accept().await {
        tokio::spawn(connection(conn, port.clone()));
    }
}

/// One connection: a four-letter word (answered from the member's state now, then closed) or a
/// client session.
async fn connection(mut conn: TcpStream, port: Port) {
    let (member, data_size) = {
        let s = port.servers.lock().unwrap();
        (s.members[port.ordinal].clone(), s.tree(port.ordinal).approximate_data_size())
    };
    if !member.up {
        return;
    }
    let mut first = [0u8; 4];
    if conn.read_exact(&mut first).await.is_err() {
        return;
    }
    if first.iter().all(u8::is_ascii_lowercase) {
        port.exchanges.fetch_add(1, Ordering::SeqCst);
        let _ = conn.write_all(four_letter_reply(&first, &member, data_size).as_bytes()).await;
        let _ = conn.shutdown().await;
        return;
    }
    let _ = session(conn, i32::from_be_bytes(first), port, member.incarnation).await;
}

/// What `srvr` and `mntr` say of `m` (the refusal of a server without quorum), whose tree holds
/// `data_size` bytes of paths and data. As ZooKeeper does, the whitelist is checked first,
/// whether or not the server serves.
pub fn four_letter_reply(word: &[u8; 4], m: &FakeMember, data_size: u64) -> String {
    if m.srvr_only && word != b"srvr" {
        return format!("{} is not executed because it is not in the whitelist.\n", String::from_utf8_lossy(word));
    }
    let Some(mode) = m.mode else { return "This ZooKeeper instance is not currently serving requests\n".into() };
    let name = format!("{mode:?}").to_lowercase();
    let leads = mode == Mode::Leader;
    match word {
        b"srvr" => format!(
            "Zookeeper version: 3.8.0-fake\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 1\nConnections: 1\nOutstanding: 0\nZxid: {:#x}\nMode: {name}\nNode count: 5\n{}",
            m.zxid,
            if leads { "Proposal sizes last/min/max: -1/-1/-1\n" } else { "" }
        ),
        b"mntr" => format!(
            "zk_version\t3.8.0-fake\nzk_server_state\t{name}\nzk_approximate_data_size\t{data_size}\n{}",
            if leads { format!("zk_synced_followers\t{}\n", m.synced) } else { String::new() }
        ),
        b"ruok" => "imok".into(),
        _ => String::new(),
    }
}

/// Whether the member still serves the connection it accepted at `incarnation`.
fn serving(port: &Port, incarnation: u64) -> bool {
    let s = port.servers.lock().unwrap();
    let m = &s.members[port.ordinal];
    m.up && m.mode.is_some() && m.incarnation == incarnation
}

/// A client session: the handshake, then one request at a time until the client closes it or
/// the member stops serving.
async fn session(mut conn: TcpStream, first_len: i32, mut port: Port, incarnation: u64) -> std::io::Result<()> {
    let connect = read_body(&mut conn, first_len).await?;
    if !serving(&port, incarnation) {
        // ZooKeeper closes the connection of a client it cannot serve (no quorum).
        return Ok(());
    }
    let mut r = Reader(&connect);
    let (_protocol, _last_zxid, timeout, session_id) = (r.i32(), r.i64(), r.i32(), r.i64());
    let session_id = if session_id != 0 {
        session_id
    } else {
        let mut s = port.servers.lock().unwrap();
        s.next_session += 1;
        s.next_session
    };
    let mut reply = Vec::new();
    put_i32(&mut reply, 0);
    put_i32(&mut reply, timeout);
    put_i64(&mut reply, session_id);
    put_buffer(&mut reply, &[0u8; 16]);
    reply.push(0);
    write_frame(&mut conn, &reply).await?;

    // Requests are read by a task of their own, so waiting for one can be given up for a change
    // of the member's state without losing half a frame.
    let (mut rd, mut wr) = conn.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let reader = Aborting(tokio::spawn(async move {
        loop {
            let mut len = [0u8; 4];
            if rd.read_exact(&mut len).await.is_err() {
                return;
            }
            let Ok(body) = read_body(&mut rd, i32::from_be_bytes(len)).await else { return };
            if tx.send(body).await.is_err() {
                return;
            }
        }
    }));
    loop {
        let body = tokio::select! {
            body = rx.recv() => match body {
                Some(body) => body,
                None => return Ok(()),
            },
            changed = port.changed.changed() => {
                if changed.is_ok() && serving(&port, incarnation) {
                    continue;
                }
                return Ok(());
            }
        };
        if !serving(&port, incarnation) {
            return Ok(());
        }
        let mut r = Reader(&body);
        let (xid, op) = (r.i32(), r.i32());
        let (zxid, err, out, close) = answer(&port, op, &mut r);
        let mut reply = Vec::new();
        put_i32(&mut reply, if op == 11 { PING_XID } else { xid });
        put_i64(&mut reply, zxid);
        put_i32(&mut reply, err);
        if err == 0 {
            reply.extend_from_slice(&out);
        }
        write_frame(&mut wr, &reply).await?;
        if close {
            drop(reader);
            return Ok(());
        }
    }
}

/// A task that ends with its owner.
struct Aborting(tokio::task::JoinHandle<()>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One request: (the zxid to reply with, the error code, the body, whether the session ends).
fn answer(port: &Port, op: i32, r: &mut Reader) -> (i64, i32, Vec<u8>, bool) {
    let mut s = port.servers.lock().unwrap();
    let mut out = Vec::new();
    let result: Result<(), i32> = match op {
        // ping
        11 => Ok(()),
        // closeSession
        -11 => return (s.tree(port.ordinal).zxid, 0, out, true),
        // create, create2
        1 | 15 => {
            let (path, data) = (r.string(), r.buffer());
            r.skip_acls();
            let flags = r.i32();
            s.tree_mut(port.ordinal).create(&path, data, flags & 2 != 0).map(|(path, node)| {
                put_string(&mut out, &path);
                if op == 15 {
                    put_stat(&mut out, &node);
                }
            })
        }
        // delete
        2 => {
            let (path, version) = (r.string(), r.i32());
            s.tree_mut(port.ordinal).delete(&path, version)
        }
        // exists, getData
        3 | 4 => {
            let path = r.string();
            s.tree(port.ordinal).nodes.get(&path).ok_or(NO_NODE).map(|node| {
                if op == 4 {
                    put_buffer(&mut out, &node.data);
                }
                put_stat(&mut out, node);
            })
        }
        // setData
        5 => {
            let (path, data, version) = (r.string(), r.buffer(), r.i32());
            s.tree_mut(port.ordinal).set(&path, data, version).map(|node| put_stat(&mut out, &node))
        }
        // getChildren, getChildren2
        8 | 12 => {
            let path = r.string();
            s.tree(port.ordinal).nodes.get(&path).ok_or(NO_NODE).map(|node| {
                put_i32(&mut out, node.children.len() as i32);
                for c in &node.children {
                    put_string(&mut out, c);
                }
                if op == 12 {
                    put_stat(&mut out, node);
                }
            })
        }
        // sync: every member serves the one tree, so it is always in sync
        9 => {
            let path = r.string();
            put_string(&mut out, &path);
            Ok(())
        }
        _ => Err(UNIMPLEMENTED),
    };
    if matches!(op, 1 | 15 | 2 | 5) && result.is_ok() {
        s.committed(port.ordinal);
    }
    (s.tree(port.ordinal).zxid, result.err().unwrap_or(0), out, false)
}

async fn read_body(conn: &mut (impl AsyncReadExt + Unpin), len: i32) -> std::io::Result<Vec<u8>> {
    if !(0..=1 << 20).contains(&len) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame of {len} bytes")));
    }
    let mut body = vec![0u8; len as usize];
    conn.read_exact(&mut body).await?;
    Ok(body)
}

async fn write_frame(conn: &mut (impl AsyncWriteExt + Unpin), body: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(body.len() + 4);
    put_i32(&mut frame, body.len() as i32);
    frame.extend_from_slice(body);
    conn.write_all(&frame).await
}

/// Jute's big-endian records, read leniently: past the end reads zeros.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i32(&mut self) -> i32 {
        self.take(4).try_into().map(i32::from_be_bytes).unwrap_or(0)
    }
    fn i64(&mut self) -> i64 {
        self.take(8).try_into().map(i64::from_be_bytes).unwrap_or(0)
    }
    fn buffer(&mut self) -> Vec<u8> {
        let len = self.i32();
        if len <= 0 {
            return Vec::new();
        }
        self.take(len as usize).to_vec()
    }
    fn string(&mut self) -> String {
        String::from_utf8_lossy(&self.buffer()).into_owned()
    }
    /// A vector of ACLs: permissions, then the id's scheme and id.
    fn skip_acls(&mut self) {
        for _ in 0..self.i32().max(0) {
            self.i32();
            self.buffer();
            self.buffer();
        }
    }
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_buffer(out: &mut Vec<u8>, b: &[u8]) {
    put_i32(out, b.len() as i32);
    out.extend_from_slice(b);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_buffer(out, s.as_bytes());
}

/// A znode's `Stat` record.
fn put_stat(out: &mut Vec<u8>, n: &Znode) {
    put_i64(out, n.czxid);
    put_i64(out, n.mzxid);
    put_i64(out, n.ctime);
    put_i64(out, n.mtime);
    put_i32(out, n.version);
    put_i32(out, n.cversion);
    put_i32(out, 0);
    put_i64(out, 0);
    put_i32(out, n.data.len() as i32);
    put_i32(out, n.children.len() as i32);
    put_i64(out, n.pzxid);
}
