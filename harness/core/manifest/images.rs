//! The images a manifest runs, and running them as local ones: `--image-map FROM=TO` (and the
//! config's `images:`) replaces an image wherever the pod template names it, `image:` replaces
//! every container's, and an image the run supplies itself (mapped, or loaded into kind) runs
//! with `imagePullPolicy: IfNotPresent`, since no registry could give it and a pull would only
//! wait for an ImagePullBackOff. Each change is a report note: the digest stays that of the
//! manifest as written.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{is_statefulset, Manifest};

/// The pod template's container lists, init containers first (the order a kubelet runs them).
const CONTAINER_LISTS: [&str; 2] = ["initContainers", "containers"];

impl Manifest {
    /// Every image the pod template runs (init containers, then containers), each once.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for list in CONTAINER_LISTS {
            for c in self.statefulset_document().pointer(&format!("/spec/template/spec/{list}")).and_then(Value::as_array).into_iter().flatten() {
                if let Some(image) = c.get("image").and_then(Value::as_str).filter(|i| !out.iter().any(|o| o == i)) {
                    out.push(image.to_string());
                }
            }
        }
        out
    }

    /// The same manifest with every container image replaced (the config's `image`). Init
    /// containers keep theirs: they often run a different image (a shell, a busybox).
    pub fn with_image(self, image: &str) -> Manifest {
        let mut m = self.edit_containers(&["containers"], |c| c["image"] = Value::String(image.to_string()));
        m.notes.push(format!("image: every container runs {image} (the config's image), whatever the manifest names"));
        m
    }

    /// The same manifest with each image `FROM` of `map` replaced by `TO`, in containers and init
    /// containers.
    ///
    /// # Errors
    /// A `FROM` the pod template does not run: the message names it and the images it does run.
    pub fn with_image_map(self, map: &BTreeMap<String, String>) -> std::result::Result<Manifest, String> {
        let runs = self.images();
        if let Some(from) = map.keys().find(|from| !runs.contains(from)) {
            return Err(format!("the image map names {from}, which the pod template does not run (it runs {}); map one of those (FROM=TO)", runs.join(", ")));
        }
        let mut m = self.edit_containers(&CONTAINER_LISTS, |c| {
            if let Some(to) = c.get("image").and_then(Value::as_str).and_then(|i| map.get(i)) {
                c["image"] = Value::String(to.clone());
            }
        });
        for (from, to) in map {
            m.notes.push(format!("image {from} runs as {to} (--image-map / images: in the config)"));
        }
        Ok(m)
    }

    /// The same manifest with `imagePullPolicy: IfNotPresent` on every container running one of
    /// `images` (`Never` is kept: it also never pulls); `why` says where the images come from.
    pub fn with_local_images(self, images: &[String], why: &str) -> Manifest {
        let mut changed = Vec::new();
        let mut m = self.edit_containers(&CONTAINER_LISTS, |c| {
            let Some(image) = c.get("image").and_then(Value::as_str).filter(|i| images.iter().any(|x| x == i)).map(str::to_string) else { return };
            let policy = c.get("imagePullPolicy").and_then(Value::as_str).map(str::to_string);
            if matches!(policy.as_deref(), Some("IfNotPresent" | "Never")) {
                return;
            }
            c["imagePullPolicy"] = Value::String("IfNotPresent".into());
            let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let was = policy.map(|p| format!("imagePullPolicy {p}")).unwrap_or_else(|| "no imagePullPolicy (Always for a :latest or untagged image)".into());
            changed.push(format!("container {name} ({image}) runs with imagePullPolicy IfNotPresent instead of {was}: {why}, and no registry could give it"));
        });
        m.notes.extend(changed);
        m
    }

    /// Applies `edit` to every container object of `lists` in the StatefulSet document, and
    /// re-reads the typed StatefulSet from it (the two never disagree).
    fn edit_containers(mut self, lists: &[&str], mut edit: impl FnMut(&mut Value)) -> Manifest {
        for doc in self.documents.iter_mut().filter(|d| is_statefulset(d)) {
            for list in lists {
                for c in doc.pointer_mut(&format!("/spec/template/spec/{list}")).and_then(Value::as_array_mut).into_iter().flatten() {
                    edit(c);
                }
            }
        }
        self.statefulset = serde_json::from_value(self.statefulset_document().clone()).expect("an edited image or pull policy keeps the StatefulSet valid");
        self
    }
}

/// `FROM=TO` of `--image-map`, both non-empty.
pub fn parse_mapping(flag: &str, value: &str) -> std::result::Result<(String, String), String> {
    match value.split_once('=') {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => Ok((from.trim().to_string(), to.trim().to_string())),
        _ => Err(format!("{flag} {value:?}: write it FROM=TO, the manifest's image and the local one (zookeeper:3.9.5=zk-chaos/zookeeper-official:3.9.5)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::walkthrough;

    const WITH_INIT: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: zk-hs\nspec:\n  clusterIP: None\n  selector:\n    app: zk\n---\n\
        apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: zk\nspec:\n  serviceName: zk-hs\n  replicas: 3\n  selector:\n    matchLabels:\n      app: zk\n  \
        template:\n    metadata:\n      labels:\n        app: zk\n    spec:\n      initContainers:\n        - name: init\n          image: busybox:1.36\n          \
        command: [\"true\"]\n      containers:\n        - name: zookeeper\n          image: zookeeper:3.9.5\n          imagePullPolicy: Always\n";

    #[test]
    fn images_are_init_containers_then_containers_each_once() {
        let m = Manifest::parse(WITH_INIT, "m.yaml").unwrap();
        assert_eq!(m.images(), ["busybox:1.36", "zookeeper:3.9.5"]);
        assert_eq!(walkthrough().images(), ["zk-chaos/zookeeper:3.8"]);
    }

    #[test]
    fn a_mapped_image_runs_as_the_local_one_with_if_not_present() {
        let m = Manifest::parse(WITH_INIT, "m.yaml").unwrap();
        let digest = m.digest.clone();
        let map = BTreeMap::from([("zookeeper:3.9.5".to_string(), "zk-chaos/zookeeper-official:3.9.5".to_string())]);
        let m = m.with_image_map(&map).unwrap();
        assert_eq!(m.images(), ["busybox:1.36", "zk-chaos/zookeeper-official:3.9.5"]);
        assert_eq!(m.pod_template().image.as_deref(), Some("zk-chaos/zookeeper-official:3.9.5"), "the typed StatefulSet follows the document");
        let m = m.with_local_images(&["zk-chaos/zookeeper-official:3.9.5".to_string()], "mapped with --image-map");
        let c = m.statefulset_document().pointer("/spec/template/spec/containers/0").unwrap();
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        let init = m.statefulset_document().pointer("/spec/template/spec/initContainers/0").unwrap();
        assert_eq!(init.get("imagePullPolicy"), None, "an image not supplied locally keeps its policy");
        assert_eq!(m.statefulset.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0].image_pull_policy.as_deref(), Some("IfNotPresent"));
        let notes = m.notes.join("\n");
        assert!(notes.contains("image zookeeper:3.9.5 runs as zk-chaos/zookeeper-official:3.9.5"), "{notes}");
        assert!(notes.contains("container zookeeper (zk-chaos/zookeeper-official:3.9.5) runs with imagePullPolicy IfNotPresent instead of imagePullPolicy Always"), "{notes}");
        assert_eq!(m.digest, digest, "the digest is that of the manifest as written");
    }

    #[test]
    fn a_mapping_of_an_image_not_run_is_refused_naming_what_runs() {
        let map = BTreeMap::from([("zookeeper:3.8".to_string(), "x:1".to_string())]);
        let err = Manifest::parse(WITH_INIT, "m.yaml").unwrap().with_image_map(&map).unwrap_err();
        assert!(err.contains("names zookeeper:3.8, which the pod template does not run (it runs busybox:1.36, zookeeper:3.9.5)"), "{err}");
    }

    #[test]
    fn if_not_present_and_never_are_kept_and_not_noted() {
        let m = walkthrough();
        let before = m.documents.clone();
        let m = m.with_local_images(&["zk-chaos/zookeeper:3.8".to_string()], "loaded into the kind cluster");
        assert_eq!(m.documents, before, "the walkthrough's container already says IfNotPresent");
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn mappings_are_from_equals_to() {
        assert_eq!(parse_mapping("--image-map", "zookeeper:3.9.5=zk-chaos/z:1").unwrap(), ("zookeeper:3.9.5".to_string(), "zk-chaos/z:1".to_string()));
        for bad in ["zookeeper", "=x", "x=", ""] {
            assert!(parse_mapping("--image-map", bad).unwrap_err().contains("write it FROM=TO"), "{bad}");
        }
    }
}
