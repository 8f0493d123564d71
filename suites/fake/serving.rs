//! The runner's serving sampler ([`Sampler`]) on the fake platform: here because the fake lives
//! with the suites, above the core.

use std::sync::Arc;
use std::time::Duration;

use super::FakePlatform;
use crate::platform::Platform;
use crate::serving::{judge, largest_gap, Sample, Sampler};

/// The sampler looks at least every 250 ms and stops when dropped.
#[tokio::test]
async fn the_sampler_looks_every_150_ms_and_stops() {
    let p: Arc<dyn Platform> = Arc::new(FakePlatform::new());
    let sampler = Sampler::start(p, Duration::from_secs(1));
    let reader = sampler.reader();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let samples = sampler.stop();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let origin = samples[0].at;
    assert_eq!(reader.since(origin).len(), samples.len(), "no sample after the stop");
    assert!(samples.len() >= 4, "{} samples in 1.1 s", samples.len());
    assert!(largest_gap(&samples) < 250, "gap {} ms", largest_gap(&samples));
    assert!(samples.iter().all(|s| judge(s).quorum), "{:?}", samples.last().map(Sample::describe));
}
