//! Native parsers of the AWS log types.
//!
//! They frame what the schemas in `schemas/aws/` cannot: CloudTrail's `Records`
//! envelopes, the VPC flow log header that names the columns of its stream, the
//! space-delimited ALB and S3 access logs, Aurora's comma-separated audit lines whose
//! `object` column may itself hold commas, and the Route 53 resolver answers whose
//! indicators depend on the record type. Checks Panther v1.16 made in code (account ids
//! of twelve digits, port and status ranges) are made here too; everything else —
//! typing, event time, indicators — is the schema's.

use serde_json::{Map, Value};

use super::{json_object, NativeParser, ParseContext};
use crate::parse::indicators::{Indicators, Scanner};
use crate::parse::text::split_record;
use crate::parse::ParseRefusal;

/// The native parser of this group called `name`, if any.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    let parser: Box<dyn NativeParser> = match name {
        "AWS.CloudTrail" => Box::new(CloudTrail),
        "AWS.CloudTrailInsight" => Box::new(CloudTrailInsight),
        "AWS.GuardDuty" => Box::new(GuardDuty),
        "AWS.VPCDns" => Box::new(VpcDns),
        "AWS.VPCFlow" => Box::new(VpcFlow),
        "AWS.ALB" => Box::new(Alb),
        "AWS.S3ServerAccess" => Box::new(S3ServerAccess),
        "AWS.AuroraMySQLAudit" => Box::new(AuroraMySqlAudit),
        _ => return None,
    };
    Some(parser)
}

type Records = Result<Vec<Map<String, Value>>, ParseRefusal>;

fn refuse<T>(reason: impl Into<String>) -> Result<T, ParseRefusal> {
    Err(ParseRefusal::new(reason))
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `record[key]`, when present and not empty, must be a twelve-digit account id
/// (Panther's `len=12,numeric`); `required` also refuses it missing.
fn check_account_id(
    record: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<(), ParseRefusal> {
    match record.get(key) {
        None | Some(Value::Null) if !required => Ok(()),
        Some(Value::String(text)) if text.is_empty() && !required => Ok(()),
        Some(Value::String(text)) if is_account_id(text) => Ok(()),
        Some(other) => refuse(format!(
            "field {key}: expected a 12-digit account id, got {other}"
        )),
        None => refuse(format!("missing required field {key}")),
    }
}

/// The objects of a `{"Records": […]}` envelope.
fn envelope_records(records: &Value) -> Records {
    let Value::Array(items) = records else {
        return refuse("field Records: expected an array");
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(record) => Ok(record.clone()),
            _ => refuse(format!("field Records[{index}]: expected an object")),
        })
        .collect()
}

/// `AWS.CloudTrail`: one record a line, or a `{"Records": […]}` envelope split into
/// one event per record.
#[derive(Debug)]
struct CloudTrail;

impl NativeParser for CloudTrail {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let object = json_object(line)?;
        let records = match object.get("Records") {
            Some(Value::Null) | None => vec![object],
            Some(records) => envelope_records(records)?,
        };
        for record in &records {
            check_account_id(record, "recipientAccountId", false)?;
        }
        Ok(records)
    }
}

/// `AWS.CloudTrailInsight`: a `{"Records": […]}` envelope a line.
#[derive(Debug)]
struct CloudTrailInsight;

impl NativeParser for CloudTrailInsight {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let object = json_object(line)?;
        let records = match object.get("Records") {
            Some(Value::Null) | None => return refuse("missing required field Records"),
            Some(records) => envelope_records(records)?,
        };
        for record in &records {
            check_account_id(record, "recipientAccountId", false)?;
        }
        Ok(records)
    }
}

/// `AWS.GuardDuty`: one finding a line; `accountId` must be an account id.
#[derive(Debug)]
struct GuardDuty;

impl NativeParser for GuardDuty {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let object = json_object(line)?;
        check_account_id(&object, "accountId", true)?;
        Ok(vec![object])
    }
}

/// `AWS.VPCDns`: one Route 53 resolver query a line. Panther took the queried name as a
/// domain, and each answer by its type: `A`/`AAAA` data as an IP address,
/// `CNAME`/`MX`/`NS`/`PTR` data as a domain (the domain scanner drops the DNS root dot).
/// The answer's type decides, which a per-field scanner cannot see, so
/// [`NativeParser::extra_indicators`] does it.
#[derive(Debug)]
struct VpcDns;

impl NativeParser for VpcDns {
    fn extra_indicators(&self, framed: &Map<String, Value>, found: &mut Indicators) {
        if let Some(Value::String(name)) = framed.get("query_name") {
            found.scan(Scanner::Domain, name);
        }
        let Some(Value::Array(answers)) = framed.get("answers") else {
            return;
        };
        for answer in answers {
            let Some(data) = answer.get("Rdata").and_then(Value::as_str) else {
                continue;
            };
            match answer.get("Type").and_then(Value::as_str) {
                Some("A" | "AAAA") => found.scan(Scanner::Ip, data),
                Some("CNAME" | "MX" | "NS" | "PTR") => found.scan(Scanner::Domain, data),
                _ => {}
            }
        }
    }
}

/// How a text column becomes a value.
#[derive(Clone, Copy)]
enum Kind {
    /// Text; `-` and empty mean absent.
    Str,
    /// An integer; `-`, empty or unparsable mean absent (Panther's `CsvStringToIntPointer`).
    Int,
    /// An integer the record cannot do without (a unix time): unparsable refuses it.
    RequiredInt,
}

fn put(
    record: &mut Map<String, Value>,
    name: &str,
    raw: &str,
    kind: Kind,
) -> Result<(), ParseRefusal> {
    let raw = raw.trim();
    if raw.is_empty() || raw == "-" {
        return Ok(());
    }
    match kind {
        Kind::Str => {
            record.insert(name.to_owned(), Value::from(raw));
        }
        Kind::Int => {
            if let Ok(number) = raw.parse::<i64>() {
                record.insert(name.to_owned(), Value::from(number));
            }
        }
        Kind::RequiredInt => match raw.parse::<i64>() {
            Ok(number) => {
                record.insert(name.to_owned(), Value::from(number));
            }
            Err(_) => return refuse(format!("field {name}: expected an integer, got {raw:?}")),
        },
    }
    Ok(())
}

fn put_float(record: &mut Map<String, Value>, name: &str, raw: &str) {
    if let Some(number) = raw
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
    {
        record.insert(name.to_owned(), Value::Number(number));
    }
}

/// `record[name]`, when present, must lie in `min..=max`.
fn check_range(
    record: &Map<String, Value>,
    name: &str,
    min: i64,
    max: i64,
) -> Result<(), ParseRefusal> {
    match record.get(name).and_then(Value::as_i64) {
        Some(n) if n < min || n > max => {
            refuse(format!("field {name}: {n} is outside {min}..={max}"))
        }
        _ => Ok(()),
    }
}

/// Refuses what cannot be a space- or comma-delimited text line (Panther's
/// `LooksLikeCSV`: a JSON object is not one).
fn text_line(line: &[u8]) -> Result<&str, ParseRefusal> {
    let text = std::str::from_utf8(line).map_err(|_| ParseRefusal::new("not UTF-8 text"))?;
    let text = text.trim_end_matches(['\r', '\n']);
    if text.trim_start().starts_with('{') {
        return refuse("a JSON object, not a delimited text line");
    }
    if text.trim().is_empty() {
        return refuse("empty line");
    }
    Ok(text)
}

/// VPC flow log columns: the header name, Panther's field name, and its kind. The
/// v2 default format is the first fourteen.
const VPC_FLOW_COLUMNS: &[(&str, &str, Kind)] = &[
    ("version", "version", Kind::Int),
    ("account-id", "account", Kind::Str),
    ("interface-id", "interfaceId", Kind::Str),
    ("srcaddr", "srcAddr", Kind::Str),
    ("dstaddr", "dstAddr", Kind::Str),
    ("srcport", "srcPort", Kind::Int),
    ("dstport", "dstPort", Kind::Int),
    ("protocol", "protocol", Kind::Int),
    ("packets", "packets", Kind::Int),
    ("bytes", "bytes", Kind::Int),
    ("start", "start", Kind::RequiredInt),
    ("end", "end", Kind::RequiredInt),
    ("action", "action", Kind::Str),
    ("log-status", "status", Kind::Str),
    // v3
    ("vpc-id", "vpcId", Kind::Str),
    ("subnet-id", "subNetId", Kind::Str),
    ("instance-id", "instanceId", Kind::Str),
    ("tcp-flags", "tcpFlags", Kind::Int),
    ("type", "trafficType", Kind::Str),
    ("pkt-srcaddr", "pktSrcAddr", Kind::Str),
    ("pkt-dstaddr", "pktDstAddr", Kind::Str),
    // v4
    ("region", "region", Kind::Str),
    ("az-id", "azId", Kind::Str),
    ("sublocation-type", "sublocationType", Kind::Str),
    ("sublocation-id", "sublocationId", Kind::Str),
    // v5
    ("pkt-src-aws-service", "pktSrcAwsService", Kind::Str),
    ("pkt-dst-aws-service", "pktDstAwsService", Kind::Str),
    ("flow-direction", "flowDirection", Kind::Str),
    ("traffic-path", "trafficPath", Kind::Int),
];

/// Columns of the default (v2) format, used before any header of the stream.
const VPC_FLOW_V2_COLUMNS: usize = 14;

/// A header line names at least this many known columns (Panther's threshold).
const VPC_FLOW_HEADER_THRESHOLD: usize = 5;

fn vpc_flow_column(name: &str) -> Option<(&'static str, Kind)> {
    VPC_FLOW_COLUMNS
        .iter()
        .find(|(header, _, _)| *header == name)
        .map(|&(_, field, kind)| (field, kind))
}

/// `AWS.VPCFlow`: space-delimited flow records. A header line (at least five known
/// column names) yields no event and names the columns of the rest of its stream,
/// kept in the stream's state as an array of names. Before any header, only lines of
/// the default v2 format (fourteen columns) are accepted.
#[derive(Debug)]
struct VpcFlow;

impl VpcFlow {
    fn header(tokens: &[&str]) -> Option<Value> {
        let known = tokens
            .iter()
            .filter(|token| vpc_flow_column(token).is_some())
            .count();
        (known >= VPC_FLOW_HEADER_THRESHOLD)
            .then(|| Value::from(tokens.iter().map(|t| t.to_string()).collect::<Vec<_>>()))
    }

    fn record(columns: &[&str], tokens: &[&str]) -> Result<Map<String, Value>, ParseRefusal> {
        if columns.len() != tokens.len() {
            return refuse(format!(
                "expected {} columns, got {}",
                columns.len(),
                tokens.len()
            ));
        }
        let mut record = Map::new();
        for (column, token) in columns.iter().zip(tokens) {
            // Columns Panther did not know are skipped, as Panther did.
            if let Some((field, kind)) = vpc_flow_column(column) {
                put(&mut record, field, token, kind)?;
            }
        }
        if let Some(Value::String(account)) = record.get("account") {
            if account == "unknown" {
                record.remove("account");
            } else {
                check_account_id(&record, "account", false)?;
            }
        }
        check_range(&record, "srcPort", 0, 65535)?;
        check_range(&record, "dstPort", 0, 65535)?;
        Ok(record)
    }
}

impl NativeParser for VpcFlow {
    fn split(&self, line: &[u8], state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let text = text_line(line)?;
        let tokens: Vec<&str> = text.split_whitespace().collect();
        if let Some(header) = Self::header(&tokens) {
            *state = Some(header);
            return Ok(Vec::new());
        }
        let header: Vec<&str> = match state.as_ref().and_then(Value::as_array) {
            Some(names) => names.iter().filter_map(Value::as_str).collect(),
            None if tokens.len() == VPC_FLOW_V2_COLUMNS => VPC_FLOW_COLUMNS
                [..VPC_FLOW_V2_COLUMNS]
                .iter()
                .map(|(header, _, _)| *header)
                .collect(),
            None => {
                return refuse(format!(
                    "no header line in this stream yet and {} columns are not the default v2 format's {VPC_FLOW_V2_COLUMNS}",
                    tokens.len()
                ))
            }
        };
        Ok(vec![Self::record(&header, &tokens)?])
    }
}

/// ALB access-log columns Panther read, at least this many.
const ALB_MIN_COLUMNS: usize = 25;

/// `AWS.ALB`: an Application Load Balancer access-log line.
#[derive(Debug)]
struct Alb;

/// Splits `ip:port`; anything else (an IPv6 address included, as Panther did) is
/// all address.
fn split_host_port(value: &str) -> (&str, &str) {
    let mut parts = value.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(host), Some(port), None) => (host, port),
        _ => (value, "-"),
    }
}

impl NativeParser for Alb {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let text = text_line(line)?;
        let columns = split_record(text.as_bytes(), b' ')?;
        if columns.len() < ALB_MIN_COLUMNS {
            return refuse(format!(
                "expected at least {ALB_MIN_COLUMNS} columns, got {}",
                columns.len()
            ));
        }
        let request: Vec<&str> = columns[12].split(' ').collect();
        let [method, url, version] = request.as_slice() else {
            return refuse(format!(
                "column 13 (request): expected \"METHOD URL VERSION\", got {:?}",
                columns[12]
            ));
        };
        let mut record = Map::new();
        put(&mut record, "type", &columns[0], Kind::Str)?;
        // Times are kept as written, "-" included: the schema refuses what does not parse.
        record.insert("timestamp".into(), Value::from(columns[1].as_str()));
        put(&mut record, "elb", &columns[2], Kind::Str)?;
        let (client_ip, client_port) = split_host_port(&columns[3]);
        put(&mut record, "clientIp", client_ip, Kind::Str)?;
        put(&mut record, "clientPort", client_port, Kind::Int)?;
        let (target_ip, target_port) = split_host_port(&columns[4]);
        put(&mut record, "targetIp", target_ip, Kind::Str)?;
        put(&mut record, "targetPort", target_port, Kind::Int)?;
        put_float(&mut record, "requestProcessingTime", &columns[5]);
        put_float(&mut record, "targetProcessingTime", &columns[6]);
        put_float(&mut record, "responseProcessingTime", &columns[7]);
        put(&mut record, "elbStatusCode", &columns[8], Kind::Int)?;
        put(&mut record, "targetStatusCode", &columns[9], Kind::Int)?;
        put(&mut record, "receivedBytes", &columns[10], Kind::Int)?;
        put(&mut record, "sentBytes", &columns[11], Kind::Int)?;
        put(&mut record, "requestHttpMethod", method, Kind::Str)?;
        put(&mut record, "requestUrl", url, Kind::Str)?;
        put(&mut record, "requestHttpVersion", version, Kind::Str)?;
        put(&mut record, "userAgent", &columns[13], Kind::Str)?;
        put(&mut record, "sslCipher", &columns[14], Kind::Str)?;
        put(&mut record, "sslProtocol", &columns[15], Kind::Str)?;
        put(&mut record, "targetGroupArn", &columns[16], Kind::Str)?;
        put(&mut record, "traceId", &columns[17], Kind::Str)?;
        put(&mut record, "domainName", &columns[18], Kind::Str)?;
        put(&mut record, "chosenCertArn", &columns[19], Kind::Str)?;
        put(&mut record, "matchedRulePriority", &columns[20], Kind::Int)?;
        record.insert(
            "requestCreationTime".into(),
            Value::from(columns[21].as_str()),
        );
        let actions = columns[22].trim();
        if !actions.is_empty() && actions != "-" {
            let actions: Vec<Value> = actions.split(',').map(Value::from).collect();
            record.insert("actionsExecuted".into(), Value::Array(actions));
        }
        put(&mut record, "redirectUrl", &columns[23], Kind::Str)?;
        put(&mut record, "errorReason", &columns[24], Kind::Str)?;
        check_range(&record, "elbStatusCode", 100, 600)?;
        Ok(vec![record])
    }
}

/// S3 server access-log columns Panther read, at least this many.
const S3_MIN_COLUMNS: usize = 25;

/// The S3 columns after the two time tokens, in order, from column 5 on.
const S3_COLUMNS: &[(&str, Kind)] = &[
    ("remoteip", Kind::Str),
    ("requester", Kind::Str),
    ("requestid", Kind::Str),
    ("operation", Kind::Str),
    ("key", Kind::Str),
    ("requesturi", Kind::Str),
    ("httpstatus", Kind::Int),
    ("errorcode", Kind::Str),
    ("bytessent", Kind::Int),
    ("objectsize", Kind::Int),
    ("totaltime", Kind::Int),
    ("turnaroundtime", Kind::Int),
    ("referrer", Kind::Str),
    ("useragent", Kind::Str),
    ("versionid", Kind::Str),
    ("hostid", Kind::Str),
    ("signatureversion", Kind::Str),
    ("ciphersuite", Kind::Str),
    ("authenticationtype", Kind::Str),
    ("hostheader", Kind::Str),
    ("tlsVersion", Kind::Str),
];

/// `AWS.S3ServerAccess`: an S3 server access-log line. Its time, `[06/Feb/2019:00:00:38
/// +0000]`, splits over two space-delimited tokens and is re-joined (without brackets).
/// Columns past the 25 Panther knew are kept in `additionalFields`.
#[derive(Debug)]
struct S3ServerAccess;

impl NativeParser for S3ServerAccess {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let text = text_line(line)?;
        let columns = split_record(text.as_bytes(), b' ')?;
        if columns.len() < S3_MIN_COLUMNS {
            return refuse(format!(
                "expected at least {S3_MIN_COLUMNS} columns, got {}",
                columns.len()
            ));
        }
        let owner = columns[0].as_str();
        if owner.len() != 64 || !owner.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return refuse(format!(
                "column 1 (bucketowner): expected a 64-character canonical user id, got {owner:?}"
            ));
        }
        let (Some(day), Some(zone)) = (columns[2].strip_prefix('['), columns[3].strip_suffix(']'))
        else {
            return refuse(format!(
                "columns 3-4 (time): expected \"[dd/Mon/yyyy:HH:MM:SS +zzzz]\", got {:?}",
                format!("{} {}", columns[2], columns[3])
            ));
        };
        let mut record = Map::new();
        record.insert("bucketowner".into(), Value::from(owner));
        put(&mut record, "bucket", &columns[1], Kind::Str)?;
        record.insert("time".into(), Value::from(format!("{day} {zone}")));
        for ((name, kind), value) in S3_COLUMNS.iter().zip(&columns[4..]) {
            put(&mut record, name, value, *kind)?;
        }
        if columns.len() > S3_MIN_COLUMNS {
            let extra: Vec<Value> = columns[S3_MIN_COLUMNS..]
                .iter()
                .map(|c| Value::from(c.as_str()))
                .collect();
            record.insert("additionalFields".into(), Value::Array(extra));
        }
        check_range(&record, "httpstatus", 100, 600)?;
        Ok(vec![record])
    }
}

/// Aurora MySQL audit columns, at least this many.
const AURORA_MIN_COLUMNS: usize = 9;

/// `AWS.AuroraMySQLAudit`: `timestamp,serverhost,username,host,connectionid,queryid,
/// operation,database,object,retcode`. The `object` (a query) may hold commas: every
/// column between `database` and the last one (`retcode`) is re-joined into it.
#[derive(Debug)]
struct AuroraMySqlAudit;

impl NativeParser for AuroraMySqlAudit {
    fn split(&self, line: &[u8], _state: &mut Option<Value>, _context: &ParseContext) -> Records {
        let text = text_line(line)?;
        let columns = split_record(text.as_bytes(), b',')?;
        if columns.len() < AURORA_MIN_COLUMNS {
            return refuse(format!(
                "expected at least {AURORA_MIN_COLUMNS} columns, got {}",
                columns.len()
            ));
        }
        let last = columns.len() - 1;
        let mut record = Map::new();
        put(&mut record, "timestamp", &columns[0], Kind::RequiredInt)?;
        put(&mut record, "serverHost", &columns[1], Kind::Str)?;
        put(&mut record, "username", &columns[2], Kind::Str)?;
        put(&mut record, "host", &columns[3], Kind::Str)?;
        put(&mut record, "connectionId", &columns[4], Kind::Int)?;
        put(&mut record, "queryId", &columns[5], Kind::Int)?;
        put(&mut record, "operation", &columns[6], Kind::Str)?;
        put(&mut record, "database", &columns[7], Kind::Str)?;
        put(
            &mut record,
            "object",
            &columns[8..last].join(","),
            Kind::Str,
        )?;
        put(&mut record, "retCode", &columns[last], Kind::Int)?;
        if !record.contains_key("timestamp") {
            return refuse("missing required field timestamp");
        }
        Ok(vec![record])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn split(name: &str, line: &str, state: &mut Option<Value>) -> Records {
        lookup(name).expect("registered").split(
            line.as_bytes(),
            state,
            &crate::parse::native::test_context(),
        )
    }

    const V2_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    const V3_HEADER: &str =
        "vpc-id instance-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr start end log-status";

    #[test]
    fn vpc_flow_streams_keep_their_own_header() {
        let mut first = None;
        let mut second = None;
        assert!(split("AWS.VPCFlow", V2_HEADER, &mut first)
            .expect("header")
            .is_empty());
        assert!(split("AWS.VPCFlow", V3_HEADER, &mut second)
            .expect("header")
            .is_empty());
        let a = split(
            "AWS.VPCFlow",
            "2 123456789012 eni-0a1b2c3d 198.51.100.7 203.0.113.12 443 49152 6 10 840 1600000000 1600000060 ACCEPT OK",
            &mut first,
        )
        .expect("v2 row");
        let b = split(
            "AWS.VPCFlow",
            "vpc-0f1e2d3c i-0123456789abcdef0 10.0.1.5 10.0.2.6 192.0.2.33 198.51.100.44 1600000000 1600000060 OK",
            &mut second,
        )
        .expect("custom row");
        assert_eq!(a[0]["srcPort"], json!(443));
        assert_eq!(a[0]["account"], "123456789012");
        assert_eq!(a[0]["status"], "OK");
        assert_eq!(b[0]["vpcId"], "vpc-0f1e2d3c");
        assert_eq!(b[0]["pktSrcAddr"], "192.0.2.33");
        assert_eq!(b[0]["instanceId"], "i-0123456789abcdef0");
        assert!(!b[0].contains_key("srcPort"));
        // A row of one stream's shape does not fit the other's header.
        let mut before = second.clone();
        assert!(split(
            "AWS.VPCFlow",
            "2 123456789012 eni-0a1b2c3d 198.51.100.7 203.0.113.12 443 49152 6 10 840 1600000000 1600000060 ACCEPT OK",
            &mut before,
        )
        .is_err());
        assert_eq!(before, second, "a refused line leaves the state as it was");
    }

    #[test]
    fn vpc_flow_without_header_accepts_only_the_default_format() {
        let mut state = None;
        let rows = split(
            "AWS.VPCFlow",
            "2 123456789012 eni-0a1b2c3d - - - - - - - 1600000000 1600000060 - NODATA",
            &mut state,
        )
        .expect("v2 row");
        assert_eq!(
            Value::Object(rows[0].clone()),
            json!({"version": 2, "account": "123456789012", "interfaceId": "eni-0a1b2c3d",
                   "start": 1600000000, "end": 1600000060, "status": "NODATA"})
        );
        assert!(state.is_none());
        let refusal =
            split("AWS.VPCFlow", "vpc-1 10.0.0.1 1600000000", &mut state).expect_err("not v2");
        assert!(refusal.0.contains("no header"), "{refusal}");
        assert!(state.is_none());
        for bad in [
            "2 1234 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1600000000 1600000060 ACCEPT OK",
            "2 123456789012 eni-1 10.0.0.1 10.0.0.2 70000 2 6 1 1 1600000000 1600000060 ACCEPT OK",
            "2 123456789012 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 soon 1600000060 ACCEPT OK",
            "{\"version\": 2}",
        ] {
            assert!(split("AWS.VPCFlow", bad, &mut state).is_err(), "{bad}");
        }
    }

    #[test]
    fn cloudtrail_envelopes_split_into_records() {
        let record = r#"{"eventVersion":"1.08","eventID":"x","recipientAccountId":"111122223333"}"#;
        let envelope = format!(r#"{{"Records":[{record},{record}]}}"#);
        assert_eq!(
            split("AWS.CloudTrail", &envelope, &mut None)
                .expect("envelope")
                .len(),
            2
        );
        assert_eq!(
            split("AWS.CloudTrail", record, &mut None)
                .expect("single")
                .len(),
            1
        );
        assert!(split("AWS.CloudTrail", r#"{"Records":[]}"#, &mut None)
            .expect("empty")
            .is_empty());
        assert!(split("AWS.CloudTrail", r#"{"Records":{}}"#, &mut None).is_err());
        assert!(split(
            "AWS.CloudTrail",
            r#"{"recipientAccountId":"12"}"#,
            &mut None
        )
        .is_err());
        assert!(split("AWS.CloudTrailInsight", record, &mut None).is_err());
    }

    #[test]
    fn s3_time_is_rejoined_and_extra_columns_kept() {
        let owner = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";
        let line = format!(
            r#"{owner} awsexamplebucket1 [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 arn:aws:s3:us-west-1:123456789012:accesspoint/example Yes"#
        );
        let rows = split("AWS.S3ServerAccess", &line, &mut None).expect("parses");
        assert_eq!(rows[0]["time"], "06/Feb/2019:00:00:38 +0000");
        assert_eq!(
            rows[0]["requesturi"],
            "GET /awsexamplebucket1?versioning HTTP/1.1"
        );
        assert_eq!(rows[0]["httpstatus"], json!(200));
        assert!(!rows[0].contains_key("requester"));
        assert_eq!(
            rows[0]["additionalFields"],
            json!([
                "arn:aws:s3:us-west-1:123456789012:accesspoint/example",
                "Yes"
            ])
        );
    }

    #[test]
    fn aurora_object_commas_are_rejoined() {
        let rows = split(
            "AWS.AuroraMySQLAudit",
            "1600000000123456,db-1,app,198.51.100.9,7,42,QUERY,shop,'SELECT a, b FROM t WHERE c IN (1,2)',0",
            &mut None,
        )
        .expect("parses");
        assert_eq!(rows[0]["object"], "'SELECT a, b FROM t WHERE c IN (1,2)'");
        assert_eq!(rows[0]["retCode"], json!(0));
        assert_eq!(rows[0]["queryId"], json!(42));
        assert!(split(
            "AWS.AuroraMySQLAudit",
            "x,db-1,app,h,7,42,QUERY,shop,,0",
            &mut None
        )
        .is_err());
    }

    #[test]
    fn alb_splits_addresses_and_request() {
        assert_eq!(split_host_port("192.0.2.1:443"), ("192.0.2.1", "443"));
        assert_eq!(split_host_port("-"), ("-", "-"));
        assert_eq!(split_host_port("2001:db8::1"), ("2001:db8::1", "-"));
    }

    #[test]
    fn vpc_dns_indicators_depend_on_the_answer_type() {
        let line = r#"{"query_name":"www.example.com.","answers":[{"Rdata":"203.0.113.5","Type":"A","Class":"IN"},{"Rdata":"cdn.example.net.","Type":"CNAME","Class":"IN"},{"Rdata":"\"v=spf1\"","Type":"TXT","Class":"IN"}]}"#;
        let rows = split("AWS.VPCDns", line, &mut None).expect("parses");
        let mut found = Indicators::default();
        VpcDns.extra_indicators(&rows[0], &mut found);
        let mut fields = Map::new();
        found.write_into(&mut fields);
        assert_eq!(
            fields["p_any_domain_names"],
            json!(["cdn.example.net", "www.example.com"])
        );
        assert_eq!(fields["p_any_ip_addresses"], json!(["203.0.113.5"]));
    }
}
