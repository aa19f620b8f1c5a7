//! Native parsers of the syslog-like text log types: raw syslog (RFC 5424 and RFC 3164),
//! Juniper WebApp Secure logs and Cisco Umbrella S3 exports.
//!
//! Each parser only frames a line into named values (strings, numbers, and for RFC 5424
//! the structured data as an object); the log type's schema types them, picks the event
//! time and runs the indicator scanners.
//!
//! # Year-less timestamps
//!
//! RFC 3164 (`Jan  2 15:04:05`) and Juniper (`Jan 2 15:04:05`) timestamps carry no year.
//! A native parser has no parse time, so the year is taken from the current UTC clock:
//! the current year, unless that puts the record more than one day in the future, in which
//! case the previous year (a December record read on 1 January belongs to last year).
//! February 29 goes to the latest leap year that is not in the future. The time is read
//! as UTC. A replay within the same year gives the same answer; one in a later year does
//! not. "Now" is the record's parse time from the [`ParseContext`], so golden files and
//! tests pin it.
//!
//! # Differences from Panther v1.16
//!
//! * `Syslog.RFC3164` has its own RFC 3164 parser (v1.16 wired it to the RFC 5424 one).
//! * Both syslog parsers refuse a malformed header instead of returning go-syslog's
//!   "best effort" partial message, so a syslog source's two types can be told apart.
//! * `CiscoUmbrella.Proxy` has its own columns (v1.16 wired it to the IP parser); its
//!   status code may be any HTTP status, not only 200/201.
//! * Umbrella rows must have exactly the column count of a known format version, so the
//!   four Umbrella types never accept each other's rows.
//! * Juniper hostnames may contain any non-space character (v1.16's Security pattern
//!   required `\w+`, refusing `web-1`), and the day may be space-padded.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use regex::{Captures, Regex};
use serde_json::{Map, Value};

use super::{NativeParser, ParseContext};
use crate::parse::text::split_record;
use crate::parse::ParseRefusal;

/// The native parser of this group called `name`, if any.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    let parser: Box<dyn NativeParser> = match name {
        "Syslog.RFC5424" => Box::new(Rfc5424),
        "Syslog.RFC3164" => Box::new(Rfc3164),
        "Juniper.Access" => Box::new(JuniperAccess),
        "Juniper.Audit" => Box::new(JuniperAudit),
        "Juniper.Firewall" => Box::new(JuniperFirewall),
        "Juniper.MWS" => Box::new(JuniperMws),
        "Juniper.Postgres" => Box::new(JuniperPostgres),
        "Juniper.Security" => Box::new(JuniperSecurity),
        "CiscoUmbrella.DNS" => Box::new(Umbrella(UmbrellaKind::Dns)),
        "CiscoUmbrella.CloudFirewall" => Box::new(Umbrella(UmbrellaKind::CloudFirewall)),
        "CiscoUmbrella.IP" => Box::new(Umbrella(UmbrellaKind::Ip)),
        "CiscoUmbrella.Proxy" => Box::new(Umbrella(UmbrellaKind::Proxy)),
        _ => return None,
    };
    Some(parser)
}

fn refuse(reason: impl Into<String>) -> ParseRefusal {
    ParseRefusal::new(reason)
}

/// Inserts `value` under `key` unless it is empty.
fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

fn text(line: &[u8]) -> Result<&str, ParseRefusal> {
    std::str::from_utf8(line)
        .map(|s| s.trim_end_matches(['\r', '\n']))
        .map_err(|_| refuse("not UTF-8 text"))
}

// ---------------------------------------------------------------------------------------
// Year-less timestamps
// ---------------------------------------------------------------------------------------

/// The instant of a year-less `month day hh:mm:ss` (UTC), seen from `now`: the latest year
/// (starting at `now`'s) for which the date exists and is at most one day after `now`.
pub fn resolve_yearless(
    month: u32,
    day: u32,
    (hour, minute, second): (u32, u32, u32),
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let limit = now + Duration::days(1);
    (now.year() - 8..=now.year()).rev().find_map(|year| {
        let naive = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
        let time = Utc.from_utc_datetime(&naive);
        (time <= limit).then_some(time)
    })
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = name.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Reads `Mmm d hh:mm:ss` parts (already split by a pattern) against the clock.
fn yearless_rfc3339(
    month: &str,
    day: &str,
    clock: &str,
    now: DateTime<Utc>,
) -> Result<String, ParseRefusal> {
    let bad = || refuse(format!("invalid timestamp {month} {day} {clock}"));
    let month = month_number(month).ok_or_else(bad)?;
    let day: u32 = day.parse().map_err(|_| bad())?;
    let mut parts = clock.split(':').map(str::parse::<u32>);
    let (Some(Ok(h)), Some(Ok(m)), Some(Ok(s)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let time = resolve_yearless(month, day, (h, m, s), now).ok_or_else(bad)?;
    Ok(time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

// ---------------------------------------------------------------------------------------
// RFC 5424
// ---------------------------------------------------------------------------------------

/// `Syslog.RFC5424`: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`.
#[derive(Debug)]
struct Rfc5424;

impl NativeParser for Rfc5424 {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let line = String::from_utf8_lossy(line);
        parse_rfc5424(line.trim_end_matches(['\r', '\n'])).map(|m| vec![m])
    }
}

/// A cursor over a syslog line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char, what: &str) -> Result<(), ParseRefusal> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(refuse(format!("expected {what}")))
        }
    }

    /// Everything up to the next space (or the end).
    fn token(&mut self) -> &'a str {
        let end = self.rest.find(' ').unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }
}

/// `<PRI>` → (priority, facility, severity).
fn priority(cursor: &mut Cursor) -> Result<(u8, u8, u8), ParseRefusal> {
    cursor.expect('<', "<PRI> at the start")?;
    let end = cursor
        .rest
        .find('>')
        .filter(|&end| (1..=3).contains(&end))
        .ok_or_else(|| refuse("expected <PRI> at the start"))?;
    let digits = &cursor.rest[..end];
    let pri: u8 = digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())
        .flatten()
        .filter(|&p| p <= 191)
        .ok_or_else(|| refuse(format!("invalid PRI <{digits}>")))?;
    cursor.rest = &cursor.rest[end + 1..];
    Ok((pri, pri / 8, pri % 8))
}

/// A header field: `-` (NILVALUE) is absent; otherwise 1..=`max` printable ASCII.
fn header_field<'a>(
    cursor: &mut Cursor<'a>,
    name: &str,
    max: usize,
) -> Result<Option<&'a str>, ParseRefusal> {
    let token = cursor.token();
    if token.is_empty() || token.len() > max || !token.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(refuse(format!("invalid {name} {token:?}")));
    }
    cursor.expect(' ', &format!("a space after {name}"))?;
    Ok((token != "-").then_some(token))
}

fn parse_rfc5424(line: &str) -> Result<Map<String, Value>, ParseRefusal> {
    let mut cursor = Cursor { rest: line };
    let (pri, facility, severity) = priority(&mut cursor)?;
    let version = cursor.token();
    let version_ok = (1..=3).contains(&version.len())
        && version.bytes().all(|b| b.is_ascii_digit())
        && !version.starts_with('0');
    if !version_ok {
        return Err(refuse("expected an RFC 5424 VERSION after <PRI>"));
    }
    cursor.expect(' ', "a space after VERSION")?;
    let timestamp = cursor.token();
    if timestamp != "-" && DateTime::parse_from_rfc3339(timestamp).is_err() {
        return Err(refuse(format!("invalid TIMESTAMP {timestamp:?}")));
    }
    cursor.expect(' ', "a space after TIMESTAMP")?;
    let hostname = header_field(&mut cursor, "HOSTNAME", 255)?;
    let appname = header_field(&mut cursor, "APP-NAME", 48)?;
    let procid = header_field(&mut cursor, "PROCID", 128)?;
    let msgid = header_field(&mut cursor, "MSGID", 32)?;
    let structured = if cursor.eat('-') {
        None
    } else {
        Some(structured_data(&mut cursor)?)
    };
    let message = if cursor.rest.is_empty() {
        ""
    } else {
        cursor.expect(' ', "a space before MSG")?;
        cursor.rest.strip_prefix('\u{feff}').unwrap_or(cursor.rest)
    };

    let mut out = Map::new();
    out.insert("priority".into(), Value::from(pri));
    out.insert("facility".into(), Value::from(facility));
    out.insert("severity".into(), Value::from(severity));
    out.insert(
        "version".into(),
        Value::from(version.parse::<u16>().unwrap_or_default()),
    );
    if timestamp != "-" {
        put(&mut out, "timestamp", timestamp);
    }
    for (key, value) in [
        ("hostname", hostname),
        ("appname", appname),
        ("procid", procid),
        ("msgid", msgid),
    ] {
        put(&mut out, key, value.unwrap_or_default());
    }
    if let Some(structured) = structured {
        out.insert("structured_data".into(), Value::Object(structured));
    }
    put(&mut out, "message", message);
    Ok(out)
}

/// An SD-NAME: 1..=32 printable ASCII except `=`, space, `]` and `"`.
fn sd_name<'a>(cursor: &mut Cursor<'a>, what: &str) -> Result<&'a str, ParseRefusal> {
    let end = cursor
        .rest
        .find(|c: char| !c.is_ascii_graphic() || matches!(c, '=' | ']' | '"'))
        .unwrap_or(cursor.rest.len());
    let name = &cursor.rest[..end];
    if name.is_empty() || name.len() > 32 {
        return Err(refuse(format!("invalid STRUCTURED-DATA {what}")));
    }
    cursor.rest = &cursor.rest[end..];
    Ok(name)
}

/// One or more `[SD-ID name="value" …]` elements; `\"`, `\\` and `\]` are unescaped.
fn structured_data(cursor: &mut Cursor) -> Result<Map<String, Value>, ParseRefusal> {
    let mut elements = Map::new();
    while cursor.eat('[') {
        let id = sd_name(cursor, "SD-ID")?;
        let mut params = match elements.remove(id) {
            Some(Value::Object(existing)) => existing,
            _ => Map::new(),
        };
        loop {
            if cursor.eat(']') {
                break;
            }
            cursor.expect(' ', "a space or ] in STRUCTURED-DATA")?;
            let name = sd_name(cursor, "PARAM-NAME")?;
            cursor.expect('=', "= after PARAM-NAME")?;
            cursor.expect('"', "a quoted PARAM-VALUE")?;
            let mut value = String::new();
            let mut chars = cursor.rest.char_indices();
            let mut closed = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                        Some((_, other)) => {
                            value.push('\\');
                            value.push(other);
                        }
                        None => value.push('\\'),
                    },
                    other => value.push(other),
                }
            }
            let end = closed.ok_or_else(|| refuse("unterminated PARAM-VALUE"))?;
            cursor.rest = &cursor.rest[end..];
            params.insert(name.to_owned(), Value::String(value));
        }
        elements.insert(id.to_owned(), Value::Object(params));
    }
    if elements.is_empty() {
        return Err(refuse("expected STRUCTURED-DATA or -"));
    }
    Ok(elements)
}

// ---------------------------------------------------------------------------------------
// RFC 3164
// ---------------------------------------------------------------------------------------

/// `Syslog.RFC3164`: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG` (an RFC 3339 timestamp
/// is accepted in place of the BSD one, as Panther's parser did).
#[derive(Debug)]
struct Rfc3164;

impl NativeParser for Rfc3164 {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let line = String::from_utf8_lossy(line);
        parse_rfc3164(line.trim_end_matches(['\r', '\n']), context.parse_time).map(|m| vec![m])
    }
}

static BSD_TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z]{3}) (?: ?(\d{1,2})) (\d{2}:\d{2}:\d{2})(?: |$)").expect("valid regex")
});

fn parse_rfc3164(line: &str, now: DateTime<Utc>) -> Result<Map<String, Value>, ParseRefusal> {
    let mut cursor = Cursor { rest: line };
    let (pri, facility, severity) = priority(&mut cursor)?;
    let timestamp = if let Some(caps) = BSD_TIMESTAMP.captures(cursor.rest) {
        let (month, day, clock) = (&caps[1], &caps[2], &caps[3]);
        let bad = || refuse(format!("invalid timestamp {month} {day} {clock}"));
        let month = month_number(month).ok_or_else(bad)?;
        let day: u32 = day.parse().map_err(|_| bad())?;
        let mut hms = clock.split(':').filter_map(|p| p.parse::<u32>().ok());
        let (Some(h), Some(m), Some(s)) = (hms.next(), hms.next(), hms.next()) else {
            return Err(bad());
        };
        let time = resolve_yearless(month, day, (h, m, s), now).ok_or_else(bad)?;
        cursor.rest = &cursor.rest[caps[0].len()..];
        time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    } else {
        let token = cursor.token();
        if DateTime::parse_from_rfc3339(token).is_err() {
            return Err(refuse(
                "expected an RFC 3164 timestamp (Mmm dd hh:mm:ss) after <PRI>",
            ));
        }
        cursor.eat(' ');
        token.to_owned()
    };

    let mut out = Map::new();
    out.insert("priority".into(), Value::from(pri));
    out.insert("facility".into(), Value::from(facility));
    out.insert("severity".into(), Value::from(severity));
    out.insert("timestamp".into(), Value::String(timestamp));

    // The HOSTNAME, unless the first word is already the TAG (local senders omit it).
    let first = cursor.rest.split(' ').next().unwrap_or_default();
    if !first.is_empty() && !first.ends_with(':') && !first.contains('[') {
        put(&mut out, "hostname", cursor.token());
        cursor.eat(' ');
    }

    let rest = cursor.rest;
    let tag_end = rest.find([':', '[', ' ']).unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    let mut message = rest;
    if (1..=32).contains(&tag.len()) && tag_end < rest.len() {
        let after = &rest[tag_end..];
        if let Some(inner) = after.strip_prefix('[') {
            if let Some(close) = inner.find(']') {
                let tail = &inner[close + 1..];
                let tail = tail.strip_prefix(':').unwrap_or(tail);
                if tail.is_empty() || tail.starts_with(' ') {
                    put(&mut out, "appname", tag);
                    put(&mut out, "procid", &inner[..close]);
                    message = tail.strip_prefix(' ').unwrap_or(tail);
                }
            }
        } else if let Some(tail) = after.strip_prefix(':') {
            if tail.is_empty() || tail.starts_with(' ') {
                put(&mut out, "appname", tag);
                message = tail.strip_prefix(' ').unwrap_or(tail);
            }
        }
    }
    put(&mut out, "message", message);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Juniper WebApp Secure
// ---------------------------------------------------------------------------------------

/// `Mmm d hh:mm:ss host ` at the start of every Juniper line: groups 1–4.
const JUNIPER_HEADER: &str = r"^([A-Za-z]{3}) +(\d{1,2}) (\d{2}:\d{2}:\d{2}) (\S+) ";

fn juniper_regex(body: &str) -> Regex {
    Regex::new(&format!("{JUNIPER_HEADER}{body}")).expect("valid regex")
}

/// The timestamp and hostname of a matched Juniper line.
fn juniper_header(caps: &Captures, now: DateTime<Utc>) -> Result<Map<String, Value>, ParseRefusal> {
    let mut out = Map::new();
    let time = yearless_rfc3339(&caps[1], &caps[2], &caps[3], now)?;
    out.insert("timestamp".into(), Value::String(time));
    put(&mut out, "hostname", &caps[4]);
    Ok(out)
}

fn group<'a>(caps: &'a Captures, i: usize) -> &'a str {
    caps.get(i).map(|m| m.as_str()).unwrap_or_default()
}

fn unbracket(s: &str) -> &str {
    s.trim_matches(['[', ']'])
}

/// `Juniper.Access`: the first line of each request/response record. Its header and body
/// lines follow on lines of their own: once a stream has matched, lines that do not match
/// are accepted and yield nothing (as Panther did); before that they are refused.
#[derive(Debug)]
struct JuniperAccess;

static JUNIPER_ACCESS: LazyLock<Regex> = LazyLock::new(|| {
    juniper_regex(
        r"\[(INFO|TRACE|DEBUG|WARN|ERROR)\]\[mws-access\]\[(\S+)\]\s*key:(\S+)\s*,\s*PHASE_(REQUEST|RESPONSE)_(PRE|POST)_PROCESS\s*,\s*(\S+)\s*,\s*(\S+)\s*$",
    )
});

const ACCESS_MATCHED: &str = "juniper_access_matched";

impl NativeParser for JuniperAccess {
    fn split(
        &self,
        line: &[u8],
        state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let matched_before = state
            .as_ref()
            .and_then(|s| s.get(ACCESS_MATCHED))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let caps = match std::str::from_utf8(line)
            .ok()
            .and_then(|l| JUNIPER_ACCESS.captures(l.trim_end_matches(['\r', '\n'])))
        {
            Some(caps) => caps,
            None if matched_before => return Ok(vec![]),
            None => return Err(refuse("not a Juniper mws-access line")),
        };
        let mut out = juniper_header(&caps, context.parse_time)?;
        for (key, i) in [
            ("log_level", 5),
            ("thread", 6),
            ("unique_request_key", 7),
            ("type", 8),
            ("stage", 9),
            ("proxy_client_ip", 10),
            ("url", 11),
        ] {
            put(&mut out, key, group(&caps, i));
        }
        if !matched_before {
            let mut marker = Map::new();
            marker.insert(ACCESS_MATCHED.into(), Value::Bool(true));
            *state = Some(Value::Object(marker));
        }
        Ok(vec![out])
    }
}

/// `Juniper.Audit`: `[mws-audit][LEVEL] [user or API key] [login IP] message`.
#[derive(Debug)]
struct JuniperAudit;

static JUNIPER_AUDIT: LazyLock<Regex> = LazyLock::new(|| {
    juniper_regex(r"\[mws-audit\](\[[^\]]*\])\s*(\[[^\]]*\])?\s*(\[[^\]]*\])?\s+(.*)$")
});

static API_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-f0-9]{32}$").expect("valid regex"));

impl NativeParser for JuniperAudit {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let caps = JUNIPER_AUDIT
            .captures(text(line)?)
            .ok_or_else(|| refuse("not a Juniper mws-audit line"))?;
        let mut out = juniper_header(&caps, context.parse_time)?;
        put(&mut out, "log_level", unbracket(group(&caps, 5)));
        let actor = unbracket(group(&caps, 6));
        let ip = unbracket(group(&caps, 7));
        if !ip.is_empty() {
            put(&mut out, "login_ip", ip);
            put(&mut out, "username", actor);
        } else if API_KEY.is_match(actor) {
            put(&mut out, "api_key", actor);
        } else {
            put(&mut out, "username", actor);
        }
        put(&mut out, "message", group(&caps, 8).trim());
        Ok(vec![out])
    }
}

/// `Juniper.Firewall`: `kernel: IPTABLES EVENT: KEY=value … FLAG …` (iptables LOG lines).
#[derive(Debug)]
struct JuniperFirewall;

static JUNIPER_FIREWALL: LazyLock<Regex> =
    LazyLock::new(|| juniper_regex(r"kernel: IPTABLES (\w+):\s*(.+)$"));

impl NativeParser for JuniperFirewall {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let caps = JUNIPER_FIREWALL
            .captures(text(line)?)
            .ok_or_else(|| refuse("not a Juniper iptables line"))?;
        let mut out = juniper_header(&caps, context.parse_time)?;
        put(&mut out, "event", group(&caps, 5));
        for field in group(&caps, 6).split_whitespace() {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            match key {
                "SRC" | "DST" | "SPT" | "DPT" | "TTL" | "ID" | "MAC" | "LEN" | "TOS" | "PREC"
                | "IN" | "OUT" | "PROTO" | "WINDOW" => put(&mut out, key, value),
                "RST" | "SYN" | "DF" => {
                    out.insert(key.to_owned(), Value::Bool(true));
                }
                _ => {}
            }
        }
        Ok(vec![out])
    }
}

/// `Juniper.MWS`: `[LEVEL][service][component] message`, level and component optional;
/// the services with log types of their own are refused.
#[derive(Debug)]
struct JuniperMws;

static JUNIPER_MWS: LazyLock<Regex> = LazyLock::new(|| {
    juniper_regex(
        r"(\[(?:TRACE|DEBUG|INFO|WARN|ERROR)\])?\s*(\[[^\]]*\])\s*(\[[^\]]*\])?:?\s*(.*)$",
    )
});

impl NativeParser for JuniperMws {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let caps = JUNIPER_MWS
            .captures(text(line)?)
            .ok_or_else(|| refuse("not a Juniper mws line"))?;
        let service = unbracket(group(&caps, 6));
        if matches!(service, "mws-access" | "mws-security-alert" | "mws-audit") {
            return Err(refuse(format!(
                "{service} lines belong to another Juniper log type"
            )));
        }
        let mut out = juniper_header(&caps, context.parse_time)?;
        put(&mut out, "log_level", unbracket(group(&caps, 5)));
        put(&mut out, "service_name", service);
        put(&mut out, "service_component", unbracket(group(&caps, 7)));
        put(&mut out, "log_message", group(&caps, 8).trim());
        Ok(vec![out])
    }
}

/// `Juniper.Postgres`: `postgres[PID]: [MAJOR-MINOR] SQLSTATE SESSION TYPE: message`.
#[derive(Debug)]
struct JuniperPostgres;

static JUNIPER_POSTGRES: LazyLock<Regex> = LazyLock::new(|| {
    juniper_regex(r"postgres\[(\d+)\]: \[(\d+)-(\d+)\] (\S+) (\S+) (\S+):\s*(.*)$")
});

impl NativeParser for JuniperPostgres {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let caps = JUNIPER_POSTGRES
            .captures(text(line)?)
            .ok_or_else(|| refuse("not a Juniper postgres line"))?;
        let mut out = juniper_header(&caps, context.parse_time)?;
        for (key, i) in [
            ("pid", 5),
            ("group_id_major", 6),
            ("group_id_minor", 7),
            ("sql_error_code", 8),
            ("session_id", 9),
            ("message_type", 10),
        ] {
            put(&mut out, key, group(&caps, i));
        }
        put(&mut out, "message", group(&caps, 11).trim());
        Ok(vec![out])
    }
}

/// `Juniper.Security`: `[LEVEL][mws-security-alert][service] MKS_Category="…" MKS_Key="…"…`.
/// Each category has its own keys; an unknown category or key is refused, as in Panther.
#[derive(Debug)]
struct JuniperSecurity;

static JUNIPER_SECURITY: LazyLock<Regex> = LazyLock::new(|| {
    juniper_regex(r#"(\[[^\]]*\])\[mws-security-alert\](\[[^\]]*\]) MKS_Category="([^"]*)" (.*)$"#)
});

impl NativeParser for JuniperSecurity {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let caps = JUNIPER_SECURITY
            .captures(text(line)?)
            .ok_or_else(|| refuse("not a Juniper mws-security-alert line"))?;
        let category = group(&caps, 7);
        let keys: &[(&str, &str)] = match category {
            "New Profile" => &[
                ("ProfileId", "profile_id"),
                ("ProfileName", "profile_name"),
                ("PubKey", "pubkey"),
            ],
            "Security Incident" => &[
                ("Type", "incident"),
                ("Severity", "severity"),
                ("ProfileName", "profile_name"),
                ("SrcIP", "source_ip"),
                ("pubkey", "pubkey"),
                ("useragent", "user_agent"),
                ("url", "url"),
                ("count", "count"),
                ("fakeresponse", "fake_response"),
            ],
            "New Counter Response" => &[
                ("ResponseCode", "response_code"),
                ("ResponseName", "response_name"),
                ("ProfileId", "profile_id"),
                ("ProfileName", "profile_name"),
                ("ResponseCreated", "created_date"),
                ("ResponseDelayed", "delay_date"),
                ("ResponseExpires", "expiration_date"),
                ("ResponseConfig", "response_config"),
                ("SilentRunning", "silent_running"),
            ],
            other => return Err(refuse(format!("invalid category {other:?}"))),
        };
        let mut out = juniper_header(&caps, context.parse_time)?;
        put(&mut out, "log_level", unbracket(group(&caps, 5)));
        put(&mut out, "service", unbracket(group(&caps, 6)));
        put(&mut out, "category", category);
        for (key, value) in mks_fields(group(&caps, 8))? {
            let name = key
                .strip_prefix("MKS_")
                .and_then(|k| keys.iter().find(|(from, _)| *from == k))
                .map(|(_, to)| *to)
                .ok_or_else(|| refuse(format!("invalid field {key:?} for {category:?}")))?;
            if !(name == "expiration_date" && value == "null") {
                put(&mut out, name, &value);
            }
        }
        Ok(vec![out])
    }
}

/// `KEY="value" KEY="value"…` with backslash escapes inside the quotes.
fn mks_fields(mut rest: &str) -> Result<Vec<(String, String)>, ParseRefusal> {
    let mut fields = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(fields);
        }
        let (key, tail) = rest
            .split_once("=\"")
            .ok_or_else(|| refuse("expected KEY=\"value\" pairs"))?;
        let mut value = String::new();
        let mut chars = tail.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                other => value.push(other),
            }
        }
        let end = end.ok_or_else(|| refuse("unterminated quoted value"))?;
        fields.push((key.to_owned(), value));
        rest = &tail[end..];
    }
}

// ---------------------------------------------------------------------------------------
// Cisco Umbrella
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum UmbrellaKind {
    Dns,
    CloudFirewall,
    Ip,
    Proxy,
}

/// How one CSV column becomes a value.
#[derive(Clone, Copy)]
enum Column {
    /// Kept as text.
    Text(&'static str),
    /// A comma-separated list inside one quoted column.
    List(&'static str),
    /// A number; left out when it is not one (Umbrella leaves some ports blank or odd).
    OptionalNumber(&'static str),
}

const DNS_COLUMNS: &[Column] = &[
    Column::Text("timestamp"),
    Column::Text("policyIdentity"),
    Column::List("identities"),
    Column::Text("internalIp"),
    Column::Text("externalIp"),
    Column::Text("action"),
    Column::Text("queryType"),
    Column::Text("responseCode"),
    Column::Text("domain"),
    Column::List("categories"),
    Column::Text("policyIdentityType"),
    Column::List("identityTypes"),
    Column::List("blockedCategories"),
];

const CLOUD_FIREWALL_COLUMNS: &[Column] = &[
    Column::Text("timestamp"),
    Column::Text("originId"),
    Column::Text("identity"),
    Column::Text("identityType"),
    Column::Text("direction"),
    Column::Text("ipProtocol"),
    Column::Text("packetSize"),
    Column::Text("sourceIp"),
    Column::OptionalNumber("sourcePort"),
    Column::Text("destinationIp"),
    Column::OptionalNumber("destinationPort"),
    Column::Text("dataCenter"),
    Column::Text("ruleId"),
    Column::Text("verdict"),
];

const IP_COLUMNS: &[Column] = &[
    Column::Text("timestamp"),
    Column::Text("identity"),
    Column::Text("sourceIp"),
    Column::Text("sourcePort"),
    Column::Text("destinationIp"),
    Column::Text("destinationPort"),
    Column::List("categories"),
    Column::List("identityTypes"),
];

const PROXY_COLUMNS: &[Column] = &[
    Column::Text("timestamp"),
    Column::Text("identity"),
    Column::List("identities"),
    Column::Text("internalIp"),
    Column::Text("externalIp"),
    Column::Text("destinationIp"),
    Column::Text("contentType"),
    Column::Text("verdict"),
    Column::Text("url"),
    Column::Text("referrer"),
    Column::Text("userAgent"),
    Column::Text("statusCode"),
    Column::OptionalNumber("requestSize"),
    Column::OptionalNumber("responseSize"),
    Column::OptionalNumber("responseBodySize"),
    Column::Text("sha"),
    Column::List("categories"),
    Column::List("avDetections"),
    Column::List("puas"),
    Column::Text("ampDisposition"),
    Column::Text("ampMalwareName"),
    Column::Text("ampScore"),
    Column::Text("identityType"),
    Column::List("blockedCategories"),
];

impl UmbrellaKind {
    /// The columns and the row lengths of the format versions Panther knew.
    fn layout(self) -> (&'static [Column], &'static [usize]) {
        match self {
            UmbrellaKind::Dns => (DNS_COLUMNS, &[10, 12, 13]),
            UmbrellaKind::CloudFirewall => (CLOUD_FIREWALL_COLUMNS, &[14]),
            UmbrellaKind::Ip => (IP_COLUMNS, &[8]),
            UmbrellaKind::Proxy => (PROXY_COLUMNS, &[22, 23, 24]),
        }
    }
}

/// The Umbrella log types: one CSV row of an S3 export, comma-separated, quoted.
#[derive(Debug)]
struct Umbrella(UmbrellaKind);

impl NativeParser for Umbrella {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let row = split_record(line, b',')?;
        let (columns, lengths) = self.0.layout();
        if !lengths.contains(&row.len()) {
            return Err(refuse(format!(
                "expected {} columns, got {}",
                lengths
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
                row.len()
            )));
        }
        if let UmbrellaKind::Proxy = self.0 {
            // The status column tells a proxy row from other CSV of the same width.
            let status = &row[11];
            let valid = status.len() == 3
                && status
                    .parse::<u16>()
                    .is_ok_and(|s| (100..=599).contains(&s));
            if !valid {
                return Err(refuse(format!("invalid status code {status:?}")));
            }
        }
        let mut out = Map::new();
        for (column, value) in columns.iter().zip(&row) {
            match *column {
                Column::Text(name) => put(&mut out, name, value),
                Column::OptionalNumber(name) => {
                    if value.parse::<i64>().is_ok() {
                        put(&mut out, name, value);
                    }
                }
                Column::List(name) => {
                    if !value.is_empty() {
                        let items = value.split(',').map(|s| Value::String(s.to_owned()));
                        out.insert(name.to_owned(), Value::Array(items.collect()));
                    }
                }
            }
        }
        Ok(vec![out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("valid test time")
            .with_timezone(&Utc)
    }

    fn one(parser: &dyn NativeParser, line: &str) -> Value {
        one_at(parser, line, Utc::now())
    }

    fn one_at(parser: &dyn NativeParser, line: &str, now: DateTime<Utc>) -> Value {
        let mut state = None;
        let context = ParseContext { parse_time: now };
        let mut out = parser
            .split(line.as_bytes(), &mut state, &context)
            .expect("accepted");
        assert_eq!(out.len(), 1);
        Value::Object(out.remove(0))
    }

    fn refused(parser: &dyn NativeParser, line: &str) -> String {
        let mut state = None;
        let reason = parser
            .split(
                line.as_bytes(),
                &mut state,
                &crate::parse::native::test_context(),
            )
            .expect_err("refused")
            .0;
        assert!(state.is_none(), "a refusal leaves the state alone");
        reason
    }

    #[test]
    fn yearless_dates_take_the_latest_year_not_more_than_a_day_ahead() {
        let now = at("2026-11-27T21:00:00Z");
        let t = |m, d| resolve_yearless(m, d, (10, 0, 0), now).map(|t| t.to_rfc3339());
        assert_eq!(t(11, 27).as_deref(), Some("2026-11-27T10:00:00+00:00"));
        assert_eq!(
            t(11, 28).as_deref(),
            Some("2026-11-28T10:00:00+00:00"),
            "clock skew of under a day stays in this year"
        );
        assert_eq!(t(12, 31).as_deref(), Some("2025-12-31T10:00:00+00:00"));
        let new_year = at("2027-01-01T00:05:00Z");
        assert_eq!(
            resolve_yearless(12, 31, (23, 59, 59), new_year).map(|t| t.year()),
            Some(2026)
        );
        assert_eq!(
            resolve_yearless(2, 29, (0, 0, 0), now).map(|t| t.year()),
            Some(2024),
            "Feb 29 goes to the latest leap year"
        );
        assert_eq!(resolve_yearless(2, 30, (0, 0, 0), now), None);
    }

    #[test]
    fn year_less_times_resolve_against_the_parse_time() {
        let line = b"<13>Dec 31 23:59:59 host app: hi";
        let year = |now: &str| {
            let context = ParseContext {
                parse_time: at(now),
            };
            Rfc3164.split(line, &mut None, &context).expect("accepted")[0]["timestamp"].clone()
        };
        assert_eq!(year("2020-01-01T00:00:00Z"), "2019-12-31T23:59:59Z");
        assert_eq!(year("2031-12-31T00:00:00Z"), "2031-12-31T23:59:59Z");
        let mw = "Mar  9 18:42:38 jwas-1 [mws-ui]: up";
        let event = one_at(&JuniperMws, mw, at("2020-01-01T00:00:00Z"));
        assert_eq!(event["timestamp"], "2019-03-09T18:42:38Z");
    }

    #[test]
    fn rfc5424_header_structured_data_nil_values_and_bom() {
        let line = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 \
                    [exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"lication\\]\"][examplePriority@32473 class=\"high\"] \u{feff}An application event";
        assert_eq!(
            one(&Rfc5424, line),
            json!({
                "priority": 165, "facility": 20, "severity": 5, "version": 1,
                "timestamp": "2003-10-11T22:14:15.003Z", "hostname": "mymachine.example.com",
                "appname": "evntslog", "msgid": "ID47",
                "structured_data": {
                    "exampleSDID@32473": {"iut": "3", "eventSource": "App\"lication]"},
                    "examplePriority@32473": {"class": "high"}
                },
                "message": "An application event"
            })
        );
        assert_eq!(
            one(&Rfc5424, "<0>1 - - - - - -"),
            json!({"priority": 0, "facility": 0, "severity": 0, "version": 1})
        );
        assert_eq!(
            one(&Rfc5424, "<13>1 - host app 42 - [x@1] hi")["structured_data"],
            json!({"x@1": {}})
        );
    }

    #[test]
    fn rfc5424_refuses_malformed_headers() {
        for (line, reason) in [
            ("<34>Oct 11 22:14:15 mymachine su: hi", "VERSION"),
            ("<192>1 - - - - - -", "invalid PRI"),
            ("34>1 - - - - - -", "<PRI>"),
            ("<34>1 yesterday h a p m -", "TIMESTAMP"),
            ("<34>1 - h a p m [x a=\"1]", "unterminated"),
            ("<34>1 - h a p m x", "STRUCTURED-DATA"),
            ("<34>1 - h a p", "PROCID"),
        ] {
            let got = refused(&Rfc5424, line);
            assert!(got.contains(reason), "{line}: {got}");
        }
    }

    #[test]
    fn rfc3164_header_tag_pid_and_missing_hostname() {
        let now = at("2026-11-27T21:00:00Z");
        let parse = |line| Value::Object(parse_rfc3164(line, now).expect("accepted"));
        assert_eq!(
            parse("<34>Oct  1 22:14:15 mymachine su[230]: 'su root' failed on /dev/pts/8"),
            json!({
                "priority": 34, "facility": 4, "severity": 2,
                "timestamp": "2026-10-01T22:14:15Z", "hostname": "mymachine",
                "appname": "su", "procid": "230", "message": "'su root' failed on /dev/pts/8"
            })
        );
        assert_eq!(
            parse("<13>Dec 24 08:00:00 sshd: started"),
            json!({"priority": 13, "facility": 1, "severity": 5,
                   "timestamp": "2025-12-24T08:00:00Z", "appname": "sshd", "message": "started"})
        );
        assert_eq!(
            parse("<13>2026-11-27T10:00:00.5+01:00 host.example.com free text here"),
            json!({"priority": 13, "facility": 1, "severity": 5,
                   "timestamp": "2026-11-27T10:00:00.5+01:00", "hostname": "host.example.com",
                   "message": "free text here"})
        );
        for line in [
            "<34>1 2003-10-11T22:14:15.003Z host app - - - msg",
            "<34>Foo 11 22:14:15 host x",
            "Oct 11 22:14:15 host x: no pri",
        ] {
            assert!(parse_rfc3164(line, now).is_err(), "{line}");
        }
    }

    #[test]
    fn juniper_access_accepts_continuation_lines_only_after_a_match() {
        let first = "Mar 19 21:11:47 webappsecure [INFO][mws-access][se-request-6] key:0c0ffee0-1111-4222-8333-444455556666 , PHASE_REQUEST_PRE_PROCESS , 127.0.0.1 , http://app.example.com:80/shop";
        let mut state = None;
        assert!(JuniperAccess
            .split(
                b"Host: app.example.com",
                &mut state,
                &crate::parse::native::test_context()
            )
            .is_err());
        assert!(state.is_none());
        let events = JuniperAccess
            .split(
                first.as_bytes(),
                &mut state,
                &crate::parse::native::test_context(),
            )
            .expect("first line");
        assert_eq!(events[0]["stage"], "PRE");
        assert_eq!(events[0]["type"], "REQUEST");
        assert!(state.is_some());
        let more = JuniperAccess
            .split(
                b"Host: app.example.com",
                &mut state,
                &crate::parse::native::test_context(),
            )
            .expect("continuation");
        assert!(more.is_empty());
    }

    #[test]
    fn juniper_audit_tells_api_keys_from_users() {
        let key = one(
            &JuniperAudit,
            "Jan 23 19:16:22 jwas-1 [mws-audit][INFO] [0123456789abcdef0123456789abcdef] Deactivate response 42",
        );
        assert_eq!(key["api_key"], "0123456789abcdef0123456789abcdef");
        assert!(key.get("username").is_none());
        let login = one(
            &JuniperAudit,
            "Jan 22 16:14:23 jwas-1 [mws-audit][INFO] [admin] [192.0.2.10] Logged in successfully",
        );
        assert_eq!(login["username"], "admin");
        assert_eq!(login["login_ip"], "192.0.2.10");
        assert_eq!(login["message"], "Logged in successfully");
    }

    #[test]
    fn juniper_security_checks_category_keys() {
        let line = r#"Oct 13 16:33:55 jwas-1 [INFO][mws-security-alert][auto-response] MKS_Category="New Counter Response" MKS_ResponseCode="BL" MKS_ResponseExpires="null" MKS_ResponseConfig="<config a=\"1\" />""#;
        let event = one(&JuniperSecurity, line);
        assert_eq!(event["response_config"], r#"<config a="1" />"#);
        assert!(event.get("expiration_date").is_none());
        let wrong = line.replace("MKS_ResponseCode", "MKS_SrcIP");
        assert!(refused(&JuniperSecurity, &wrong).contains("invalid field"));
        let category = line.replace("New Counter Response", "Other");
        assert!(refused(&JuniperSecurity, &category).contains("invalid category"));
    }

    #[test]
    fn juniper_mws_leaves_other_services_alone() {
        let event = one(
            &JuniperMws,
            "Mar 19 19:42:16 jwas-1 [mws-ui]: spawned uWSGI worker 1",
        );
        assert_eq!(event["service_name"], "mws-ui");
        assert_eq!(event["log_message"], "spawned uWSGI worker 1");
        assert!(refused(
            &JuniperMws,
            "Jan 22 16:14:23 jwas-1 [mws-audit][INFO] [admin] Logged in"
        )
        .contains("another Juniper log type"));
    }

    #[test]
    fn umbrella_rows_split_lists_and_check_widths() {
        let dns = one(
            &Umbrella(UmbrellaKind::Dns),
            r#""2026-11-27 09:00:05","Office","Office,Laptop","10.0.0.5","203.0.113.9","Allowed","1 (A)","NOERROR","www.example.com.","Software/Technology,Business Services""#,
        );
        assert_eq!(dns["identities"], json!(["Office", "Laptop"]));
        assert!(dns.get("policyIdentityType").is_none());
        let ip_row = r#""2026-11-27 09:00:05","Office","10.0.0.5","55001","198.51.100.7","443","Malware","Network""#;
        assert!(refused(&Umbrella(UmbrellaKind::Dns), ip_row).contains("expected 10 or 12 or 13"));
        let mut proxy_row = vec!["\"2026-11-27 09:00:05\""; 22];
        proxy_row[11] = "\"403\"";
        assert_eq!(
            one(&Umbrella(UmbrellaKind::Proxy), &proxy_row.join(","))["statusCode"],
            "403"
        );
        proxy_row[11] = "\"Allowed\"";
        assert!(
            refused(&Umbrella(UmbrellaKind::Proxy), &proxy_row.join(","))
                .contains("invalid status code")
        );
    }
}
