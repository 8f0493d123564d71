//! Disruptive suites kill processes, cordon nodes and evict pods. On a cluster zk-chaos did not
//! create for this run they are refused unless `--allow-disruption=CONTEXT` names that very
//! context: a mistyped or default context must never get its nodes drained.

use crate::error::{Error, Result};

/// Refuses (bad input, exit 2) when `disruptive` is not empty, the cluster was not created by this
/// run, and `allow` does not name `context` exactly.
pub fn check(disruptive: &[&str], context: &str, created_by_run: bool, allow: Option<&str>) -> Result<()> {
    if disruptive.is_empty() || created_by_run || allow == Some(context) {
        return Ok(());
    }
    let mismatch = match allow {
        Some(other) => format!(" --allow-disruption names '{other}', which is not this context."),
        None => String::new(),
    };
    Err(Error::bad_input(format!(
        "refusing to run the disruptive suite(s) {} on context '{context}': they kill ZooKeeper processes, cordon \
         nodes and evict pods, and '{context}' is not a kind cluster zk-chaos created for this run, so it may be \
         shared or in production.{mismatch} If this cluster is yours to disrupt, say so with \
         --allow-disruption={context}; otherwise use --platform kind (a throwaway cluster) or choose only \
         non-disruptive suites with --suite (`zk-chaos suites` lists them).",
        disruptive.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disruptive_suites_are_refused_on_a_cluster_the_run_did_not_create() {
        let err = check(&["maintenance"], "prod-eu", false, None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let msg = err.to_string();
        assert!(msg.contains("context 'prod-eu'") && msg.contains("--allow-disruption=prod-eu"), "{msg}");
    }

    #[test]
    fn allowing_another_context_does_not_allow_this_one() {
        let err = check(&["node-failure"], "prod-eu", false, Some("kind-zk")).unwrap_err();
        assert!(err.to_string().contains("--allow-disruption names 'kind-zk'"), "{err}");
        // Not a prefix, not case-insensitive: exactly the context.
        assert!(check(&["node-failure"], "prod-eu", false, Some("prod")).is_err());
        assert!(check(&["node-failure"], "prod-eu", false, Some("PROD-EU")).is_err());
    }

    #[test]
    fn allowed_when_named_exactly_created_by_the_run_or_nothing_disruptive() {
        assert!(check(&["maintenance"], "prod-eu", false, Some("prod-eu")).is_ok());
        assert!(check(&["maintenance"], "kind-zk-chaos-1", true, None).is_ok());
        assert!(check(&[], "prod-eu", false, None).is_ok());
    }
}
