//! The client workload that runs through every fault. Placeholder until `harness/workload` lands:
//! it records nothing and judges nothing, so no suite may claim a workload check while it is here.
use super::SuiteCtx;

pub struct Traffic;

impl Traffic {
    pub async fn start(_ctx: &mut SuiteCtx) -> anyhow::Result<Traffic> {
        Ok(Traffic)
    }

    pub async fn finish(self, _ctx: &mut SuiteCtx) -> anyhow::Result<()> {
        Ok(())
    }
}
