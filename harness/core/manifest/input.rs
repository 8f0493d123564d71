//! Where a manifest's bytes come from: a file, a directory (its `*.yaml` and `*.yml` files in name
//! order, as `kubectl apply -f DIR` takes them) or `-` (stdin, for `helm template … | zk-chaos …`);
//! and what the reader does with the documents before they are typed (a `List` is its items).
//!
//! # Caveats
//! A directory is read one level deep (no recursion, like `kubectl apply -f DIR` without `-R`).
//! Its files are joined with a `---` line between them; the digest is over exactly those joined
//! bytes, so the same files give the same digest and a renamed or added file a different one.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// The text of a manifest and how messages name it.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub text: String,
    pub origin: String,
}

/// How `--manifest -` is named in messages and the report.
pub const STDIN_ORIGIN: &str = "<stdin>";

/// Reads `path`: `-` is stdin, a directory its YAML files in name order, else the file.
///
/// # Errors
/// Bad input (exit 2) naming the path: unreadable, not UTF-8, or a directory without YAML files.
pub fn read(path: &Path) -> Result<Read> {
    if path == Path::new("-") {
        return read_from(std::io::stdin().lock(), STDIN_ORIGIN);
    }
    let shown = path.display().to_string();
    let cannot = |e: std::io::Error| Error::bad_input(format!("{shown}: cannot read the manifest: {e}"));
    if !path.is_dir() {
        return Ok(Read { text: std::fs::read_to_string(path).map_err(cannot)?, origin: shown });
    }
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map_err(cannot)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|x| x.to_str()).is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::bad_input(format!("{shown}: the directory holds no *.yaml or *.yml file; give the manifest's file, its directory or - (stdin)")));
    }
    let mut texts = Vec::new();
    for f in &files {
        texts.push(std::fs::read_to_string(f).map_err(|e| Error::bad_input(format!("{}: cannot read the manifest: {e}", f.display())))?);
    }
    let names: Vec<String> = files.iter().filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned())).collect();
    Ok(Read { text: join(&texts), origin: format!("{shown} ({})", names.join(", ")) })
}

/// Reads a whole stream (stdin) as the manifest named `origin`.
pub fn read_from(mut from: impl std::io::Read, origin: &str) -> Result<Read> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut from, &mut bytes).map_err(|e| Error::bad_input(format!("{origin}: cannot read the manifest: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| Error::bad_input(format!("{origin}: the manifest is not UTF-8 text: {e}")))?;
    if text.trim().is_empty() {
        return Err(Error::bad_input(format!("{origin}: nothing was read; pipe the manifest in (helm template … | zk-chaos run --manifest -)")));
    }
    Ok(Read { text, origin: origin.to_string() })
}

/// Files joined as one multi-document stream: a `---` line between two files, whatever their ends.
fn join(texts: &[String]) -> String {
    let mut out = String::new();
    for (i, t) in texts.iter().enumerate() {
        if i > 0 {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("---\n");
        }
        out.push_str(t);
    }
    out
}

/// The documents with every `v1 List` (what `kubectl get -o yaml` writes) replaced by its items.
pub fn expand_lists(documents: Vec<Value>) -> std::result::Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, doc) in documents.into_iter().enumerate() {
        if doc.get("kind").and_then(Value::as_str) != Some("List") {
            out.push(doc);
            continue;
        }
        match doc.get("items") {
            Some(Value::Array(items)) => out.extend(items.iter().filter(|d| !d.is_null()).cloned()),
            None | Some(Value::Null) => {}
            Some(_) => return Err(format!("document {} (List): items is not a list", i + 1)),
        }
    }
    Ok(out)
}

/// The kinds a manifest may hold, as the error lists them.
pub const ACCEPTED: &str = "apps/v1 StatefulSet (exactly one); v1 Service, ConfigMap, Secret and ServiceAccount; policy/v1 PodDisruptionBudget; \
                            networking.k8s.io/v1 NetworkPolicy; rbac.authorization.k8s.io/v1 Role and RoleBinding";

/// The one-paragraph error for a document of a kind zk-chaos does not apply.
pub fn unsupported_kind(what: &str, api: &str, kind: &str) -> String {
    let shown = if api.is_empty() && kind.is_empty() { "an object without apiVersion and kind".to_string() } else { format!("{api}/{kind}") };
    format!(
        "{what}: unsupported object {shown}. zk-chaos applies, in the run's own namespace, one ensemble's StatefulSet and the namespaced objects a \
         ZooKeeper chart or operator renders beside it: {ACCEPTED}. Remove the document from the manifest (a cluster-scoped object or another \
         workload is the cluster's business: apply it yourself before the run, with --platform kube), or check its apiVersion and kind for a typo"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_is_read_whole_and_named() {
        let r = read_from("a: 1\n---\nb: 2\n".as_bytes(), STDIN_ORIGIN).unwrap();
        assert_eq!(r, Read { text: "a: 1\n---\nb: 2\n".into(), origin: "<stdin>".into() });
        let err = read_from("  \n".as_bytes(), STDIN_ORIGIN).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("<stdin>: nothing was read"), "{err}");
        let err = read_from(&[0xff, 0xfe][..], STDIN_ORIGIN).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn a_directory_is_its_yaml_files_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b-sts.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.path().join("a-svc.yml"), "kind: A").unwrap();
        std::fs::write(dir.path().join("README.md"), "not yaml").unwrap();
        std::fs::create_dir(dir.path().join("c.yaml")).unwrap();
        let r = read(dir.path()).unwrap();
        assert_eq!(r.text, "kind: A\n---\nkind: B\n");
        assert!(r.origin.ends_with("(a-svc.yml, b-sts.yaml)"), "{}", r.origin);
        let empty = tempfile::tempdir().unwrap();
        let err = read(empty.path()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("holds no *.yaml or *.yml file"), "{err}");
        let err = read(&dir.path().join("missing.yaml")).unwrap_err();
        assert!(err.to_string().contains("missing.yaml: cannot read the manifest"), "{err}");
    }

    #[test]
    fn a_list_is_its_items() {
        let docs = vec![serde_json::json!({"kind": "List", "apiVersion": "v1", "items": [{"kind": "A"}, {"kind": "B"}]}), serde_json::json!({"kind": "C"})];
        let kinds: Vec<Value> = expand_lists(docs).unwrap().into_iter().map(|d| d["kind"].clone()).collect();
        assert_eq!(kinds, ["A", "B", "C"]);
        assert!(expand_lists(vec![serde_json::json!({"kind": "List", "items": 3})]).unwrap_err().contains("document 1 (List): items is not a list"));
    }
}
