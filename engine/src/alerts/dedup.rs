//! Dedup windows and thresholds, as pure state with no dataflow in sight.
//!
//! Semantics (Panther's, on ingest epochs instead of wall clock):
//! * Matches are grouped by [`DedupKey`] `(rule_id, dedup string, is_error)`.
//! * A window opens at the epoch of the first match of its key and lasts
//!   `DedupPeriodMinutes`; a match at or after its end opens a new window (fixed
//!   windows anchored at the first match, not sliding).
//! * `Threshold` N: the window produces alerts only once it holds N matches — or, for a
//!   rule with `unique()`, N distinct `unique` values. Rule errors ignore the threshold.
//! * Each epoch in which a window that reached its threshold gains matches yields one
//!   [`Alert`] update with the window's running event count; every update carries the
//!   same [`Alert::alert_id`], a hash of `(rule_id, dedup key, window start)`. The alert's
//!   `creationTime` is the epoch the threshold was reached (Panther's alert creation),
//!   the window start when the threshold is 1.
//! * Every outcome comes back out annotated with its window ([`AlertedOutcome`]) for the
//!   `rule_matches` / `rule_errors` records, whether or not the threshold was reached —
//!   as Panther writes every match with its `p_alert_id`. Signal rules (`CreateAlert:
//!   false`) open no window and carry no alert.
//!
//! ```
//! use corvid_engine::alerts::DedupWindows;
//! let mut windows = DedupWindows::default();
//! assert!(windows.observe_epoch(1_000, vec![]).alerts.is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::record::{Alert, AlertType};
use crate::event::epoch_timestamp;
use crate::event::Event;
use crate::rules::{OutcomeKind, RuleOutcome};
use crate::source::Epoch;

/// How many matched events an alert carries as samples.
pub const MAX_SAMPLES: usize = 10;

/// What alerts are grouped by.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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

/// The alert window an outcome fell into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowRef {
    pub alert_id: String,
    /// The window's first match (`p_alert_creation_time`).
    pub created: Epoch,
    /// The epoch of this outcome (`p_alert_update_time`).
    pub updated: Epoch,
}

/// A rule outcome with the window it joined; `window` is `None` for signal rules.
#[derive(Clone, Debug)]
pub struct AlertedOutcome {
    pub outcome: RuleOutcome,
    pub window: Option<WindowRef>,
}

/// What one epoch of outcomes produced.
#[derive(Debug, Default)]
pub struct EpochAlerts {
    /// One update per window that gained matches and has reached its threshold.
    pub alerts: Vec<Alert>,
    /// Every outcome of the epoch, in the order they were applied.
    pub outcomes: Vec<AlertedOutcome>,
}

/// One open window: the first outcome's alert fields and the running tallies.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// `DedupKey::alert_id(start)`, hashed once.
    alert_id: String,
    start: Epoch,
    end: Epoch,
    threshold: u64,
    /// The epoch the threshold was reached: the alert exists from then on.
    alerted: Option<Epoch>,
    /// Distinct `unique()` values seen, kept only until the threshold is reached.
    uniques: BTreeSet<String>,
    first: RuleOutcome,
    event_count: u64,
    first_event_time: String,
    last_event_time: String,
    log_types: BTreeSet<String>,
    /// Shared with the outcomes, turned into JSON only when an alert is built.
    samples: Vec<Event>,
}

impl Window {
    fn open(key: &DedupKey, epoch: Epoch, outcome: RuleOutcome) -> Window {
        let period_ms = outcome.dedup_period_minutes.max(1).saturating_mul(60_000);
        let threshold = match outcome.kind {
            OutcomeKind::Error => 1,
            OutcomeKind::Match => outcome.threshold.max(1),
        };
        Window {
            alert_id: key.alert_id(epoch),
            start: epoch,
            end: epoch.saturating_add(period_ms),
            threshold,
            alerted: None,
            uniques: BTreeSet::new(),
            event_count: 0,
            first_event_time: outcome.event.event_time().to_owned(),
            last_event_time: outcome.event.event_time().to_owned(),
            log_types: BTreeSet::new(),
            samples: Vec::new(),
            first: outcome,
        }
    }

    fn add(&mut self, epoch: Epoch, outcome: &RuleOutcome, max_samples: usize) {
        self.event_count += 1;
        if self.alerted.is_none() {
            let progress = match &outcome.unique {
                Some(unique) => {
                    self.uniques.insert(unique.clone());
                    self.uniques.len() as u64
                }
                None => self.event_count,
            };
            if progress >= self.threshold {
                self.alerted = Some(epoch);
                self.uniques = BTreeSet::new();
            }
        }
        let time = outcome.event.event_time();
        // The layout sorts lexicographically in time order.
        if time < self.first_event_time.as_str() {
            self.first_event_time = time.to_owned();
        }
        if time > self.last_event_time.as_str() {
            self.last_event_time = time.to_owned();
        }
        if !self.log_types.contains(&outcome.log_type) {
            self.log_types.insert(outcome.log_type.clone());
        }
        if self.samples.len() < max_samples {
            self.samples.push(outcome.event.clone());
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
            alert_id: self.alert_id.clone(),
            alert_type,
            rule_id: first.rule_id.clone(),
            rule_version: first.rule_version.clone(),
            title,
            severity: first.severity.clone(),
            dedup_string: key.dedup_string(),
            dedup_period_minutes: first.dedup_period_minutes,
            threshold: self.threshold,
            event_count: self.event_count,
            creation_time: epoch_timestamp(self.alerted.unwrap_or(self.start)),
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
            samples: self
                .samples
                .iter()
                .map(|event| Value::Object(event.fields().clone()))
                .collect(),
        }
    }
}

/// The order outcomes of one epoch are applied in: by dedup key, then event time and row.
fn sort_key(outcome: &RuleOutcome) -> (&str, &str, bool, &str, &str) {
    (
        &outcome.rule_id,
        &outcome.dedup,
        outcome.kind == OutcomeKind::Error,
        outcome.event.event_time(),
        outcome.event.row_id(),
    )
}

/// All open windows of one worker.
#[derive(Debug)]
pub struct DedupWindows {
    windows: BTreeMap<DedupKey, Window>,
    max_samples: usize,
    /// Changed since the last snapshot.
    dirty: bool,
}

/// The hash outcomes are routed by: `(rule_id, dedup)`, the same in every process.
pub fn key_hash(rule_id: &str, dedup: &str) -> u64 {
    use crate::source::partitions::topic_hash;
    topic_hash(rule_id) ^ topic_hash(dedup).rotate_left(1)
}

impl Default for DedupWindows {
    fn default() -> Self {
        DedupWindows::new(MAX_SAMPLES)
    }
}

impl DedupWindows {
    /// Windows whose alerts carry at most `max_samples` matched events.
    pub fn new(max_samples: usize) -> DedupWindows {
        DedupWindows {
            windows: BTreeMap::new(),
            max_samples,
            dirty: false,
        }
    }

    /// Every open window with its shard, if anything changed since the last snapshot.
    pub fn snapshot(
        &mut self,
        shard_of: impl Fn(u64) -> u32,
    ) -> Option<Vec<(u32, DedupKey, Window)>> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(
            self.windows
                .iter()
                .map(|(key, window)| {
                    let shard = shard_of(key_hash(&key.rule_id, &key.dedup));
                    (shard, key.clone(), window.clone())
                })
                .collect(),
        )
    }

    /// Takes over the windows of the shards `keep` selects.
    pub fn restore(&mut self, entries: Vec<(u32, DedupKey, Window)>, keep: impl Fn(u32) -> bool) {
        for (shard, key, window) in entries {
            if keep(shard) {
                self.windows.insert(key, window);
            }
        }
        // The first checkpoint after a restore writes this worker's whole share.
        self.dirty = true;
    }

    /// Applies every outcome of `epoch`: one alert update per window that gained
    /// matches and has reached its threshold, and every outcome with its window.
    ///
    /// Epochs must be observed in increasing order. Within the epoch the outcomes are
    /// sorted first, so the result does not depend on their arrival order.
    pub fn observe_epoch(&mut self, epoch: Epoch, outcomes: Vec<RuleOutcome>) -> EpochAlerts {
        self.dirty |= !outcomes.is_empty();
        // Sort positions, not the outcomes: an outcome is a few hundred bytes, and moving
        // each O(log n) times dominated large epochs.
        let mut order: Vec<usize> = (0..outcomes.len()).collect();
        order.sort_by(|&a, &b| sort_key(&outcomes[a]).cmp(&sort_key(&outcomes[b])));
        let mut slots: Vec<Option<RuleOutcome>> = outcomes.into_iter().map(Some).collect();
        let mut touched = BTreeSet::new();
        let mut annotated = Vec::with_capacity(slots.len());
        for outcome in order.into_iter().filter_map(|i| slots[i].take()) {
            if outcome.kind == OutcomeKind::Match && !outcome.create_alert {
                annotated.push(AlertedOutcome {
                    outcome,
                    window: None,
                });
                continue;
            }
            let key = DedupKey::of(&outcome);
            let open = self
                .windows
                .get(&key)
                .is_some_and(|window| epoch < window.end);
            if !open {
                // Replaces an expired window; the key is cloned only when a window opens.
                let window = Window::open(&key, epoch, outcome.clone());
                self.windows.insert(key.clone(), window);
            }
            let Some(window) = self.windows.get_mut(&key) else {
                continue;
            };
            window.add(epoch, &outcome, self.max_samples);
            annotated.push(AlertedOutcome {
                window: Some(WindowRef {
                    alert_id: window.alert_id.clone(),
                    created: window.start,
                    updated: epoch,
                }),
                outcome,
            });
            touched.insert(key);
        }
        let alerts = touched
            .into_iter()
            .filter_map(|key| {
                let window = self.windows.get(&key)?;
                window.alerted.is_some().then(|| window.alert(&key, epoch))
            })
            .collect();
        EpochAlerts {
            alerts,
            outcomes: annotated,
        }
    }

    /// Forgets windows that end at or before `epoch`: no match at or after `epoch` can
    /// join them.
    pub fn expire_before(&mut self, epoch: Epoch) {
        let before = self.windows.len();
        self.windows.retain(|_, window| window.end > epoch);
        self.dirty |= self.windows.len() != before;
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
        let first = windows
            .observe_epoch(0, vec![matched("alice", "a1"), matched("bob", "b1")])
            .alerts;
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].event_count, 1);
        let alice_id = first
            .iter()
            .find(|a| a.dedup_string == "alice")
            .map(|a| a.alert_id.clone());

        let second = windows
            .observe_epoch(10 * MINUTE, vec![matched("alice", "a2")])
            .alerts;
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
        let first = windows
            .observe_epoch(0, vec![matched("alice", "a1")])
            .alerts;
        let later = windows
            .observe_epoch(60 * MINUTE, vec![matched("alice", "a2")])
            .alerts;
        assert_ne!(first[0].alert_id, later[0].alert_id);
        assert_eq!(later[0].event_count, 1);
    }

    #[test]
    fn threshold_holds_alerts_until_enough_matches_share_a_window() {
        let mut windows = DedupWindows::default();
        let three = |row| outcome("alice", row, 3, OutcomeKind::Match);
        assert!(windows.observe_epoch(0, vec![three("1")]).alerts.is_empty());
        assert!(windows
            .observe_epoch(MINUTE, vec![three("2")])
            .alerts
            .is_empty());
        let alerts = windows.observe_epoch(2 * MINUTE, vec![three("3")]).alerts;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].event_count, 3);
        // Panther creates the alert when the threshold is crossed.
        assert_eq!(alerts[0].creation_time, epoch_timestamp(2 * MINUTE));
        assert_eq!(alerts[0].alert_id, DedupKey::of(&three("x")).alert_id(0));
        // A new window starts counting from zero again.
        assert!(windows
            .observe_epoch(61 * MINUTE, vec![three("4")])
            .alerts
            .is_empty());
    }

    #[test]
    fn errors_ignore_threshold_and_dedup_apart_from_matches() {
        let mut windows = DedupWindows::default();
        let mut error = outcome("KeyError", "e1", 5, OutcomeKind::Error);
        error.error = Some("KeyError: 'columns'".into());
        let alerts = windows
            .observe_epoch(
                0,
                vec![error, outcome("KeyError", "m1", 1, OutcomeKind::Match)],
            )
            .alerts;
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
        let a = DedupWindows::default().observe_epoch(5, batch).alerts;
        let b = DedupWindows::default().observe_epoch(5, reversed).alerts;
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

    #[test]
    fn unique_values_drive_the_threshold() {
        let mut windows = DedupWindows::default();
        let with_unique = |row: &str, ip: &str| {
            let mut outcome = outcome("alice", row, 2, OutcomeKind::Match);
            outcome.unique = Some(ip.into());
            outcome
        };
        let same_ip = windows
            .observe_epoch(
                0,
                vec![with_unique("1", "10.0.0.1"), with_unique("2", "10.0.0.1")],
            )
            .alerts;
        assert!(same_ip.is_empty(), "two matches but one distinct value");
        let alerts = windows
            .observe_epoch(MINUTE, vec![with_unique("3", "10.0.0.2")])
            .alerts;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].event_count, 3);
    }

    #[test]
    fn every_outcome_comes_back_with_its_window_and_signals_with_none() {
        let mut windows = DedupWindows::default();
        let mut signal = matched("carol", "c1");
        signal.create_alert = false;
        let below = outcome("dave", "d1", 5, OutcomeKind::Match);
        let result = windows.observe_epoch(7 * MINUTE, vec![matched("alice", "a1"), signal, below]);
        assert_eq!(result.outcomes.len(), 3);
        assert_eq!(
            result.alerts.len(),
            1,
            "the signal and the held-back match alert nothing"
        );
        let by_user = |user: &str| {
            result
                .outcomes
                .iter()
                .find(|o| o.outcome.dedup == user)
                .expect("outcome")
        };
        assert!(by_user("carol").window.is_none());
        let alice = by_user("alice").window.clone().expect("window");
        assert_eq!(alice.alert_id, result.alerts[0].alert_id);
        assert_eq!((alice.created, alice.updated), (7 * MINUTE, 7 * MINUTE));
        // Below the threshold there is no alert yet, but the id is already known.
        let dave = by_user("dave").window.clone().expect("window");
        assert_eq!(
            dave.alert_id,
            DedupKey::of(&by_user("dave").outcome).alert_id(7 * MINUTE)
        );
        assert_eq!(windows.open_windows(), 2);
    }

    #[test]
    fn samples_are_bounded() {
        let mut windows = DedupWindows::new(2);
        let batch = (0..5).map(|i| matched("alice", &format!("a{i}"))).collect();
        let alerts = windows.observe_epoch(0, batch).alerts;
        assert_eq!(alerts[0].event_count, 5);
        assert_eq!(alerts[0].samples.len(), 2);
    }
}
