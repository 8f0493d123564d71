//! Histories recorded by other tools, read into a [`RegisterHistory`]: Jepsen's log lines
//! (`INFO  jepsen.util - 3 :invoke :cas [1 4]`, as in Jepsen's etcd test) and Jepsen's EDN
//! history maps, one per line (`{:process 0, :type :ok, :f :get, :key "6", :value "x 0 1 y"}`, as
//! in MIT 6.824's key-value logs). [`parse`] also takes our own JSON ([`RegisterHistory::from_json`]).
//!
//! # How an operation is read
//! - `:invoke` starts the process's operation; the next `:ok`, `:fail` or `:info` of that process
//!   completes it. A process has one operation at a time (Jepsen gives a process whose operation
//!   ended `:info` a new number).
//! - `:f` names the operation: `:read`/`:get` (value nil at the invocation; an ok one returned
//!   `:value`, nil being the initial empty value), `:write`/`:put` (`:value` written), `:cas`
//!   (`[expected new]`, a CAS by value) and `:append`.
//! - `:ok`: it took effect; `:fail`: it certainly did not (a failed `:cas` found another value);
//!   `:info` (and an invocation never completed): unknown, it may take effect at any time after
//!   its invocation.
//! - Time: the `:time` of every line when each has one, else the line's number (the log lines have
//!   no time; the order of the lines is the order of the events).
//! - `:key`, when present, is the partition (the map's key); without it every operation is on one
//!   register, named `register`.
//!
//! # Errors
//! A line that is an operation but cannot be read, a completion without an invocation, or an
//! invocation while the process has one pending: the error names the line. Lines of a log that are
//! not operations (other log messages) are skipped.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context};

use super::history::{Call, Outcome, RegisterHistory, RegisterOp, State};

/// The key of the operations of a history without keys.
pub const SINGLE_KEY: &str = "register";

/// The formats [`parse`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Our JSON document ([`super::history`]).
    Json,
    /// Jepsen's log lines (`INFO  jepsen.util - PROCESS :TYPE :F VALUE`).
    JepsenLog,
    /// One EDN map per line (`{:process 0, :type :invoke, :f :get, ...}`).
    EdnLines,
}

/// The format of `text`, from its first line that is not blank.
pub fn detect(text: &str) -> Option<Format> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if first.starts_with("{:") {
        Some(Format::EdnLines)
    } else if first.starts_with('{') {
        Some(Format::Json)
    } else if text.lines().any(|l| l.contains("jepsen.util -")) {
        Some(Format::JepsenLog)
    } else {
        None
    }
}

/// Reads a history in any of the [`Format`]s.
///
/// # Errors
/// An unknown format, or the first thing that cannot be read in it (naming the line).
pub fn parse(text: &str) -> anyhow::Result<RegisterHistory> {
    match detect(text) {
        Some(Format::Json) => RegisterHistory::from_json(text),
        Some(Format::JepsenLog) => parse_jepsen_log(text),
        Some(Format::EdnLines) => parse_edn_lines(text),
        None => bail!("not a history: expected zk-chaos's JSON (`{{\"ops\": [...]}}`), Jepsen's log lines (`INFO  jepsen.util - 0 :invoke :read nil`) or EDN maps one per line (`{{:process 0, :type :invoke, :f :read, :value nil}}`)"),
    }
}

/// Reads Jepsen's log lines (see the module documentation).
///
/// # Errors
/// The first operation line that cannot be read, naming it.
pub fn parse_jepsen_log(text: &str) -> anyhow::Result<RegisterHistory> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some((_, rest)) = line.split_once("jepsen.util - ") else { continue };
        let event = (|| {
            let rest = rest.trim();
            let (process, rest) = rest.split_once(char::is_whitespace).context("no type after the process")?;
            let rest = rest.trim_start();
            let (kind, rest) = rest.split_once(char::is_whitespace).context("no operation after the type")?;
            let rest = rest.trim_start();
            let (f, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, "nil"));
            let value = Edn::parse_all(value.trim())?;
            Ok::<_, anyhow::Error>(Event {
                line: n + 1,
                process: process.parse().with_context(|| format!("process {process:?} is not a number"))?,
                kind: keyword(kind)?,
                f: keyword(f)?,
                key: None,
                value,
                time: None,
            })
        })();
        match event {
            Ok(e) => events.push(e),
            // A log message that happens to mention jepsen.util without being an operation.
            Err(_) if !rest.contains(":invoke") && !rest.contains(":ok") && !rest.contains(":fail") && !rest.contains(":info") => continue,
            Err(e) => return Err(e.context(format!("line {}: not an operation: {line:?}", n + 1))),
        }
    }
    build(events)
}

/// Reads EDN history maps, one per line (see the module documentation).
///
/// # Errors
/// The first line that cannot be read, naming it.
pub fn parse_edn_lines(text: &str) -> anyhow::Result<RegisterHistory> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event = (|| {
            let Edn::Map(pairs) = Edn::parse_all(line.trim())? else { bail!("not a map") };
            let get = |k: &str| pairs.iter().find(|(key, _)| *key == Edn::Keyword(k.into())).map(|(_, v)| v);
            let kw = |k: &str| match get(k) {
                Some(Edn::Keyword(s)) => Ok(s.clone()),
                other => bail!(":{k} is {other:?}, not a keyword"),
            };
            let int = |k: &str| match get(k) {
                Some(Edn::Atom(s)) => s.parse::<i64>().map(Some).with_context(|| format!(":{k} {s} is not an integer")),
                None => Ok(None),
                Some(other) => bail!(":{k} is {other:?}, not an integer"),
            };
            let process = int("process")?.context("no :process")?;
            Ok::<_, anyhow::Error>(Event {
                line: n + 1,
                process: u32::try_from(process).with_context(|| format!(":process {process} is not a process number"))?,
                kind: kw("type")?,
                f: kw("f")?,
                key: get("key").map(Edn::text).transpose()?,
                value: get("value").cloned().unwrap_or(Edn::Nil),
                time: int("time")?,
            })
        })();
        events.push(event.with_context(|| format!("line {}: not an operation: {line:?}", n + 1))?);
    }
    build(events)
}

/// One line: an invocation or a completion.
struct Event {
    line: usize,
    process: u32,
    kind: String,
    f: String,
    key: Option<String>,
    value: Edn,
    time: Option<i64>,
}

/// Pairs invocations with completions into operations.
fn build(events: Vec<Event>) -> anyhow::Result<RegisterHistory> {
    let timed = !events.is_empty() && events.iter().all(|e| e.time.is_some());
    let mut ops: Vec<RegisterOp> = Vec::new();
    let mut pending: HashMap<u32, usize> = HashMap::new();
    let mut last = 0;
    for e in events {
        let at = if timed { e.time.unwrap_or_default() } else { e.line as i64 };
        last = last.max(at);
        let here = || format!("line {}", e.line);
        if e.kind == "invoke" {
            ensure!(!pending.contains_key(&e.process), "{}: process {} invokes while its operation of line {} is pending", here(), e.process, ops[pending[&e.process]].invoked);
            let call = match e.f.as_str() {
                "read" | "get" => Call::Read,
                "write" | "put" => Call::Write { value: e.value.text().with_context(here)? },
                "append" => Call::Append { value: e.value.text().with_context(here)? },
                "cas" => match &e.value {
                    Edn::Vector(v) if v.len() == 2 => Call::CasValue { expected: v[0].text().with_context(here)?, value: v[1].text().with_context(here)? },
                    other => bail!("{}: a :cas needs [expected new], not {other:?}", here()),
                },
                other => bail!("{}: unknown operation :{other} (known: :read :get :write :put :cas :append)", here()),
            };
            pending.insert(e.process, ops.len());
            ops.push(RegisterOp {
                id: ops.len(),
                process: e.process,
                session: String::new(),
                key: e.key.clone().unwrap_or_else(|| SINGLE_KEY.to_string()),
                call,
                invoked: at,
                completed: at,
                outcome: Outcome::Unknown,
                read: None,
                version: None,
                zxid: None,
                synced_at: None,
            });
            continue;
        }
        let outcome = match e.kind.as_str() {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Failed,
            "info" => Outcome::Unknown,
            other => bail!("{}: unknown type :{other} (known: :invoke :ok :fail :info)", here()),
        };
        let Some(i) = pending.remove(&e.process) else { bail!("{}: process {} completes an operation it did not invoke", here(), e.process) };
        let op = &mut ops[i];
        let same = matches!(
            (e.f.as_str(), &op.call),
            ("read" | "get", Call::Read) | ("write" | "put", Call::Write { .. }) | ("append", Call::Append { .. }) | ("cas", Call::CasValue { .. })
        );
        ensure!(same, "{}: process {} completes :{} but invoked {}", here(), e.process, e.f, op.describe());
        op.completed = at;
        op.outcome = outcome;
        if outcome == Outcome::Ok && op.call == Call::Read {
            let value = if e.value == Edn::Nil { String::new() } else { e.value.text().with_context(here)? };
            op.read = Some(State::new(value, 0));
        }
    }
    // Never completed: unknown, and what bounds nothing is after everything else.
    for i in pending.into_values() {
        ops[i].completed = last + 1;
    }
    let h = RegisterHistory { initial: State::default(), ops };
    h.validate()?;
    Ok(h)
}

fn keyword(s: &str) -> anyhow::Result<String> {
    s.strip_prefix(':').map(str::to_string).with_context(|| format!("{s:?} is not a keyword"))
}

/// The EDN values Jepsen's histories use.
#[derive(Debug, Clone, PartialEq)]
enum Edn {
    Nil,
    Str(String),
    Keyword(String),
    /// A number or a symbol, as written.
    Atom(String),
    Vector(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// A value written or read, as text: a string's contents, a number as written.
    fn text(&self) -> anyhow::Result<String> {
        match self {
            Edn::Str(s) | Edn::Atom(s) => Ok(s.clone()),
            other => bail!("{other:?} is not a value (a string or a number)"),
        }
    }

    /// Parses exactly one value from `s`.
    fn parse_all(s: &str) -> anyhow::Result<Edn> {
        let mut chars = s.char_indices().peekable();
        let v = Edn::parse(s, &mut chars)?;
        skip_blank(&mut chars);
        if let Some((at, _)) = chars.peek() {
            bail!("unexpected {:?} after the value", &s[*at..]);
        }
        Ok(v)
    }

    fn parse(s: &str, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> anyhow::Result<Edn> {
        skip_blank(chars);
        let Some(&(start, c)) = chars.peek() else { bail!("a value is missing") };
        match c {
            '"' => {
                chars.next();
                let mut out = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => return Ok(Edn::Str(out)),
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, c)) => out.push(c),
                            None => bail!("a string ends in a backslash"),
                        },
                        Some((_, c)) => out.push(c),
                        None => bail!("a string is not closed"),
                    }
                }
            }
            '[' | '(' | '{' => {
                chars.next();
                let close = match c {
                    '[' => ']',
                    '(' => ')',
                    _ => '}',
                };
                let mut items = Vec::new();
                loop {
                    skip_blank(chars);
                    match chars.peek() {
                        Some(&(_, c)) if c == close => {
                            chars.next();
                            break;
                        }
                        Some(_) => items.push(Edn::parse(s, chars)?),
                        None => bail!("{c} is not closed"),
                    }
                }
                if c != '{' {
                    return Ok(Edn::Vector(items));
                }
                ensure!(items.len() % 2 == 0, "a map with an odd number of forms");
                let mut pairs = Vec::new();
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            ']' | ')' | '}' => bail!("unexpected {c}"),
            _ => {
                let mut end = s.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || c == ',' || "[](){}\"".contains(c) {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                let token = &s[start..end];
                Ok(match token {
                    "nil" => Edn::Nil,
                    _ => match token.strip_prefix(':') {
                        Some(k) => Edn::Keyword(k.to_string()),
                        None => Edn::Atom(token.to_string()),
                    },
                })
            }
        }
    }
}

/// Whitespace and commas (commas are whitespace in EDN).
fn skip_blank(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) {
    while chars.next_if(|(_, c)| c.is_whitespace() || *c == ',').is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(h: &RegisterHistory) -> Vec<String> {
        h.ops.iter().map(RegisterOp::describe).collect()
    }

    #[test]
    fn jepsen_log_lines_become_operations_timed_by_line() {
        let log = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 1\t:invoke\t:cas\t[0 3]\n\
                   INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
                   INFO  jepsen.util - 2\t:invoke\t:write\t4\n\
                   INFO  jepsen.util - 1\t:fail\t:cas\t[0 3]\n\
                   INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 0\t:ok\t:read\t4\n\
                   INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n\
                   INFO  jepsen.util - 3\t:invoke\t:cas\t[4 1]\n\
                   INFO  jepsen.util - 4\t:invoke\t:read\tnil\n\
                   INFO  jepsen.util - 4\t:fail\t:read\t:timed-out\n";
        let h = parse(log).unwrap();
        assert_eq!(detect(log), Some(Format::JepsenLog));
        assert_eq!(
            ops(&h),
            [
                "#0 p0 read ok (\"\", v0) on register [1, 3]",
                "#1 p1 cas(\"0\" -> \"3\") failed on register [2, 5]",
                "#2 p2 write(\"4\") unknown on register [4, 8]",
                "#3 p0 read ok (\"4\", v0) on register [6, 7]",
                "#4 p3 cas(\"4\" -> \"1\") unknown on register [9, 12]",
                "#5 p4 read failed on register [10, 11]",
            ]
        );
    }

    #[test]
    fn edn_lines_become_operations_by_key() {
        let text = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n\
                    {:process 0, :type :ok, :f :append, :key \"0\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :ok, :f :get, :key \"0\", :value \"x 0 0 y\"}\n\
                    {:process 1, :type :invoke, :f :put, :key \"a \\\"b\\\"\", :value \"z\"}\n";
        let h = parse(text).unwrap();
        assert_eq!(ops(&h), ["#0 p0 append(\"x 0 0 y\") ok on 0 [1, 3]", "#1 p1 read ok (\"x 0 0 y\", v0) on 0 [2, 4]", "#2 p1 write(\"z\") unknown on a \"b\" [5, 6]",]);
        // Jepsen's own EDN histories carry times and registers without keys.
        let timed = "{:type :invoke, :f :cas, :value [1 2], :process 7, :time 100}\n{:type :ok, :f :cas, :value [1 2], :process 7, :time 250}";
        let h = parse(timed).unwrap();
        assert_eq!(ops(&h), ["#0 p7 cas(\"1\" -> \"2\") ok on register [100, 250]"]);
    }

    #[test]
    fn bad_lines_are_named() {
        let err = |t: &str| format!("{:#}", parse(t).unwrap_err());
        assert!(err("{:process 0, :type :ok, :f :get, :value \"a\"}").contains("line 1: process 0 completes an operation it did not invoke"));
        assert!(err("{:process 0, :type :invoke, :f :get, :value nil}\n{:process 0, :type :invoke, :f :get, :value nil}").contains("line 2: process 0 invokes while"));
        assert!(err("{:process 0, :type :invoke, :f :get, :value nil}\n{:process 0, :type :ok, :f :put, :value \"a\"}").contains("line 2: process 0 completes :put but invoked"));
        assert!(err("{:process 0, :type :invoke, :f :incr, :value 1}").contains("unknown operation :incr"));
        assert!(err("{:process 0, :type :invoke, :f :cas, :value 1}").contains("a :cas needs [expected new]"));
        assert!(err("{:process 0, :type :invoke, :f :get").contains("line 1: not an operation"));
        assert!(err("INFO  jepsen.util - x\t:invoke\t:read\tnil").contains("line 1: not an operation"));
        assert!(err("{:process 0, :type :invoked, :f :get, :value nil}\n").contains("unknown type :invoked"));
        assert!(err("hello").starts_with("not a history"));
        // Other log messages are not operations.
        let h = parse("INFO  jepsen.util - starting\nINFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n").unwrap();
        assert_eq!(ops(&h), ["#0 p0 write(\"1\") ok on register [2, 3]"]);
    }

    #[test]
    fn edn_values_parse() {
        assert_eq!(Edn::parse_all("[1 \"a b\" :k nil]").unwrap(), Edn::Vector(vec![Edn::Atom("1".into()), Edn::Str("a b".into()), Edn::Keyword("k".into()), Edn::Nil]));
        assert_eq!(
            Edn::parse_all("{:a 1, :b [2]}").unwrap(),
            Edn::Map(vec![(Edn::Keyword("a".into()), Edn::Atom("1".into())), (Edn::Keyword("b".into()), Edn::Vector(vec![Edn::Atom("2".into())]))])
        );
        assert_eq!(Edn::parse_all("\"a\\\\b\\n\"").unwrap(), Edn::Str("a\\b\n".into()));
        assert!(Edn::parse_all("[1 2").is_err() && Edn::parse_all("1 2").is_err() && Edn::parse_all("{:a}").is_err() && Edn::parse_all("]").is_err());
        assert!(Edn::parse_all("\"abc").is_err());
        assert_eq!(detect("\n  {\"ops\": []}"), Some(Format::Json));
        assert_eq!(detect(""), None);
    }
}
