//! `InlineFilters`: declarative conditions a rule's events must meet before `rule()` runs.
//!
//! ```yaml
//! InlineFilters:
//!   - KeyPath: eventSource            # or Key; dots descend, numbers index arrays
//!     Condition: Equals
//!     Value: s3.amazonaws.com
//!   - Any:                            # All / Any nest
//!       - {KeyPath: userIdentity.type, Condition: IsIn, Values: [Root, IAMUser]}
//!       - {KeyPath: errorCode, Condition: IsNull}
//! ```
//!
//! The top-level list must all hold. Conditions: `Equals`, `DoesNotEqual`, `IsIn`,
//! `IsNotIn`, `Contains`, `DoesNotContain`, `StartsWith`, `DoesNotStartWith`, `EndsWith`,
//! `DoesNotEndWith`, `IsNull`, `IsNotNull`, `IsNullOrEmpty`, `IsNotNullOrEmpty`,
//! `IsGreaterThan`, `IsGreaterThanOrEqualTo`, `IsLessThan`, `IsLessThanOrEqualTo`.
//! A condition on a field that is absent is false, except the null tests (and the
//! negated ones, which are true). Equality of numbers is numeric (`1` equals `1.0`).
//!
//! Filters run on the event stream only: `pat test` without a Panther backend skips
//! them, and so does `corvid rules test`, so that both give the same verdicts.

use serde_json::{Map, Value};

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Match {
        path: Vec<String>,
        condition: Condition,
        operand: Operand,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Condition {
    Equals,
    DoesNotEqual,
    IsIn,
    IsNotIn,
    Contains,
    DoesNotContain,
    StartsWith,
    DoesNotStartWith,
    EndsWith,
    DoesNotEndWith,
    IsNull,
    IsNotNull,
    IsNullOrEmpty,
    IsNotNullOrEmpty,
    IsGreaterThan,
    IsGreaterThanOrEqualTo,
    IsLessThan,
    IsLessThanOrEqualTo,
}

/// `Value`, `Values` or nothing.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    None,
    One(Value),
    Many(Vec<Value>),
}

impl Condition {
    fn parse(name: &str) -> Option<Condition> {
        use Condition::*;
        Some(match name {
            "Equals" => Equals,
            "DoesNotEqual" => DoesNotEqual,
            "IsIn" => IsIn,
            "IsNotIn" => IsNotIn,
            "Contains" => Contains,
            "DoesNotContain" => DoesNotContain,
            "StartsWith" => StartsWith,
            "DoesNotStartWith" => DoesNotStartWith,
            "EndsWith" => EndsWith,
            "DoesNotEndWith" => DoesNotEndWith,
            "IsNull" => IsNull,
            "IsNotNull" => IsNotNull,
            "IsNullOrEmpty" => IsNullOrEmpty,
            "IsNotNullOrEmpty" => IsNotNullOrEmpty,
            "IsGreaterThan" => IsGreaterThan,
            "IsGreaterThanOrEqualTo" => IsGreaterThanOrEqualTo,
            "IsLessThan" => IsLessThan,
            "IsLessThanOrEqualTo" => IsLessThanOrEqualTo,
            _ => return None,
        })
    }

    fn operand(self) -> &'static str {
        use Condition::*;
        match self {
            IsIn | IsNotIn => "Values",
            IsNull | IsNotNull | IsNullOrEmpty | IsNotNullOrEmpty => "",
            _ => "Value",
        }
    }
}

impl Filter {
    /// Parses the YAML value of `InlineFilters` (a list, all of which must hold).
    pub(crate) fn parse(value: &Value) -> Result<Filter, String> {
        let Value::Array(items) = value else {
            return Err("must be a list".to_string());
        };
        Ok(Filter::All(
            items
                .iter()
                .map(Filter::parse_item)
                .collect::<Result<_, _>>()?,
        ))
    }

    fn parse_item(item: &Value) -> Result<Filter, String> {
        let Value::Object(entry) = item else {
            return Err(format!("expected a mapping, got {item}"));
        };
        for (group, make) in [
            ("All", Filter::All as fn(Vec<Filter>) -> Filter),
            ("Any", Filter::Any),
        ] {
            if let Some(nested) = entry.get(group) {
                if entry.len() != 1 {
                    return Err(format!("`{group}` must stand alone in its mapping"));
                }
                let Value::Array(nested) = nested else {
                    return Err(format!("`{group}` must be a list"));
                };
                return Ok(make(
                    nested
                        .iter()
                        .map(Filter::parse_item)
                        .collect::<Result<_, _>>()?,
                ));
            }
        }
        let known = ["Key", "KeyPath", "DeepKey", "Condition", "Value", "Values"];
        if let Some(unknown) = entry.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(format!("unknown key `{unknown}`"));
        }
        let path: Vec<String> = match (
            entry.get("KeyPath").or(entry.get("Key")),
            entry.get("DeepKey"),
        ) {
            (Some(Value::String(path)), None) => path.split('.').map(str::to_string).collect(),
            (None, Some(Value::Array(keys))) => keys
                .iter()
                .map(|key| match key {
                    Value::String(key) => Ok(key.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!("DeepKey entry {other} is not a string")),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("needs exactly one of KeyPath (or Key) and DeepKey".to_string()),
        };
        let name = entry
            .get("Condition")
            .and_then(Value::as_str)
            .ok_or("missing Condition")?;
        let condition =
            Condition::parse(name).ok_or_else(|| format!("unsupported Condition `{name}`"))?;
        let operand = match (condition.operand(), entry.get("Value"), entry.get("Values")) {
            ("", None, None) => Operand::None,
            ("Value", Some(value), None) => Operand::One(value.clone()),
            ("Values", None, Some(Value::Array(values))) => Operand::Many(values.clone()),
            ("", _, _) => return Err(format!("Condition {name} takes no Value")),
            (wanted, _, _) => return Err(format!("Condition {name} needs `{wanted}`")),
        };
        Ok(Filter::Match {
            path,
            condition,
            operand,
        })
    }

    /// Whether `event` passes the filter.
    pub(crate) fn matches(&self, event: &Map<String, Value>) -> bool {
        match self {
            Filter::All(filters) => filters.iter().all(|filter| filter.matches(event)),
            Filter::Any(filters) => filters.iter().any(|filter| filter.matches(event)),
            Filter::Match {
                path,
                condition,
                operand,
            } => check(resolve(event, path), *condition, operand),
        }
    }
}

fn resolve<'a>(event: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = key(event, first)?;
    for step in rest {
        value = match value {
            Value::Object(object) => key(object, step)?,
            Value::Array(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn key<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        let lower = name.to_lowercase();
        object
            .iter()
            .find(|(candidate, _)| candidate.to_lowercase() == lower)
            .map(|(_, value)| value)
    })
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn check(value: Option<&Value>, condition: Condition, operand: &Operand) -> bool {
    use Condition::*;
    let one = match operand {
        Operand::One(value) => Some(value),
        _ => None,
    };
    let many: &[Value] = match operand {
        Operand::Many(values) => values,
        _ => &[],
    };
    let is_null = matches!(value, None | Some(Value::Null));
    let is_empty = is_null
        || match value {
            Some(Value::String(text)) => text.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Object(object)) => object.is_empty(),
            _ => false,
        };
    let text = |f: fn(&str, &str) -> bool| match (value, one) {
        (Some(Value::String(value)), Some(Value::String(wanted))) => f(value, wanted),
        _ => false,
    };
    let number = |f: fn(f64, f64) -> bool| match (
        value.and_then(Value::as_f64),
        one.and_then(Value::as_f64),
    ) {
        (Some(value), Some(wanted)) => f(value, wanted),
        _ => false,
    };
    let contains = || match (value, one) {
        (Some(Value::String(value)), Some(Value::String(wanted))) => {
            value.contains(wanted.as_str())
        }
        (Some(Value::Array(items)), Some(wanted)) => items.iter().any(|item| equal(item, wanted)),
        _ => false,
    };
    let is_in = || value.is_some_and(|value| many.iter().any(|wanted| equal(value, wanted)));
    let equals = || match (value, one) {
        (Some(value), Some(wanted)) => equal(value, wanted),
        _ => false,
    };
    match condition {
        Equals => equals(),
        DoesNotEqual => !equals(),
        IsIn => is_in(),
        IsNotIn => !is_in(),
        Contains => contains(),
        DoesNotContain => !contains(),
        StartsWith => text(|v, w| v.starts_with(w)),
        DoesNotStartWith => !text(|v, w| v.starts_with(w)),
        EndsWith => text(|v, w| v.ends_with(w)),
        DoesNotEndWith => !text(|v, w| v.ends_with(w)),
        IsNull => is_null,
        IsNotNull => !is_null,
        IsNullOrEmpty => is_empty,
        IsNotNullOrEmpty => !is_empty,
        IsGreaterThan => number(|v, w| v > w),
        IsGreaterThanOrEqualTo => number(|v, w| v >= w),
        IsLessThan => number(|v, w| v < w),
        IsLessThanOrEqualTo => number(|v, w| v <= w),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passes(filters: Value, event: Value) -> bool {
        let filter = Filter::parse(&filters).unwrap_or_else(|err| panic!("{err}"));
        filter.matches(event.as_object().expect("object"))
    }

    #[test]
    fn conditions() {
        let event = json!({
            "eventSource": "s3.amazonaws.com",
            "user": {"type": "Root", "tags": ["a", "b"]},
            "count": 5,
            "empty": "",
            "nothing": null
        });
        let cases = [
            (
                json!({"KeyPath": "eventSource", "Condition": "Equals", "Value": "s3.amazonaws.com"}),
                true,
            ),
            (
                json!({"Key": "eventsource", "Condition": "DoesNotEqual", "Value": "x"}),
                true,
            ),
            (
                json!({"KeyPath": "user.type", "Condition": "IsIn", "Values": ["Root", "IAMUser"]}),
                true,
            ),
            (
                json!({"DeepKey": ["user", "type"], "Condition": "IsNotIn", "Values": ["Root"]}),
                false,
            ),
            (
                json!({"KeyPath": "user.tags", "Condition": "Contains", "Value": "b"}),
                true,
            ),
            (
                json!({"KeyPath": "user.tags.1", "Condition": "Equals", "Value": "b"}),
                true,
            ),
            (
                json!({"KeyPath": "eventSource", "Condition": "StartsWith", "Value": "s3."}),
                true,
            ),
            (
                json!({"KeyPath": "eventSource", "Condition": "EndsWith", "Value": ".org"}),
                false,
            ),
            (json!({"KeyPath": "missing", "Condition": "IsNull"}), true),
            (
                json!({"KeyPath": "nothing", "Condition": "IsNotNull"}),
                false,
            ),
            (
                json!({"KeyPath": "empty", "Condition": "IsNullOrEmpty"}),
                true,
            ),
            (
                json!({"KeyPath": "count", "Condition": "IsGreaterThan", "Value": 4}),
                true,
            ),
            (
                json!({"KeyPath": "count", "Condition": "IsLessThanOrEqualTo", "Value": 4.5}),
                false,
            ),
            (
                json!({"KeyPath": "count", "Condition": "Equals", "Value": 5.0}),
                true,
            ),
            (
                json!({"KeyPath": "missing", "Condition": "DoesNotContain", "Value": "x"}),
                true,
            ),
        ];
        for (filter, expected) in cases {
            assert_eq!(
                passes(json!([filter.clone()]), event.clone()),
                expected,
                "{filter}"
            );
        }
        let any = json!([{"Any": [
            {"KeyPath": "count", "Condition": "Equals", "Value": 1},
            {"All": [{"KeyPath": "count", "Condition": "Equals", "Value": 5}]}
        ]}]);
        assert!(passes(any, event));
    }

    #[test]
    fn malformed_filters_are_errors() {
        for bad in [
            json!({"KeyPath": "a"}),
            json!([{"KeyPath": "a", "Condition": "Matches", "Value": "x"}]),
            json!([{"KeyPath": "a", "Condition": "IsIn", "Value": "x"}]),
            json!([{"KeyPath": "a", "Condition": "IsNull", "Value": "x"}]),
            json!([{"Keypath": "a", "Condition": "IsNull"}]),
        ] {
            assert!(Filter::parse(&bad).is_err(), "{bad}");
        }
    }
}
