//! Which destinations an alert goes to: Panther's routing order.
//!
//! 1. The rule's `destinations()` override (the alert's `destinations` field), when the
//!    alert has one. An empty list, or one holding `SKIP`, sends the alert nowhere.
//! 2. Otherwise the rule's `OutputIds` (the alert's `outputIds`), when non-empty.
//! 3. Otherwise the destinations configured for the alert's severity.
//!
//! Names in 1 and 2 match a destination's id or its name. A name that matches nothing is
//! reported back (the forwarder logs it) and the rest still route: one typo must not
//! silence the others. A destination named twice (by id and by name) is routed once.

use std::collections::BTreeMap;

use super::alert::{Alert, Severity};
use super::destinations::Destination;

/// Panther's destination name that suppresses delivery.
pub const SKIP: &str = "SKIP";

/// Where a route came from, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteSource {
    /// The rule's `destinations()` override.
    Override,
    /// The rule's `OutputIds`.
    OutputIds,
    /// The forwarder's `severity_routes`.
    Severity,
}

/// The outcome of routing one alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub source: RouteSource,
    /// Indices into the configured destinations, in the order named, without repeats.
    pub destinations: Vec<usize>,
    /// Names that matched no destination.
    pub unknown: Vec<String>,
}

/// Destination lookup by id or name, and the severity routes, resolved once.
#[derive(Clone, Debug, Default)]
pub struct RoutingTable {
    by_name: BTreeMap<String, usize>,
    by_severity: BTreeMap<Severity, Vec<usize>>,
}

impl RoutingTable {
    /// Resolves `severity_routes` (ids or names per severity) against `destinations`.
    ///
    /// The caller has checked that ids and names are unambiguous; an unknown name in a
    /// severity route is a config error naming its key.
    pub fn new(
        destinations: &[Destination],
        severity_routes: &BTreeMap<Severity, Vec<String>>,
    ) -> Result<RoutingTable, String> {
        let mut table = RoutingTable::default();
        for (index, destination) in destinations.iter().enumerate() {
            table.by_name.insert(destination.id.clone(), index);
            table.by_name.insert(destination.name.clone(), index);
        }
        for (severity, names) in severity_routes {
            let mut resolved = Vec::new();
            for (position, name) in names.iter().enumerate() {
                let Some(&index) = table.by_name.get(name) else {
                    return Err(format!(
                        "severity_routes.{severity}[{position}]: no destination has the id or name {name:?}"
                    ));
                };
                if !resolved.contains(&index) {
                    resolved.push(index);
                }
            }
            table.by_severity.insert(*severity, resolved);
        }
        Ok(table)
    }

    pub fn route(&self, alert: &Alert) -> Route {
        if let Some(names) = &alert.destinations {
            if names.is_empty() || names.iter().any(|name| name == SKIP) {
                return Route {
                    source: RouteSource::Override,
                    destinations: Vec::new(),
                    unknown: Vec::new(),
                };
            }
            return self.by_names(RouteSource::Override, names);
        }
        if let Some(names) = alert.output_ids.as_ref().filter(|ids| !ids.is_empty()) {
            return self.by_names(RouteSource::OutputIds, names);
        }
        Route {
            source: RouteSource::Severity,
            destinations: alert
                .severity_level()
                .and_then(|severity| self.by_severity.get(&severity))
                .cloned()
                .unwrap_or_default(),
            unknown: Vec::new(),
        }
    }

    fn by_names(&self, source: RouteSource, names: &[String]) -> Route {
        let mut route = Route {
            source,
            destinations: Vec::new(),
            unknown: Vec::new(),
        };
        for name in names {
            match self.by_name.get(name) {
                Some(index) if !route.destinations.contains(index) => {
                    route.destinations.push(*index)
                }
                Some(_) => {}
                None => route.unknown.push(name.clone()),
            }
        }
        route
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::{webhook::Webhook, DestinationKind, Notify};
    use crate::alerts::secret::Secret;
    use serde_json::json;

    fn destination(id: &str, name: &str) -> Destination {
        Destination {
            id: id.into(),
            name: name.into(),
            notify: Notify::First,
            kind: DestinationKind::Webhook(Webhook {
                url: Secret::new(url::Url::parse("http://127.0.0.1/").expect("url")),
                secret: None,
            }),
        }
    }

    fn table() -> RoutingTable {
        let destinations = [
            destination("slack-soc", "SOC Slack"),
            destination("pd-oncall", "On-call"),
            destination("jira-sec", "Security Jira"),
        ];
        let routes = BTreeMap::from([
            (
                Severity::Critical,
                vec!["pd-oncall".to_owned(), "SOC Slack".to_owned()],
            ),
            (Severity::High, vec!["slack-soc".to_owned()]),
        ]);
        RoutingTable::new(&destinations, &routes).expect("valid routes")
    }

    fn alert(fields: serde_json::Value) -> Alert {
        let mut json = json!({"alertId": "a", "severity": "CRITICAL"});
        if let (Some(base), Some(extra)) = (json.as_object_mut(), fields.as_object()) {
            base.extend(extra.clone());
        }
        Alert::from_json(json).expect("alert")
    }

    #[test]
    fn the_destinations_override_wins_over_output_ids_and_severity() {
        let route = table().route(&alert(json!({
            "destinations": ["Security Jira", "nope", "jira-sec"],
            "outputIds": ["slack-soc"],
        })));
        assert_eq!(route.source, RouteSource::Override);
        assert_eq!(route.destinations, vec![2]);
        assert_eq!(route.unknown, vec!["nope".to_owned()]);
    }

    #[test]
    fn output_ids_win_over_severity_when_not_empty() {
        let route = table().route(&alert(json!({"outputIds": ["On-call"]})));
        assert_eq!(route.source, RouteSource::OutputIds);
        assert_eq!(route.destinations, vec![1]);
        let route = table().route(&alert(json!({"outputIds": []})));
        assert_eq!(route.source, RouteSource::Severity);
    }

    #[test]
    fn severity_routes_are_the_fallback_case_insensitively() {
        assert_eq!(table().route(&alert(json!({}))).destinations, vec![1, 0]);
        let high = table().route(&alert(json!({"severity": "High"})));
        assert_eq!(high.destinations, vec![0]);
        let low = table().route(&alert(json!({"severity": "LOW"})));
        assert!(low.destinations.is_empty() && low.unknown.is_empty());
        let unknown = table().route(&alert(json!({"severity": "SEVERE"})));
        assert!(unknown.destinations.is_empty());
    }

    #[test]
    fn an_empty_override_or_skip_sends_nowhere() {
        for names in [json!([]), json!(["slack-soc", "SKIP"])] {
            let route = table().route(&alert(json!({"destinations": names})));
            assert_eq!(route.source, RouteSource::Override);
            assert!(route.destinations.is_empty());
        }
    }

    #[test]
    fn a_severity_route_to_an_unknown_destination_names_its_key() {
        let routes = BTreeMap::from([(Severity::Low, vec!["x".to_owned(), "y".to_owned()])]);
        let destinations = [destination("x", "X")];
        assert_eq!(
            RoutingTable::new(&destinations, &routes).err().as_deref(),
            Some("severity_routes.LOW[1]: no destination has the id or name \"y\"")
        );
    }
}
