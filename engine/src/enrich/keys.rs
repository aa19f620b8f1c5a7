//! Table keys and the event values that probe them.
//!
//! Keys are compared as strings, so both sides are put in one canonical form first: an
//! IP address as `IpAddr` prints it (`::ffff:1.2.3.4` and leading zeros normalized away),
//! a CIDR range as its network address and prefix length (`10.1.0.0/16`, host bits
//! cleared). A CIDR table is probed once per prefix length it holds, with the probed
//! address masked to that length: a range lookup becomes a few exact lookups, which is
//! what an arrangement sorted by key answers well.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use super::config::MatchKind;
use crate::rules::jsonpath::JsonPath;

/// The canonical form of a key of an exact table; None for an empty key.
pub fn exact_key(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(match raw.parse::<IpAddr>() {
        Ok(ip) => canonical_ip(ip).to_string(),
        Err(_) => raw.to_owned(),
    })
}

/// The canonical `network/len` of a CIDR table key (a bare address is a /32 or /128),
/// with its prefix length; None when the key is neither.
pub fn cidr_key(raw: &str) -> Option<(String, u8)> {
    let raw = raw.trim();
    let net = match raw.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(canonical_ip(raw.parse::<IpAddr>().ok()?)),
    };
    let net = net.trunc();
    let net = match net {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => {
                IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).ok()?
            }
            _ => net,
        },
        IpNet::V4(_) => net,
    };
    Some((net.to_string(), net.prefix_len()))
}

/// The key that probes a CIDR table for `ip` at one prefix length; None when the length
/// does not fit the address family.
pub fn masked_key(ip: IpAddr, prefix_len: u8) -> Option<String> {
    let net = IpNet::new(ip, prefix_len).ok()?.trunc();
    Some(net.to_string())
}

/// IPv4-mapped IPv6 addresses are IPv4 addresses for matching purposes.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The canonical key of `raw` for a table of `kind` (the prefix length is 0 for exact).
pub fn table_key(kind: MatchKind, raw: &str) -> Option<(String, u8)> {
    match kind {
        MatchKind::Exact => exact_key(raw).map(|key| (key, 0)),
        MatchKind::Cidr => cidr_key(raw),
    }
}

/// One configured event field a table is probed with.
#[derive(Clone, Debug)]
pub struct Selector {
    /// The name as configured: the key under `p_enrichment.<table>`.
    pub name: String,
    path: JsonPath,
    /// The field holds a list (an indicator array or any array): its enrichment is the
    /// list of matched rows, not one row.
    listed: bool,
}

/// The values one selector found in an event.
pub struct Selected {
    pub values: Vec<String>,
    /// The field held a list (see [`Selector`]).
    pub listed: bool,
}

impl Selector {
    /// Expands a configured field (`p_any_*` becomes every indicator array).
    pub fn expand(field: &str) -> Vec<Selector> {
        if field == "p_any_*" {
            return corvid_lake::columns::INDICATOR_COLUMNS
                .iter()
                .filter_map(|column| Selector::new(column))
                .collect();
        }
        Selector::new(field).into_iter().collect()
    }

    fn new(field: &str) -> Option<Selector> {
        let path = JsonPath::parse(field).ok()?;
        Some(Selector {
            name: field.to_owned(),
            path,
            listed: field.starts_with("p_any_"),
        })
    }

    /// The scalar values the field holds in `event` (arrays flattened), as strings.
    pub fn select(&self, event: &Map<String, Value>) -> Selected {
        let mut listed = self.listed;
        let mut values = Vec::new();
        for (_, value) in self.path.find(event) {
            match value {
                Value::Array(items) => {
                    listed = true;
                    values.extend(items.iter().filter_map(scalar_text));
                }
                other => values.extend(scalar_text(other)),
            }
        }
        Selected { values, listed }
    }
}

/// A string or number as text; other values are not keys.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ip_keys_are_canonical_other_keys_are_kept() {
        assert_eq!(exact_key(" 10.0.0.1 ").as_deref(), Some("10.0.0.1"));
        assert_eq!(exact_key("::ffff:10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(exact_key("2001:DB8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(
            exact_key("Evil.Example.com").as_deref(),
            Some("Evil.Example.com")
        );
        assert_eq!(exact_key(""), None);
    }

    #[test]
    fn cidr_keys_clear_host_bits() {
        assert_eq!(cidr_key("10.1.2.3/16"), Some(("10.1.0.0/16".into(), 16)));
        assert_eq!(cidr_key("192.0.2.7"), Some(("192.0.2.7/32".into(), 32)));
        assert_eq!(
            cidr_key("2001:db8::/32"),
            Some(("2001:db8::/32".into(), 32))
        );
        assert_eq!(
            cidr_key("::ffff:10.0.0.0/104"),
            Some(("10.0.0.0/8".into(), 8))
        );
        assert_eq!(cidr_key("not-a-range"), None);
    }

    #[test]
    fn a_masked_probe_equals_the_range_key_it_falls_in() {
        let ip: IpAddr = "10.1.200.9".parse().expect("ip");
        assert_eq!(masked_key(ip, 16), cidr_key("10.1.0.0/16").map(|k| k.0));
        assert_ne!(masked_key(ip, 24), cidr_key("10.1.2.0/24").map(|k| k.0));
        assert_eq!(masked_key(ip, 33), None);
    }

    #[test]
    fn selectors_flatten_arrays_and_mark_lists() {
        let event = json!({
            "sourceIPAddress": "1.2.3.4",
            "p_any_ip_addresses": ["1.2.3.4", "5.6.7.8"],
            "nested": {"ports": [22, 443]},
            "p_any_domain_names": ["a.example"]
        });
        let event = event.as_object().expect("object");
        let scalar = Selector::expand("sourceIPAddress").remove(0).select(event);
        assert_eq!(
            (scalar.values, scalar.listed),
            (vec!["1.2.3.4".into()], false)
        );
        let listed = Selector::expand("p_any_ip_addresses")
            .remove(0)
            .select(event);
        assert_eq!(listed.values.len(), 2);
        assert!(listed.listed);
        let ports = Selector::expand("nested.ports").remove(0).select(event);
        assert_eq!(
            (ports.values, ports.listed),
            (vec!["22".into(), "443".into()], true)
        );
        let all = Selector::expand("p_any_*");
        assert_eq!(all.len(), 12);
        let found: usize = all.iter().map(|s| s.select(event).values.len()).sum();
        assert_eq!(found, 3);
    }
}
