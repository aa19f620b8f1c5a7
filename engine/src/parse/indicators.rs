//! Indicator extraction: the `p_any_*` arrays.
//!
//! Values are normalized the way Panther's scanners do (trimmed; IP addresses must parse
//! and are written in canonical form), then de-duplicated and sorted. An empty array is
//! omitted, as Panther omits it.
//!
//! ```
//! use corvid_engine::parse::indicators::Indicators;
//! let mut found = Indicators::default();
//! found.add_hostname(" 203.0.113.7 ");   // an IP goes to p_any_ip_addresses
//! found.add_hostname("db.example.com");  // anything else to p_any_domain_names
//! found.add_ip("not an ip");             // refused silently, as Panther's scanner does
//! let mut fields = serde_json::Map::new();
//! found.write_into(&mut fields);
//! assert_eq!(fields["p_any_ip_addresses"], serde_json::json!(["203.0.113.7"]));
//! assert_eq!(fields["p_any_domain_names"], serde_json::json!(["db.example.com"]));
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{Map, Value};

/// The indicators found in one event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Indicators {
    ip_addresses: BTreeSet<String>,
    domain_names: BTreeSet<String>,
}

impl Indicators {
    /// Adds `value` to `p_any_ip_addresses` if it parses as an IPv4 or IPv6 address.
    pub fn add_ip(&mut self, value: &str) {
        if let Ok(ip) = value.trim().parse::<IpAddr>() {
            self.ip_addresses.insert(ip.to_string());
        }
    }

    /// Adds a non-empty `value` to `p_any_domain_names`.
    pub fn add_domain(&mut self, value: &str) {
        let value = value.trim();
        if !value.is_empty() {
            self.domain_names.insert(value.to_owned());
        }
    }

    /// A hostname field: an IP address if it parses as one, a domain name otherwise.
    pub fn add_hostname(&mut self, value: &str) {
        match value.trim().parse::<IpAddr>() {
            Ok(ip) => {
                self.ip_addresses.insert(ip.to_string());
            }
            Err(_) => self.add_domain(value),
        }
    }

    /// Writes the non-empty arrays as `p_any_*` fields.
    pub fn write_into(self, fields: &mut Map<String, Value>) {
        for (name, values) in [
            ("p_any_ip_addresses", self.ip_addresses),
            ("p_any_domain_names", self.domain_names),
        ] {
            if !values.is_empty() {
                fields.insert(
                    name.to_owned(),
                    Value::from(values.into_iter().collect::<Vec<_>>()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_deduplicated_sorted_and_canonical() {
        let mut found = Indicators::default();
        for ip in ["10.0.0.2", " 10.0.0.1", "10.0.0.2", "2001:DB8::1"] {
            found.add_ip(ip);
        }
        let mut fields = Map::new();
        found.write_into(&mut fields);
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
    fn blank_values_are_not_indicators() {
        let mut found = Indicators::default();
        found.add_domain("  ");
        found.add_hostname("");
        found.add_ip("");
        let mut fields = Map::new();
        found.write_into(&mut fields);
        assert!(fields.is_empty());
    }
}
