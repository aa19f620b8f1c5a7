//! The alert's facts in the forms vendors display: label/value pairs, plain text,
//! Markdown. One list of facts, so every destination shows the same things.

use serde_json::Value;

use crate::alerts::alert::Alert;

/// The labelled facts of an alert, in display order, empty ones left out.
pub(crate) fn facts(alert: &Alert) -> Vec<(&'static str, String)> {
    let reports: Vec<String> = alert
        .reports
        .iter()
        .map(|(framework, ids)| format!("{framework}: {}", ids.join(", ")))
        .collect();
    let candidates = [
        ("Severity", alert.severity.clone()),
        ("Rule", alert.rule_name().to_owned()),
        ("Rule ID", alert.rule_id.clone()),
        ("Events", alert.event_count.to_string()),
        ("Log types", alert.log_types.join(", ")),
        ("First event", alert.first_event_time.clone()),
        ("Last event", alert.last_event_time.clone()),
        ("Alert ID", alert.alert_id.clone()),
        ("Tags", alert.tags.join(", ")),
        ("Reports", reports.join("; ")),
        ("Runbook", alert.runbook.clone()),
        ("Reference", alert.reference.clone()),
        ("Error", alert.error.clone().unwrap_or_default()),
    ];
    candidates
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect()
}

/// The alert context as indented JSON, if the rule returned one.
pub(crate) fn context(alert: &Alert) -> Option<String> {
    match &alert.alert_context {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) if map.is_empty() => None,
        Some(context) => serde_json::to_string_pretty(context).ok(),
    }
}

/// Description, then one `Label: value` line per fact, then the context.
pub(crate) fn plain_text(alert: &Alert) -> String {
    let mut text = String::new();
    if !alert.description.is_empty() {
        text.push_str(&alert.description);
        text.push_str("\n\n");
    }
    for (label, value) in facts(alert) {
        text.push_str(&format!("{label}: {value}\n"));
    }
    if let Some(context) = context(alert) {
        text.push_str(&format!("\nAlert context:\n{context}\n"));
    }
    text
}

/// The same in GitHub-flavoured Markdown.
pub(crate) fn markdown(alert: &Alert) -> String {
    let mut text = String::new();
    if !alert.description.is_empty() {
        text.push_str(&alert.description);
        text.push_str("\n\n");
    }
    text.push_str("| | |\n|---|---|\n");
    for (label, value) in facts(alert) {
        let value = value.replace('|', "\\|").replace('\n', " ");
        text.push_str(&format!("| **{label}** | {value} |\n"));
    }
    if let Some(context) = context(alert) {
        text.push_str(&format!("\n**Alert context**\n\n```json\n{context}\n```\n"));
    }
    text.push_str("\n_Sent by Corvid._\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::sample_alert;

    #[test]
    fn facts_skip_empty_fields_and_keep_their_order() {
        let mut alert = sample_alert();
        alert.runbook.clear();
        let labels: Vec<&str> = facts(&alert).into_iter().map(|(label, _)| label).collect();
        assert_eq!(
            labels,
            [
                "Severity",
                "Rule",
                "Rule ID",
                "Events",
                "Log types",
                "First event",
                "Last event",
                "Alert ID",
                "Tags",
                "Reports",
                "Reference"
            ]
        );
        assert!(plain_text(&alert).contains("Reports: MITRE ATT&CK: TA0001:T1078\n"));
        assert!(markdown(&alert).contains("\"ip\": \"203.0.113.7\""));
    }
}
