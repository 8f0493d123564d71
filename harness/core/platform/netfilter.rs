//! Partitions: packet-filter rules in a member's own network namespace, set by the image
//! `zk-chaos/netfilter` (iptables, netcat; ci/build-image.sh builds it) run with CAP_NET_ADMIN in
//! that namespace: on Docker a helper container sharing the member's network
//! (`--network container:<member>`), on Kubernetes an ephemeral container of the member's pod
//! (`kube::partition`). The rules live in the member's namespace, so they go with its
//! container; a mend removes them before that. These are the scripts the helper runs.
//!
//! Two chains of their own, jumped to first from OUTPUT and INPUT:
//! - `ZK-CHAOS-OUT`: a DROP per peer address (the member's packets to the peer);
//! - `ZK-CHAOS-IN`: a DROP per peer address, or for a one-way cut an ACCEPT that only counts
//!   the peer's packets as they arrive (proof that the other way is open).

use std::fmt::Write;

use anyhow::bail;

use crate::platform::{Cut, CutCounters};

/// The partition helper's image: `ZK_CHAOS_NETFILTER_IMAGE`, or the one ci/build-image.sh builds.
pub fn image() -> String {
    std::env::var("ZK_CHAOS_NETFILTER_IMAGE").unwrap_or_else(|_| crate::platform::docker::image::NETFILTER_IMAGE.to_string())
}

pub const OUT: &str = "ZK-CHAOS-OUT";
pub const IN: &str = "ZK-CHAOS-IN";

/// The shell script that sets `cut` given the peers' addresses; it fails if the chains exist
/// (a member is cut once at a time).
pub fn cut_script(cut: &Cut, peer_ips: &[String]) -> String {
    let mut s = String::from("set -e\n");
    let _ = writeln!(s, "iptables -w -N {OUT}\niptables -w -N {IN}");
    for ip in peer_ips {
        let _ = writeln!(s, "iptables -w -A {OUT} -d {ip} -j DROP");
        let _ = writeln!(s, "iptables -w -A {IN} -s {ip} -j {}", if cut.one_way { "ACCEPT" } else { "DROP" });
    }
    let _ = writeln!(s, "iptables -w -I OUTPUT 1 -j {OUT}\niptables -w -I INPUT 1 -j {IN}");
    s
}

/// The shell script that removes every rule [`cut_script`] set, whatever is left of them, and
/// then proves none is left (it fails otherwise).
pub fn mend_script() -> String {
    let mut s = String::new();
    for (hook, chain) in [("OUTPUT", OUT), ("INPUT", IN)] {
        let _ = writeln!(s, "while iptables -w -D {hook} -j {chain} 2>/dev/null; do :; done");
        let _ = writeln!(s, "iptables -w -F {chain} 2>/dev/null; iptables -w -X {chain} 2>/dev/null");
    }
    let _ = writeln!(s, "if iptables -w -S | grep -q ZK-CHAOS; then iptables -w -S; exit 1; fi");
    s
}

/// The script that prints both chains with exact packet counts.
pub fn counters_script() -> String {
    format!("iptables -w -L {OUT} -v -n -x && iptables -w -L {IN} -v -n -x")
}

/// The script that exits 0 when a TCP connection to `ip:port` opens within a second, 1 when not.
pub fn probe_script(ip: &str, port: u16) -> String {
    format!("nc -z -w 1 {ip} {port}")
}

/// Reads `iptables -L -v -n -x` of the two chains: packets dropped going out, dropped coming in,
/// and let in (a one-way cut's counting rules).
pub fn parse_counters(listing: &str) -> anyhow::Result<CutCounters> {
    let mut c = CutCounters::default();
    let mut chain = None;
    for line in listing.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Chain", name, ..] => chain = Some(name.to_string()),
            [pkts, _bytes, target, ..] if pkts.chars().all(|ch| ch.is_ascii_digit()) => {
                let n: u64 = pkts.parse()?;
                match (chain.as_deref(), *target) {
                    (Some(OUT), "DROP") => c.out_dropped += n,
                    (Some(IN), "DROP") => c.in_dropped += n,
                    (Some(IN), "ACCEPT") => c.in_let_through += n,
                    (ch, t) => bail!("unexpected rule {t} in chain {ch:?}: {line}"),
                }
            }
            _ => {}
        }
    }
    if chain.is_none() {
        bail!("no partition chains in the listing: {}", listing.trim());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(one_way: bool) -> Cut {
        Cut { member: "zk-0".into(), peers: vec!["zk-1".into(), "zk-2".into()], one_way }
    }

    #[test]
    fn a_cut_drops_both_ways_and_a_one_way_cut_only_counts_what_comes_in() {
        let ips = vec!["10.0.0.2".to_string(), "10.0.0.3".to_string()];
        let both = cut_script(&cut(false), &ips);
        assert!(both.contains("-A ZK-CHAOS-OUT -d 10.0.0.3 -j DROP") && both.contains("-A ZK-CHAOS-IN -s 10.0.0.2 -j DROP"), "{both}");
        assert!(both.starts_with("set -e"), "a rule that fails fails the cut");
        let one = cut_script(&cut(true), &ips);
        assert!(one.contains("-A ZK-CHAOS-OUT -d 10.0.0.2 -j DROP") && one.contains("-A ZK-CHAOS-IN -s 10.0.0.2 -j ACCEPT") && !one.contains("-s 10.0.0.2 -j DROP"), "{one}");
    }

    #[test]
    fn mending_fails_when_a_rule_is_left() {
        let m = mend_script();
        assert!(m.contains("-D OUTPUT -j ZK-CHAOS-OUT") && m.contains("-X ZK-CHAOS-IN"));
        assert!(m.contains("grep -q ZK-CHAOS") && m.contains("exit 1"), "{m}");
    }

    #[test]
    fn counters_are_summed_per_chain_and_target() {
        let listing = "Chain ZK-CHAOS-OUT (1 references)\n    pkts      bytes target     prot opt in     out     source               destination\n       3      180 DROP       0    --  *      *       0.0.0.0/0            10.0.0.2\n       2      120 DROP       0    --  *      *       0.0.0.0/0            10.0.0.3\nChain ZK-CHAOS-IN (1 references)\n    pkts      bytes target     prot opt in     out     source               destination\n       7      420 ACCEPT     0    --  *      *       10.0.0.2             0.0.0.0/0\n       0        0 ACCEPT     0    --  *      *       10.0.0.3             0.0.0.0/0\n";
        assert_eq!(parse_counters(listing).unwrap(), CutCounters { out_dropped: 5, in_dropped: 0, in_let_through: 7 });
        assert!(parse_counters("iptables: No chain/target/match by that name.").is_err(), "no chains: no counters");
        assert!(parse_counters("Chain ZK-CHAOS-IN (1 references)\n 1 60 REJECT all -- * * 0/0 0/0\n").is_err(), "a rule it did not set");
    }
}
