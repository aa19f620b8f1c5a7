//! Native parsers of the vendors log types: JSON records that need a check or a rename
//! the schema language cannot express.
//!
//! * `Osquery.Differential`, `Osquery.Status`: osqueryd's TLS/AWS loggers write the
//!   record kind as `log_type`; Panther published it as `logType` (and dropped any
//!   `logType` the record had), so these parsers move `log_type` to `logType`.
//! * `GCP.AuditLog`: a Cloud Logging entry is an audit log only when the last path
//!   segment of `logName` is one of the three Cloud Audit log ids.
//! * `OneLogin.Events`: `uuid` must be a lower-case hyphenated UUID, as Panther validated.
//! * `Zeek.DNS`, `Suricata.DNS`: which indicator a DNS value is depends on the record
//!   type beside it (Panther: Zeek's query is a domain only for A/AAAA queries;
//!   Suricata's answer data is an IP for A/AAAA answers and a domain for CNAME ones).

use serde_json::{Map, Value};

use super::{json_object, NativeParser, ParseContext};
use crate::parse::indicators::{Indicators, Scanner};
use crate::parse::ParseRefusal;

/// The native parser of this group called `name`, if any.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    match name {
        "Osquery.Differential" | "Osquery.Status" => Some(Box::new(OsqueryLogType)),
        "GCP.AuditLog" => Some(Box::new(GcpAuditLog)),
        "OneLogin.Events" => Some(Box::new(OneLoginEvent)),
        "Zeek.DNS" => Some(Box::new(ZeekDns)),
        "Suricata.DNS" => Some(Box::new(SuricataDns)),
        _ => None,
    }
}

/// `Zeek.DNS`: the queried name is a domain indicator only for A (1) and AAAA (28) queries.
#[derive(Debug)]
struct ZeekDns;

impl NativeParser for ZeekDns {
    fn extra_indicators(&self, framed: &Map<String, Value>, found: &mut Indicators) {
        let address_query = matches!(framed.get("qtype").and_then(Value::as_i64), Some(1 | 28));
        if let (true, Some(query)) = (address_query, framed.get("query").and_then(Value::as_str)) {
            found.scan(Scanner::Domain, query);
        }
    }
}

/// `Suricata.DNS`: an answer's data is an IP for A/AAAA answers and a domain for CNAME
/// answers; other data (TXT strings, MX preferences) is no indicator.
#[derive(Debug)]
struct SuricataDns;

impl NativeParser for SuricataDns {
    fn extra_indicators(&self, framed: &Map<String, Value>, found: &mut Indicators) {
        let dns = framed.get("dns");
        let answers = dns.and_then(|d| d.get("answers")).and_then(Value::as_array);
        // EVE v1 puts one answer's fields on `dns` itself.
        for answer in answers.into_iter().flatten().chain(dns) {
            let Some(data) = answer.get("rdata").and_then(Value::as_str) else {
                continue;
            };
            match answer.get("rrtype").and_then(Value::as_str) {
                Some("A" | "AAAA") => found.scan(Scanner::Ip, data),
                Some("CNAME") => found.scan(Scanner::Domain, data),
                _ => {}
            }
        }
    }
}

/// Moves osquery's `log_type` to `logType`, dropping any `logType` the record had.
#[derive(Debug)]
struct OsqueryLogType;

impl NativeParser for OsqueryLogType {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let mut record = json_object(line)?;
        // Go's JSON decoding matched keys case-insensitively, so `LogType` or `LOG_TYPE`
        // landed in the same struct fields.
        let kind = take_key(&mut record, "log_type");
        while take_key(&mut record, "logType").is_some() {}
        while take_key(&mut record, "log_type").is_some() {}
        if let Some(kind) = kind {
            record.insert("logType".into(), kind);
        }
        Ok(vec![record])
    }
}

/// Removes the member called `name` (exact match first, else case-insensitive).
fn take_key(record: &mut Map<String, Value>, name: &str) -> Option<Value> {
    if let Some(value) = record.remove(name) {
        return Some(value);
    }
    let key = record
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()?;
    record.remove(&key)
}

/// The Cloud Audit log ids (URL-encoded, as they appear in `logName`).
const GCP_AUDIT_LOG_IDS: [&str; 3] = [
    "cloudaudit.googleapis.com%2Factivity",
    "cloudaudit.googleapis.com%2Fdata_access",
    "cloudaudit.googleapis.com%2Fsystem_event",
];

/// Accepts a Cloud Logging entry only when `logName` names an audit log.
#[derive(Debug)]
struct GcpAuditLog;

impl NativeParser for GcpAuditLog {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let record = json_object(line)?;
        let log_name = record
            .get("logName")
            .or_else(|| {
                record
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case("logName"))
                    .map(|(_, value)| value)
            })
            .and_then(Value::as_str)
            .ok_or_else(|| ParseRefusal::new("missing required field logName"))?;
        let log_id = log_name.rsplit_once('/').map_or("", |(_, id)| id);
        if !GCP_AUDIT_LOG_IDS.contains(&log_id) {
            return Err(ParseRefusal::new(format!(
                "field logName: log id {log_id:?} is not one of {GCP_AUDIT_LOG_IDS:?}"
            )));
        }
        Ok(vec![record])
    }
}

/// Accepts a OneLogin event only when its `uuid` is a well-formed UUID.
#[derive(Debug)]
struct OneLoginEvent;

impl NativeParser for OneLoginEvent {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let record = json_object(line)?;
        if let Some(uuid) = record.get("uuid").and_then(Value::as_str) {
            if !is_lowercase_uuid(uuid) {
                return Err(ParseRefusal::new(format!(
                    "field uuid: {uuid:?} is not a UUID"
                )));
            }
        }
        // A missing or null uuid is refused by the schema (`required`).
        Ok(vec![record])
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex (go-playground's `uuid`).
fn is_lowercase_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
            group.len() == len
                && group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(parser: &dyn NativeParser, line: &str) -> Map<String, Value> {
        let framed = parser
            .split(
                line.as_bytes(),
                &mut None,
                &crate::parse::native::test_context(),
            )
            .expect("accepted");
        let mut found = Indicators::default();
        parser.extra_indicators(&framed[0], &mut found);
        let mut fields = Map::new();
        found.write_into(&mut fields);
        fields
    }

    #[test]
    fn zeek_queries_are_domains_only_for_address_lookups() {
        let a = extra(&ZeekDns, r#"{"query":"www.example.com","qtype":1}"#);
        assert_eq!(
            a["p_any_domain_names"],
            serde_json::json!(["www.example.com"])
        );
        assert!(extra(&ZeekDns, r#"{"query":"7.2.0.192.in-addr.arpa","qtype":12}"#).is_empty());
    }

    #[test]
    fn suricata_answer_data_follows_the_record_type() {
        let line = r#"{"dns":{"answers":[{"rrname":"a.example","rrtype":"A","rdata":"192.0.2.9"},{"rrname":"a.example","rrtype":"CNAME","rdata":"b.example"},{"rrname":"a.example","rrtype":"TXT","rdata":"v=spf1 -all"}]}}"#;
        let found = extra(&SuricataDns, line);
        assert_eq!(
            found["p_any_ip_addresses"],
            serde_json::json!(["192.0.2.9"])
        );
        assert_eq!(
            found["p_any_domain_names"],
            serde_json::json!(["b.example"])
        );
    }
    use serde_json::json;

    fn split(name: &str, line: &str) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let parser = lookup(name).expect("registered");
        let mut state = None;
        let result = parser.split(
            line.as_bytes(),
            &mut state,
            &crate::parse::native::test_context(),
        );
        assert_eq!(state, None, "these parsers keep no state");
        result
    }

    #[test]
    fn osquery_log_type_is_renamed_and_a_stray_log_type_dropped() {
        let records = split(
            "Osquery.Status",
            r#"{"logType":"ignored","log_type":"status","line":3}"#,
        )
        .expect("parses");
        assert_eq!(
            Value::Object(records[0].clone()),
            json!({"logType": "status", "line": 3})
        );
        let records =
            split("Osquery.Differential", r#"{"LOGTYPE":"x","name":"n"}"#).expect("parses");
        assert_eq!(Value::Object(records[0].clone()), json!({"name": "n"}));
        let records = split("Osquery.Differential", r#"{"Log_Type":"result"}"#).expect("parses");
        assert_eq!(
            Value::Object(records[0].clone()),
            json!({"logType": "result"})
        );
        assert!(split("Osquery.Status", "[1]").is_err());
    }

    #[test]
    fn gcp_audit_log_ids_are_checked_on_the_last_path_segment() {
        for id in GCP_AUDIT_LOG_IDS {
            let line = format!(r#"{{"logName":"projects/p-1/logs/{id}"}}"#);
            assert!(split("GCP.AuditLog", &line).is_ok(), "{id}");
        }
        for line in [
            r#"{"logName":"projects/p-1/logs/cloudaudit.googleapis.com%2Fpolicy"}"#,
            r#"{"logName":"projects/p-1/logs/stdout"}"#,
            r#"{"logName":"cloudaudit.googleapis.com%2Factivity"}"#,
            r#"{"logName":7}"#,
            r#"{"insertId":"x"}"#,
        ] {
            assert!(split("GCP.AuditLog", line).is_err(), "{line}");
        }
        let refusal =
            split("GCP.AuditLog", r#"{"logName":"projects/p/logs/syslog"}"#).expect_err("refused");
        assert!(refusal.0.contains("\"syslog\""), "{refusal}");
    }

    #[test]
    fn onelogin_uuid_must_be_lower_case_hex() {
        assert!(is_lowercase_uuid("6ce16f26-b25d-4070-9a30-4f259675a745"));
        assert!(!is_lowercase_uuid("6CE16F26-B25D-4070-9A30-4F259675A745"));
        assert!(!is_lowercase_uuid("6ce16f26b25d40709a304f259675a745"));
        assert!(!is_lowercase_uuid("6ce16f26-b25d-4070-9a30-4f259675a74g"));
        assert!(split("OneLogin.Events", r#"{"uuid":"not-a-uuid"}"#).is_err());
        assert!(split("OneLogin.Events", r#"{"account_id":1}"#).is_ok());
    }
}
