//! The data volume (`--data SIZE`): an ensemble holding real data, not a handful of znodes.
//!
//! Before the first fault suite the runner writes SIZE bytes through one member's client port at
//! full speed (requests pipelined on one session): many small znodes in a tree of subtrees, plus
//! a few near ZooKeeper's 1 MiB request limit. Every znode's content comes from the run's seed, and
//! the count, bytes and SHA-256 of each subtree are recorded as they are written. After each later
//! suite the volume is read back through a member ([`read`]) and judged ([`judge`]): every
//! subtree must hold what was written, the first one that does not is named with what it lacks.
//!
//! Layout, under `{prefix}/data`: `s00` .. `s15` hold `n0000000` .. of [`SMALL`] bytes each, and
//! `large` holds `n0000000` .. of [`LARGE`] bytes (one per 8 parts of the volume, at least one
//! from 2 MiB on).
//!
//! # Caveats
//! The digest covers each znode's name and data, not its stat: a znode re-created with the same
//! content would pass (the suites judge zxids themselves). Reading is bounded by the caller's
//! deadline, not by this module.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use zookeeper_client as zk;

/// The size of a small znode's data.
pub const SMALL: usize = 1024;
/// The size of a large znode's data: near the server's default `jute.maxbuffer` (1 MiB less one
/// byte), which bounds a whole request, path and header included.
pub const LARGE: usize = 1_040_000;
/// How many subtrees hold the small znodes.
pub const SUBTREES: usize = 16;
/// The largest volume `--data` accepts: the ensemble holds it in every member's memory.
pub const MAX_BYTES: u64 = 4 << 30;
/// The smallest: one small znode per subtree.
pub const MIN_BYTES: u64 = (SMALL * SUBTREES) as u64;

/// Requests in flight on the session while writing or reading small znodes.
const WINDOW_SMALL: usize = 256;
/// Requests in flight while writing or reading large znodes (bounds the memory they hold).
const WINDOW_LARGE: usize = 8;

/// A volume size, as `--data` and the `data:` key write it: `256MiB`, `8MiB`, `1GiB`, `512KiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSize(pub u64);

impl DataSize {
    /// Parses `N` followed by `KiB`, `MiB` or `GiB` (binary units; `K`/`M`/`G` alone and `KB`/`MB`/`GB`
    /// are refused rather than guessed at), between [`MIN_BYTES`] and [`MAX_BYTES`].
    pub fn parse(text: &str) -> Result<DataSize, String> {
        let t = text.trim();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        let (number, unit) = t.split_at(digits);
        let scale: u64 = match unit.trim() {
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(format!("'{text}' is not a size: write a whole number and KiB, MiB or GiB, like 8MiB or 256MiB")),
        };
        let n: u64 = number.parse().map_err(|_| format!("'{text}' is not a size: write a whole number and KiB, MiB or GiB, like 8MiB or 256MiB"))?;
        let bytes = n.checked_mul(scale).filter(|b| (MIN_BYTES..=MAX_BYTES).contains(b));
        bytes.map(DataSize).ok_or_else(|| format!("'{text}' is out of range: a data volume is between 16KiB and 4GiB (every member holds it in memory)"))
    }
}

impl fmt::Display for DataSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b.is_multiple_of(scale) {
                return write!(f, "{}{unit}", b / scale);
            }
        }
        write!(f, "{b}B")
    }
}

impl serde::Serialize for DataSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for DataSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DataSize, D::Error> {
        let text = String::deserialize(d)?;
        DataSize::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// One subtree: its name and how many znodes of what size it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtreePlan {
    pub name: String,
    pub count: usize,
    pub size: usize,
}

/// What the volume is: where, which subtrees, and the seed every znode's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub root: String,
    pub seed: u64,
    pub subtrees: Vec<SubtreePlan>,
}

impl Plan {
    /// The volume of `size` under `{prefix}/data`, its content drawn from `seed_text` (the run id).
    pub fn new(prefix: &str, size: DataSize, seed_text: &str) -> Plan {
        let total = size.0 as usize;
        let large = if total >= 2 << 20 { (total / 8 / LARGE).max(1) } else { 0 };
        let small = (total - large * LARGE) / SMALL;
        let mut subtrees: Vec<SubtreePlan> =
            (0..SUBTREES).map(|i| SubtreePlan { name: format!("s{i:02}"), count: small / SUBTREES + usize::from(i < small % SUBTREES), size: SMALL }).collect();
        if large > 0 {
            subtrees.push(SubtreePlan { name: "large".into(), count: large, size: LARGE });
        }
        let hash = Sha256::digest(seed_text.as_bytes());
        let seed = u64::from_be_bytes(hash[..8].try_into().expect("8 bytes"));
        Plan { root: format!("{prefix}/data"), seed, subtrees }
    }

    pub fn znodes(&self) -> usize {
        self.subtrees.iter().map(|s| s.count).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.subtrees.iter().map(|s| (s.count * s.size) as u64).sum()
    }

    /// The path of subtree `s`.
    pub fn subtree_path(&self, s: &SubtreePlan) -> String {
        format!("{}/{}", self.root, s.name)
    }

    /// The content of znode `index` of subtree `s` (`subtree` is its position in the plan).
    pub fn content(&self, subtree: usize, index: usize, size: usize) -> Vec<u8> {
        let mut state = self.seed ^ ((subtree as u64) << 40) ^ index as u64;
        let mut out = Vec::with_capacity(size + 8);
        while out.len() < size {
            out.extend_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        out.truncate(size);
        out
    }

    /// The digests the plan's content gives, computed without an ensemble (tests and the benchmark).
    pub fn expected(&self) -> Vec<SubtreeDigest> {
        self.subtrees
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut d = Digester::default();
                for n in 0..s.count {
                    d.add(&name(n), &self.content(i, n, s.size));
                }
                d.finish(&s.name)
            })
            .collect()
    }
}

/// The name of znode `n` of a subtree: fixed width, so that name order is write order.
pub fn name(n: usize) -> String {
    format!("n{n:07}")
}

/// SplitMix64: a fast generator whose output a seed fixes (the content need not be secret).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A subtree as written, or as read: how many znodes, how many bytes of data, and the SHA-256 of
/// every znode's name and data in name order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubtreeDigest {
    pub name: String,
    pub count: usize,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Default)]
struct Digester {
    hash: Sha256,
    count: usize,
    bytes: u64,
}

impl Digester {
    fn add(&mut self, name: &str, data: &[u8]) {
        self.hash.update((name.len() as u32).to_be_bytes());
        self.hash.update(name.as_bytes());
        self.hash.update((data.len() as u64).to_be_bytes());
        self.hash.update(data);
        self.count += 1;
        self.bytes += data.len() as u64;
    }

    fn finish(self, subtree: &str) -> SubtreeDigest {
        let sha256 = self.hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        SubtreeDigest { name: subtree.to_string(), count: self.count, bytes: self.bytes, sha256 }
    }
}

/// A subtree as read back: its digest, and the first names the plan has that it lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtreeRead {
    pub digest: SubtreeDigest,
    /// `false`: the subtree's znode itself is gone.
    pub exists: bool,
    /// Up to [`MISSING_SHOWN`] names the plan has and the subtree lacks, and how many in all.
    pub missing: Vec<String>,
    pub missing_count: usize,
}

/// How many missing names a read keeps to show.
pub const MISSING_SHOWN: usize = 3;

/// The volume as written: the plan, each subtree's digest, and how it went.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub plan: Plan,
    pub expected: Vec<SubtreeDigest>,
    pub took: Duration,
}

impl Loaded {
    /// Megabytes (10^6 bytes) of znode data written per second.
    pub fn mb_per_second(&self) -> f64 {
        self.plan.bytes() as f64 / 1e6 / self.took.as_secs_f64().max(1e-6)
    }
}

fn create_opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// Writes the volume of `plan` through `client`, requests pipelined, recording each subtree's
/// digest from the bytes sent.
///
/// # Errors
/// The first request the server refused (with its path), e.g. a znode that exists already.
pub async fn preload(client: &zk::Client, plan: &Plan) -> anyhow::Result<Loaded> {
    let start = Instant::now();
    crate::client::ensure_path(client, &plan.root).await?;
    let mut expected = Vec::with_capacity(plan.subtrees.len());
    for (i, s) in plan.subtrees.iter().enumerate() {
        let dir = plan.subtree_path(s);
        let opts = create_opts();
        client.create(&dir, &[], &opts).await.with_context(|| format!("create {dir}"))?;
        let window = if s.size > SMALL { WINDOW_LARGE } else { WINDOW_SMALL };
        let mut digester = Digester::default();
        let writes = futures::stream::iter(0..s.count)
            .map(|n| {
                let path = format!("{dir}/{}", name(n));
                let data = plan.content(i, n, s.size);
                digester.add(&name(n), &data);
                let opts = &opts;
                async move { client.create(&path, &data, opts).await.map(|_| ()).with_context(|| format!("create {path} ({} bytes)", data.len())) }
            })
            .buffer_unordered(window);
        let mut writes = Box::pin(writes);
        while let Some(done) = writes.next().await {
            done?;
        }
        drop(writes);
        expected.push(digester.finish(&s.name));
    }
    Ok(Loaded { plan: plan.clone(), expected, took: start.elapsed() })
}

/// Reads every subtree of `plan` through `client` (after a `sync`, so a follower has every
/// committed write): the znodes each holds now, digested in name order, and what it lacks.
pub async fn read(client: &zk::Client, plan: &Plan) -> anyhow::Result<Vec<SubtreeRead>> {
    client.sync(&plan.root).await.or_else(|e| if e == zk::Error::NoNode { Ok(()) } else { Err(e) }).with_context(|| format!("sync {}", plan.root))?;
    let mut out = Vec::with_capacity(plan.subtrees.len());
    for s in &plan.subtrees {
        let dir = plan.subtree_path(s);
        let (mut children, exists) = match client.list_children(&dir).await {
            Ok(c) => (c, true),
            Err(zk::Error::NoNode) => (Vec::new(), false),
            Err(e) => return Err(e).with_context(|| format!("list {dir}")),
        };
        children.sort();
        let window = if s.size > SMALL { WINDOW_LARGE } else { WINDOW_SMALL };
        let mut digester = Digester::default();
        // Owned names: a stream of closures over borrowed ones is not `Send` for every lifetime,
        // which a spawned task (the benchmark) needs.
        let reads = futures::stream::iter(children)
            .map(|c| {
                let path = format!("{dir}/{c}");
                async move {
                    match client.get_data(&path).await {
                        Ok((data, _)) => Ok(Some((c, data))),
                        // Deleted between the listing and the read: it is not there.
                        Err(zk::Error::NoNode) => Ok(None),
                        Err(e) => Err(e).with_context(|| format!("get {path}")),
                    }
                }
            })
            .buffered(window);
        let mut reads = Box::pin(reads);
        let mut present = std::collections::BTreeSet::new();
        while let Some(r) = reads.next().await {
            if let Some((c, data)) = r? {
                digester.add(&c, &data);
                present.insert(c);
            }
        }
        let missing: Vec<String> = (0..s.count).map(name).filter(|n| !present.contains(n.as_str())).collect();
        out.push(SubtreeRead { digest: digester.finish(&s.name), exists, missing_count: missing.len(), missing: missing.into_iter().take(MISSING_SHOWN).collect() });
    }
    Ok(out)
}

/// Whether what was read is what was written: every subtree's count, bytes and digest. `Err`
/// names the first subtree that differs (under `root`), what it lacks, and how many differ.
pub fn judge(root: &str, expected: &[SubtreeDigest], read: &[SubtreeRead]) -> Result<String, String> {
    let mut differing = Vec::new();
    for e in expected {
        let Some(r) = read.iter().find(|r| r.digest.name == e.name) else {
            differing.push(format!("{root}/{}: not read", e.name));
            continue;
        };
        if r.digest == *e {
            continue;
        }
        let what = if !r.exists {
            format!("{root}/{}: gone (expected {} znodes, {} bytes)", e.name, e.count, e.bytes)
        } else if r.missing_count > 0 {
            let more = if r.missing_count > r.missing.len() { ", ..." } else { "" };
            format!("{root}/{}: {} of {} znodes missing ({}{more})", e.name, r.missing_count, e.count, r.missing.join(", "))
        } else if r.digest.count != e.count {
            format!("{root}/{}: {} znodes where {} were written", e.name, r.digest.count, e.count)
        } else {
            format!(
                "{root}/{}: the content differs ({} bytes read, {} written; sha256 {} read, {} written)",
                e.name,
                r.digest.bytes,
                e.bytes,
                short(&r.digest.sha256),
                short(&e.sha256)
            )
        };
        differing.push(what);
    }
    let znodes: usize = expected.iter().map(|e| e.count).sum();
    let bytes: u64 = expected.iter().map(|e| e.bytes).sum();
    match differing.split_first() {
        None => Ok(format!("{} subtrees, {znodes} znodes, {} bytes: count and SHA-256 of each as written", expected.len(), bytes)),
        Some((first, [])) => Err(format!("the data volume is not intact: {first}")),
        Some((first, rest)) => Err(format!("the data volume is not intact: {first}; and {} more subtrees differ", rest.len())),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("8MiB", 8 << 20)]
    #[case("256MiB", 256 << 20)]
    #[case("1GiB", 1 << 30)]
    #[case("512KiB", 512 << 10)]
    #[case(" 4MiB ", 4 << 20)]
    fn sizes_parse_in_binary_units(#[case] text: &str, #[case] bytes: u64) {
        let size = DataSize::parse(text).unwrap();
        assert_eq!(size.0, bytes);
        assert_eq!(DataSize::parse(&size.to_string()).unwrap(), size, "what is printed parses back");
    }

    #[rstest]
    #[case::no_unit("256", "not a size")]
    #[case::decimal_unit("256MB", "not a size")]
    #[case::fraction("1.5GiB", "not a size")]
    #[case::negative("-8MiB", "not a size")]
    #[case::empty("", "not a size")]
    #[case::zero("0MiB", "out of range")]
    #[case::too_small("8KiB", "out of range")]
    #[case::too_large("5GiB", "out of range")]
    #[case::overflow("99999999999999999GiB", "out of range")]
    fn bad_sizes_are_refused_saying_how_to_write_one(#[case] text: &str, #[case] why: &str) {
        let msg = DataSize::parse(text).unwrap_err();
        assert!(msg.contains(why) && msg.contains(&format!("'{text}'")), "{msg}");
    }

    #[test]
    fn a_plan_holds_the_size_in_small_znodes_and_some_near_the_limit() {
        let plan = Plan::new("/zk-chaos/r1", DataSize(8 << 20), "r1");
        assert_eq!(plan.root, "/zk-chaos/r1/data");
        assert_eq!(plan.subtrees.len(), SUBTREES + 1);
        let large = plan.subtrees.last().unwrap();
        assert_eq!((large.name.as_str(), large.count, large.size), ("large", 1, LARGE));
        assert!(plan.bytes() <= 8 << 20 && plan.bytes() > (8 << 20) - SMALL as u64, "{}", plan.bytes());
        assert_eq!(plan.znodes(), 1 + ((8 << 20) - LARGE) / SMALL);
        let big = Plan::new("/p", DataSize(256 << 20), "r1");
        assert_eq!(big.subtrees.last().unwrap().count, 32);
        let tiny = Plan::new("/p", DataSize(1 << 20), "r1");
        assert_eq!(tiny.subtrees.len(), SUBTREES, "no large znode below 2 MiB");
        assert_eq!(tiny.znodes(), 1024);
    }

    #[test]
    fn content_is_fixed_by_the_seed_and_differs_between_znodes_and_runs() {
        let a = Plan::new("/p", DataSize(1 << 20), "run-a");
        assert_eq!(a.content(0, 1, SMALL), a.content(0, 1, SMALL));
        assert_ne!(a.content(0, 1, SMALL), a.content(0, 2, SMALL));
        assert_ne!(a.content(0, 1, SMALL), a.content(1, 1, SMALL));
        assert_ne!(a.content(0, 1, SMALL), Plan::new("/p", DataSize(1 << 20), "run-b").content(0, 1, SMALL));
        assert_eq!(a.content(3, 7, 1001).len(), 1001);
    }

    fn read_as_written(plan: &Plan) -> Vec<SubtreeRead> {
        plan.expected().into_iter().map(|digest| SubtreeRead { digest, exists: true, missing: Vec::new(), missing_count: 0 }).collect()
    }

    #[test]
    fn a_volume_read_as_written_is_intact() {
        let plan = Plan::new("/p", DataSize(64 << 10), "r");
        let msg = judge(&plan.root, &plan.expected(), &read_as_written(&plan)).unwrap();
        assert_eq!(msg, "16 subtrees, 64 znodes, 65536 bytes: count and SHA-256 of each as written");
    }

    #[test]
    fn a_gone_subtree_is_named_first() {
        let plan = Plan::new("/p", DataSize(64 << 10), "r");
        let mut read = read_as_written(&plan);
        for r in &mut read[2..] {
            r.exists = false;
            r.missing_count = r.digest.count;
            r.missing = vec![name(0)];
            r.digest = Digester::default().finish(&r.digest.name);
        }
        let msg = judge(&plan.root, &plan.expected(), &read).unwrap_err();
        assert_eq!(msg, "the data volume is not intact: /p/data/s02: gone (expected 4 znodes, 4096 bytes); and 13 more subtrees differ");
    }

    #[test]
    fn missing_znodes_are_named() {
        let plan = Plan::new("/p", DataSize(64 << 10), "r");
        let mut read = read_as_written(&plan);
        read[5].missing = vec![name(1), name(2), name(3)];
        read[5].missing_count = 3;
        read[5].digest.count = 1;
        let msg = judge(&plan.root, &plan.expected(), &read).unwrap_err();
        assert_eq!(msg, "the data volume is not intact: /p/data/s05: 3 of 4 znodes missing (n0000001, n0000002, n0000003)");
        read[5].missing_count = 4;
        assert!(judge(&plan.root, &plan.expected(), &read).unwrap_err().contains("n0000003, ...)"));
    }

    #[test]
    fn changed_content_or_an_extra_znode_is_not_intact() {
        let plan = Plan::new("/p", DataSize(64 << 10), "r");
        let mut read = read_as_written(&plan);
        let mut d = Digester::default();
        for n in 0..4 {
            let mut data = plan.content(7, n, SMALL);
            if n == 2 {
                data[10] ^= 1;
            }
            d.add(&name(n), &data);
        }
        read[7].digest = d.finish("s07");
        let msg = judge(&plan.root, &plan.expected(), &read).unwrap_err();
        assert!(msg.starts_with("the data volume is not intact: /p/data/s07: the content differs (4096 bytes read, 4096 written; sha256 "), "{msg}");
        let mut read = read_as_written(&plan);
        read[0].digest.count += 1;
        let msg = judge(&plan.root, &plan.expected(), &read).unwrap_err();
        assert_eq!(msg, "the data volume is not intact: /p/data/s00: 5 znodes where 4 were written");
        let msg = judge(&plan.root, &plan.expected(), &read[1..]).unwrap_err();
        assert!(msg.contains("/p/data/s00: not read"), "{msg}");
    }
}
