//! The rules benchmark (`corvid loadtest rules`): Corvid's Python rule runtime against
//! panther-core, Panther's own detection engine, in one run, on the same events and the
//! same rules.
//!
//! ```text
//!   cloudtrail_events(n, seed) ── raw CloudTrail records (JSON lines, bytes)
//!        │
//!        ├─ normalize (caller: the engine's classifier) ─▶ JSONL temp file
//!        │        └─▶ .venv python panther_core_runner.py: json.loads → PantherEvent →
//!        │            Rule.run(batch_mode=True) for each rule of the event's log type
//!        │
//!        └─ corvid (caller: the engine's dataflow: parse → RuleSet::evaluate in batches)
//! ```
//!
//! * **Same events.** The generator is deterministic (seeded). panther-core gets the events
//!   as Corvid's parser normalized them (with `p_log_type`, `p_row_id`, `p_any_*`, …), so
//!   both engines run the rules on identical fields; Corvid itself starts from the raw
//!   records (end to end) or from its parser's events (rule evaluation).
//! * **Same rules.** Both load `loadtest/rules/cloudtrail` (one global helper and the
//!   detections); the runner also runs every rule's YAML `Tests` through panther-core.
//! * **Same answers.** Each side reports how many alerts each rule raised; the report
//!   says whether they agree rule by rule (they must: otherwise the speeds measure
//!   different work).
//! * **Timing.** Loading is never timed. Each side runs two kinds of pass and keeps its
//!   best of `rounds` for each:
//!   - *rule evaluation* (the figure held to [`TARGET_RATIO`]): from decoded events.
//!     panther-core wraps each `json.loads`-ed dict in a `PantherEvent` and runs its rules;
//!     Corvid's dataflow is fed events its parser made before the clock started, and
//!     `RuleSet::evaluate` binds its event view and runs the rules on each batch;
//!   - *end to end*: panther-core from the JSON text (`json.loads` first); Corvid from the
//!     raw records, its parser and normalizer inside the dataflow. Corvid does more work
//!     here than panther-core (a schema-driven parse with `p_` fields and indicators, not
//!     a bare JSON decode), so this ratio is the conservative one.
//!
//! The crate does not depend on the engine: the caller supplies the normalizing parse
//! and Corvid's timed run as closures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The log type every generated event has.
pub const LOG_TYPE: &str = "AWS.CloudTrail";

/// The speed-up over panther-core the benchmark is held to.
pub const TARGET_RATIO: f64 = 5.0;

/// The account the generated events are recorded in.
const ACCOUNT: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum RulesBenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("normalizing the events with Corvid's parser: {0}")]
    Normalize(String),
    #[error("Corvid's side: {0}")]
    Corvid(String),
    #[error(
        "panther-core's runner failed ({status}); is the venv set up (scripts/rules-compat/venv.sh)?\n{stderr}"
    )]
    Runner { status: String, stderr: String },
    #[error("panther-core's runner printed something other than its JSON report: {0}")]
    RunnerOutput(String),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Events to generate.
    pub events: usize,
    pub seed: u64,
    /// Passes per side; each side's best pass counts.
    pub rounds: usize,
    /// The detections (both engines load this directory).
    pub rules_dir: PathBuf,
    /// The Python with panther-core installed (the project's `.venv`).
    pub python: PathBuf,
    /// `panther_core_runner.py`.
    pub runner: PathBuf,
    /// Where to keep the normalized events panther-core reads (JSON lines); by default a
    /// temporary file, removed after the run.
    pub keep_events: Option<PathBuf>,
}

impl Options {
    /// The checkout's benchmark rules, `.venv` and runner (paths are those of the
    /// source tree this crate was built from, so the command works from any directory).
    pub fn new(events: usize, seed: u64, rounds: usize) -> Options {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let checkout = crate_dir.parent().unwrap_or(crate_dir);
        Options {
            events,
            seed,
            rounds,
            rules_dir: crate_dir.join("rules").join("cloudtrail"),
            python: checkout.join(".venv").join("bin").join("python"),
            runner: crate_dir.join("rules_bench").join("panther_core_runner.py"),
            keep_events: None,
        }
    }
}

/// Which of Corvid's two passes over the events to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// From the raw records: the engine's parser, then the rules, timed together.
    EndToEnd,
    /// From events parsed before the clock starts: rule evaluation alone.
    RulesOnly,
}

/// One timed pass of Corvid's side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassResult {
    /// Events the rules were evaluated over.
    pub events: u64,
    /// Wall time of the pass.
    pub seconds: f64,
    /// Alerts (rule matches) per `RuleID`.
    pub matches: BTreeMap<String, u64>,
    /// Rule errors (a rule that raised or returned a non-bool).
    pub errors: u64,
}

/// One engine's figures: its best passes of both kinds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchSide {
    /// Events the rules were evaluated over.
    pub events: u64,
    /// End to end: Corvid from raw records (parse + rules); panther-core from JSON text
    /// (`json.loads` + `PantherEvent` + rules).
    pub seconds: f64,
    /// Rule evaluation alone, from decoded events: Corvid's dataflow fed parsed events;
    /// panther-core wrapping decoded dicts in `PantherEvent` and running the rules.
    pub rules_seconds: f64,
    /// Alerts (rule matches) per `RuleID`.
    pub matches: BTreeMap<String, u64>,
    /// Rule errors (a rule that raised or returned a non-bool).
    pub errors: u64,
}

impl BenchSide {
    pub fn per_sec(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }

    pub fn rules_per_sec(&self) -> f64 {
        self.events as f64 / self.rules_seconds.max(1e-9)
    }

    pub fn alerts(&self) -> u64 {
        self.matches.values().sum()
    }
}

/// The benchmark's result.
#[derive(Clone, Debug)]
pub struct Report {
    pub events: usize,
    pub seed: u64,
    pub rounds: usize,
    pub rules_dir: PathBuf,
    /// Rules panther-core loaded (enabled, of log type `AWS.CloudTrail`).
    pub rules: u64,
    /// panther-core's version and the Python that ran it.
    pub panther_core_version: String,
    pub python_version: String,
    /// panther-core's verdicts on the rules' YAML tests: (passed, failed).
    pub panther_tests: Option<(u64, u64)>,
    pub panther: BenchSide,
    pub corvid: BenchSide,
    /// How Corvid ran (e.g. "timely dataflow, 1 worker, batches of 1024").
    pub corvid_label: String,
}

impl Report {
    /// Corvid's events/s over panther-core's, rule evaluation: the figure held to
    /// [`TARGET_RATIO`].
    pub fn rules_ratio(&self) -> f64 {
        self.corvid.rules_per_sec() / self.panther.rules_per_sec().max(1e-9)
    }

    /// Same, end to end (Corvid's parse against panther-core's `json.loads`).
    pub fn ratio(&self) -> f64 {
        self.corvid.per_sec() / self.panther.per_sec().max(1e-9)
    }

    /// Rules whose alert counts differ: (RuleID, panther-core, Corvid).
    pub fn disagreements(&self) -> Vec<(String, u64, u64)> {
        let mut ids: Vec<&String> = self
            .panther
            .matches
            .keys()
            .chain(self.corvid.matches.keys())
            .collect();
        ids.sort();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| {
                let p = self.panther.matches.get(id).copied().unwrap_or(0);
                let c = self.corvid.matches.get(id).copied().unwrap_or(0);
                (p != c).then(|| (id.clone(), p, c))
            })
            .collect()
    }

    /// Both engines saw every event and agree on every rule's alerts and the errors.
    pub fn consistent(&self) -> bool {
        self.panther.events == self.events as u64
            && self.corvid.events == self.events as u64
            && self.panther.errors == self.corvid.errors
            && self.disagreements().is_empty()
            && self.panther_tests.is_none_or(|(_, failed)| failed == 0)
    }

    pub fn meets_target(&self) -> bool {
        self.rules_ratio() >= TARGET_RATIO
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "rules benchmark: {} {LOG_TYPE} events (seed {}), {} rules from {}, best of {} round(s)",
            self.events,
            self.seed,
            self.rules,
            self.rules_dir.display(),
            self.rounds
        );
        let _ = writeln!(
            out,
            "{:<46} {:>15} {:>15} {:>8} {:>7}",
            "engine", "rules ev/s", "end-to-end ev/s", "alerts", "errors"
        );
        let panther_label = format!(
            "panther-core {} (Python {})",
            self.panther_core_version, self.python_version
        );
        let corvid_label = format!("corvid ({})", self.corvid_label);
        for (label, side) in [(panther_label, &self.panther), (corvid_label, &self.corvid)] {
            let _ = writeln!(
                out,
                "{:<46} {:>15.0} {:>15.0} {:>8} {:>7}",
                label,
                side.rules_per_sec(),
                side.per_sec(),
                side.alerts(),
                side.errors
            );
        }
        let _ = writeln!(
            out,
            "{:<46} {:>14.2}x {:>14.2}x",
            "ratio corvid / panther-core",
            self.rules_ratio(),
            self.ratio()
        );
        let _ = writeln!(
            out,
            "  rules: from decoded events (panther-core: PantherEvent + Rule.run per rule; \
             corvid: the dataflow fed parsed events)"
        );
        let _ = writeln!(
            out,
            "  end to end: panther-core from JSON text (json.loads first); corvid from raw \
             records (its parser and normalizer first)"
        );
        if let Some((passed, failed)) = self.panther_tests {
            let _ = writeln!(
                out,
                "rule tests under panther-core: {passed} passed, {failed} failed"
            );
        }
        let disagreements = self.disagreements();
        if disagreements.is_empty() {
            let _ = writeln!(
                out,
                "outcomes: identical on both engines ({} alerts from {} rules, {} errors)",
                self.corvid.alerts(),
                self.corvid.matches.len(),
                self.corvid.errors
            );
        } else {
            let _ = writeln!(out, "outcomes DIFFER (rule: panther-core vs corvid):");
            for (id, p, c) in disagreements {
                let _ = writeln!(out, "  {id}: {p} vs {c}");
            }
        }
        let _ = writeln!(
            out,
            "target: corvid >= {TARGET_RATIO}x panther-core at rule evaluation: {} ({:.2}x)",
            if self.meets_target() {
                "met"
            } else {
                "NOT met"
            },
            self.rules_ratio()
        );
        out
    }
}

/// Parses raw records with the engine's parser; returns each event's JSON text.
pub type Normalize<'a> = dyn FnMut(&[Vec<u8>]) -> Result<Vec<String>, String> + 'a;

/// One timed Corvid pass of the given kind over the raw records.
pub type CorvidPass<'a> = dyn FnMut(&[Vec<u8>], Pass) -> Result<PassResult, String> + 'a;

/// The closures through which the engine takes part.
pub struct Engine<'a> {
    pub normalize: &'a mut Normalize<'a>,
    pub corvid: &'a mut CorvidPass<'a>,
    /// How the Corvid pass runs, for the report.
    pub corvid_label: String,
}

/// Runs both sides and reports.
pub fn run(options: &Options, engine: Engine<'_>) -> Result<Report, RulesBenchError> {
    let records = cloudtrail_events(options.events, options.seed);
    let normalized = (engine.normalize)(&records).map_err(RulesBenchError::Normalize)?;
    if normalized.len() != records.len() {
        return Err(RulesBenchError::Normalize(format!(
            "{} of {} records parsed into events",
            normalized.len(),
            records.len()
        )));
    }
    let events_file = options.keep_events.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "corvid-rules-bench-{}-{}.jsonl",
            std::process::id(),
            options.seed
        ))
    });
    write_lines(&events_file, &normalized)?;
    drop(normalized);
    let panther = run_panther(options, &events_file);
    if options.keep_events.is_none() {
        let _ = std::fs::remove_file(&events_file);
    }
    let panther = panther?;

    let mut corvid = BenchSide {
        seconds: f64::MAX,
        rules_seconds: f64::MAX,
        ..BenchSide::default()
    };
    for round in 0..options.rounds.max(1) {
        for kind in [Pass::EndToEnd, Pass::RulesOnly] {
            let pass = (engine.corvid)(&records, kind).map_err(RulesBenchError::Corvid)?;
            if round == 0 && kind == Pass::EndToEnd {
                corvid.events = pass.events;
                corvid.matches = pass.matches.clone();
                corvid.errors = pass.errors;
            } else if (pass.events, &pass.matches, pass.errors)
                != (corvid.events, &corvid.matches, corvid.errors)
            {
                return Err(RulesBenchError::Corvid(format!(
                    "two passes over the same events disagree ({kind:?})"
                )));
            }
            match kind {
                Pass::EndToEnd => corvid.seconds = corvid.seconds.min(pass.seconds),
                Pass::RulesOnly => corvid.rules_seconds = corvid.rules_seconds.min(pass.seconds),
            }
        }
    }
    Ok(Report {
        events: options.events,
        seed: options.seed,
        rounds: options.rounds.max(1),
        rules_dir: options.rules_dir.clone(),
        rules: panther.rules,
        panther_core_version: panther.version,
        python_version: panther.python,
        panther_tests: panther.tests,
        panther: panther.side,
        corvid,
        corvid_label: engine.corvid_label,
    })
}

fn write_lines(path: &Path, lines: &[String]) -> Result<(), RulesBenchError> {
    let io = |source| RulesBenchError::Io {
        what: format!("writing {}", path.display()),
        source,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for line in lines {
        out.write_all(line.as_bytes()).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)
}

struct PantherRun {
    side: BenchSide,
    rules: u64,
    version: String,
    python: String,
    tests: Option<(u64, u64)>,
}

fn run_panther(options: &Options, events_file: &Path) -> Result<PantherRun, RulesBenchError> {
    let output = Command::new(&options.python)
        .arg(&options.runner)
        .arg("--rules")
        .arg(&options.rules_dir)
        .arg("--events")
        .arg(events_file)
        .arg("--rounds")
        .arg(options.rounds.max(1).to_string())
        .arg("--check-tests")
        .output()
        .map_err(|source| RulesBenchError::Io {
            what: format!("starting {}", options.python.display()),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(RulesBenchError::Runner {
            status: output.status.to_string(),
            stderr,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .map_err(|err| RulesBenchError::RunnerOutput(format!("{err}: {stdout}")))?;
    let number = |key: &str| report[key].as_f64().unwrap_or(0.0);
    let text = |key: &str| report[key].as_str().unwrap_or("?").to_string();
    let matches = report["matches"]
        .as_object()
        .map(|object| {
            object
                .iter()
                .map(|(id, count)| (id.clone(), count.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    let tests = report["tests"].as_object().map(|tests| {
        (
            tests["passed"].as_u64().unwrap_or(0),
            tests["failed"].as_u64().unwrap_or(0),
        )
    });
    Ok(PantherRun {
        side: BenchSide {
            events: number("events") as u64,
            seconds: number("seconds"),
            rules_seconds: number("rules_seconds"),
            matches,
            errors: number("errors") as u64,
        },
        rules: number("rules") as u64,
        version: text("panther_core"),
        python: text("python"),
        tests,
    })
}

// ------------------------------------------------------------------------- the events

const USERS: [&str; 24] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "uma",
    "victor",
    "walter",
    "xena",
    "yusuf",
    "zoe",
    "svc-backup",
];
const ROLES: [&str; 8] = [
    "Deploy",
    "ci-runner",
    "lambda-payments",
    "ecs-task-api",
    "DataPipeline",
    "SecurityAudit",
    "OrganizationAccountAccessRole",
    "AWSReservedSSO_Admin_1a2b3c",
];
const SERVICES: [&str; 6] = [
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "autoscaling.amazonaws.com",
    "cloudformation.amazonaws.com",
    "config.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
];
const AGENTS: [&str; 8] = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.ubuntu.22",
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.7",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64",
    "terraform-provider-aws/5.31.0 (+https://registry.terraform.io/providers/hashicorp/aws)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.2 Safari/605.1.15",
    "console.amazonaws.com",
    "aws-sdk-java/2.21.42 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.9",
    "AWS Internal",
];
const OFFENSIVE_AGENTS: [&str; 3] = [
    "aws-cli/1.22.34 Python/3.9.2 Linux/5.14.0-kali4-amd64 botocore/1.24.0",
    "Boto3/1.26.0 Python/3.10.8 Linux/6.0.0-parrot1-amd64 Botocore/1.29.0 pacu/1.5.1",
    "ScoutSuite/5.12.0",
];
const BAD_IPS: [&str; 3] = ["203.0.113.66", "203.0.113.99", "198.51.100.250"];
const UNUSED_REGIONS: [&str; 4] = ["ap-southeast-3", "sa-east-1", "me-south-1", "af-south-1"];

/// (weight, eventSource, eventName, readOnly): the mix of calls. Read-only and routine
/// calls dominate as they do in real trails; every detection has its trigger here, most
/// with benign variants too (see [`parameters`]).
const CALLS: &[(u32, &str, &str, bool)] = &[
    // Routine reads and writes.
    (900, "ec2.amazonaws.com", "DescribeInstances", true),
    (300, "ec2.amazonaws.com", "DescribeSecurityGroups", true),
    (150, "ec2.amazonaws.com", "DescribeVpcs", true),
    (150, "ec2.amazonaws.com", "DescribeSubnets", true),
    (120, "ec2.amazonaws.com", "CreateTags", false),
    (60, "ec2.amazonaws.com", "StartInstances", false),
    (60, "ec2.amazonaws.com", "StopInstances", false),
    (40, "ec2.amazonaws.com", "TerminateInstances", false),
    (1000, "sts.amazonaws.com", "AssumeRole", true),
    (300, "sts.amazonaws.com", "GetCallerIdentity", true),
    (800, "kms.amazonaws.com", "Decrypt", true),
    (400, "kms.amazonaws.com", "GenerateDataKey", true),
    (1200, "s3.amazonaws.com", "GetObject", true),
    (600, "s3.amazonaws.com", "PutObject", false),
    (150, "s3.amazonaws.com", "ListBuckets", true),
    (150, "s3.amazonaws.com", "GetBucketAcl", true),
    (100, "s3.amazonaws.com", "GetBucketPolicy", true),
    (40, "s3.amazonaws.com", "CreateBucket", false),
    (400, "logs.amazonaws.com", "CreateLogStream", false),
    (150, "logs.amazonaws.com", "DescribeLogGroups", true),
    (350, "ssm.amazonaws.com", "GetParameter", true),
    (100, "ssm.amazonaws.com", "GetParametersByPath", true),
    (250, "secretsmanager.amazonaws.com", "GetSecretValue", true),
    (150, "iam.amazonaws.com", "GetRole", true),
    (120, "iam.amazonaws.com", "ListRoles", true),
    (100, "iam.amazonaws.com", "GetUser", true),
    (80, "iam.amazonaws.com", "ListPolicies", true),
    (100, "lambda.amazonaws.com", "GetFunction", true),
    (100, "rds.amazonaws.com", "DescribeDBInstances", true),
    (100, "monitoring.amazonaws.com", "DescribeAlarms", true),
    (40, "monitoring.amazonaws.com", "PutMetricAlarm", false),
    (50, "cloudtrail.amazonaws.com", "LookupEvents", true),
    (50, "cloudtrail.amazonaws.com", "DescribeTrails", true),
    (40, "guardduty.amazonaws.com", "ListFindings", true),
    (40, "securityhub.amazonaws.com", "GetFindings", true),
    (30, "sns.amazonaws.com", "Publish", false),
    (30, "ecr.amazonaws.com", "BatchGetImage", true),
    (30, "eks.amazonaws.com", "DescribeCluster", true),
    (150, "signin.amazonaws.com", "ConsoleLogin", false),
    // Changes some detection looks at (each with benign variants).
    (40, "ec2.amazonaws.com", "RunInstances", false),
    (
        25,
        "ec2.amazonaws.com",
        "AuthorizeSecurityGroupIngress",
        false,
    ),
    (8, "ec2.amazonaws.com", "CreateNetworkAclEntry", false),
    (8, "ec2.amazonaws.com", "CreateRoute", false),
    (4, "ec2.amazonaws.com", "AttachInternetGateway", false),
    (4, "ec2.amazonaws.com", "CreateVpcPeeringConnection", false),
    (2, "ec2.amazonaws.com", "DeleteFlowLogs", false),
    (
        2,
        "ec2.amazonaws.com",
        "DisableEbsEncryptionByDefault",
        false,
    ),
    (6, "ec2.amazonaws.com", "ModifySnapshotAttribute", false),
    (6, "ec2.amazonaws.com", "ModifyImageAttribute", false),
    (8, "ec2.amazonaws.com", "ModifyInstanceAttribute", false),
    (6, "ec2.amazonaws.com", "GetPasswordData", true),
    (6, "ec2.amazonaws.com", "ImportKeyPair", false),
    (12, "iam.amazonaws.com", "PutRolePolicy", false),
    (12, "iam.amazonaws.com", "AttachRolePolicy", false),
    (6, "iam.amazonaws.com", "AttachUserPolicy", false),
    (5, "iam.amazonaws.com", "CreatePolicyVersion", false),
    (5, "iam.amazonaws.com", "CreateUser", false),
    (3, "iam.amazonaws.com", "DeleteUser", false),
    (8, "iam.amazonaws.com", "CreateAccessKey", false),
    (4, "iam.amazonaws.com", "UpdateLoginProfile", false),
    (2, "iam.amazonaws.com", "DeactivateMFADevice", false),
    (3, "iam.amazonaws.com", "UpdateAssumeRolePolicy", false),
    (1, "iam.amazonaws.com", "UpdateAccountPasswordPolicy", false),
    (1, "iam.amazonaws.com", "CreateSAMLProvider", false),
    (6, "iam.amazonaws.com", "AddUserToGroup", false),
    (8, "s3.amazonaws.com", "PutBucketPolicy", false),
    (8, "s3.amazonaws.com", "PutBucketAcl", false),
    (6, "s3.amazonaws.com", "PutBucketPublicAccessBlock", false),
    (
        1,
        "s3.amazonaws.com",
        "DeleteBucketPublicAccessBlock",
        false,
    ),
    (2, "s3.amazonaws.com", "DeleteBucketEncryption", false),
    (4, "s3.amazonaws.com", "PutBucketLogging", false),
    (4, "s3.amazonaws.com", "PutBucketVersioning", false),
    (4, "s3.amazonaws.com", "PutBucketLifecycle", false),
    (3, "s3.amazonaws.com", "DeleteBucket", false),
    (2, "kms.amazonaws.com", "ScheduleKeyDeletion", false),
    (2, "kms.amazonaws.com", "DisableKey", false),
    (3, "kms.amazonaws.com", "PutKeyPolicy", false),
    (10, "kms.amazonaws.com", "CreateGrant", false),
    (1, "cloudtrail.amazonaws.com", "StopLogging", false),
    (2, "cloudtrail.amazonaws.com", "PutEventSelectors", false),
    (
        1,
        "config.amazonaws.com",
        "StopConfigurationRecorder",
        false,
    ),
    (3, "guardduty.amazonaws.com", "UpdateDetector", false),
    (1, "guardduty.amazonaws.com", "DeleteDetector", false),
    (1, "securityhub.amazonaws.com", "DisableSecurityHub", false),
    (3, "logs.amazonaws.com", "DeleteLogGroup", false),
    (2, "monitoring.amazonaws.com", "DisableAlarmActions", false),
    (1, "wafv2.amazonaws.com", "DeleteWebACL", false),
    (6, "lambda.amazonaws.com", "AddPermission20150331v2", false),
    (
        15,
        "lambda.amazonaws.com",
        "UpdateFunctionCode20150331v2",
        false,
    ),
    (4, "rds.amazonaws.com", "ModifyDBSnapshotAttribute", false),
    (6, "rds.amazonaws.com", "ModifyDBInstance", false),
    (4, "secretsmanager.amazonaws.com", "DeleteSecret", false),
    (4, "ecr.amazonaws.com", "SetRepositoryPolicy", false),
    (4, "eks.amazonaws.com", "UpdateClusterConfig", false),
    (1, "organizations.amazonaws.com", "LeaveOrganization", false),
    (2, "organizations.amazonaws.com", "DetachPolicy", false),
    (
        1,
        "route53domains.amazonaws.com",
        "DisableDomainTransferLock",
        false,
    ),
    (2, "backup.amazonaws.com", "DeleteRecoveryPoint", false),
    (6, "sns.amazonaws.com", "Subscribe", false),
];

/// `count` raw CloudTrail records (one JSON object a line), the same for the same seed.
pub fn cloudtrail_events(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let total: u32 = CALLS.iter().map(|call| call.0).sum();
    (0..count)
        .map(|i| {
            let mut pick = rng.random_range(0..total);
            let &(_, source, name, read_only) = CALLS
                .iter()
                .find(|call| {
                    if pick < call.0 {
                        true
                    } else {
                        pick -= call.0;
                        false
                    }
                })
                .unwrap_or(&CALLS[0]);
            let record = record(&mut rng, i, count, source, name, read_only);
            serde_json::to_vec(&record).unwrap_or_default()
        })
        .collect()
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn chance(rng: &mut StdRng, per_mille: u32) -> bool {
    rng.random_range(0..1000) < per_mille
}

fn hex(rng: &mut StdRng, digits: usize) -> String {
    (0..digits)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

fn uuid(rng: &mut StdRng) -> String {
    format!(
        "{}-{}-4{}-a{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// An identity: `Root`, an IAM user, an assumed role or an AWS service.
fn identity(rng: &mut StdRng, source: &str, name: &str) -> Value {
    let roll = rng.random_range(0..1000);
    if roll < 3 && name != "AssumeRole" {
        return json!({"type": "Root", "principalId": ACCOUNT, "arn": format!("arn:aws:iam::{ACCOUNT}:root"),
            "accountId": ACCOUNT, "accessKeyId": format!("ASIA{}", hex(rng, 16).to_uppercase())});
    }
    if name == "AssumeRole" && roll < 600 {
        let service = pick(rng, &SERVICES);
        return json!({"type": "AWSService", "invokedBy": service});
    }
    if name == "AssumeRole" && roll < 606 {
        let external = pick(rng, &["999988887777", "444455556666"]);
        return json!({"type": "AWSAccount", "principalId": format!("AIDA{}", hex(rng, 12).to_uppercase()), "accountId": external});
    }
    let user_share = if source == "signin.amazonaws.com" {
        700
    } else {
        350
    };
    if roll < user_share {
        let user = pick(rng, &USERS);
        return json!({"type": "IAMUser", "principalId": format!("AIDA{}", user.len() * 7919),
            "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"), "accountId": ACCOUNT,
            "accessKeyId": format!("AKIA{}", hex(rng, 16).to_uppercase()), "userName": user});
    }
    let role = pick(rng, &ROLES);
    let session = format!("{}-{}", role.to_lowercase(), rng.random_range(1000..9999));
    json!({"type": "AssumedRole", "principalId": format!("AROA{}:{session}", role.len() * 104729),
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"), "accountId": ACCOUNT,
        "accessKeyId": format!("ASIA{}", hex(rng, 16).to_uppercase()),
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", role.len() * 104729),
            "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "accountId": ACCOUNT, "userName": role},
            "attributes": {"creationDate": "2026-11-27T00:00:00Z", "mfaAuthenticated": if chance(rng, 300) { "true" } else { "false" }}}})
}

fn record(
    rng: &mut StdRng,
    i: usize,
    count: usize,
    source: &str,
    name: &str,
    read_only: bool,
) -> Value {
    let identity = identity(rng, source, name);
    let by_service = identity["type"] == "AWSService";
    let source_ip = if by_service {
        identity["invokedBy"]
            .as_str()
            .unwrap_or("AWS Internal")
            .to_string()
    } else if chance(rng, 2) {
        pick(rng, &BAD_IPS).to_string()
    } else if chance(rng, 50) {
        format!("203.0.113.{}", rng.random_range(100..250))
    } else if chance(rng, 500) {
        format!(
            "10.{}.{}.{}",
            rng.random_range(0..16),
            rng.random_range(0..256),
            rng.random_range(1..255)
        )
    } else {
        format!("198.51.100.{}", rng.random_range(1..250))
    };
    let agent = if by_service {
        identity["invokedBy"]
            .as_str()
            .unwrap_or("AWS Internal")
            .to_string()
    } else if chance(rng, 1) {
        pick(rng, &OFFENSIVE_AGENTS).to_string()
    } else {
        pick(rng, &AGENTS).to_string()
    };
    let region = if chance(rng, 8) {
        pick(rng, &UNUSED_REGIONS)
    } else {
        pick(
            rng,
            &[
                "us-east-1",
                "us-east-1",
                "us-east-1",
                "us-west-2",
                "us-west-2",
                "eu-west-1",
            ],
        )
    };
    // Spread the events over one day.
    let second = (i as u64 * 86_400) / count.max(1) as u64;
    let (params, response, additional) = parameters(rng, name, &identity);
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": format!("2026-11-27T{:02}:{:02}:{:02}Z", second / 3600, second / 60 % 60, second % 60),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": agent,
        "requestParameters": params,
        "responseElements": response,
        "requestID": uuid(rng),
        "eventID": uuid(rng),
        "readOnly": read_only,
        "eventType": if name == "ConsoleLogin" { "AwsConsoleSignIn" } else { "AwsApiCall" },
        "managementEvent": !matches!(name, "GetObject" | "PutObject"),
        "recipientAccountId": ACCOUNT,
        "eventCategory": if matches!(name, "GetObject" | "PutObject") { "Data" } else { "Management" },
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))},
    });
    if !additional.is_null() {
        record["additionalEventData"] = additional;
    }
    if name != "ConsoleLogin" && !by_service {
        // Denied calls (credentials probing what they may do) and throttling.
        if chance(rng, 15) {
            record["errorCode"] = json!(pick(
                rng,
                &[
                    "AccessDenied",
                    "Client.UnauthorizedOperation",
                    "AccessDeniedException"
                ]
            ));
            record["errorMessage"] = json!("User is not authorized to perform this operation");
            record["responseElements"] = Value::Null;
        } else if chance(rng, 8) {
            record["errorCode"] = json!("ThrottlingException");
            record["errorMessage"] = json!("Rate exceeded");
        }
    }
    record
}

/// (requestParameters, responseElements, additionalEventData) for one call.
fn parameters(rng: &mut StdRng, name: &str, identity: &Value) -> (Value, Value, Value) {
    let bucket = pick(
        rng,
        &[
            "corp-data",
            "corp-web",
            "corp-logs",
            "corp-payroll",
            "corp-tmp",
            "corp-customer-exports",
            "corp-artifacts",
        ],
    );
    let user = pick(rng, &USERS);
    let role = pick(rng, &ROLES);
    let sg = format!("sg-0{}", hex(rng, 16));
    let instance = format!("i-0{}", hex(rng, 16));
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{}", uuid(rng));
    let world = chance(rng, 400);
    let none = Value::Null;
    let params = match name {
        "DescribeInstances" => {
            json!({"instancesSet": {"items": [{"instanceId": instance}]}, "filterSet": {}})
        }
        "DescribeSecurityGroups" => {
            json!({"securityGroupSet": {}, "securityGroupIdSet": {"items": [{"groupId": sg}]}, "filterSet": {}})
        }
        "DescribeVpcs" | "DescribeSubnets" => json!({"filterSet": {}}),
        "CreateTags" => {
            json!({"resourcesSet": {"items": [{"resourceId": instance}]}, "tagSet": {"items": [{"key": "team", "value": "platform"}]}})
        }
        "StartInstances" | "StopInstances" | "TerminateInstances" => {
            json!({"instancesSet": {"items": [{"instanceId": instance}]}})
        }
        "AssumeRole" => {
            json!({"roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "roleSessionName": format!("session-{}", hex(rng, 8)), "durationSeconds": 3600})
        }
        "GetCallerIdentity" | "ListBuckets" | "DescribeTrails" | "LookupEvents"
        | "DisableSecurityHub" | "LeaveOrganization" => none.clone(),
        "Decrypt" => {
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:payments")}})
        }
        "GenerateDataKey" => json!({"keyId": key, "keySpec": "AES_256"}),
        "GetObject" | "PutObject" => {
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.us-east-1.amazonaws.com"), "key": format!("data/{}/{}.json", rng.random_range(2020..2027), hex(rng, 10))})
        }
        "GetBucketAcl"
        | "GetBucketPolicy"
        | "CreateBucket"
        | "DeleteBucket"
        | "DeleteBucketEncryption"
        | "DeleteBucketPublicAccessBlock" => {
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com")})
        }
        "CreateLogStream" => {
            json!({"logGroupName": format!("/aws/lambda/fn-{}", rng.random_range(0..40)), "logStreamName": format!("2026/11/27/[$LATEST]{}", hex(rng, 32))})
        }
        "DescribeLogGroups" => json!({"limit": 50}),
        "GetParameter" => {
            json!({"name": format!("/prod/{}/config", pick(rng, &["api", "db", "queue"])), "withDecryption": chance(rng, 300)})
        }
        "GetParametersByPath" => {
            json!({"path": "/prod/", "recursive": true, "withDecryption": chance(rng, 200)})
        }
        "GetSecretValue" => {
            json!({"secretId": format!("prod/{}", pick(rng, &["db", "stripe", "github"]))})
        }
        "GetRole" => json!({"roleName": role}),
        "ListRoles" | "ListPolicies" => json!({"maxItems": 100}),
        "GetUser" | "DeleteUser" => json!({"userName": user}),
        "GetFunction" => json!({"functionName": format!("fn-{}", rng.random_range(0..40))}),
        "DescribeDBInstances" => json!({"dBInstanceIdentifier": "prod"}),
        "DescribeAlarms" => json!({"maxRecords": 100}),
        "PutMetricAlarm" => {
            json!({"alarmName": format!("alarm-{}", rng.random_range(0..100)), "threshold": 1.0})
        }
        "ListFindings" => json!({"detectorId": "12abc34def", "maxResults": 50}),
        "GetFindings" => json!({"maxResults": 100}),
        "Publish" => json!({"topicArn": format!("arn:aws:sns:us-east-1:{ACCOUNT}:alerts")}),
        "BatchGetImage" => json!({"repositoryName": "api", "imageIds": [{"imageTag": "latest"}]}),
        "DescribeCluster" => json!({"name": "prod"}),
        "ConsoleLogin" => none.clone(),
        "RunInstances" => {
            json!({"instanceType": if chance(rng, 100) { pick(rng, &["p3.16xlarge", "g5.12xlarge", "c5.24xlarge"]) } else { pick(rng, &["t3.micro", "m5.large", "c5.xlarge", "r6g.2xlarge"]) },
            "instancesSet": {"items": [{"imageId": format!("ami-0{}", hex(rng, 16)), "minCount": 1, "maxCount": rng.random_range(1..4)}]}})
        }
        "AuthorizeSecurityGroupIngress" => {
            let port = pick(rng, &["22", "443", "80", "3389", "5432", "8080"])
                .parse::<u16>()
                .unwrap_or(443);
            let cidr = if world {
                "0.0.0.0/0"
            } else {
                pick(rng, &["10.0.0.0/8", "192.0.2.0/24", "172.16.4.0/22"])
            };
            json!({"groupId": sg, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port, "groups": {},
                "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}})
        }
        "CreateNetworkAclEntry" => {
            json!({"networkAclId": format!("acl-{}", hex(rng, 8)), "ruleNumber": 100, "egress": false, "ruleAction": "allow", "cidrBlock": "10.0.0.0/8"})
        }
        "CreateRoute" => {
            json!({"routeTableId": format!("rtb-{}", hex(rng, 8)), "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": format!("nat-{}", hex(rng, 8))})
        }
        "AttachInternetGateway" => {
            json!({"internetGatewayId": format!("igw-{}", hex(rng, 8)), "vpcId": format!("vpc-{}", hex(rng, 8))})
        }
        "CreateVpcPeeringConnection" => {
            json!({"vpcId": format!("vpc-{}", hex(rng, 8)), "peerVpcId": format!("vpc-{}", hex(rng, 8))})
        }
        "DeleteFlowLogs" => {
            json!({"DeleteFlowLogsRequest": {"FlowLogId": {"content": format!("fl-{}", hex(rng, 8)), "tag": 1}}})
        }
        "DisableEbsEncryptionByDefault" => json!({"DisableEbsEncryptionByDefaultRequest": ""}),
        "ModifySnapshotAttribute" => {
            json!({"snapshotId": format!("snap-{}", hex(rng, 12)), "attributeType": "CREATE_VOLUME_PERMISSION",
            "createVolumePermission": {"add": {"items": [if world { json!({"group": "all"}) } else { json!({"userId": "210987654321"}) }]}}})
        }
        "ModifyImageAttribute" => json!({"imageId": format!("ami-{}", hex(rng, 12)),
            "launchPermission": {"add": {"items": [if world { json!({"group": "all"}) } else { json!({"userId": "210987654321"}) }]}}}),
        "ModifyInstanceAttribute" => {
            if chance(rng, 300) {
                json!({"instanceId": instance, "userData": "<sensitiveDataRemoved>"})
            } else {
                json!({"instanceId": instance, "instanceType": {"value": "m5.large"}})
            }
        }
        "GetPasswordData" => json!({"instanceId": instance}),
        "ImportKeyPair" => {
            json!({"keyName": format!("{user}-laptop"), "publicKeyMaterial": "<sensitiveDataRemoved>"})
        }
        "PutRolePolicy" => {
            json!({"roleName": role, "policyName": "inline", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"})
        }
        "AttachRolePolicy" => {
            json!({"roleName": role, "policyArn": if chance(rng, 200) { "arn:aws:iam::aws:policy/AdministratorAccess" } else { "arn:aws:iam::aws:policy/ReadOnlyAccess" }})
        }
        "AttachUserPolicy" => {
            json!({"userName": user, "policyArn": if chance(rng, 200) { "arn:aws:iam::aws:policy/AdministratorAccess" } else { "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess" }})
        }
        "CreatePolicyVersion" => {
            json!({"policyArn": format!("arn:aws:iam::{ACCOUNT}:policy/app"), "setAsDefault": true, "policyDocument": "{}"})
        }
        "CreateUser" => json!({"userName": format!("{user}-{}", rng.random_range(2..9))}),
        "CreateAccessKey" => {
            if identity["type"] == "Root" {
                json!({})
            } else if chance(rng, 500) {
                json!({"userName": identity["userName"].as_str().unwrap_or(user)})
            } else {
                json!({"userName": user})
            }
        }
        "UpdateLoginProfile" => json!({"userName": user, "passwordResetRequired": true}),
        "DeactivateMFADevice" => {
            json!({"userName": user, "serialNumber": format!("arn:aws:iam::{ACCOUNT}:mfa/{user}")})
        }
        "UpdateAssumeRolePolicy" => json!({"roleName": role, "policyDocument": "{}"}),
        "UpdateAccountPasswordPolicy" => {
            json!({"minimumPasswordLength": 14, "requireSymbols": true})
        }
        "CreateSAMLProvider" => json!({"name": "okta", "sAMLMetadataDocument": "<xml/>"}),
        "AddUserToGroup" => {
            json!({"userName": user, "groupName": pick(rng, &["Developers", "Developers", "ReadOnly", "Administrators"])})
        }
        "PutBucketPolicy" => {
            let condition = if world {
                json!(null)
            } else {
                json!({"StringEquals": {"aws:sourceVpce": "vpce-1a2b3c"}})
            };
            let mut statement = json!({"Sid": "Read", "Effect": "Allow", "Principal": if chance(rng, 500) { json!("*") } else { json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}) },
                "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")});
            if !condition.is_null() {
                statement["Condition"] = condition;
            }
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com"), "bucketPolicy": {"Version": "2012-10-17", "Statement": [statement]}})
        }
        "PutBucketAcl" => {
            let grantee = if world {
                json!({"xsi:type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"})
            } else {
                json!({"xsi:type": "CanonicalUser", "ID": hex(rng, 32)})
            };
            json!({"bucketName": bucket, "AccessControlPolicy": {"AccessControlList": {"Grant": [
                {"Grantee": {"xsi:type": "CanonicalUser", "ID": hex(rng, 32)}, "Permission": "FULL_CONTROL"},
                {"Grantee": grantee, "Permission": "READ"}]}}})
        }
        "PutBucketPublicAccessBlock" => {
            json!({"bucketName": bucket, "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true,
            "BlockPublicPolicy": !world, "RestrictPublicBuckets": true}})
        }
        "PutBucketLogging" => {
            if world {
                json!({"bucketName": bucket, "BucketLoggingStatus": {}})
            } else {
                json!({"bucketName": bucket, "BucketLoggingStatus": {"LoggingEnabled": {"TargetBucket": "corp-logs", "TargetPrefix": format!("s3/{bucket}/")}}})
            }
        }
        "PutBucketVersioning" => {
            json!({"bucketName": bucket, "VersioningConfiguration": {"Status": if world { "Suspended" } else { "Enabled" }}})
        }
        "PutBucketLifecycle" => {
            json!({"bucketName": bucket, "LifecycleConfiguration": {"Rule": {"ID": "expire", "Status": "Enabled", "Expiration": {"Days": 30}}}})
        }
        "ScheduleKeyDeletion" => json!({"keyId": key, "pendingWindowInDays": 7}),
        "DisableKey" | "PutKeyPolicy" => json!({"keyId": key, "policyName": "default"}),
        "CreateGrant" => {
            json!({"keyId": key, "granteePrincipal": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "operations": ["Decrypt"]})
        }
        "StopLogging" => {
            json!({"name": format!("arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail")})
        }
        "PutEventSelectors" => {
            json!({"trailName": "org-trail", "eventSelectors": [{"readWriteType": "All", "includeManagementEvents": true}]})
        }
        "StopConfigurationRecorder" => json!({"configurationRecorderName": "default"}),
        "UpdateDetector" => {
            if world {
                json!({"detectorId": "12abc34def", "enable": false})
            } else {
                json!({"detectorId": "12abc34def", "findingPublishingFrequency": "FIFTEEN_MINUTES"})
            }
        }
        "DeleteDetector" => json!({"detectorId": "12abc34def"}),
        "DeleteLogGroup" => {
            json!({"logGroupName": format!("/aws/lambda/fn-{}", rng.random_range(0..40))})
        }
        "DisableAlarmActions" => json!({"alarmNames": ["root-login", "unauthorized-api"]}),
        "DeleteWebACL" => json!({"name": "edge", "scope": "CLOUDFRONT", "id": hex(rng, 8)}),
        "AddPermission20150331v2" => {
            json!({"functionName": format!("fn-{}", rng.random_range(0..40)), "statementId": hex(rng, 6), "action": "lambda:InvokeFunction",
            "principal": if world { "*" } else { pick(rng, &["s3.amazonaws.com", "events.amazonaws.com", "apigateway.amazonaws.com"]) }})
        }
        "UpdateFunctionCode20150331v2" => {
            json!({"functionName": format!("fn-{}", rng.random_range(0..40)), "publish": true})
        }
        "ModifyDBSnapshotAttribute" => {
            json!({"dBSnapshotIdentifier": "prod-nightly", "attributeName": "restore", "valuesToAdd": [if world { "all" } else { "210987654321" }]})
        }
        "ModifyDBInstance" => {
            json!({"dBInstanceIdentifier": "prod", "publiclyAccessible": world, "applyImmediately": true})
        }
        "DeleteSecret" => {
            if world {
                json!({"secretId": "prod/old", "forceDeleteWithoutRecovery": true})
            } else {
                json!({"secretId": "prod/old", "recoveryWindowInDays": 30})
            }
        }
        "SetRepositoryPolicy" => json!({"repositoryName": "api", "policyText": if world {
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":[\"ecr:BatchGetImage\"]}]}"
        } else {
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::210987654321:root\"},\"Action\":[\"ecr:BatchGetImage\"]}]}"
        }}),
        "UpdateClusterConfig" => {
            json!({"name": "prod", "resourcesVpcConfig": if world { json!({"endpointPublicAccess": true, "endpointPrivateAccess": true}) }
            else { json!({"endpointPublicAccess": true, "publicAccessCidrs": ["192.0.2.0/24"]}) }})
        }
        "DetachPolicy" => {
            json!({"policyId": format!("p-{}", hex(rng, 8)), "targetId": format!("ou-{}", hex(rng, 8))})
        }
        "DisableDomainTransferLock" => json!({"domainName": "example.com"}),
        "DeleteRecoveryPoint" => {
            json!({"backupVaultName": "prod", "recoveryPointArn": format!("arn:aws:backup:us-east-1:{ACCOUNT}:recovery-point:{}", uuid(rng))})
        }
        "Subscribe" => {
            json!({"topicArn": format!("arn:aws:sns:us-east-1:{ACCOUNT}:alerts"), "protocol": "email", "endpoint": format!("{user}@example.com")})
        }
        _ => none.clone(),
    };
    if name == "ConsoleLogin" {
        let failed = chance(rng, 60);
        let mfa = if chance(rng, 850) { "Yes" } else { "No" };
        return (
            none,
            json!({"ConsoleLogin": if failed { "Failure" } else { "Success" }}),
            json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": mfa}),
        );
    }
    let response = match name {
        "AssumeRole" => {
            json!({"credentials": {"accessKeyId": format!("ASIA{}", hex(rng, 16).to_uppercase()), "expiration": "Nov 27, 2026, 11:00:00 PM", "sessionToken": hex(rng, 40)},
            "assumedRoleUser": {"assumedRoleId": format!("AROA{}:session", hex(rng, 12).to_uppercase()), "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/session")}})
        }
        "RunInstances" => {
            json!({"instancesSet": {"items": [{"instanceId": instance, "privateIpAddress": format!("10.0.{}.{}", rng.random_range(0..256), rng.random_range(1..255))}]}})
        }
        "CreateAccessKey" => {
            json!({"accessKey": {"accessKeyId": format!("AKIA{}", hex(rng, 16).to_uppercase()), "status": "Active"}})
        }
        _ => Value::Null,
    };
    (params, response, Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_are_deterministic_and_varied() {
        let first = cloudtrail_events(2000, 7);
        assert_eq!(first, cloudtrail_events(2000, 7));
        assert_ne!(first, cloudtrail_events(2000, 8));
        let names: std::collections::BTreeSet<String> = first
            .iter()
            .map(|line| {
                let record: Value = serde_json::from_slice(line).expect("json");
                assert_eq!(record["recipientAccountId"], ACCOUNT);
                record["eventName"].as_str().expect("eventName").to_string()
            })
            .collect();
        assert!(names.len() > 40, "{} distinct calls", names.len());
        assert!(names.contains("ConsoleLogin") && names.contains("AssumeRole"));
    }

    #[test]
    fn every_call_has_its_own_parameters() {
        // A call without a case in `parameters` would fall through to null silently.
        let mut rng = StdRng::seed_from_u64(1);
        let user = json!({"type": "IAMUser", "userName": "alice"});
        let without = [
            "GetCallerIdentity",
            "ListBuckets",
            "DescribeTrails",
            "LookupEvents",
            "DisableSecurityHub",
            "LeaveOrganization",
            "ConsoleLogin",
        ];
        for &(_, _, name, _) in CALLS {
            let (params, _, _) = parameters(&mut rng, name, &user);
            assert_eq!(params.is_null(), without.contains(&name), "{name}");
        }
    }

    #[test]
    fn report_compares_both_sides_rule_by_rule() {
        let side = |seconds: f64, rules: u64| BenchSide {
            events: 100,
            seconds,
            rules_seconds: seconds / 2.0,
            matches: BTreeMap::from([("A".to_string(), 3), ("B".to_string(), rules)]),
            errors: 0,
        };
        let mut report = Report {
            events: 100,
            seed: 1,
            rounds: 1,
            rules_dir: PathBuf::from("rules"),
            rules: 2,
            panther_core_version: "0.16.3".into(),
            python_version: "3.11.7".into(),
            panther_tests: Some((4, 0)),
            panther: side(1.0, 2),
            corvid: side(0.1, 2),
            corvid_label: "test".into(),
        };
        assert!((report.ratio() - 10.0).abs() < 1e-9);
        assert!(report.consistent() && report.meets_target());
        assert!(report.render().contains("identical on both engines"));
        report.corvid = side(0.5, 1);
        assert!(!report.consistent() && !report.meets_target());
        assert_eq!(report.disagreements(), [("B".to_string(), 2, 1)]);
        assert!(report.render().contains("B: 2 vs 1"));
    }
}
