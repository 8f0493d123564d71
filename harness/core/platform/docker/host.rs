//! Where the Docker engine is: `DOCKER_HOST` read as the docker CLI reads it (`unix://PATH`,
//! `tcp://HOST:PORT`, a bare path or `HOST:PORT`; TLS when `DOCKER_TLS_VERIFY` is set), then the
//! docker CLI's context (`DOCKER_CONTEXT`, else `currentContext` in its config.json), and without
//! either the places testcontainers looks, in its order, then rootless Docker's and podman's sockets.
//!
//! The lookup is a function of [`Env`] (values, not the process environment), of a
//! file-existence test and of the docker CLI's config folder (`DOCKER_CONFIG`, else `~/.docker`),
//! so its order is unit-tested with temporary folders.
//!
//! # Caveats
//! testcontainers (testcontainers-rs, `core/env/config.rs`) puts `tc.host` from
//! `~/.testcontainers.properties` before `DOCKER_HOST`; here `DOCKER_HOST` comes first, as for the
//! docker CLI, and the properties only when it is unset. After testcontainers' sockets, the
//! rootless engine's `$XDG_RUNTIME_DIR/docker.sock` is tried too (testcontainers looks for
//! `$XDG_RUNTIME_DIR/.docker/run/docker.sock`, where rootless Docker does not put it).
//! `ssh://` (which the docker CLI tunnels through ssh) is refused with a workaround, in a context
//! as in `DOCKER_HOST`. A context's `SkipTLSVerify` is not honoured: its TLS files are used when
//! the context has them.
//!
//! Over 600 lines: about 250 of them are unit tests of the resolution order and of each way a
//! context or `DOCKER_HOST` can be wrong.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The engine's socket when nothing says otherwise (the docker CLI's and testcontainers' default).
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// The docker CLI's port for `tcp://HOST` without one.
pub const DEFAULT_TCP_PORT: u16 = 2375;

/// What the lookup reads. [`Env::from_process`] fills it from the environment and the home folder.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`: the docker CLI context to use instead of config.json's `currentContext`.
    pub docker_context: Option<String>,
    pub docker_tls_verify: Option<String>,
    pub docker_cert_path: Option<PathBuf>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    /// The text of `~/.testcontainers.properties`, if there is one.
    pub testcontainers_properties: Option<String>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        Env {
            docker_host: var("DOCKER_HOST").map(|v| v.to_string_lossy().into_owned()),
            docker_context: var("DOCKER_CONTEXT").map(|v| v.to_string_lossy().into_owned()),
            docker_tls_verify: var("DOCKER_TLS_VERIFY").map(|v| v.to_string_lossy().into_owned()),
            docker_cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            // As etcetera (testcontainers' source for it) takes it: only an absolute path.
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute()),
            testcontainers_properties: home.as_ref().and_then(|h| std::fs::read_to_string(h.join(".testcontainers.properties")).ok()),
            home,
        }
    }
}

/// How to reach the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `addr` is `host:port`; `path` a prefix the engine is served under (usually empty).
    Tcp {
        addr: String,
        path: String,
        tls: Option<Tls>,
    },
}

/// The client certificates of a TLS engine: `ca.pem`, `cert.pem`, `key.pem` in one folder, as the
/// docker CLI expects them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub dir: PathBuf,
}

impl Tls {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
}

impl Endpoint {
    /// As `DOCKER_HOST` would say it.
    pub fn url(&self) -> String {
        match self {
            Endpoint::Unix(p) => format!("unix://{}", p.display()),
            Endpoint::Tcp { addr, path, .. } => format!("tcp://{addr}{path}"),
        }
    }
}

/// The engine found, and what named it (for messages: "DOCKER_HOST", "the default socket").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub endpoint: Endpoint,
    pub from: String,
}

impl Found {
    /// The environment that makes a docker CLI child (the image build, kind) reach the same
    /// engine: `DOCKER_HOST` and, for TLS, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`.
    pub fn cli_env(&self) -> Vec<(String, OsString)> {
        let mut env = vec![("DOCKER_HOST".to_string(), OsString::from(self.endpoint.url()))];
        if let Endpoint::Tcp { tls: Some(t), .. } = &self.endpoint {
            env.push(("DOCKER_TLS_VERIFY".into(), "1".into()));
            env.push(("DOCKER_CERT_PATH".into(), t.dir.clone().into_os_string()));
        }
        env
    }
}

/// Parses a Docker host as the docker CLI does (`ParseHost` in docker/cli `opts/hosts.go`);
/// `from` names where the value came from in errors. `tls`: the engine is reached over TLS (only
/// meaningful for `tcp://`).
pub fn parse(value: &str, from: &str, tls: Option<Tls>) -> Result<Endpoint> {
    let value = value.trim();
    let bad = |why: &str| {
        Error::bad_input(format!(
            "{from}={value:?}: {why}. zk-chaos reads it as the docker CLI does: unix:///PATH/TO/docker.sock, or tcp://HOST:PORT \
             (TLS with DOCKER_TLS_VERIFY=1 and the certificates in DOCKER_CERT_PATH); unset it to use the local engine"
        ))
    };
    let (proto, rest) = match value.split_once("://") {
        Some((p, r)) => (p, r),
        // A bare value: a path is a socket, anything else host:port (as the docker CLI guesses).
        None if value.starts_with('/') || value.starts_with("./") => ("unix", value),
        None => ("tcp", value),
    };
    match proto {
        "unix" => {
            if rest.contains("://") {
                return Err(bad("a unix:// address holds a second scheme"));
            }
            Ok(Endpoint::Unix(PathBuf::from(if rest.is_empty() { DEFAULT_SOCKET } else { rest })))
        }
        "tcp" => {
            if rest.contains("://") {
                return Err(bad("a tcp:// address holds a second scheme"));
            }
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let (host, port) = split_host_port(authority).ok_or_else(|| bad("not HOST:PORT"))?;
            let port = match port {
                None | Some("") => DEFAULT_TCP_PORT,
                Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(&format!("the port {p:?} is not a number from 1 to 65535")))?,
            };
            let host = if host.is_empty() { "localhost" } else { host };
            let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            Ok(Endpoint::Tcp { addr, path: path.trim_end_matches('/').to_string(), tls })
        }
        "ssh" => Err(bad("zk-chaos cannot tunnel to an engine over ssh as the docker CLI does; forward its socket instead \
             (ssh -nNT -L /tmp/zk-chaos-docker.sock:/var/run/docker.sock USER@HOST) and set DOCKER_HOST=unix:///tmp/zk-chaos-docker.sock")),
        "npipe" => Err(bad("a Windows named pipe; zk-chaos runs on Linux and macOS")),
        "fd" => Err(bad("fd:// is how the daemon listens (systemd socket activation); a client cannot connect to it")),
        other => Err(bad(&format!("the scheme {other}:// is not one the docker CLI accepts"))),
    }
}

/// `host:port`, `host`, `[v6]:port`, `[v6]`, `:port`; None when malformed.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            _ => Some((host, Some(after.strip_prefix(':')?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((authority, None)),
    }
}

/// `key=value` (or `key: value`, `key value`) lines of a Java properties file; `#` and `!` start
/// comments. Enough for testcontainers' file; line continuations and escapes are not read.
pub fn properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let cut = line.find(['=', ':', ' ', '\t']).unwrap_or(line.len());
        let (key, rest) = line.split_at(cut);
        let value = rest.trim_start().strip_prefix(['=', ':']).unwrap_or(rest).trim();
        out.insert(key.to_string(), value.to_string());
    }
    out
}

/// Where the engine is, in this order:
/// 1. `DOCKER_HOST`;
/// 2. the docker CLI's context: `DOCKER_CONTEXT`, else `currentContext` in `config.json` of
///    `DOCKER_CONFIG` (else `~/.docker`), unless it is `default` ([`context`]);
/// 3. `tc.host`, then `docker.host`, in `~/.testcontainers.properties`;
/// 4. the first socket that exists of `/var/run/docker.sock`, `$XDG_RUNTIME_DIR/.docker/run/docker.sock`,
///    `~/.docker/run/docker.sock`, `~/.docker/desktop/docker.sock` (testcontainers' list), then
///    `$XDG_RUNTIME_DIR/docker.sock` (rootless Docker), `$XDG_RUNTIME_DIR/podman/podman.sock` and
///    `/run/podman/podman.sock` (podman's Docker-compatible API, rootless and root).
///
/// TLS applies to a `tcp://` host when `DOCKER_TLS_VERIFY` is set (any value, as for the docker
/// CLI) or the properties say `docker.tls.verify=1`; certificates in `DOCKER_CERT_PATH`, else
/// `docker.cert.path`, else `DOCKER_CONFIG`, else `~/.docker`.
///
/// # Errors
/// Bad input (exit 2) for a host the docker CLI would refuse, missing TLS certificates, or a
/// context that does not exist or has no Docker endpoint; unavailable (exit 3) when a named socket
/// does not exist or no socket was found.
pub fn find(env: &Env, exists: &dyn Fn(&Path) -> bool) -> Result<Found> {
    let props = env.testcontainers_properties.as_deref().map(properties).unwrap_or_default();
    let tls_wanted = env.docker_tls_verify.is_some() || props.get("docker.tls.verify").is_some_and(|v| v == "1");
    let certificates = || -> Result<Option<Tls>> {
        if !tls_wanted {
            return Ok(None);
        }
        let dir = env
            .docker_cert_path
            .clone()
            .or_else(|| props.get("docker.cert.path").map(PathBuf::from))
            .or_else(|| env.docker_config.clone())
            .or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
            .ok_or_else(|| {
                Error::bad_input("DOCKER_TLS_VERIFY is set but there is no folder for the certificates: set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem")
            })?;
        let t = Tls { dir };
        for f in [t.ca(), t.cert(), t.key()] {
            if !exists(&f) {
                return Err(Error::bad_input(format!(
                    "DOCKER_TLS_VERIFY is set but {} does not exist: set DOCKER_CERT_PATH to the folder with the engine's ca.pem and your cert.pem and key.pem, \
                     or unset DOCKER_TLS_VERIFY for an engine without TLS",
                    f.display()
                )));
            }
        }
        Ok(Some(t))
    };
    if env.docker_host.as_deref().is_none_or(|h| h.trim().is_empty()) {
        if let Some(found) = context(env, exists)? {
            return Ok(found);
        }
    }
    let named = [
        (env.docker_host.clone(), "DOCKER_HOST".to_string()),
        (props.get("tc.host").cloned(), "tc.host in ~/.testcontainers.properties".to_string()),
        (props.get("docker.host").cloned(), "docker.host in ~/.testcontainers.properties".to_string()),
    ];
    if let Some((value, from)) = named.into_iter().find_map(|(v, from)| v.filter(|v| !v.trim().is_empty()).map(|v| (v, from))) {
        let mut endpoint = parse(&value, &from, None)?;
        if let Endpoint::Tcp { tls, .. } = &mut endpoint {
            *tls = certificates()?;
        }
        if let Endpoint::Unix(path) = &endpoint {
            if !exists(path) {
                return Err(Error::unavailable(format!(
                    "{from}={value:?} names the socket {}, which does not exist: start the Docker engine, or point {from} at its socket \
                     (`docker context inspect` shows where the docker CLI finds it)",
                    path.display()
                )));
            }
        }
        return Ok(Found { endpoint, from });
    }
    let sockets = candidates(env);
    if let Some(path) = sockets.iter().find(|p| exists(p)) {
        let from = if path == Path::new(DEFAULT_SOCKET) { "the default socket".to_string() } else { format!("the socket {}", path.display()) };
        return Ok(Found { endpoint: Endpoint::Unix(path.clone()), from });
    }
    Err(Error::unavailable(format!(
        "no Docker engine socket found (DOCKER_HOST is not set; looked in {}). zk-chaos runs the ensemble as Docker containers by default: \
         start the Docker daemon, or set DOCKER_HOST to a reachable engine (unix:///PATH or tcp://HOST:PORT), \
         or run on an existing cluster with --platform kube (--platform kind needs a Docker engine too).",
        sockets.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )))
}

/// The docker CLI's config folder: `DOCKER_CONFIG`, else `~/.docker`.
pub fn config_dir(env: &Env) -> Option<PathBuf> {
    env.docker_config.clone().or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
}

/// The docker CLI's context, if one other than `default` is selected: `DOCKER_CONTEXT`, else
/// `currentContext` in config.json. Its endpoint is `Endpoints.docker.Host` in
/// `contexts/meta/<sha256 of the name>/meta.json` of the config folder, its TLS files (if any) in
/// `contexts/tls/<sha256 of the name>/docker/`, where the docker CLI keeps them.
///
/// # Errors
/// Bad input when the context does not exist, has no Docker endpoint, or its host is one the
/// docker CLI would refuse; unavailable when its socket does not exist.
pub fn context(env: &Env, exists: &dyn Fn(&Path) -> bool) -> Result<Option<Found>> {
    let dir = config_dir(env);
    let config = dir.as_ref().map(|d| d.join("config.json"));
    let (name, said) = match env.docker_context.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(name) => (name.to_string(), "DOCKER_CONTEXT".to_string()),
        None => {
            let Some(path) = config.as_ref().filter(|p| exists(p)) else { return Ok(None) };
            let text = std::fs::read_to_string(path).map_err(|e| Error::bad_input(format!("{}: cannot read it: {e}", path.display())))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Error::bad_input(format!("{} is not JSON ({e}): the docker CLI's config; fix it, or set DOCKER_HOST to the engine's address", path.display())))?;
            match json.get("currentContext").and_then(|c| c.as_str()).map(str::trim).filter(|c| !c.is_empty()) {
                Some(name) => (name.to_string(), format!("currentContext in {}", path.display())),
                None => return Ok(None),
            }
        }
    };
    if name == "default" {
        return Ok(None);
    }
    let Some(dir) = dir else {
        return Err(Error::bad_input(format!("{said} selects the docker context {name:?}, but neither DOCKER_CONFIG nor HOME is set to find it: set one, or DOCKER_HOST")));
    };
    let id: String = {
        use sha2::{Digest, Sha256};
        Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    let meta = dir.join("contexts/meta").join(&id).join("meta.json");
    let fix = "`docker context ls` lists the contexts; select another with DOCKER_CONTEXT or `docker context use`, or set DOCKER_HOST";
    let text =
        std::fs::read_to_string(&meta).map_err(|e| Error::bad_input(format!("{said} selects the docker context {name:?}, but {} cannot be read ({e}): {fix}", meta.display())))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::bad_input(format!("{}: the docker context {name:?}'s metadata is not JSON ({e}): {fix}", meta.display())))?;
    let host = json
        .pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| Error::bad_input(format!("{}: the docker context {name:?} has no Endpoints.docker.Host: {fix}", meta.display())))?;
    let from = format!("the docker context {name} ({said})");
    let tls_dir = dir.join("contexts/tls").join(&id).join("docker");
    let tls = Tls { dir: tls_dir };
    let tls = [tls.ca(), tls.cert(), tls.key()].iter().all(|f| exists(f)).then_some(tls);
    let endpoint = parse(host, &from, tls)?;
    if let Endpoint::Unix(path) = &endpoint {
        if !exists(path) {
            return Err(Error::unavailable(format!(
                "{from} names the socket {}, which does not exist: start that engine, select another context (`docker context use`), \
                 or set DOCKER_HOST",
                path.display()
            )));
        }
    }
    Ok(Some(Found { endpoint, from }))
}

/// The sockets looked for without `DOCKER_HOST`, in order.
pub fn candidates(env: &Env) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(DEFAULT_SOCKET)];
    if let Some(run) = &env.xdg_runtime_dir {
        out.push(run.join(".docker/run/docker.sock"));
    }
    if let Some(home) = &env.home {
        out.push(home.join(".docker/run/docker.sock"));
        out.push(home.join(".docker/desktop/docker.sock"));
    }
    if let Some(run) = &env.xdg_runtime_dir {
        out.push(run.join("docker.sock"));
        out.push(run.join("podman/podman.sock"));
    }
    out.push(PathBuf::from("/run/podman/podman.sock"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn tcp(addr: &str) -> Endpoint {
        Endpoint::Tcp { addr: addr.into(), path: String::new(), tls: None }
    }

    #[rstest]
    #[case::unix("unix:///run/user/1000/docker.sock", Endpoint::Unix("/run/user/1000/docker.sock".into()))]
    #[case::unix_default("unix://", Endpoint::Unix(DEFAULT_SOCKET.into()))]
    #[case::bare_path("/var/run/docker.sock", Endpoint::Unix(DEFAULT_SOCKET.into()))]
    #[case::relative_path("./docker.sock", Endpoint::Unix("./docker.sock".into()))]
    #[case::tcp("tcp://10.0.0.5:2375", tcp("10.0.0.5:2375"))]
    #[case::tcp_no_port("tcp://docker.example", tcp("docker.example:2375"))]
    #[case::tcp_no_host("tcp://:2380", tcp("localhost:2380"))]
    #[case::tcp_default("tcp://", tcp("localhost:2375"))]
    #[case::bare_host_port("engine:2376", tcp("engine:2376"))]
    #[case::ipv6("tcp://[::1]:2375", tcp("[::1]:2375"))]
    #[case::ipv6_no_port("tcp://[fd00::2]", tcp("[fd00::2]:2375"))]
    #[case::padded("  tcp://10.0.0.5:2375  ", tcp("10.0.0.5:2375"))]
    fn hosts_are_read_as_the_docker_cli_reads_them(#[case] value: &str, #[case] want: Endpoint) {
        assert_eq!(parse(value, "DOCKER_HOST", None).unwrap(), want);
    }

    #[test]
    fn a_tcp_path_prefix_is_kept() {
        let e = parse("tcp://proxy:8080/docker/", "DOCKER_HOST", None).unwrap();
        assert_eq!(e, Endpoint::Tcp { addr: "proxy:8080".into(), path: "/docker".into(), tls: None });
        assert_eq!(e.url(), "tcp://proxy:8080/docker");
    }

    #[rstest]
    #[case::http("http://localhost:2375", "http://")]
    #[case::ssh("ssh://me@builder", "ssh -nNT -L")]
    #[case::npipe("npipe:////./pipe/docker_engine", "named pipe")]
    #[case::fd("fd://", "fd://")]
    #[case::bad_port("tcp://localhost:docker", "\"docker\"")]
    #[case::port_zero("tcp://localhost:0", "\"0\"")]
    #[case::port_too_big("tcp://localhost:70000", "\"70000\"")]
    #[case::two_schemes("tcp://unix:///x", "second scheme")]
    #[case::many_colons("tcp://a:b:c", "not HOST:PORT")]
    fn hosts_the_docker_cli_refuses_are_bad_input_naming_the_value(#[case] value: &str, #[case] says: &str) {
        let err = parse(value, "DOCKER_HOST", None).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("DOCKER_HOST={value:?}")) && msg.contains(says) && msg.contains("unix:///"), "{msg}");
    }

    #[test]
    fn java_properties_are_read_in_their_three_forms() {
        let p = properties("# testcontainers\n! also a comment\ndocker.host=tcp://a:1\ntc.host : unix:///x.sock\ndocker.tls.verify 1\n\n  docker.cert.path=/certs  \n");
        assert_eq!(p.get("docker.host").map(String::as_str), Some("tcp://a:1"));
        assert_eq!(p.get("tc.host").map(String::as_str), Some("unix:///x.sock"));
        assert_eq!(p.get("docker.tls.verify").map(String::as_str), Some("1"));
        assert_eq!(p.get("docker.cert.path").map(String::as_str), Some("/certs"));
        assert_eq!(p.len(), 4);
    }

    /// A home folder and a runtime folder in a temporary directory; `make` creates sockets (files
    /// stand in: the lookup only asks whether they exist).
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture { dir: tempfile::tempdir().unwrap() }
        }
        fn env(&self) -> Env {
            Env { home: Some(self.dir.path().join("home")), xdg_runtime_dir: Some(self.dir.path().join("run")), ..Env::default() }
        }
        fn make(&self, rel: &str) -> PathBuf {
            let p = self.dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
            p
        }
        /// Existence as seen by the lookup: the fixture's files, and no /var/run/docker.sock
        /// unless `default_socket` (the machine's own must not decide the test).
        fn exists(&self, default_socket: bool) -> impl Fn(&Path) -> bool + '_ {
            move |p: &Path| if p == Path::new(DEFAULT_SOCKET) { default_socket } else { p.starts_with(self.dir.path()) && p.exists() }
        }
    }

    #[test]
    fn without_docker_host_the_sockets_are_tried_in_testcontainers_order() {
        let f = Fixture::new();
        let env = f.env();
        let want = [f.make("run/docker.sock"), f.make("home/.docker/desktop/docker.sock"), f.make("home/.docker/run/docker.sock"), f.make("run/.docker/run/docker.sock")];
        // Each found while every earlier one is absent: the last made wins first.
        for expected in want.iter().rev() {
            let found = find(&env, &f.exists(false)).unwrap();
            assert_eq!(found.endpoint, Endpoint::Unix(expected.clone()));
            assert_eq!(found.from, format!("the socket {}", expected.display()));
            std::fs::remove_file(expected).unwrap();
        }
        let err = find(&env, &f.exists(false)).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let msg = err.to_string();
        assert!(msg.contains("/var/run/docker.sock") && msg.contains(&want[0].display().to_string()) && msg.contains("--platform kube"), "{msg}");
        // The default socket comes before all of them.
        f.make("home/.docker/run/docker.sock");
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!((found.endpoint, found.from.as_str()), (Endpoint::Unix(DEFAULT_SOCKET.into()), "the default socket"));
    }

    #[test]
    fn docker_host_comes_first_then_the_testcontainers_properties() {
        let f = Fixture::new();
        let sock = f.make("custom/engine.sock");
        let mut env = f.env();
        env.testcontainers_properties = Some("docker.host=tcp://props:2375\ntc.host=tcp://tc:2375\n".into());
        env.docker_host = Some(format!("unix://{}", sock.display()));
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!((found.endpoint, found.from.as_str()), (Endpoint::Unix(sock), "DOCKER_HOST"));
        env.docker_host = Some(String::new());
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!((found.endpoint, found.from.as_str()), (tcp("tc:2375"), "tc.host in ~/.testcontainers.properties"));
        env.testcontainers_properties = Some("docker.host=tcp://props:2375\n".into());
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!((found.endpoint, found.from.as_str()), (tcp("props:2375"), "docker.host in ~/.testcontainers.properties"));
        env.testcontainers_properties = Some("docker.host=ssh://x\n".into());
        let msg = find(&env, &f.exists(true)).unwrap_err().to_string();
        assert!(msg.starts_with("docker.host in ~/.testcontainers.properties=\"ssh://x\""), "{msg}");
    }

    /// Writes a docker CLI context as `docker context create` does: its meta.json under the
    /// sha256 of its name.
    fn write_context(f: &Fixture, config: &str, name: &str, host: &str) {
        use sha2::{Digest, Sha256};
        let id: String = Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let meta = f.make(&format!("{config}/contexts/meta/{id}/meta.json"));
        let json = serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
        std::fs::write(meta, json.to_string()).unwrap();
    }

    #[test]
    fn the_docker_cli_context_comes_after_docker_host_and_before_the_sockets() {
        let f = Fixture::new();
        let mut env = f.env();
        f.make("run/docker.sock");
        let colima = f.make("home/.colima/docker.sock");
        let other = f.make("elsewhere/engine.sock");
        write_context(&f, "home/.docker", "colima", &format!("unix://{}", colima.display()));
        write_context(&f, "home/.docker", "other", &format!("unix://{}", other.display()));
        let config = f.make("home/.docker/config.json");
        std::fs::write(&config, r#"{"auths": {}, "currentContext": "colima"}"#).unwrap();
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!(found.endpoint, Endpoint::Unix(colima.clone()), "currentContext wins over the default socket");
        assert_eq!(found.from, format!("the docker context colima (currentContext in {})", config.display()));
        // DOCKER_CONTEXT wins over currentContext; DOCKER_HOST over both.
        env.docker_context = Some("other".into());
        let found = find(&env, &f.exists(true)).unwrap();
        assert_eq!((found.endpoint, found.from.as_str()), (Endpoint::Unix(other.clone()), "the docker context other (DOCKER_CONTEXT)"));
        env.docker_host = Some("tcp://10.0.0.5:2375".into());
        assert_eq!(find(&env, &f.exists(true)).unwrap().from, "DOCKER_HOST");
        env.docker_host = None;
        // `default` is the CLI's own: no context, the usual sockets.
        env.docker_context = Some("default".into());
        assert_eq!(find(&env, &f.exists(true)).unwrap().from, "the default socket");
        // DOCKER_CONFIG moves the config folder.
        env.docker_context = None;
        env.docker_config = Some(f.dir.path().join("cfg"));
        assert_eq!(find(&env, &f.exists(true)).unwrap().from, "the default socket", "no config.json in DOCKER_CONFIG: no context");
        std::fs::write(f.make("cfg/config.json"), r#"{"currentContext": "other"}"#).unwrap();
        assert!(find(&env, &f.exists(true)).unwrap_err().to_string().contains("docker context \"other\""), "the context is looked up in DOCKER_CONFIG");
        write_context(&f, "cfg", "other", &format!("unix://{}", other.display()));
        assert_eq!(find(&env, &f.exists(true)).unwrap().endpoint, Endpoint::Unix(other));
    }

    #[test]
    fn a_context_that_is_missing_broken_or_elsewhere_is_named_with_the_fix() {
        let f = Fixture::new();
        let mut env = f.env();
        env.docker_context = Some("gone".into());
        let err = find(&env, &f.exists(true)).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(err.to_string().starts_with("DOCKER_CONTEXT selects the docker context \"gone\"") && err.to_string().contains("docker context ls"), "{err}");
        write_context(&f, "home/.docker", "ssh-box", "ssh://me@builder");
        env.docker_context = Some("ssh-box".into());
        let err = find(&env, &f.exists(true)).unwrap_err();
        assert!(err.to_string().contains("the docker context ssh-box (DOCKER_CONTEXT)") && err.to_string().contains("ssh -nNT -L"), "{err}");
        write_context(&f, "home/.docker", "stopped", "unix:///nowhere/docker.sock");
        env.docker_context = Some("stopped".into());
        let err = find(&env, &f.exists(true)).unwrap_err();
        assert_eq!(err.exit_code(), 3, "{err}");
        assert!(err.to_string().contains("/nowhere/docker.sock, which does not exist"), "{err}");
        std::fs::write(f.make("home/.docker/config.json"), "{ not json").unwrap();
        env.docker_context = None;
        assert_eq!(find(&env, &f.exists(true)).unwrap_err().exit_code(), 2);
        // A TCP context with TLS files where the docker CLI keeps them.
        write_context(&f, "home/.docker", "remote", "tcp://engine.example:2376");
        env.docker_context = Some("remote".into());
        assert_eq!(find(&env, &f.exists(true)).unwrap().endpoint, tcp("engine.example:2376"));
        use sha2::{Digest, Sha256};
        let id: String = Sha256::digest(b"remote").iter().map(|b| format!("{b:02x}")).collect();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            f.make(&format!("home/.docker/contexts/tls/{id}/docker/{file}"));
        }
        let tls = Tls { dir: f.dir.path().join(format!("home/.docker/contexts/tls/{id}/docker")) };
        assert_eq!(find(&env, &f.exists(true)).unwrap().endpoint, Endpoint::Tcp { addr: "engine.example:2376".into(), path: String::new(), tls: Some(tls) });
    }

    #[test]
    fn rootless_and_podman_sockets_come_last() {
        let f = Fixture::new();
        let env = f.env();
        let c = candidates(&env);
        let tail: Vec<PathBuf> = c[c.len() - 3..].to_vec();
        assert_eq!(tail, [f.dir.path().join("run/docker.sock"), f.dir.path().join("run/podman/podman.sock"), PathBuf::from("/run/podman/podman.sock")]);
        let podman = f.make("run/podman/podman.sock");
        assert_eq!(find(&env, &f.exists(false)).unwrap().endpoint, Endpoint::Unix(podman));
    }

    #[test]
    fn a_named_socket_that_does_not_exist_is_unavailable() {
        let f = Fixture::new();
        let mut env = f.env();
        env.docker_host = Some("unix:///nowhere/docker.sock".into());
        let err = find(&env, &f.exists(true)).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("/nowhere/docker.sock, which does not exist"), "{err}");
    }

    #[test]
    fn tls_needs_the_three_certificates_and_only_applies_to_tcp() {
        let f = Fixture::new();
        let mut env = f.env();
        env.docker_host = Some("tcp://secure:2376".into());
        env.docker_tls_verify = Some("1".into());
        env.docker_cert_path = Some(f.dir.path().join("certs"));
        let err = find(&env, &f.exists(false)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("certs/ca.pem does not exist") && err.to_string().contains("DOCKER_CERT_PATH"), "{err}");
        for file in ["certs/ca.pem", "certs/cert.pem", "certs/key.pem"] {
            f.make(file);
        }
        let found = find(&env, &f.exists(false)).unwrap();
        let tls = Tls { dir: f.dir.path().join("certs") };
        assert_eq!(found.endpoint, Endpoint::Tcp { addr: "secure:2376".into(), path: String::new(), tls: Some(tls.clone()) });
        let cli: Vec<(String, String)> = found.cli_env().into_iter().map(|(k, v)| (k, v.to_string_lossy().into_owned())).collect();
        assert_eq!(
            cli,
            [("DOCKER_HOST".to_string(), "tcp://secure:2376".to_string()), ("DOCKER_TLS_VERIFY".into(), "1".into()), ("DOCKER_CERT_PATH".into(), tls.dir.display().to_string())]
        );
        // Without DOCKER_CERT_PATH: ~/.docker, as the docker CLI.
        env.docker_cert_path = None;
        let err = find(&env, &f.exists(false)).unwrap_err();
        assert!(err.to_string().contains("home/.docker/ca.pem"), "{err}");
        // A socket needs no certificates even with DOCKER_TLS_VERIFY set.
        let sock = f.make("s/docker.sock");
        env.docker_host = Some(format!("unix://{}", sock.display()));
        assert_eq!(find(&env, &f.exists(false)).unwrap().endpoint, Endpoint::Unix(sock));
    }
}
