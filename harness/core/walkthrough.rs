//! The walkthrough the suites certify, by its sections' titles and links: what a user reads to
//! see what a suite checks (the project's TUTORIAL.md is not installed with the binary).

use serde::Serialize;

/// The page's title.
pub const TITLE: &str = "Running ZooKeeper, A Distributed System Coordinator";

/// The page.
pub const URL: &str = "https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/";

/// One section of the page, as its heading reads there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    /// The heading's id on the page (its title, lowercased, spaces as dashes).
    pub anchor: &'static str,
}

impl Section {
    /// The section's link.
    pub fn url(&self) -> String {
        format!("{URL}#{}", self.anchor)
    }

    /// How messages and reports cite it: `"Surviving maintenance" (https://...#surviving-maintenance)`.
    pub fn cite(&self) -> String {
        format!("\"{}\" ({})", self.title, self.url())
    }
}

/// The section titles joined for one line: `Testing for liveness; Testing for readiness`.
pub fn titles(sections: &[&Section]) -> String {
    sections.iter().map(|s| s.title).collect::<Vec<_>>().join("; ")
}

/// Several sections cited for one message, each with its link.
pub fn cite(sections: &[&Section]) -> String {
    sections.iter().map(|s| s.cite()).collect::<Vec<_>>().join(" and ")
}

/// A section for a machine: its title and link (`zk-chaos suites -o json`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SectionRef {
    pub title: &'static str,
    pub url: String,
}

impl From<&Section> for SectionRef {
    fn from(s: &Section) -> Self {
        SectionRef { title: s.title, url: s.url() }
    }
}

// The sections in page order. The number in each comment is the TUTORIAL.md section that lists
// the same facts as checks.

/// TUTORIAL.md 1 (the objects) and 2 (ensemble creation).
pub const CREATING_AN_ENSEMBLE: Section = Section { title: "Creating a ZooKeeper ensemble", anchor: "creating-a-zookeeper-ensemble" };
/// TUTORIAL.md 3.
pub const FACILITATING_LEADER_ELECTION: Section = Section { title: "Facilitating leader election", anchor: "facilitating-leader-election" };
/// TUTORIAL.md 4.
pub const ACHIEVING_CONSENSUS: Section = Section { title: "Achieving consensus", anchor: "achieving-consensus" };
/// TUTORIAL.md 5.
pub const SANITY_TESTING: Section = Section { title: "Sanity testing the ensemble", anchor: "sanity-testing-the-ensemble" };
/// TUTORIAL.md 6.
pub const DURABLE_STORAGE: Section = Section { title: "Providing durable storage", anchor: "providing-durable-storage" };
/// TUTORIAL.md 7.
pub const CONSISTENT_CONFIGURATION: Section = Section { title: "Ensuring consistent configuration", anchor: "ensuring-consistent-configuration" };
/// TUTORIAL.md 8.
pub const CONFIGURING_LOGGING: Section = Section { title: "Configuring logging", anchor: "configuring-logging" };
/// TUTORIAL.md 9.
pub const NON_PRIVILEGED_USER: Section = Section { title: "Configuring a non-privileged user", anchor: "configuring-a-non-privileged-user" };
/// TUTORIAL.md 10 (a subsection of "Managing the ZooKeeper process").
pub const UPDATING_THE_ENSEMBLE: Section = Section { title: "Updating the ensemble", anchor: "updating-the-ensemble" };
/// TUTORIAL.md 11.
pub const HANDLING_PROCESS_FAILURE: Section = Section { title: "Handling process failure", anchor: "handling-process-failure" };
/// TUTORIAL.md 12.
pub const TESTING_FOR_LIVENESS: Section = Section { title: "Testing for liveness", anchor: "testing-for-liveness" };
/// TUTORIAL.md 13.
pub const TESTING_FOR_READINESS: Section = Section { title: "Testing for readiness", anchor: "testing-for-readiness" };
/// TUTORIAL.md 14. The page capitalises "Node" in this heading, and only here.
pub const TOLERATING_NODE_FAILURE: Section = Section { title: "Tolerating Node failure", anchor: "tolerating-node-failure" };
/// TUTORIAL.md 15.
pub const SURVIVING_MAINTENANCE: Section = Section { title: "Surviving maintenance", anchor: "surviving-maintenance" };

/// Every section a suite can cite, in page order.
pub const ALL: [&Section; 14] = [
    &CREATING_AN_ENSEMBLE,
    &FACILITATING_LEADER_ELECTION,
    &ACHIEVING_CONSENSUS,
    &SANITY_TESTING,
    &DURABLE_STORAGE,
    &CONSISTENT_CONFIGURATION,
    &CONFIGURING_LOGGING,
    &NON_PRIVILEGED_USER,
    &UPDATING_THE_ENSEMBLE,
    &HANDLING_PROCESS_FAILURE,
    &TESTING_FOR_LIVENESS,
    &TESTING_FOR_READINESS,
    &TOLERATING_NODE_FAILURE,
    &SURVIVING_MAINTENANCE,
];

/// The walkthrough's reference data: the values its manifest and its image fix. Suites judge
/// them only for the walkthrough's own manifest ([`is_reference`]); for any other deployment
/// they derive what they check from the deployment (its running servers, its source).
pub mod reference {
    use crate::manifest::Manifest;

    /// The server's UID and the volume's fsGroup ("Configuring a non-privileged user", TUTORIAL.md 9).
    pub const UID: u32 = 1000;
    pub const GID: u32 = 1000;
    /// Where the walkthrough's start command puts the data dir ("Facilitating leader election", TUTORIAL.md 3).
    pub const DATA_DIR: &str = "/var/lib/zookeeper/data";
    /// Where the walkthrough's image could write log files, which it must not ("Configuring logging").
    pub const LOG_DIRS: &str = "/var/log/zookeeper /opt/zookeeper";
    /// The script the walkthrough's probes run, as its "Testing for liveness" removes it.
    pub const READY_SCRIPT: &str = "/usr/bin/zookeeper-ready";

    /// zoo.cfg settings the walkthrough's flags produce ("Facilitating leader election", TUTORIAL.md 3).
    pub const SETTINGS: &[(&str, &str)] = &[
        ("clientPort", "2181"),
        ("dataDir", "/var/lib/zookeeper/data"),
        ("dataLogDir", "/var/lib/zookeeper/data/log"),
        ("tickTime", "2000"),
        ("initLimit", "10"),
        ("syncLimit", "5"),
        ("maxClientCnxns", "60"),
        ("minSessionTimeout", "4000"),
        ("maxSessionTimeout", "40000"),
        ("autopurge.snapRetainCount", "3"),
        ("autopurge.purgeInterval", "12"),
    ];

    /// Whether `manifest` is the walkthrough's: its server container runs the walkthrough's
    /// start command, flag for flag (its negative controls that change something else are too).
    pub fn is_reference(manifest: &Manifest) -> bool {
        let words = |m: &Manifest| {
            let t = m.pod_template();
            [t.command, t.args].concat().join(" ").split_whitespace().map(str::to_string).collect::<Vec<_>>()
        };
        Manifest::reference().is_ok_and(|walkthrough| words(manifest) == words(&walkthrough))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The heading ids the page's generator makes: lowercase, spaces as dashes, other punctuation
    /// but dashes dropped. An anchor that drifted from its title would link to the page's top.
    fn heading_id(title: &str) -> String {
        title
            .to_lowercase()
            .chars()
            .filter_map(|c| {
                if c == ' ' {
                    Some('-')
                } else if c.is_alphanumeric() || c == '-' {
                    Some(c)
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn only_the_walkthroughs_start_command_is_the_reference() {
        let m = crate::manifest::walkthrough();
        assert!(reference::is_reference(&m));
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/zookeeper.yaml")).unwrap();
        let other = crate::manifest::Manifest::parse(&text.replace("--tick_time=2000", "--tick_time=3000"), "other").unwrap();
        assert!(!reference::is_reference(&other));
    }

    #[test]
    fn every_anchor_is_the_id_of_its_heading() {
        for s in ALL {
            assert_eq!(s.anchor, heading_id(s.title), "{}", s.title);
        }
        // Ids the page itself links to ("As noted in the Facilitating leader election and ...").
        assert_eq!(FACILITATING_LEADER_ELECTION.url(), "https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/#facilitating-leader-election");
        assert_eq!(SANITY_TESTING.anchor, "sanity-testing-the-ensemble");
    }

    #[test]
    fn citations_name_the_title_and_the_link() {
        assert_eq!(SURVIVING_MAINTENANCE.cite(), "\"Surviving maintenance\" (https://kubernetes.io/docs/tutorials/stateful-application/zookeeper/#surviving-maintenance)");
        assert_eq!(titles(&[&TESTING_FOR_LIVENESS, &TESTING_FOR_READINESS]), "Testing for liveness; Testing for readiness");
        let both = cite(&[&TOLERATING_NODE_FAILURE, &SURVIVING_MAINTENANCE]);
        assert!(both.starts_with("\"Tolerating Node failure\" (") && both.contains(") and \"Surviving maintenance\" ("), "{both}");
    }
}
