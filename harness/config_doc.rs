//! The configuration reference of the book (`docs/src/configuration.md`), rendered from the config
//! type itself so it cannot drift: the keys and their order from the structs' fields in
//! `harness/core/config.rs`, what each means from their `///` comments, the defaults from
//! `Config::default()` serialized.
//!
//! The unit test `config_reference` renders it and compares it with the file; a change to the
//! config type fails it until the file is regenerated with
//! `ZK_CHAOS_BLESS=1 cargo test --lib config_reference`.
//!
//! # Caveats
//! The field list comes from reading `config.rs` as text (rustdoc comments are not available at
//! run time): one `pub name: Type,` per line inside `pub struct Name { ... }`, as rustfmt writes
//! them. The test checks that the keys found there are exactly the keys `Config::default()`
//! serializes, so a field the reader missed fails the test instead of going undocumented.

use std::fmt::Write as _;

use serde_json::Value;

use crate::config::Config;

/// The source the field list and its comments are read from.
const SOURCE: &str = include_str!("core/config.rs");

/// Where the rendered reference lives, from the repository's root.
pub const REFERENCE_PATH: &str = "docs/src/configuration.md";

/// One field of a config struct, as written in `config.rs`.
#[derive(Debug, Clone, PartialEq)]
struct Field {
    name: String,
    ty: String,
    doc: String,
    /// `#[serde(with = "humantime_serde")]`: written as a duration.
    humantime: bool,
}

/// One `pub struct` of `config.rs`: its `///` comment and its fields in order.
#[derive(Debug, Clone, PartialEq)]
struct Struct {
    name: String,
    doc: String,
    fields: Vec<Field>,
}

/// Reads the `pub struct`s of Rust source written as rustfmt writes it.
fn structs(source: &str) -> Vec<Struct> {
    let mut out = Vec::new();
    let mut doc: Vec<String> = Vec::new();
    let mut humantime = false;
    let mut current: Option<Struct> = None;
    for line in source.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_string());
        } else if line.starts_with("#[") {
            humantime |= line.contains("humantime_serde");
        } else if let Some(rest) = line.strip_prefix("pub struct ") {
            let name = rest.trim_end_matches('{').trim().to_string();
            current = Some(Struct { name, doc: doc.join(" "), fields: Vec::new() });
            doc.clear();
            humantime = false;
        } else if let (Some(s), Some(rest)) = (current.as_mut(), line.strip_prefix("pub ")) {
            if let Some((name, ty)) = rest.split_once(':') {
                let field = Field { name: name.trim().into(), ty: ty.trim().trim_end_matches(',').into(), doc: doc.join(" "), humantime };
                s.fields.push(field);
            }
            doc.clear();
            humantime = false;
        } else if line == "}" {
            out.extend(current.take());
            doc.clear();
        } else {
            doc.clear();
            humantime = false;
        }
    }
    out
}

/// The type a user writes, in words.
fn kind(field: &Field) -> String {
    let ty = field.ty.as_str();
    if field.humantime {
        return "duration (`90s`, `2m`, `1h30m`)".into();
    }
    match ty {
        "String" => "string".into(),
        "Option<String>" => "string, optional".into(),
        t if t.ends_with("DataSize>") => "size, optional (`8MiB`, `256MiB`, `1GiB`)".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "integer".into(),
        "bool" => "boolean".into(),
        "Vec<usize>" | "Vec<u32>" => "list of integers".into(),
        t if t.contains("Map<String, String>") => "map of string to string".into(),
        t => format!("`{t}`"),
    }
}

/// A default value as YAML text (`null` is written as unset).
fn yaml_value(value: &Value) -> String {
    match value {
        Value::Null => "(unset)".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

/// The reference as markdown. Errors name what in `config.rs` could not be documented.
pub fn render() -> Result<String, String> {
    let defaults = serde_json::to_value(Config::default()).map_err(|e| format!("Config::default() does not serialize: {e}"))?;
    let structs = structs(SOURCE);
    let find = |name: &str| structs.iter().find(|s| s.name == name);
    let root = find("Config").ok_or("harness/core/config.rs has no `pub struct Config`")?;

    let mut md = String::new();
    md.push_str("# Configuration reference\n\n");
    md.push_str("<!-- Generated from harness/core/config.rs by harness/config_doc.rs: do not edit. Regenerate with\n");
    md.push_str("     ZK_CHAOS_BLESS=1 cargo test --lib config_reference -->\n\n");
    md.push_str("`--config FILE` reads a YAML file; every key is optional and every value has a default, so an\n");
    md.push_str("empty file is the defaults. An unknown key or a value out of range is bad input: zk-chaos exits 2\n");
    md.push_str("naming the file and the key.\n\n");

    let mut example = String::new();
    let mut sections = String::new();
    let mut top = String::from("| key | type | default | what it does |\n|---|---|---|---|\n");
    let mut seen = Vec::new();
    for field in &root.fields {
        let value = defaults.get(&field.name).ok_or_else(|| format!("Config::{} is not in Config::default() serialized", field.name))?;
        seen.push(field.name.clone());
        if let Some(inner) = find(&field.ty) {
            let doc = if inner.doc.is_empty() { &field.doc } else { &inner.doc };
            if doc.is_empty() {
                return Err(format!("harness/core/config.rs: `pub struct {}` (the key `{}`) has no /// comment", inner.name, field.name));
            }
            let _ = writeln!(example, "{}:", field.name);
            let _ = write!(sections, "## `{}`\n\n{doc}\n\n| key | type | default | what it does |\n|---|---|---|---|\n", field.name);
            let mut keys = Vec::new();
            for f in &inner.fields {
                if f.doc.is_empty() {
                    return Err(format!("harness/core/config.rs: `{}.{}` has no /// comment; say what it does", inner.name, f.name));
                }
                let v = value.get(&f.name).ok_or_else(|| format!("{}.{} is not in Config::default() serialized", field.name, f.name))?;
                let _ = writeln!(example, "  {}: {}", f.name, yaml_value(v));
                let _ = writeln!(sections, "| `{}.{}` | {} | `{}` | {} |", field.name, f.name, kind(f), yaml_value(v), f.doc);
                keys.push(f.name.clone());
            }
            sections.push('\n');
            let serialized: Vec<String> = value.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            let mut found = keys.clone();
            found.sort();
            if found != serialized {
                return Err(format!("`{}`: read from config.rs {found:?}, serialized {serialized:?}", field.name));
            }
        } else {
            if field.doc.is_empty() {
                return Err(format!("harness/core/config.rs: `Config.{}` has no /// comment; say what it does", field.name));
            }
            match value {
                Value::Null => {
                    let _ = writeln!(example, "# {}: (unset)", field.name);
                }
                Value::Object(m) if m.is_empty() => {
                    let _ = writeln!(example, "{}: {{}}", field.name);
                }
                v => {
                    let _ = writeln!(example, "{}: {}", field.name, yaml_value(v));
                }
            }
            let default = if value.is_null() { "unset".to_string() } else { format!("`{}`", yaml_value(value)) };
            let _ = writeln!(top, "| `{}` | {} | {default} | {} |", field.name, kind(field), field.doc);
        }
    }
    let mut serialized: Vec<String> = defaults.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    serialized.sort();
    seen.sort();
    if seen != serialized {
        return Err(format!("Config: read from config.rs {seen:?}, serialized {serialized:?}"));
    }

    md.push_str("The defaults, as a file:\n\n```yaml\n");
    md.push_str(&example);
    md.push_str("```\n\n## Top-level keys\n\n");
    md.push_str(&top);
    md.push('\n');
    md.push_str(&sections);
    Ok(md.trim_end().to_string() + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    /// The book's configuration reference is what the config type says. `ZK_CHAOS_BLESS=1` writes it.
    #[test]
    fn config_reference() {
        let rendered = render().unwrap_or_else(|e| panic!("cannot render {REFERENCE_PATH}: {e}"));
        let path = repo_file(REFERENCE_PATH);
        if std::env::var_os("ZK_CHAOS_BLESS").is_some_and(|v| !v.is_empty()) {
            std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "{REFERENCE_PATH} is not what harness/core/config.rs says; regenerate it with\n    ZK_CHAOS_BLESS=1 cargo test --lib config_reference\n\
             --- rendered ---\n{rendered}"
        );
    }

    /// The defaults block of the reference is a config file that reads back as the defaults.
    #[test]
    fn config_reference_example_parses_as_the_defaults() {
        let md = render().unwrap();
        let start = md.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
        let block = &md[start..start + md[start..].find("```").unwrap()];
        assert_eq!(Config::parse(block, "the reference's example").unwrap(), Config::default(), "{block}");
    }

    #[test]
    fn every_config_key_is_in_the_reference() {
        let md = render().unwrap();
        for key in ["`image`", "`label_prefix`", "`timeouts.member_ready`", "`timeouts.cleanup`", "`workload.rate_per_second`"] {
            assert!(md.contains(key), "{key} missing:\n{md}");
        }
    }

    #[test]
    fn structs_are_read_with_their_comments_and_attributes() {
        let src = "/// A thing.\n#[derive(Debug)]\npub struct A {\n    /// How long.\n    #[serde(with = \"humantime_serde\")]\n    pub wait: Duration,\n    pub b: B,\n}\n";
        let s = structs(src);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].doc, "A thing.");
        assert_eq!(s[0].fields[0], Field { name: "wait".into(), ty: "Duration".into(), doc: "How long.".into(), humantime: true });
        assert_eq!(s[0].fields[1], Field { name: "b".into(), ty: "B".into(), doc: String::new(), humantime: false });
    }
}
