//! The server's process, found and signalled through `/proc` inside the member's container: many
//! images have no procps, but every Linux container has `/proc` and almost every
//! image a POSIX shell, whose `kill` is a builtin. Nothing here names an image's paths.
//!
//! # Caveats
//! The scan runs `sh` and `tr` in the container as the container's user: an image without a shell
//! cannot be looked into this way, and the error says so. A process of another user may hide its
//! command line (`hidepid`); the server runs as the container's user, so it is seen.

use anyhow::{bail, Context};

use crate::platform::Platform;

/// Lists every process: `pid<TAB>uid<TAB>gid<TAB>argv` with argv's NULs as `\x01` (and newlines
/// inside an argument as spaces, so that one process is one line). Only shell
/// builtins and `tr` (coreutils, in every image that has a shell worth the name).
pub const SCAN: &str = concat!(
    "for d in /proc/[0-9]*; do ",
    "c=$(tr '\\000\\n' '\\001 ' 2>/dev/null < \"$d/cmdline\") || continue; [ -n \"$c\" ] || continue; u=; g=; ",
    "while read -r k a rest; do case \"$k\" in Uid:) u=$a;; Gid:) g=$a;; esac; done 2>/dev/null < \"$d/status\"; ",
    "printf '%s\\t%s\\t%s\\t%s\\n' \"${d#/proc/}\" \"$u\" \"$g\" \"$c\"; done"
);

/// The main classes a ZooKeeper server runs: the replicated server and the standalone one.
pub const SERVER_MAIN_CLASSES: [&str; 2] = ["org.apache.zookeeper.server.quorum.QuorumPeerMain", "org.apache.zookeeper.server.ZooKeeperServerMain"];

/// One process as `/proc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// The real UID and GID (`/proc/<pid>/status`), when readable.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub argv: Vec<String>,
}

impl Process {
    /// Whether it is a ZooKeeper server: a JVM running one of [`SERVER_MAIN_CLASSES`].
    pub fn is_server(&self) -> bool {
        self.main_class_at().is_some()
    }

    fn main_class_at(&self) -> Option<usize> {
        self.argv.iter().position(|a| SERVER_MAIN_CLASSES.contains(&a.as_str()))
    }

    /// The config file the server was started with: the argument after its main class
    /// (`QuorumPeerMain /conf/zoo.cfg`, which is also what `zkServer.sh start-foreground` runs).
    /// `None` for the `ZooKeeperServerMain <port> <dataDir>` form, which has no file.
    pub fn config_file(&self) -> Option<&str> {
        let i = self.main_class_at()?;
        let rest = &self.argv[i + 1..];
        match rest {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }

    /// A `-Dname=value` system property of the JVM.
    pub fn system_property(&self, name: &str) -> Option<&str> {
        let prefix = format!("-D{name}=");
        self.argv.iter().find_map(|a| a.strip_prefix(prefix.as_str()))
    }

    /// The command line, shortened for a report.
    pub fn short(&self) -> String {
        let line = self.argv.join(" ");
        if line.len() > 100 {
            format!("{}...", line.chars().take(100).collect::<String>())
        } else {
            line
        }
    }
}

/// Parses the output of [`SCAN`]; lines that are not a process are skipped.
pub fn parse_scan(out: &str) -> Vec<Process> {
    out.lines()
        .filter_map(|line| {
            let mut f = line.splitn(4, '\t');
            let pid = f.next()?.parse().ok()?;
            let uid = f.next()?.parse().ok();
            let gid = f.next()?.parse().ok();
            let argv = f.next()?.trim_end_matches('\u{1}').split('\u{1}').map(str::to_string).collect();
            Some(Process { pid, uid, gid, argv })
        })
        .collect()
}

/// Every process in `member`'s container.
pub async fn processes(p: &dyn Platform, member: &str) -> anyhow::Result<Vec<Process>> {
    let out = p.exec(member, &["sh", "-c", SCAN]).await.with_context(|| no_shell(member))?;
    if !out.success() && out.stdout.is_empty() {
        bail!("scanning /proc in {member} exited {}: {}; {}", out.exit_code, out.stderr.trim(), no_shell(member));
    }
    Ok(parse_scan(&out.stdout))
}

fn no_shell(member: &str) -> String {
    format!("processes are found through /proc with `sh` in the container: if {member}'s image has no shell, they cannot be found or signalled")
}

/// The ZooKeeper server's process in `member`'s container.
pub async fn server(p: &dyn Platform, member: &str) -> anyhow::Result<Process> {
    let all = processes(p, member).await?;
    pick_server(&all).cloned().with_context(|| {
        let seen: Vec<String> = all.iter().map(|x| format!("{} {}", x.pid, x.short())).collect();
        format!("no ZooKeeper server process (a JVM running {}) in {member}; /proc shows: {}", SERVER_MAIN_CLASSES.join(" or "), seen.join("; "))
    })
}

/// The server among `all`: the first JVM running a server main class.
pub fn pick_server(all: &[Process]) -> Option<&Process> {
    all.iter().find(|x| x.is_server())
}

/// The argv that sends `signal` (`TERM`, `STOP`, `CONT`) to `pid` with the shell's `kill` builtin.
pub fn signal_argv(pid: u32, signal: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("kill -{signal} {pid}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scan prints in the walkthrough's image: the entry point became java by `exec`,
    /// a shell of an exec beside it.
    const WALKTHROUGH: &str = "1\t1000\t1000\tjava\u{1}-Xmx512M\u{1}-Dzookeeper.log.dir=/var/log/zookeeper\u{1}-cp\u{1}/opt/zookeeper/conf:/usr/share/java/zookeeper.jar\u{1}org.apache.zookeeper.server.quorum.QuorumPeerMain\u{1}/opt/zookeeper/conf/zoo.cfg\u{1}\n\
        57\t1000\t1000\tsh\u{1}-c\u{1}for d in /proc/[0-9]*; do\u{1}\n";

    /// The official image: tini-less bash entry point exec'ing zkServer.sh, which runs java as a child.
    const OFFICIAL: &str = "1\t1000\t1000\t/bin/bash\u{1}/apache-zookeeper-3.9.5-bin/bin/zkServer.sh\u{1}start-foreground\u{1}\n\
        23\t1000\t1000\t/opt/java/openjdk/bin/java\u{1}-Dzookeeper.log.dir=/logs\u{1}-cp\u{1}/apache-zookeeper/lib/*:/conf:\u{1}-Xmx1000m\u{1}org.apache.zookeeper.server.quorum.QuorumPeerMain\u{1}/conf/zoo.cfg\u{1}\n\
        not a process line\n";

    #[test]
    fn the_scan_is_parsed_into_processes() {
        let ps = parse_scan(WALKTHROUGH);
        assert_eq!(ps.len(), 2);
        assert_eq!((ps[0].pid, ps[0].uid, ps[0].gid), (1, Some(1000), Some(1000)));
        assert_eq!(ps[0].argv.last().map(String::as_str), Some("/opt/zookeeper/conf/zoo.cfg"));
        assert_eq!(ps[1].argv, ["sh", "-c", "for d in /proc/[0-9]*; do"]);
        let unreadable = parse_scan("9\t\t\tjava\u{1}x\u{1}\n");
        assert_eq!((unreadable[0].uid, unreadable[0].gid), (None, None));
    }

    #[test]
    fn the_server_is_the_jvm_running_a_server_main_class_and_its_config_follows_it() {
        let ps = parse_scan(WALKTHROUGH);
        let s = pick_server(&ps).unwrap();
        assert_eq!(s.pid, 1);
        assert_eq!(s.config_file(), Some("/opt/zookeeper/conf/zoo.cfg"));
        assert_eq!(s.system_property("zookeeper.log.dir"), Some("/var/log/zookeeper"));
        let official = parse_scan(OFFICIAL);
        assert_eq!(official.len(), 2);
        let s = pick_server(&official).unwrap();
        assert_eq!((s.pid, s.config_file()), (23, Some("/conf/zoo.cfg")));
        assert!(!official[0].is_server(), "zkServer.sh is the parent, not the server");
        let standalone = Process { pid: 5, uid: None, gid: None, argv: vec!["java".into(), SERVER_MAIN_CLASSES[1].into(), "2181".into(), "/data".into()] };
        assert!(standalone.is_server());
        assert_eq!(standalone.config_file(), None, "the port-and-dir form has no config file");
        assert!(pick_server(&parse_scan("7\t0\t0\tsleep\u{1}infinity\u{1}\n")).is_none());
    }

    #[test]
    fn signals_go_through_the_shells_kill_builtin() {
        assert_eq!(signal_argv(23, "STOP"), ["sh", "-c", "kill -STOP 23"]);
    }
}
