//! Indicator extraction: the `p_any_*` arrays.
//!
//! A schema field names the *scanners* its values go through (`indicators: [ip]`); each
//! scanner normalizes a value the way Panther's does and files it under one or more
//! `p_any_*` fields. Values are de-duplicated and sorted; an empty array is omitted.
//!
//! | scanner | feeds | accepts |
//! |---|---|---|
//! | `ip` | ip_addresses | an IPv4/IPv6 literal (canonical form) |
//! | `domain` | domain_names | any non-empty value, one trailing `.` (DNS root) removed |
//! | `hostname` | ip_addresses or domain_names | an IP literal, else a domain |
//! | `url` | ip_addresses or domain_names | the host part of a URL |
//! | `net_addr` | ip_addresses or domain_names | `host[:port]`, `[v6]:port` |
//! | `sha1`, `sha256`, `md5` | the hash arrays | 40/64/32 hex digits, lower-cased |
//! | `trace_id`, `username`, `aws_tag` | their arrays | any non-empty value |
//! | `ip_in_text` | ip_addresses | every IPv4 literal inside free text (syslog messages) |
//! | `email` | emails | a value containing `@` |
//! | `aws_account_id` | aws_account_ids | exactly 12 digits |
//! | `aws_instance_id` | aws_instance_ids | prefix `i-` |
//! | `aws_arn` | aws_arns (+ account and instance ids inside) | a well-formed ARN |
//!
//! ```
//! use corvid_engine::parse::indicators::{Indicators, Scanner};
//! let mut found = Indicators::default();
//! found.scan(Scanner::Hostname, " 203.0.113.7 ");
//! found.scan(Scanner::Hostname, "db.example.com");
//! found.scan(Scanner::Ip, "not an ip");          // refused silently, as Panther's scanner does
//! let mut fields = serde_json::Map::new();
//! found.write_into(&mut fields);
//! assert_eq!(fields["p_any_ip_addresses"], serde_json::json!(["203.0.113.7"]));
//! assert_eq!(fields["p_any_domain_names"], serde_json::json!(["db.example.com"]));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Dotted quads between word boundaries; `add_ip` then rejects octets over 255.
static IPV4_IN_TEXT: std::sync::LazyLock<Regex> = std::sync::LazyLock::new(|| {
    Regex::new(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b").expect("static regex")
});

/// A scanner a schema field can name in `indicators`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Scanner {
    Ip,
    Domain,
    Hostname,
    Url,
    NetAddr,
    Sha1,
    Sha256,
    Md5,
    TraceId,
    AwsAccountId,
    AwsInstanceId,
    AwsArn,
    AwsTag,
    Email,
    Username,
    /// A Corvid extension: Panther's legacy parsers pulled IPv4 literals out of free text.
    IpInText,
}

/// The `p_any_*` fields, in output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum IndicatorField {
    IpAddresses,
    DomainNames,
    Sha1Hashes,
    Sha256Hashes,
    Md5Hashes,
    TraceIds,
    AwsAccountIds,
    AwsInstanceIds,
    AwsArns,
    AwsTags,
    Emails,
    Usernames,
}

impl IndicatorField {
    pub fn column(self) -> &'static str {
        match self {
            IndicatorField::IpAddresses => "p_any_ip_addresses",
            IndicatorField::DomainNames => "p_any_domain_names",
            IndicatorField::Sha1Hashes => "p_any_sha1_hashes",
            IndicatorField::Sha256Hashes => "p_any_sha256_hashes",
            IndicatorField::Md5Hashes => "p_any_md5_hashes",
            IndicatorField::TraceIds => "p_any_trace_ids",
            IndicatorField::AwsAccountIds => "p_any_aws_account_ids",
            IndicatorField::AwsInstanceIds => "p_any_aws_instance_ids",
            IndicatorField::AwsArns => "p_any_aws_arns",
            IndicatorField::AwsTags => "p_any_aws_tags",
            IndicatorField::Emails => "p_any_emails",
            IndicatorField::Usernames => "p_any_usernames",
        }
    }
}

/// The indicators found in one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indicators {
    found: BTreeMap<IndicatorField, BTreeSet<String>>,
}

impl Indicators {
    fn put(&mut self, field: IndicatorField, value: &str) {
        self.found
            .entry(field)
            .or_default()
            .insert(value.to_owned());
    }

    /// Runs one scanner over one value.
    pub fn scan(&mut self, scanner: Scanner, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        match scanner {
            Scanner::Ip => self.add_ip(value),
            Scanner::Domain => self.add_domain(value),
            Scanner::Hostname => self.add_hostname(value),
            Scanner::Url => {
                if let Some(host) = url::Url::parse(value)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                {
                    self.add_hostname(host.trim_start_matches('[').trim_end_matches(']'));
                }
            }
            Scanner::NetAddr => self.add_hostname(strip_port(value)),
            Scanner::Sha1 => self.add_hash(IndicatorField::Sha1Hashes, value, 40),
            Scanner::Sha256 => self.add_hash(IndicatorField::Sha256Hashes, value, 64),
            Scanner::Md5 => self.add_hash(IndicatorField::Md5Hashes, value, 32),
            Scanner::TraceId => self.put(IndicatorField::TraceIds, value),
            Scanner::AwsAccountId => {
                if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
                    self.put(IndicatorField::AwsAccountIds, value);
                }
            }
            Scanner::AwsInstanceId => {
                if value.starts_with("i-") {
                    self.put(IndicatorField::AwsInstanceIds, value);
                }
            }
            Scanner::AwsArn => self.add_arn(value),
            Scanner::AwsTag => self.put(IndicatorField::AwsTags, value),
            Scanner::Email => {
                if value.contains('@') {
                    self.put(IndicatorField::Emails, value);
                }
            }
            Scanner::Username => self.put(IndicatorField::Usernames, value),
            Scanner::IpInText => {
                for found in IPV4_IN_TEXT.find_iter(value) {
                    self.add_ip(found.as_str());
                }
            }
        }
    }

    /// Adds `value` to `p_any_ip_addresses` if it parses as an IPv4 or IPv6 address.
    pub fn add_ip(&mut self, value: &str) {
        if let Ok(ip) = value.trim().parse::<IpAddr>() {
            self.put(IndicatorField::IpAddresses, &ip.to_string());
        }
    }

    /// A hostname: an IP address if it parses as one, a domain name otherwise.
    pub fn add_hostname(&mut self, value: &str) {
        let value = value.trim();
        match value.parse::<IpAddr>() {
            Ok(ip) => self.put(IndicatorField::IpAddresses, &ip.to_string()),
            Err(_) => self.add_domain(value),
        }
    }

    /// A domain name; DNS logs write names fully qualified (`example.com.`), and the
    /// indicator is the name without the root dot.
    fn add_domain(&mut self, value: &str) {
        let value = value.trim();
        let value = value.strip_suffix('.').unwrap_or(value);
        if !value.is_empty() {
            self.put(IndicatorField::DomainNames, value);
        }
    }

    fn add_hash(&mut self, field: IndicatorField, value: &str, len: usize) {
        if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.put(field, &value.to_ascii_lowercase());
        }
    }

    fn add_arn(&mut self, value: &str) {
        let Some(arn) = Arn::parse(value) else {
            return;
        };
        self.put(IndicatorField::AwsArns, value);
        if arn.account.len() == 12 && arn.account.bytes().all(|b| b.is_ascii_digit()) {
            self.put(IndicatorField::AwsAccountIds, arn.account);
        }
        if let Some(id) = arn
            .resource
            .strip_prefix("instance/")
            .filter(|id| id.starts_with("i-"))
        {
            self.put(IndicatorField::AwsInstanceIds, id);
        }
    }

    /// Adds everything `other` found.
    pub fn merge(&mut self, other: Indicators) {
        for (field, values) in other.found {
            self.found.entry(field).or_default().extend(values);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.values().all(BTreeSet::is_empty)
    }

    /// Writes the non-empty arrays as `p_any_*` fields.
    pub fn write_into(self, fields: &mut Map<String, Value>) {
        for (field, values) in self.found {
            if !values.is_empty() {
                fields.insert(
                    field.column().to_owned(),
                    Value::from(values.into_iter().collect::<Vec<_>>()),
                );
            }
        }
    }

    /// Panther's AWS "deep" extraction over a free-form JSON member (`requestParameters`,
    /// `responseElements`, a GuardDuty `resource`, …): ARNs wherever they appear, and
    /// instance ids, account ids, tags, IPs and DNS names under their customary keys.
    pub fn scan_aws_json(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, member) in map {
                    match member {
                        Value::String(text) => self.scan_aws_key(key, text),
                        Value::Array(items) if key == "tags" => {
                            self.scan_aws_tags(items);
                            self.scan_aws_json(member);
                        }
                        _ => self.scan_aws_json(member),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.scan_aws_json(item)),
            Value::String(text) => self.scan(Scanner::AwsArn, text),
            _ => {}
        }
    }

    fn scan_aws_key(&mut self, key: &str, text: &str) {
        if key.eq_ignore_ascii_case("arn") || key == "aws:SourceArn" || text.starts_with("arn:") {
            self.scan(Scanner::AwsArn, text);
        }
        if key == "instanceId" || key == "instance-id" || key.ends_with("InstanceId") {
            self.scan(Scanner::AwsInstanceId, text);
        }
        if key == "accountId" || key == "account" || key.ends_with("AccountId") {
            self.scan(Scanner::AwsAccountId, text);
        }
        match key {
            "ipv6Addresses" | "publicIp" | "privateIpAddress" | "ipAddressV4"
            | "sourceIPAddress" => self.scan(Scanner::Ip, text),
            "publicDnsName" | "privateDnsName" | "domain" => self.scan(Scanner::Domain, text),
            _ => {}
        }
    }

    fn scan_aws_tags(&mut self, items: &[Value]) {
        for item in items {
            let key = item
                .get("key")
                .or_else(|| item.get("Key"))
                .and_then(Value::as_str);
            let value = item
                .get("value")
                .or_else(|| item.get("Value"))
                .and_then(Value::as_str);
            if let (Some(key), Some(value)) = (key, value) {
                self.put(IndicatorField::AwsTags, &format!("{key}:{value}"));
            }
        }
    }
}

/// `host:port`, `[v6]:port` or a bare host → the host.
fn strip_port(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    if value.parse::<IpAddr>().is_ok() {
        return value;
    }
    match value.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => value,
    }
}

/// The parts of an ARN Corvid reads: `arn:partition:service:region:account:resource`.
struct Arn<'a> {
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(value: &'a str) -> Option<Arn<'a>> {
        let mut parts = value.splitn(6, ':');
        let (prefix, partition, service, _region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        (prefix == "arn" && !partition.is_empty() && !service.is_empty() && !resource.is_empty())
            .then_some(Arn { account, resource })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(found: Indicators) -> Map<String, Value> {
        let mut fields = Map::new();
        found.write_into(&mut fields);
        fields
    }

    #[test]
    fn values_are_deduplicated_sorted_and_canonical() {
        let mut found = Indicators::default();
        for ip in ["10.0.0.2", " 10.0.0.1", "10.0.0.2", "2001:DB8::1"] {
            found.scan(Scanner::Ip, ip);
        }
        let fields = written(found);
        assert_eq!(
            fields["p_any_ip_addresses"],
            serde_json::json!(["10.0.0.1", "10.0.0.2", "2001:db8::1"])
        );
        assert!(
            !fields.contains_key("p_any_domain_names"),
            "empty arrays are omitted"
        );
    }

    #[test]
    fn each_scanner_accepts_and_refuses_like_panthers() {
        let mut found = Indicators::default();
        let cases = [
            (Scanner::Url, "https://login.example.com:8443/path?q=1"),
            (Scanner::Url, "http://[2001:db8::2]/x"),
            (Scanner::NetAddr, "10.1.1.1:22"),
            (Scanner::NetAddr, "proxy.example.net:3128"),
            (Scanner::NetAddr, "[2001:db8::3]:443"),
            (
                Scanner::Sha256,
                "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            ),
            (Scanner::Sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (Scanner::Md5, "d41d8cd98f00b204e9800998ecf8427e"),
            (Scanner::Md5, "not-a-hash"),
            (Scanner::AwsAccountId, "123456789012"),
            (Scanner::AwsAccountId, "1234"),
            (Scanner::AwsInstanceId, "i-0abc"),
            (Scanner::AwsInstanceId, "vol-1"),
            (
                Scanner::AwsArn,
                "arn:aws:ec2:us-east-1:210987654321:instance/i-0def",
            ),
            (Scanner::AwsArn, "arn:nope"),
            (Scanner::Email, "a@example.com"),
            (Scanner::Email, "nobody"),
            (Scanner::Username, "root"),
            (Scanner::TraceId, "abc-123"),
            (Scanner::AwsTag, "env:prod"),
            (
                Scanner::IpInText,
                "Failed password for root from 192.0.2.44 port 22; via 10.9.8.7,999.1.1.1",
            ),
            (Scanner::Domain, "www.example.org."),
        ];
        for (scanner, value) in cases {
            found.scan(scanner, value);
        }
        let f = written(found);
        assert_eq!(
            f["p_any_domain_names"],
            serde_json::json!(["login.example.com", "proxy.example.net", "www.example.org"])
        );
        assert_eq!(
            f["p_any_ip_addresses"],
            serde_json::json!([
                "10.1.1.1",
                "10.9.8.7",
                "192.0.2.44",
                "2001:db8::2",
                "2001:db8::3"
            ])
        );
        assert_eq!(
            f["p_any_sha256_hashes"],
            serde_json::json!(["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
        );
        assert_eq!(
            f["p_any_sha1_hashes"],
            serde_json::json!(["da39a3ee5e6b4b0d3255bfef95601890afd80709"])
        );
        assert_eq!(
            f["p_any_md5_hashes"],
            serde_json::json!(["d41d8cd98f00b204e9800998ecf8427e"])
        );
        assert_eq!(
            f["p_any_aws_account_ids"],
            serde_json::json!(["123456789012", "210987654321"])
        );
        assert_eq!(
            f["p_any_aws_instance_ids"],
            serde_json::json!(["i-0abc", "i-0def"])
        );
        assert_eq!(
            f["p_any_aws_arns"],
            serde_json::json!(["arn:aws:ec2:us-east-1:210987654321:instance/i-0def"])
        );
        assert_eq!(f["p_any_emails"], serde_json::json!(["a@example.com"]));
        assert_eq!(f["p_any_usernames"], serde_json::json!(["root"]));
        assert_eq!(f["p_any_trace_ids"], serde_json::json!(["abc-123"]));
        assert_eq!(f["p_any_aws_tags"], serde_json::json!(["env:prod"]));
    }

    #[test]
    fn aws_deep_extraction_finds_nested_indicators() {
        let member = serde_json::json!({
            "instancesSet": {"items": [{"instanceId": "i-0123", "privateIpAddress": "172.31.5.6",
                "privateDnsName": "ip-172-31-5-6.ec2.internal",
                "tags": [{"key": "Name", "value": "bastion"}]}]},
            "roleArn": "arn:aws:iam::111122223333:role/Admin",
            "ownerAccountId": "444455556666"
        });
        let mut found = Indicators::default();
        found.scan_aws_json(&member);
        let f = written(found);
        assert_eq!(f["p_any_aws_instance_ids"], serde_json::json!(["i-0123"]));
        assert_eq!(f["p_any_ip_addresses"], serde_json::json!(["172.31.5.6"]));
        assert_eq!(
            f["p_any_domain_names"],
            serde_json::json!(["ip-172-31-5-6.ec2.internal"])
        );
        assert_eq!(f["p_any_aws_tags"], serde_json::json!(["Name:bastion"]));
        assert_eq!(
            f["p_any_aws_arns"],
            serde_json::json!(["arn:aws:iam::111122223333:role/Admin"])
        );
        assert_eq!(
            f["p_any_aws_account_ids"],
            serde_json::json!(["111122223333", "444455556666"]),
            "the role ARN's account counts too"
        );
    }

    #[test]
    fn blank_values_are_not_indicators() {
        let mut found = Indicators::default();
        for scanner in [
            Scanner::Domain,
            Scanner::Hostname,
            Scanner::Ip,
            Scanner::Username,
        ] {
            found.scan(scanner, "  ");
        }
        assert!(found.is_empty());
        assert!(written(found).is_empty());
    }
}
