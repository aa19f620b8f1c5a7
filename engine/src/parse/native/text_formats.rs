//! Native parsers of the text formats log types.
//!
//! Despite the module's name, the log types here are JSON lines whose acceptance rule a
//! schema alone cannot state:
//!
//! * `GitLab.Production`: a Rails controller log line. GitLab's API log lines carry almost
//!   the same fields, so Panther accepted a line as `GitLab.Production` only when it has
//!   an `action` (a controller action) or, for redirects, an `etag_route`.
//! * `Crowdstrike.Unknown`: the catch-all for Falcon Data Replicator events no other
//!   Crowdstrike log type claims. Panther stored the whole event as `unknown_payload`
//!   next to the common fields; the schema refuses the event names other types claim.

use serde_json::{Map, Value};

use super::{json_object, NativeParser, ParseContext};
use crate::parse::ParseRefusal;

/// The native parser of this group called `name`, if any.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    match name {
        "GitLab.Production" => Some(Box::new(GitLabProduction)),
        "Crowdstrike.Unknown" => Some(Box::new(CrowdstrikeUnknown)),
        _ => None,
    }
}

/// Looks a key up as the schema normalizer does: exact first, then ignoring ASCII case.
fn member<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// `GitLab.Production`: a JSON object with an `action` or an `etag_route`.
#[derive(Debug)]
struct GitLabProduction;

impl NativeParser for GitLabProduction {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let object = json_object(line)?;
        let present = |name: &str| member(&object, name).is_some_and(|v| !v.is_null());
        if present("action") || present("etag_route") {
            Ok(vec![object])
        } else {
            Err(ParseRefusal::new(
                "neither action nor etag_route is set: probably a GitLab.API line",
            ))
        }
    }
}

/// The member holding an unclaimed Crowdstrike event's whole JSON object.
const UNKNOWN_PAYLOAD: &str = "unknown_payload";

/// `Crowdstrike.Unknown`: the JSON object, plus itself as `unknown_payload`.
#[derive(Debug)]
struct CrowdstrikeUnknown;

impl NativeParser for CrowdstrikeUnknown {
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let mut object = json_object(line)?;
        let payload = Value::Object(object.clone());
        object.insert(UNKNOWN_PAYLOAD.to_owned(), payload);
        Ok(vec![object])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::LogTypeRegistry;
    use serde_json::json;

    fn split(name: &str, line: &str) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        let parser = lookup(name).expect("registered");
        let mut state = None;
        let out = parser.split(
            line.as_bytes(),
            &mut state,
            &crate::parse::native::test_context(),
        );
        assert!(state.is_none(), "these parsers are stateless");
        out
    }

    #[test]
    fn gitlab_production_needs_an_action_or_an_etag_route() {
        let base = r#""method":"GET","path":"/","status":200,"time":"2020-01-01T00:00:00Z","duration_s":0.1"#;
        assert!(split(
            "GitLab.Production",
            &format!(r#"{{{base},"action":"show"}}"#)
        )
        .is_ok());
        assert!(split(
            "GitLab.Production",
            &format!(r#"{{{base},"etag_route":"project_pipelines"}}"#)
        )
        .is_ok());
        assert!(split(
            "GitLab.Production",
            &format!(r#"{{{base},"Action":"show"}}"#)
        )
        .is_ok());
        let refused = split("GitLab.Production", &format!(r#"{{{base},"action":null}}"#))
            .expect_err("an API line");
        assert!(refused.0.contains("GitLab.API"), "{refused}");
        assert!(split("GitLab.Production", "[1]").is_err());
        assert!(split("GitLab.Production", "not json").is_err());
    }

    #[test]
    fn crowdstrike_unknown_keeps_the_whole_event() {
        let out = split(
            "Crowdstrike.Unknown",
            r#"{"event_simpleName":"OsVersionInfo","name":"OsVersionInfoV1","n":[1]}"#,
        )
        .expect("parses");
        assert_eq!(
            out[0][UNKNOWN_PAYLOAD],
            json!({"event_simpleName":"OsVersionInfo","name":"OsVersionInfoV1","n":[1]})
        );
        assert_eq!(out[0]["event_simpleName"], "OsVersionInfo");
    }

    fn allowed_names(registry: &LogTypeRegistry, log_type: &str) -> Vec<String> {
        let parser = registry.get(log_type).expect("built-in");
        let field = parser
            .schema()
            .fields
            .iter()
            .find(|f| f.name == "event_simpleName")
            .expect("has event_simpleName");
        let rule = field.validate.as_ref().expect("validated");
        assert!(field.required, "{log_type}: event_simpleName is required");
        rule.allow.clone()
    }

    /// `Crowdstrike.Unknown` must refuse exactly the names the other types claim (and
    /// the empty name), or an event would be parsed twice or not at all.
    #[test]
    fn crowdstrike_unknown_denies_exactly_the_claimed_event_names() {
        let registry = LogTypeRegistry::builtin().expect("built-in schemas");
        let mut claimed: Vec<String> = registry
            .names()
            .filter(|name| name.starts_with("Crowdstrike."))
            .filter(|name| {
                registry
                    .get(name)
                    .expect("listed")
                    .schema()
                    .fields
                    .iter()
                    .any(|f| f.name == "event_simpleName")
            })
            .filter(|name| *name != "Crowdstrike.Unknown")
            .flat_map(|name| allowed_names(&registry, name))
            .collect();
        claimed.push(String::new());
        claimed.sort();
        let unknown = registry.get("Crowdstrike.Unknown").expect("built-in");
        let field = unknown
            .schema()
            .fields
            .iter()
            .find(|f| f.name == "event_simpleName")
            .expect("has event_simpleName");
        assert!(field.required);
        let mut denied = field.validate.as_ref().expect("validated").deny.clone();
        denied.sort();
        assert_eq!(denied, claimed);
    }
}
