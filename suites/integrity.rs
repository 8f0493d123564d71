//! `integrity` ("Sanity testing the ensemble", TUTORIAL.md 5): a write through zk-0 is readable through every other
//! member, with the walkthrough's stat.

use anyhow::{bail, ensure};
use async_trait::async_trait;

use super::{walkthrough, About, Suite, SuiteCtx};
use crate::client::{self, hex_zxid, ZnodeStat};
use crate::wait::{self, Seen};

pub struct Integrity;

/// The walkthrough's znode and value.
pub const HELLO: &str = "/hello";
pub const WORLD: &[u8] = b"world";

#[async_trait]
impl Suite for Integrity {
    fn about(&self) -> &'static About {
        &About {
            name: "integrity",
            sections: &[&walkthrough::SANITY_TESTING],
            summary: "create /hello = world through zk-0; read it, with its stat, through every other member",
            needs: &[],
            disruptive: false,
            workload: false,
        }
    }

    async fn run(&self, ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        let p = ctx.platform.clone();
        let t = ctx.config.timeouts.clone();
        let members = p.members();
        let writer = &members[0];
        let zk0 = client::connect(p.client_addr(writer).await?, t.operation).await?;

        // A fresh znode under the run's prefix carries the walkthrough's stat exactly, however
        // often the ensemble was used before; /hello itself is what the walkthrough reads.
        let dir = format!("{}/integrity", ctx.prefix);
        let fresh = format!("{dir}/hello");
        let mut written: Option<ZnodeStat> = None;
        ctx.check(&format!("create /hello = world through {writer}"), async {
            client::ensure_path(&zk0, &dir).await?;
            let (stat, created) = client::create_or_get(&zk0, HELLO, WORLD).await?;
            let (fresh_stat, fresh_created) = client::create_or_get(&zk0, &fresh, WORLD).await?;
            ensure!(fresh_created, "{fresh} already existed; the run prefix is not unique");
            written = Some(fresh_stat);
            Ok(format!("{} /hello (cZxid {}), created {fresh} (cZxid {})", if created { "created" } else { "found existing" }, hex_zxid(stat.czxid), hex_zxid(fresh_stat.czxid)))
        })
        .await;
        let Some(written) = written else { return Ok(()) };

        for reader in &members[1..] {
            let addr = p.client_addr(reader).await?;
            let fresh = fresh.clone();
            let t = t.clone();
            let read = async {
                let zk = client::connect(addr, t.operation).await?;
                // sync, then poll briefly: "not yet" (a follower catching up) is retried, a
                // wrong value fails at once.
                let found = wait::until(&format!("{fresh} visible through {reader}"), t.operation, None, || async {
                    Ok(match client::read_synced(&zk, &fresh).await? {
                        Some(found) => Seen::Done(found),
                        None => Seen::NotYet(format!("{reader} has no {fresh}")),
                    })
                })
                .await;
                let (data, stat) = match found {
                    Ok(found) => found,
                    Err(e) => bail!("the value written through {writer} is not visible through {reader}: {e:#}"),
                };
                let hello = client::read_synced(&zk, HELLO).await?;
                check_stat(&data, &stat, &written)?;
                match hello {
                    Some((v, _)) if v == WORLD => {}
                    Some((v, _)) => bail!("/hello through {reader} is {:?}, not \"world\"", String::from_utf8_lossy(&v)),
                    None => bail!("the value written through {writer} is not visible through {reader}: no /hello"),
                }
                Ok(format!(
                    "/hello = world; {fresh}: dataVersion {}, dataLength {}, numChildren {}, ephemeralOwner {:#x}, cZxid = mZxid = pZxid = {}",
                    stat.version,
                    stat.data_length,
                    stat.num_children,
                    stat.ephemeral_owner,
                    hex_zxid(stat.czxid)
                ))
            };
            ctx.check(&format!("read /hello through {reader}"), read).await;
        }
        Ok(())
    }
}

/// The walkthrough's `get /hello` output, field by field, against what the writer saw.
pub fn check_stat(data: &[u8], stat: &ZnodeStat, written: &ZnodeStat) -> anyhow::Result<()> {
    ensure!(data == WORLD, "value is {:?}, not \"world\"", String::from_utf8_lossy(data));
    ensure!(stat.version == 0, "dataVersion is {}, not 0", stat.version);
    ensure!(stat.data_length == 5, "dataLength is {}, not 5", stat.data_length);
    ensure!(stat.num_children == 0, "numChildren is {}, not 0", stat.num_children);
    ensure!(stat.ephemeral_owner == 0, "ephemeralOwner is {:#x}, not 0x0", stat.ephemeral_owner);
    ensure!(stat.czxid == stat.mzxid && stat.mzxid == stat.pzxid, "cZxid {}, mZxid {}, pZxid {} differ", hex_zxid(stat.czxid), hex_zxid(stat.mzxid), hex_zxid(stat.pzxid));
    ensure!(stat.czxid == written.czxid, "cZxid is {}, but the write through the first member returned {}", hex_zxid(stat.czxid), hex_zxid(written.czxid));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> ZnodeStat {
        ZnodeStat { czxid: 0x100000002, mzxid: 0x100000002, pzxid: 0x100000002, version: 0, data_length: 5, num_children: 0, ephemeral_owner: 0 }
    }

    #[test]
    fn the_walkthrough_stat_passes() {
        check_stat(b"world", &stat(), &stat()).unwrap();
    }

    #[test]
    fn each_wrong_field_is_named() {
        let cases: Vec<(ZnodeStat, &[u8], &str)> = vec![
            (ZnodeStat { version: 1, ..stat() }, b"world", "dataVersion is 1"),
            (ZnodeStat { data_length: 6, ..stat() }, b"world", "dataLength is 6"),
            (ZnodeStat { num_children: 2, ..stat() }, b"world", "numChildren is 2"),
            (ZnodeStat { ephemeral_owner: 0x42, ..stat() }, b"world", "ephemeralOwner is 0x42"),
            (ZnodeStat { mzxid: 0x100000003, ..stat() }, b"world", "differ"),
            (stat(), b"earth", "not \"world\""),
        ];
        for (s, data, says) in cases {
            let msg = check_stat(data, &s, &stat()).unwrap_err().to_string();
            assert!(msg.contains(says), "{msg}");
        }
        let other = ZnodeStat { czxid: 7, mzxid: 7, pzxid: 7, ..stat() };
        assert!(check_stat(b"world", &other, &stat()).unwrap_err().to_string().contains("returned 0x100000002"));
    }
}
