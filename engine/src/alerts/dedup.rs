//! Dedup windows and thresholds, as pure state with no dataflow in sight.
//!
//! Semantics (Panther's, on ingest epochs instead of wall clock):
//! * Matches are grouped by [`DedupKey`] `(rule_id, dedup string, is_error)`.
//! * A window opens at the epoch of the first match of its key and lasts
//!   `DedupPeriodMinutes`; a match at or after its end opens a new window (fixed
//!   windows anchored at the first match, not sliding).
//! * `Threshold` N: the window produces alerts only once it holds N matches. Rule errors
//!   ignore the threshold.
//! * Each epoch in which a window that reached its threshold gains matches yields one
//!   [`Alert`] update with the window's running event count; every update carries the
//!   same [`Alert::alert_id`], a hash of `(rule_id, dedup key, window start)`.
//!
//! ```
//! use corvid_engine::alerts::DedupWindows;
//! let mut windows = DedupWindows::default();
//! assert!(windows.observe_epoch(1_000, vec![]).is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::record::{Alert, AlertType};
use crate::event::format_timestamp;
use crate::rules::{OutcomeKind, RuleOutcome};
use crate::source::Epoch;

/// How many matched events an alert carries as samples.
pub const MAX_SAMPLES: usize = 10;

/// What alerts are grouped by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DedupKey {
    pub rule_id: String,
    pub dedup: String,
    pub is_error: bool,
}

impl DedupKey {
    pub fn of(outcome: &RuleOutcome) -> DedupKey {
        DedupKey {
            rule_id: outcome.rule_id.clone(),
            dedup: outcome.dedup.clone(),
            is_error: outcome.kind == OutcomeKind::Error,
        }
    }

    /// The dedup string as stored: rule errors get the `:error` suffix.
    pub fn dedup_string(&self) -> String {
        if self.is_error {
            format!("{}:error", self.dedup)
        } else {
            self.dedup.clone()
        }
    }

    /// The alert id of this key's window opened at `window_start`.
    pub fn alert_id(&self, window_start: Epoch) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.rule_id.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.dedup_string().as_bytes());
        hasher.update([0u8]);
        hasher.update(window_start.to_be_bytes());
        hex::encode(&hasher.finalize()[..16])
    }
}

/// One open window: the first outcome's alert fields and the running tallies.
#[derive(Clone, Debug)]
struct Window {
    start: Epoch,
    end: Epoch,
    threshold: u64,
    first: RuleOutcome,
    event_count: u64,
    first_event_time: String,
    last_event_time: String,
    log_types: BTreeSet<String>,
    samples: Vec<Value>,
}

impl Window {
    fn open(epoch: Epoch, outcome: RuleOutcome) -> Window {
        let period_ms = outcome.dedup_period_minutes.max(1).saturating_mul(60_000);
        let threshold = match outcome.kind {
            OutcomeKind::Error => 1,
            OutcomeKind::Match => outcome.threshold.max(1),
        };
        Window {
            start: epoch,
            end: epoch.saturating_add(period_ms),
            threshold,
            event_count: 0,
            first_event_time: outcome.event.event_time().to_owned(),
            last_event_time: outcome.event.event_time().to_owned(),
            log_types: BTreeSet::new(),
            samples: Vec::new(),
            first: outcome,
        }
    }

    fn add(&mut self, outcome: &RuleOutcome) {
        self.event_count += 1;
        let time = outcome.event.event_time();
        // The layout sorts lexicographically in time order.
        if time < self.first_event_time.as_str() {
            self.first_event_time = time.to_owned();
        }
        if time > self.last_event_time.as_str() {
            self.last_event_time = time.to_owned();
        }
        self.log_types.insert(outcome.log_type.clone());
        if self.samples.len() < MAX_SAMPLES {
            self.samples
                .push(Value::Object(outcome.event.fields().clone()));
        }
    }

    fn alert(&self, key: &DedupKey, update_epoch: Epoch) -> Alert {
        let first = &self.first;
        let (alert_type, title) = match first.kind {
            OutcomeKind::Match => (AlertType::Rule, first.title.clone()),
            OutcomeKind::Error => (
                AlertType::RuleError,
                format!("New rule error: {}: {}", first.rule_id, first.title),
            ),
        };
        Alert {
            alert_id: key.alert_id(self.start),
            alert_type,
            rule_id: first.rule_id.clone(),
            rule_version: first.rule_version.clone(),
            title,
            severity: first.severity.clone(),
            dedup_string: key.dedup_string(),
            dedup_period_minutes: first.dedup_period_minutes,
            threshold: self.threshold,
            event_count: self.event_count,
            creation_time: epoch_timestamp(self.start),
            update_time: epoch_timestamp(update_epoch),
            first_event_time: self.first_event_time.clone(),
            last_event_time: self.last_event_time.clone(),
            log_types: self.log_types.iter().cloned().collect(),
            display_name: first.display_name.clone(),
            description: first.description.clone(),
            reference: first.reference.clone(),
            runbook: first.runbook.clone(),
            tags: first.tags.clone(),
            reports: first.reports.clone(),
            destinations: first.destinations.clone(),
            alert_context: first.alert_context.as_deref().map(|text| {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
            }),
            error: first.error.clone(),
            samples: self.samples.clone(),
        }
    }
}

fn epoch_timestamp(epoch: Epoch) -> String {
    let time = chrono::DateTime::from_timestamp_millis(epoch as i64).unwrap_or_default();
    format_timestamp(&time)
}

/// All open windows of one worker.
#[derive(Debug, Default)]
pub struct DedupWindows {
    windows: BTreeMap<DedupKey, Window>,
}

impl DedupWindows {
    /// Applies every outcome of `epoch` and returns one alert update per window that
    /// gained matches and has reached its threshold.
    ///
    /// Epochs must be observed in increasing order. Within the epoch the outcomes are
    /// sorted first, so the result does not depend on their arrival order.
    pub fn observe_epoch(&mut self, epoch: Epoch, mut outcomes: Vec<RuleOutcome>) -> Vec<Alert> {
        outcomes.sort_by(|a, b| {
            (DedupKey::of(a), a.event.event_time(), a.event.row_id()).cmp(&(
                DedupKey::of(b),
                b.event.event_time(),
                b.event.row_id(),
            ))
        });
        let mut touched = BTreeSet::new();
        for outcome in outcomes {
            let key = DedupKey::of(&outcome);
            let expired = self
                .windows
                .get(&key)
                .is_some_and(|window| epoch >= window.end);
            if expired {
                self.windows.remove(&key);
            }
            let window = self
                .windows
                .entry(key.clone())
                .or_insert_with(|| Window::open(epoch, outcome.clone()));
            window.add(&outcome);
            touched.insert(key);
        }
        touched
            .into_iter()
            .filter_map(|key| {
                let window = self.windows.get(&key)?;
                (window.event_count >= window.threshold).then(|| window.alert(&key, epoch))
            })
            .collect()
    }

    /// Forgets windows that end at or before `epoch`: no match at or after `epoch` can
    /// join them.
    pub fn expire_before(&mut self, epoch: Epoch) {
        self.windows.retain(|_, window| window.end > epoch);
    }

    pub fn open_windows(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    const MINUTE: Epoch = 60_000;

    fn outcome(user: &str, row: &str, threshold: u64, kind: OutcomeKind) -> RuleOutcome {
        let mut fields = serde_json::Map::new();
        fields.insert("p_log_type".into(), "Osquery.Differential".into());
        fields.insert("p_row_id".into(), row.into());
        fields.insert(
            "p_event_time".into(),
            format!("2026-11-27 10:00:0{}.000000000", row.len() % 10).into(),
        );
        RuleOutcome {
            kind,
            rule_id: "Osquery.OutsideOfficeLogin".into(),
            rule_version: "v1".into(),
            log_type: "Osquery.Differential".into(),
            severity: "HIGH".into(),
            title: format!("login by {user}"),
            dedup: user.into(),
            dedup_period_minutes: 60,
            threshold,
            display_name: String::new(),
            description: String::new(),
            reference: String::new(),
            runbook: String::new(),
            tags: vec![],
            reports: Default::default(),
            destinations: None,
            alert_context: Some(r#"{"user":"x"}"#.into()),
            error: None,
            unique: None,
            create_alert: true,
            event: Event::from_fields(fields),
        }
    }

    fn matched(user: &str, row: &str) -> RuleOutcome {
        outcome(user, row, 1, OutcomeKind::Match)
    }

    #[test]
    fn one_alert_per_dedup_key_and_later_matches_update_it() {
        let mut windows = DedupWindows::default();
        let first = windows.observe_epoch(0, vec![matched("alice", "a1"), matched("bob", "b1")]);
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].event_count, 1);
        let alice_id = first
            .iter()
            .find(|a| a.dedup_string == "alice")
            .map(|a| a.alert_id.clone());

        let second = windows.observe_epoch(10 * MINUTE, vec![matched("alice", "a2")]);
        assert_eq!(
            second.len(),
            1,
            "only the window that changed is republished"
        );
        assert_eq!(
            Some(second[0].alert_id.clone()),
            alice_id,
            "same alert, updated"
        );
        assert_eq!(second[0].event_count, 2);
        assert_eq!(second[0].creation_time, epoch_timestamp(0));
        assert_eq!(second[0].update_time, epoch_timestamp(10 * MINUTE));
    }

    #[test]
    fn a_match_after_the_period_opens_a_new_alert() {
        let mut windows = DedupWindows::default();
        let first = windows.observe_epoch(0, vec![matched("alice", "a1")]);
        let later = windows.observe_epoch(60 * MINUTE, vec![matched("alice", "a2")]);
        assert_ne!(first[0].alert_id, later[0].alert_id);
        assert_eq!(later[0].event_count, 1);
    }

    #[test]
    fn threshold_holds_alerts_until_enough_matches_share_a_window() {
        let mut windows = DedupWindows::default();
        let three = |row| outcome("alice", row, 3, OutcomeKind::Match);
        assert!(windows.observe_epoch(0, vec![three("1")]).is_empty());
        assert!(windows.observe_epoch(MINUTE, vec![three("2")]).is_empty());
        let alerts = windows.observe_epoch(2 * MINUTE, vec![three("3")]);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].event_count, 3);
        // A new window starts counting from zero again.
        assert!(windows
            .observe_epoch(61 * MINUTE, vec![three("4")])
            .is_empty());
    }

    #[test]
    fn errors_ignore_threshold_and_dedup_apart_from_matches() {
        let mut windows = DedupWindows::default();
        let mut error = outcome("KeyError", "e1", 5, OutcomeKind::Error);
        error.error = Some("KeyError: 'columns'".into());
        let alerts = windows.observe_epoch(
            0,
            vec![error, outcome("KeyError", "m1", 1, OutcomeKind::Match)],
        );
        assert_eq!(alerts.len(), 2);
        let error_alert = alerts
            .iter()
            .find(|a| a.alert_type == AlertType::RuleError)
            .expect("error alert");
        assert_eq!(error_alert.dedup_string, "KeyError:error");
        assert!(error_alert.title.starts_with("New rule error:"));
        assert_eq!(error_alert.error.as_deref(), Some("KeyError: 'columns'"));
        assert_ne!(alerts[0].alert_id, alerts[1].alert_id);
    }

    #[test]
    fn arrival_order_within_an_epoch_does_not_change_the_result() {
        let batch = vec![
            matched("alice", "a2"),
            matched("alice", "a1"),
            matched("bob", "b1"),
        ];
        let mut reversed = batch.clone();
        reversed.reverse();
        let a = DedupWindows::default().observe_epoch(5, batch);
        let b = DedupWindows::default().observe_epoch(5, reversed);
        assert_eq!(a, b);
    }

    #[test]
    fn windows_expire_once_the_frontier_passes_their_end() {
        let mut windows = DedupWindows::default();
        windows.observe_epoch(0, vec![matched("alice", "a1")]);
        windows.expire_before(60 * MINUTE - 1);
        assert_eq!(windows.open_windows(), 1);
        windows.expire_before(60 * MINUTE);
        assert_eq!(windows.open_windows(), 0);
    }
}
