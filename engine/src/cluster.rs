//! Timely cluster mode: which processes form the engine and how they find each other.
//!
//! One engine is `N` processes of `W` worker threads each; timely numbers the workers
//! globally (`process * W + thread`), and the dataflow distributes work by those global
//! indices only (partition ownership, the alerts sink on worker 0, lake file names), so
//! the same input gives the same output at any `N × W`.
//!
//! The peers come from one of:
//! * nothing: one process (`-n 1`, the default);
//! * `--hostfile FILE`: one `host:port` per line, line `i` for process `i` (timely's own
//!   hostfile format), this process's index from `-p`;
//! * `--peers-dns NAME:PORT`: every address `NAME` resolves to (a compose service scaled
//!   to N replicas, a Kubernetes headless service), sorted, each at `PORT`; this process
//!   is the position of its own address in that list, so replicas need no per-instance
//!   flag.
//!
//! Membership is static: timely connects every pair of processes once at start-up, and
//! losing one stops the others. Rescaling is stop and start with a new `N`.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How long `--peers-dns` waits for DNS to list every replica (and this machine).
pub const DNS_WAIT: Duration = Duration::from_secs(60);
/// Pause between two DNS lookups while waiting.
const DNS_RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("-n/--processes: must be at least 1")]
    NoProcesses,
    #[error("-p/--process {process}: must be below -n/--processes ({processes})")]
    ProcessOutOfRange { process: usize, processes: usize },
    #[error("--hostfile and --peers-dns: give the peers one way, not both")]
    TwoPeerSources,
    #[error("-n/--processes {0}: the other processes' addresses are needed: give --hostfile or --peers-dns")]
    NoPeers(usize),
    #[error("-p/--process: required with --hostfile and more than one process (which line is this process)")]
    NoProcessIndex,
    #[error("-p/--process: not used with --peers-dns (the index is this machine's position among the addresses)")]
    ProcessWithDns,
    #[error("--hostfile {path}: {source}")]
    ReadHostfile { path: PathBuf, source: io::Error },
    #[error("--hostfile {path}, line {line}: {reason}")]
    HostfileLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("--hostfile {path}: {found} host:port line(s), -n/--processes needs {processes}")]
    HostfileShort {
        path: PathBuf,
        found: usize,
        processes: usize,
    },
    #[error("--hostfile {path}: {address} is listed for processes {first} and {second}")]
    HostfileDuplicate {
        path: PathBuf,
        address: String,
        first: usize,
        second: usize,
    },
    #[error("--peers-dns {0:?}: expected NAME:PORT with a port from 1 to 65535")]
    DnsSpec(String),
    #[error("--peers-dns {name}: {reason}")]
    DnsAmbiguous { name: String, reason: String },
    #[error("--peers-dns {name}: gave up after {waited:?}: {last}")]
    DnsTimeout {
        name: String,
        waited: Duration,
        last: String,
    },
}

/// The cluster flags of `corvid run`, as given.
#[derive(Clone, Debug, Default)]
pub struct ClusterFlags {
    /// `-n`: processes in the cluster.
    pub processes: Option<usize>,
    /// `-p`: this process's index.
    pub process: Option<usize>,
    /// `--hostfile`.
    pub hostfile: Option<PathBuf>,
    /// `--peers-dns`, `NAME:PORT`.
    pub peers_dns: Option<String>,
}

/// Where the peers' addresses come from, once the flags are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerSource {
    /// One process.
    Alone,
    Hostfile {
        path: PathBuf,
        processes: Option<usize>,
        process: usize,
    },
    Dns {
        peers: DnsPeers,
        processes: Option<usize>,
    },
}

/// `--peers-dns NAME:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPeers {
    pub name: String,
    pub port: u16,
}

impl DnsPeers {
    pub fn parse(spec: &str) -> Result<DnsPeers, ClusterError> {
        let bad = || ClusterError::DnsSpec(spec.to_owned());
        let (name, port) = spec.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if name.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(DnsPeers {
            name: name.to_owned(),
            port,
        })
    }
}

/// The processes of this engine and which one this is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// This process's index into `addresses`.
    pub process: usize,
    /// Every process's `host:port`, by index; empty for a single process.
    pub addresses: Vec<String>,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::single()
    }
}

impl Cluster {
    /// One process: no network, workers are threads.
    pub fn single() -> Cluster {
        Cluster {
            process: 0,
            addresses: Vec::new(),
        }
    }

    pub fn processes(&self) -> usize {
        self.addresses.len().max(1)
    }

    /// The timely configuration for `workers` threads in each process.
    pub fn timely_config(&self, workers: usize) -> timely::Config {
        if self.processes() == 1 {
            // A cluster of one would open a listener nobody connects to.
            return timely::Config::process(workers);
        }
        timely::Config {
            communication: timely::CommunicationConfig::Cluster {
                threads: workers,
                process: self.process,
                addresses: self.addresses.clone(),
                // `report` prints connection progress to stdout; our logs go to stderr.
                report: false,
                // Typed (not serialized) channels between the threads of one process,
                // as in single-process mode.
                zerocopy: false,
            },
            worker: timely::WorkerConfig::default(),
        }
    }
}

impl fmt::Display for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addresses.get(self.process) {
            Some(own) if self.processes() > 1 => write!(
                f,
                "process {} of {} at {own}, peers {}",
                self.process,
                self.processes(),
                self.addresses.join(", ")
            ),
            _ => f.write_str("one process"),
        }
    }
}

impl ClusterFlags {
    /// Checks the combination of flags (no I/O).
    pub fn source(&self) -> Result<PeerSource, ClusterError> {
        if self.processes == Some(0) {
            return Err(ClusterError::NoProcesses);
        }
        let check_index = |process: usize, processes: Option<usize>| match processes {
            Some(processes) if process >= processes => {
                Err(ClusterError::ProcessOutOfRange { process, processes })
            }
            _ => Ok(()),
        };
        match (&self.hostfile, &self.peers_dns) {
            (Some(_), Some(_)) => Err(ClusterError::TwoPeerSources),
            (Some(path), None) => {
                let process = match (self.process, self.processes) {
                    (Some(process), _) => process,
                    // Every process would take line 0 and wait for itself forever.
                    (None, processes) if processes != Some(1) => {
                        return Err(ClusterError::NoProcessIndex)
                    }
                    (None, _) => 0,
                };
                check_index(process, self.processes)?;
                Ok(PeerSource::Hostfile {
                    path: path.clone(),
                    processes: self.processes,
                    process,
                })
            }
            (None, Some(spec)) => {
                if self.process.is_some() {
                    return Err(ClusterError::ProcessWithDns);
                }
                Ok(PeerSource::Dns {
                    peers: DnsPeers::parse(spec)?,
                    processes: self.processes,
                })
            }
            (None, None) => {
                let processes = self.processes.unwrap_or(1);
                check_index(self.process.unwrap_or(0), Some(processes))?;
                if processes > 1 {
                    return Err(ClusterError::NoPeers(processes));
                }
                Ok(PeerSource::Alone)
            }
        }
    }

    /// Checks the flags and finds the peers: reads the hostfile, or waits (up to
    /// [`DNS_WAIT`]) for DNS to list them.
    pub fn resolve(&self) -> Result<Cluster, ClusterError> {
        match self.source()? {
            PeerSource::Alone => Ok(Cluster::single()),
            PeerSource::Hostfile {
                path,
                processes,
                process,
            } => {
                let text = std::fs::read_to_string(&path).map_err(|source| {
                    ClusterError::ReadHostfile {
                        path: path.clone(),
                        source,
                    }
                })?;
                cluster_from_hostfile(&path, &text, processes, process)
            }
            PeerSource::Dns { peers, processes } => {
                let own = OwnAddresses::of_this_machine();
                discover(&peers, processes, DNS_WAIT, DNS_RETRY, lookup, |ip| {
                    own.contains(ip)
                })
            }
        }
    }
}

/// The addresses in a hostfile, in order: one `host:port` per line; blank lines and
/// `#` comments are skipped. `Err((line, reason))` names the first bad line (1-based).
pub fn parse_hostfile(text: &str) -> Result<Vec<String>, (usize, String)> {
    let mut addresses = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        check_host_port(entry).map_err(|reason| (number + 1, reason))?;
        addresses.push(entry.to_owned());
    }
    Ok(addresses)
}

/// `host:port` with a non-empty host and a port to connect to.
fn check_host_port(entry: &str) -> Result<(), String> {
    if entry.chars().any(char::is_whitespace) {
        return Err(format!("{entry:?}: one host:port per line"));
    }
    let Some((host, port)) = entry.rsplit_once(':') else {
        return Err(format!("{entry:?}: expected host:port"));
    };
    if host.is_empty() {
        return Err(format!("{entry:?}: no host"));
    }
    match port.parse::<u16>() {
        // Port 0 would listen on a random port no peer knows.
        Ok(0) | Err(_) => Err(format!("{entry:?}: the port must be 1 to 65535")),
        Ok(_) => Ok(()),
    }
}

/// The cluster a hostfile describes: its first `processes` addresses (all of them when
/// `-n` is not given), this process at `process`.
pub fn cluster_from_hostfile(
    path: &Path,
    text: &str,
    processes: Option<usize>,
    process: usize,
) -> Result<Cluster, ClusterError> {
    let mut addresses =
        parse_hostfile(text).map_err(|(line, reason)| ClusterError::HostfileLine {
            path: path.to_owned(),
            line,
            reason,
        })?;
    let processes = processes.unwrap_or(addresses.len());
    if addresses.len() < processes || addresses.is_empty() {
        return Err(ClusterError::HostfileShort {
            path: path.to_owned(),
            found: addresses.len(),
            processes: processes.max(1),
        });
    }
    // Like timely's own hostfile: further lines are ignored.
    addresses.truncate(processes);
    if process >= processes {
        return Err(ClusterError::ProcessOutOfRange { process, processes });
    }
    for (second, address) in addresses.iter().enumerate() {
        if let Some(first) = addresses[..second].iter().position(|a| a == address) {
            return Err(ClusterError::HostfileDuplicate {
                path: path.to_owned(),
                address: address.clone(),
                first,
                second,
            });
        }
    }
    if processes == 1 {
        return Ok(Cluster::single());
    }
    Ok(Cluster { process, addresses })
}

/// Finds the cluster from DNS: `resolve(name)` gives the replicas' addresses (in any
/// order, possibly repeated), `is_own` says which one is this machine's.
///
/// With `processes` given, waits until DNS lists exactly that many (replicas register
/// as they start); without, takes the first answer that includes this machine. Gives up
/// after `wait`. Every replica sorts the same list, so all agree on the indices.
pub fn discover(
    peers: &DnsPeers,
    processes: Option<usize>,
    wait: Duration,
    retry: Duration,
    mut resolve: impl FnMut(&str) -> io::Result<Vec<IpAddr>>,
    is_own: impl Fn(&IpAddr) -> bool,
) -> Result<Cluster, ClusterError> {
    let started = Instant::now();
    let mut reported = String::new();
    loop {
        let last = match resolve(&peers.name) {
            Ok(mut found) => {
                found.sort_unstable();
                found.dedup();
                match select(&found, processes, &is_own) {
                    Selection::Found(process) => {
                        let addresses: Vec<String> = found
                            .iter()
                            .map(|ip| SocketAddr::new(*ip, peers.port).to_string())
                            .collect();
                        if addresses.len() == 1 {
                            return Ok(Cluster::single());
                        }
                        return Ok(Cluster { process, addresses });
                    }
                    Selection::Ambiguous(reason) => {
                        return Err(ClusterError::DnsAmbiguous {
                            name: peers.name.clone(),
                            reason,
                        })
                    }
                    Selection::NotYet(reason) => reason,
                }
            }
            Err(error) => format!("cannot resolve it: {error}"),
        };
        let waited = started.elapsed();
        if waited >= wait {
            return Err(ClusterError::DnsTimeout {
                name: peers.name.clone(),
                waited,
                last,
            });
        }
        // Once per new reason, not every retry.
        if last != reported {
            tracing::info!(name = peers.name, %last, "waiting for the cluster's peers in DNS");
            reported = last;
        }
        std::thread::sleep(retry.min(wait - waited));
    }
}

/// What one DNS answer (sorted, de-duplicated) says about this process's index.
#[derive(Debug, PartialEq, Eq)]
enum Selection {
    Found(usize),
    /// Worth asking again: replicas or this machine may not be registered yet.
    NotYet(String),
    /// Asking again will not help.
    Ambiguous(String),
}

fn select(
    found: &[IpAddr],
    processes: Option<usize>,
    is_own: impl Fn(&IpAddr) -> bool,
) -> Selection {
    if found.is_empty() {
        return Selection::NotYet("no address yet".into());
    }
    if let Some(processes) = processes {
        if found.len() != processes {
            return Selection::NotYet(format!(
                "{} addresses {found:?}, waiting for -n/--processes {processes}",
                found.len()
            ));
        }
    }
    let own: Vec<usize> = (0..found.len()).filter(|&i| is_own(&found[i])).collect();
    match own.as_slice() {
        [index] => Selection::Found(*index),
        [] => Selection::NotYet(format!("this machine's address is not among {found:?} yet")),
        // Two replicas on one address could not both listen on PORT.
        _ => Selection::Ambiguous(format!(
            "several of its addresses {found:?} are this machine's: {:?}",
            own.iter().map(|&i| found[i]).collect::<Vec<_>>()
        )),
    }
}

/// The system resolver: every address of `name`.
fn lookup(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok((name, 0)
        .to_socket_addrs()?
        .map(|address| address.ip())
        .collect())
}

/// Recognizes this machine's addresses.
struct OwnAddresses {
    /// What the hostname resolves to (in a container or pod: its own address).
    by_hostname: Vec<IpAddr>,
}

impl OwnAddresses {
    fn of_this_machine() -> OwnAddresses {
        let by_hostname = match hostname() {
            Ok(name) => lookup(&name).unwrap_or_else(|error| {
                tracing::warn!(hostname = name, %error, "cannot resolve this machine's hostname");
                Vec::new()
            }),
            Err(error) => {
                tracing::warn!(%error, "cannot read this machine's hostname");
                Vec::new()
            }
        };
        OwnAddresses { by_hostname }
    }

    /// The hostname's addresses first; else whether the address can be bound here (only
    /// a local interface's address can), for hosts whose hostname resolves elsewhere
    /// (Debian's `127.0.1.1`, a container on several networks).
    fn contains(&self, ip: &IpAddr) -> bool {
        self.by_hostname.contains(ip)
            || (!ip.is_unspecified() && TcpListener::bind(SocketAddr::new(*ip, 0)).is_ok())
    }
}

/// This machine's hostname.
#[cfg(unix)]
fn hostname() -> io::Result<String> {
    let mut buffer = vec![0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which outlives the call;
    // gethostname writes at most `len` bytes into it.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // A name that fills the buffer may lack its terminating NUL: take what is there.
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    buffer.truncate(end);
    String::from_utf8(buffer).map_err(|_| io::Error::other("the hostname is not UTF-8"))
}

#[cfg(not(unix))]
fn hostname() -> io::Result<String> {
    std::env::var("COMPUTERNAME").map_err(|_| io::Error::other("no COMPUTERNAME"))
}

/// Whether a lake or checkpoint URL is on this machine's disk (a path or `file://`):
/// other machines cannot see it.
pub fn is_local_url(url: &str) -> bool {
    url.starts_with("file:") || !url.contains("://")
}

/// A value that crosses processes as JSON text.
///
/// Timely encodes exchanged data with bincode, which is not self-describing: it cannot
/// decode a `serde_json::Value` (that needs `deserialize_any`) and misreads a struct
/// whose fields are skipped when empty (`skip_serializing_if`). Types shaped for JSON
/// output, such as alerts, travel wrapped in this instead.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonWire<T>(pub T);

impl<T> JsonWire<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: Serialize> Serialize for JsonWire<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for JsonWire<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text)
            .map(JsonWire)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn flags(
        processes: Option<usize>,
        process: Option<usize>,
        hostfile: Option<&str>,
        dns: Option<&str>,
    ) -> ClusterFlags {
        ClusterFlags {
            processes,
            process,
            hostfile: hostfile.map(PathBuf::from),
            peers_dns: dns.map(str::to_owned),
        }
    }

    fn message(result: Result<PeerSource, ClusterError>) -> String {
        result.expect_err("invalid flags").to_string()
    }

    #[test]
    fn no_flags_is_one_process() {
        assert_eq!(
            ClusterFlags::default().source().expect("ok"),
            PeerSource::Alone
        );
        assert_eq!(
            flags(Some(1), Some(0), None, None).source().expect("ok"),
            PeerSource::Alone
        );
        let cluster = ClusterFlags::default().resolve().expect("one process");
        assert_eq!(cluster, Cluster::single());
        assert!(matches!(
            cluster.timely_config(3).communication,
            timely::CommunicationConfig::Process(3)
        ));
    }

    #[test]
    fn bad_combinations_name_the_flag() {
        let cases = [
            (
                flags(Some(0), None, None, None),
                "-n/--processes: must be at least 1",
            ),
            (
                flags(Some(2), Some(2), Some("h"), None),
                "-p/--process 2: must be below -n/--processes (2)",
            ),
            (
                flags(None, Some(1), None, None),
                "-p/--process 1: must be below -n/--processes (1)",
            ),
            (
                flags(Some(2), Some(0), Some("h"), Some("svc:2101")),
                "--hostfile and --peers-dns",
            ),
            (
                flags(Some(2), Some(0), None, None),
                "-n/--processes 2: the other processes' addresses",
            ),
            (
                flags(Some(2), None, Some("h"), None),
                "-p/--process: required with --hostfile",
            ),
            (
                flags(None, None, Some("h"), None),
                "-p/--process: required with --hostfile",
            ),
            (
                flags(Some(2), Some(0), None, Some("svc:2101")),
                "-p/--process: not used with --peers-dns",
            ),
            (
                flags(None, None, None, Some("svc")),
                "--peers-dns \"svc\": expected NAME:PORT",
            ),
            (
                flags(None, None, None, Some("svc:0")),
                "--peers-dns \"svc:0\"",
            ),
            (
                flags(None, None, None, Some(":2101")),
                "--peers-dns \":2101\"",
            ),
            (
                flags(None, None, None, Some("svc:http")),
                "--peers-dns \"svc:http\"",
            ),
        ];
        for (flags, expected) in cases {
            let got = message(flags.source());
            assert!(got.starts_with(expected), "{flags:?}: {got}");
        }
    }

    #[test]
    fn valid_combinations() {
        assert_eq!(
            flags(Some(2), Some(1), Some("hosts"), None)
                .source()
                .expect("ok"),
            PeerSource::Hostfile {
                path: "hosts".into(),
                processes: Some(2),
                process: 1
            }
        );
        // A one-line hostfile needs no index.
        assert!(flags(Some(1), None, Some("hosts"), None).source().is_ok());
        assert_eq!(
            flags(Some(3), None, None, Some("corvid-engine:2101"))
                .source()
                .expect("ok"),
            PeerSource::Dns {
                peers: DnsPeers {
                    name: "corvid-engine".into(),
                    port: 2101
                },
                processes: Some(3)
            }
        );
    }

    #[test]
    fn hostfile_lines_are_processes_in_order() {
        let text =
            "# the engine\n10.0.0.1:2101\n\n  10.0.0.2:2101  \n[::1]:2102\nengine-3.local:2101\n";
        assert_eq!(
            parse_hostfile(text).expect("valid"),
            [
                "10.0.0.1:2101",
                "10.0.0.2:2101",
                "[::1]:2102",
                "engine-3.local:2101"
            ]
        );
        let path = Path::new("hosts");
        let cluster = cluster_from_hostfile(path, text, Some(2), 1).expect("two of four");
        assert_eq!(
            cluster,
            Cluster {
                process: 1,
                addresses: vec!["10.0.0.1:2101".into(), "10.0.0.2:2101".into()]
            }
        );
        let all = cluster_from_hostfile(path, text, None, 3).expect("every line");
        assert_eq!(all.processes(), 4);
        assert_eq!(all.process, 3);
        match all.timely_config(2).communication {
            timely::CommunicationConfig::Cluster {
                threads,
                process,
                addresses,
                ..
            } => {
                assert_eq!((threads, process), (2, 3));
                assert_eq!(addresses, all.addresses);
            }
            other => panic!("not a cluster: {other:?}"),
        }
        assert_eq!(
            cluster_from_hostfile(path, "a:1\nb:2\n", Some(1), 0).expect("one"),
            Cluster::single()
        );
    }

    #[test]
    fn bad_hostfiles_say_where() {
        let path = Path::new("hosts");
        let error = |text: &str, processes: Option<usize>, process: usize| {
            cluster_from_hostfile(path, text, processes, process)
                .expect_err("invalid")
                .to_string()
        };
        assert_eq!(
            error("a:1\nb:2\n", Some(3), 0),
            "--hostfile hosts: 2 host:port line(s), -n/--processes needs 3"
        );
        assert_eq!(
            error("", None, 0),
            "--hostfile hosts: 0 host:port line(s), -n/--processes needs 1"
        );
        assert_eq!(
            error("a:1\nb:2\n", None, 2),
            "-p/--process 2: must be below -n/--processes (2)"
        );
        assert!(error("a:1\nb\n", None, 0)
            .starts_with("--hostfile hosts, line 2: \"b\": expected host:port"));
        assert!(error("a:1\n\nb:0\n", None, 0)
            .starts_with("--hostfile hosts, line 3: \"b:0\": the port"));
        assert!(error(":7\n", None, 0).contains("line 1: \":7\": no host"));
        assert!(error("a:1 a:2\n", None, 0).contains("one host:port per line"));
        assert!(error("a:99999\n", None, 0).contains("the port must be 1 to 65535"));
        assert_eq!(
            error("a:1\nb:2\na:1\n", None, 0),
            "--hostfile hosts: a:1 is listed for processes 0 and 2"
        );
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn dns(name: &str) -> DnsPeers {
        DnsPeers::parse(&format!("{name}:2101")).expect("spec")
    }

    #[test]
    fn dns_index_is_the_own_address_in_sorted_order() {
        // DNS answers in rotating order, with repeats; every replica sorts alike.
        let answer = vec![ip(12), ip(3), ip(7), ip(3)];
        let cluster = discover(
            &dns("engine"),
            None,
            Duration::ZERO,
            Duration::ZERO,
            |name| {
                assert_eq!(name, "engine");
                Ok(answer.clone())
            },
            |candidate| *candidate == ip(7),
        )
        .expect("found");
        assert_eq!(
            cluster,
            Cluster {
                process: 1,
                addresses: vec![
                    "10.0.0.3:2101".into(),
                    "10.0.0.7:2101".into(),
                    "10.0.0.12:2101".into()
                ]
            }
        );
        // Numeric, not textual, order: 10.0.0.12 sorts after 10.0.0.7.
        let last = discover(
            &dns("engine"),
            Some(3),
            Duration::ZERO,
            Duration::ZERO,
            |_| Ok(answer.clone()),
            |candidate| *candidate == ip(12),
        )
        .expect("found");
        assert_eq!(last.process, 2);
        let v6: IpAddr = "fd00::2".parse().expect("ip");
        let mixed = discover(
            &dns("engine"),
            None,
            Duration::ZERO,
            Duration::ZERO,
            |_| Ok(vec![v6, ip(1)]),
            |candidate| *candidate == v6,
        )
        .expect("found");
        assert_eq!(mixed.addresses, ["10.0.0.1:2101", "[fd00::2]:2101"]);
        assert_eq!(mixed.process, 1);
    }

    #[test]
    fn dns_waits_for_n_addresses_and_for_itself() {
        // Replicas register one by one; this machine's address appears last.
        let answers = [
            Err(io::Error::other("NXDOMAIN")),
            Ok(vec![ip(5)]),
            Ok(vec![ip(5), ip(9)]),
            Ok(vec![ip(9), ip(5), ip(2)]),
        ];
        let mut calls = 0;
        let cluster = discover(
            &dns("engine"),
            Some(3),
            Duration::from_secs(10),
            Duration::from_millis(1),
            |_| {
                let answer = match &answers[calls.min(answers.len() - 1)] {
                    Ok(found) => Ok(found.clone()),
                    Err(error) => Err(io::Error::other(error.to_string())),
                };
                calls += 1;
                answer
            },
            |candidate| *candidate == ip(2),
        )
        .expect("found");
        assert_eq!(calls, 4);
        assert_eq!(cluster.process, 0);
        assert_eq!(cluster.processes(), 3);

        // Without -n the first answer holding this machine decides N.
        let mut calls = 0;
        let cluster = discover(
            &dns("engine"),
            None,
            Duration::from_secs(10),
            Duration::from_millis(1),
            |_| {
                calls += 1;
                Ok(if calls < 3 {
                    vec![ip(5)]
                } else {
                    vec![ip(5), ip(6)]
                })
            },
            |candidate| *candidate == ip(6),
        )
        .expect("found");
        assert_eq!((cluster.process, cluster.processes()), (1, 2));
    }

    #[test]
    fn dns_gives_up_with_the_last_reason() {
        let error = discover(
            &dns("engine"),
            Some(3),
            Duration::from_millis(20),
            Duration::from_millis(1),
            |_| Ok(vec![ip(1), ip(2)]),
            |_| true,
        )
        .expect_err("never three");
        let text = error.to_string();
        assert!(
            text.starts_with("--peers-dns engine: gave up after"),
            "{text}"
        );
        assert!(
            text.contains("2 addresses [10.0.0.1, 10.0.0.2], waiting for -n/--processes 3"),
            "{text}"
        );

        let error = discover(
            &dns("engine"),
            None,
            Duration::ZERO,
            Duration::ZERO,
            |_| Ok(vec![ip(1), ip(2)]),
            |_| false,
        )
        .expect_err("not mine");
        assert!(
            error
                .to_string()
                .contains("this machine's address is not among"),
            "{error}"
        );

        let error = discover(
            &dns("engine"),
            None,
            Duration::from_secs(10),
            Duration::from_millis(1),
            |_| Ok(vec![ip(1), ip(2)]),
            |_| true,
        )
        .expect_err("ambiguous at once");
        assert!(
            matches!(error, ClusterError::DnsAmbiguous { .. }),
            "{error}"
        );
    }

    #[test]
    fn local_stores_are_paths_and_file_urls() {
        assert!(is_local_url("data/lake"));
        assert!(is_local_url("/var/lib/corvid/lake"));
        assert!(is_local_url("file:///var/lib/corvid/lake"));
        assert!(!is_local_url("s3://corvid-lake/prod"));
    }

    #[test]
    fn a_single_dns_address_is_one_process() {
        let cluster = discover(
            &dns("engine"),
            None,
            Duration::ZERO,
            Duration::ZERO,
            |_| Ok(vec![ip(4)]),
            |candidate| *candidate == ip(4),
        )
        .expect("found");
        assert_eq!(cluster, Cluster::single());
    }

    #[test]
    fn this_machine_recognizes_loopback_and_not_a_foreign_address() {
        let own = OwnAddresses::of_this_machine();
        assert!(own.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
        // TEST-NET-3, never assigned to an interface here.
        assert!(!own.contains(&IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77))));
        assert!(!hostname().expect("hostname").is_empty());
    }

    fn alert(id: &str, context: Option<serde_json::Value>) -> crate::alerts::record::Alert {
        let mut fields = serde_json::json!({
            "alertId": id, "type": "RULE", "ruleId": "R", "ruleVersion": "v", "title": "t",
            "severity": "HIGH", "dedupString": "d", "dedupPeriodMinutes": 60, "threshold": 1,
            "eventCount": 2, "creationTime": "c", "updateTime": "u", "firstEventTime": "f",
            "lastEventTime": "l", "logTypes": ["Osquery.Differential"], "displayName": "",
            "description": "", "reference": "", "runbook": "", "tags": [], "reports": {},
            "samples": [{"user": "alice", "n": [1, 2.5]}],
        });
        if let Some(context) = context {
            fields["alertContext"] = context;
        }
        serde_json::from_value(fields).expect("an alert")
    }

    /// Encodes and decodes a batch the way an exchange between processes does.
    fn through_codec<T: timely::ExchangeData + Clone>(batch: &[T]) -> Vec<T> {
        use timely::communication::Bytesable;
        let message = timely::Bincode::from(batch.to_vec());
        let mut bytes = Vec::new();
        message.into_bytes(&mut bytes);
        let back: timely::Bincode<Vec<T>> = Bytesable::from_bytes(
            timely::bytes::arc::BytesMut::from(bytes.into_boxed_slice()).freeze(),
        );
        back.payload
    }

    #[test]
    fn alerts_cross_processes_only_as_json_text() {
        let alerts = vec![
            alert("a", None),
            alert("b", Some(serde_json::json!({"ip": "10.0.0.1"}))),
        ];
        // Why the wrapper exists: the codec cannot decode an alert as it is. When this
        // starts passing, the wrapper around the alerts exchange can go.
        let plain = std::panic::catch_unwind(|| through_codec(&alerts));
        assert!(plain.is_err() || plain.is_ok_and(|back| back != alerts));
        let wrapped: Vec<JsonWire<_>> = alerts.iter().cloned().map(JsonWire).collect();
        assert_eq!(through_codec(&wrapped), wrapped);
    }
}
