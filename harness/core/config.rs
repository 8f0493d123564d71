//! The run configuration: a YAML file whose every value has a default.
//!
//! ```yaml
//! image: zk-chaos/zookeeper:3.8      # replaces the manifest's container image
//! images:                            # runs a manifest's image as a local one (--image-map FROM=TO)
//!   zookeeper:3.9.5: zk-chaos/zookeeper-official:3.9.5
//! to_image: zk-chaos/zookeeper:3.9.5  # what the upgrade suite rolls to (--to-image)
//! label_prefix: zk-chaos             # prefix of container, network and volume names
//! timeouts:
//!   member_ready: 180s               # one member Running and Ready
//!   ensemble_whole: 120s             # one leader, every follower synced
//!   operation: 15s                   # one ZooKeeper operation or exec
//!   cleanup: 60s
//! scale: [5, 3]                     # replicas the scale suite sets, in order
//! workload:
//!   rate_per_second: 20
//!   max_duration: 5m
//!   max_operations: 20000
//! data: 256MiB                       # a data volume checked after every fault suite (--data)
//! ```

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Container image to run instead of the manifest's (the manifest's when unset).
    pub image: Option<String>,
    /// A manifest's image (key) run as a local one (value); `--image-map FROM=TO` adds to it.
    pub images: std::collections::BTreeMap<String, String>,
    /// The image the `upgrade` suite rolls the ensemble to (`--to-image`); unset: the 3.9.5 image
    /// of the deployment's image family (fixtures/images.txt), and the suite is skipped where there is none.
    pub to_image: Option<String>,
    /// Prefix of everything the platform creates (containers, networks, volumes, namespaces).
    pub label_prefix: String,
    pub timeouts: Timeouts,
    pub workload: WorkloadConfig,
    /// A data volume written into the ensemble before the first fault suite and checked intact after every later suite (`--data`): `8MiB`, `256MiB`, `1GiB`; unset: none.
    pub data: Option<crate::workload::volume::DataSize>,
    /// The replicas the scale suite sets, in order (`[5, 3]`); it then returns to the manifest's.
    /// Empty: the manifest's replicas plus two, then the manifest's (3 to 5 to 3).
    pub scale: Vec<usize>,
}

/// How long each kind of wait may take before it gives up, saying what it saw last.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// One member Running and Ready.
    #[serde(with = "humantime_serde")]
    pub member_ready: Duration,
    /// The ensemble whole: one leader, every follower synced (and every member serving before the first suite).
    #[serde(with = "humantime_serde")]
    pub ensemble_whole: Duration,
    /// One ZooKeeper operation or exec.
    #[serde(with = "humantime_serde")]
    pub operation: Duration,
    /// Removing what the run created, at its end (deleting a kind cluster gets 2 minutes more).
    #[serde(with = "humantime_serde")]
    pub cleanup: Duration,
}

/// The client workload every fault suite runs through its fault.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Operations per second the workload aims for (an upper bound, not a promise); 1 to 1000.
    pub rate_per_second: u32,
    /// The workload never runs longer than this, whatever the fault does; at most 1h.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
    /// The workload never issues more operations than this.
    pub max_operations: u64,
}

/// The most replicas the scale suite sets: ZooKeeper ensembles are small, and every member is a
/// container (Docker) or a pod with a volume.
pub const MAX_SCALE: usize = 9;

impl Default for Config {
    fn default() -> Self {
        Config {
            image: None,
            images: Default::default(),
            to_image: None,
            label_prefix: "zk-chaos".into(),
            timeouts: Timeouts::default(),
            workload: WorkloadConfig::default(),
            data: None,
            scale: Vec::new(),
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { member_ready: Duration::from_secs(180), ensemble_whole: Duration::from_secs(120), operation: Duration::from_secs(15), cleanup: Duration::from_secs(60) }
    }
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        WorkloadConfig { rate_per_second: 20, max_duration: Duration::from_secs(300), max_operations: 20_000 }
    }
}

impl Config {
    /// Parses a config from YAML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_saphyr::from_str(text).map_err(|e| Error::bad_input(format!("{origin}: invalid config: {e}")))?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads the config file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::bad_input(format!("{}: cannot read config: {e}", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }

    fn validate(&self, origin: &str) -> Result<()> {
        let bad = |what: &str| Err(Error::bad_input(format!("{origin}: {what}")));
        if self.label_prefix.is_empty() || !self.label_prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return bad("label_prefix must be lowercase letters, digits and '-' (it names containers and namespaces)");
        }
        let t = &self.timeouts;
        for (name, d) in [
            ("timeouts.member_ready", t.member_ready),
            ("timeouts.ensemble_whole", t.ensemble_whole),
            ("timeouts.operation", t.operation),
            ("timeouts.cleanup", t.cleanup),
            ("workload.max_duration", self.workload.max_duration),
        ] {
            if d.is_zero() {
                return bad(&format!("{name} must be longer than 0s"));
            }
        }
        if let Some((from, to)) = self.images.iter().find(|(f, t)| f.trim().is_empty() || t.trim().is_empty()) {
            return bad(&format!("images: {from:?}: {to:?} maps an empty image name; write the manifest's image and the local one"));
        }
        if let Some(n) = self.scale.iter().find(|n| !(1..=MAX_SCALE).contains(*n)) {
            return bad(&format!("scale: {n} replicas; each target must be between 1 and {MAX_SCALE} (the scale suite sets them in order, then returns to the manifest's)"));
        }
        if self.to_image.as_deref().is_some_and(|i| i.trim().is_empty() || i.chars().any(char::is_whitespace)) {
            return bad("to_image must be an image name (no spaces), e.g. zk-chaos/zookeeper:3.9.5");
        }
        if self.workload.rate_per_second == 0 || self.workload.rate_per_second > 1000 {
            return bad("workload.rate_per_second must be between 1 and 1000");
        }
        if self.workload.max_duration > Duration::from_secs(3600) {
            return bad("workload.max_duration must be at most 1h (load loops are bounded)");
        }
        Ok(())
    }
}

/// Parses a humantime duration given on the command line ("90s", "2m"), naming the flag on error.
pub fn parse_duration(flag: &str, value: &str) -> Result<Duration> {
    humantime::parse_duration(value).map_err(|e| Error::bad_input(format!("{flag}: '{value}' is not a duration ({e}); write it like 90s, 2m or 1h30m")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn empty_config_is_all_defaults() {
        assert_eq!(Config::parse("", "c.yaml").unwrap(), Config::default());
    }

    #[test]
    fn scale_targets_are_replicas_between_one_and_the_maximum() {
        assert_eq!(Config::parse("scale: [1, 3]\n", "c.yaml").unwrap().scale, [1, 3]);
        let msg = Config::parse("scale: [5, 0]\n", "c.yaml").unwrap_err().to_string();
        assert!(msg.starts_with("c.yaml: scale: 0 replicas; each target must be between 1 and 9"), "{msg}");
        assert!(Config::parse("scale: [10]\n", "c.yaml").is_err());
    }

    #[test]
    fn durations_are_humantime() {
        let c = Config::parse("timeouts:\n  member_ready: 90s\n  operation: 1m 30s\n", "c.yaml").unwrap();
        assert_eq!(c.timeouts.member_ready, Duration::from_secs(90));
        assert_eq!(c.timeouts.operation, Duration::from_secs(90));
        assert_eq!(c.timeouts.cleanup, Timeouts::default().cleanup);
    }

    #[test]
    fn images_map_a_manifests_image_to_a_local_one() {
        let c = Config::parse("images:\n  zookeeper:3.9.5: zk-chaos/zookeeper-official:3.9.5\n", "c.yaml").unwrap();
        assert_eq!(c.images.get("zookeeper:3.9.5").map(String::as_str), Some("zk-chaos/zookeeper-official:3.9.5"));
    }

    #[rstest]
    #[case::empty_image("images:\n  zookeeper:3.9.5: \"\"\n", "images")]
    #[case::bad_duration("timeouts:\n  member_ready: soon\n", "member_ready")]
    #[case::unknown_key("timeout:\n  member_ready: 9s\n", "timeout")]
    #[case::zero("timeouts:\n  operation: 0s\n", "timeouts.operation")]
    #[case::prefix("label_prefix: Big_Name\n", "label_prefix")]
    #[case::unbounded_load("workload:\n  max_duration: 10h\n", "max_duration")]
    #[case::data_size("data: 256MB\n", "256MB")]
    #[case::data_range("data: 8GiB\n", "8GiB")]
    #[case::not_yaml("image: [unclosed\n", "c.yaml")]
    fn bad_configs_are_bad_input_naming_the_key(#[case] text: &str, #[case] named: &str) {
        let err = Config::parse(text, "c.yaml").unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let msg = err.to_string();
        assert!(msg.contains("c.yaml") && msg.contains(named), "{msg}");
    }

    #[test]
    fn data_is_a_size_in_binary_units() {
        let c = Config::parse("data: 256MiB\n", "c.yaml").unwrap();
        assert_eq!(c.data, Some(crate::workload::volume::DataSize(256 << 20)));
        assert_eq!(Config::default().data, None);
    }

    #[test]
    fn cli_duration_errors_name_the_flag() {
        assert_eq!(parse_duration("--timeout", "90s").unwrap(), Duration::from_secs(90));
        let msg = parse_duration("--timeout", "ninety").unwrap_err().to_string();
        assert!(msg.contains("--timeout") && msg.contains("ninety"), "{msg}");
    }
}
