//! A lag gauge whose series are exactly the partitions of the latest reading.
//!
//! A partition that leaves the reading (revoked from this consumer, a topic deleted, a
//! read that failed) must not keep exporting its last value: a frozen lag looks healthy
//! to an alert rule. [`LagGauge::publish`] therefore replaces the whole set of series,
//! removing those the new reading lacks; absence means "unknown".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use prometheus::IntGaugeVec;

/// One series' label values, in the order of the gauge's label names.
pub type LagLabels = Vec<String>;

/// An [`IntGaugeVec`] of lags, published one whole reading at a time.
pub struct LagGauge {
    gauge: IntGaugeVec,
    /// The series the previous reading set.
    published: Mutex<BTreeSet<LagLabels>>,
}

impl LagGauge {
    /// Wraps `gauge`, which the caller has registered where it is served.
    pub fn new(gauge: IntGaugeVec) -> LagGauge {
        LagGauge {
            gauge,
            published: Mutex::new(BTreeSet::new()),
        }
    }

    /// Makes `reading` the gauge's content: its series set, every other one removed.
    pub fn publish(&self, reading: &BTreeMap<LagLabels, i64>) {
        let Ok(mut published) = self.published.lock() else {
            return;
        };
        for labels in published.iter() {
            if !reading.contains_key(labels) {
                let values: Vec<&str> = labels.iter().map(String::as_str).collect();
                // Absent already is what we want, so a failed removal needs no handling.
                let _ = self.gauge.remove_label_values(&values);
            }
        }
        for (labels, lag) in reading {
            let values: Vec<&str> = labels.iter().map(String::as_str).collect();
            self.gauge.with_label_values(&values).set(*lag);
        }
        *published = reading.keys().cloned().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    /// The gauge's series, sorted (a vec's collection order is its hash map's).
    fn series(gauge: &IntGaugeVec) -> Vec<(String, i64)> {
        use prometheus::core::Collector;
        let mut series: Vec<(String, i64)> = gauge
            .collect()
            .iter()
            .flat_map(|family| family.get_metric().iter())
            .map(|metric| {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|label| label.name() == name)
                        .map(|label| label.value().to_owned())
                        .unwrap_or_default()
                };
                let series = format!("{}/{}", label("topic"), label("partition"));
                (series, metric.get_gauge().value() as i64)
            })
            .collect();
        series.sort();
        series
    }

    fn reading(entries: &[(&str, &str, i64)]) -> BTreeMap<LagLabels, i64> {
        entries
            .iter()
            .map(|(topic, partition, lag)| (vec![topic.to_string(), partition.to_string()], *lag))
            .collect()
    }

    #[test]
    fn a_partition_missing_from_the_next_reading_loses_its_series() {
        let gauge =
            IntGaugeVec::new(Opts::new("lag", "lag"), &["topic", "partition"]).expect("gauge");
        let lags = LagGauge::new(gauge.clone());
        lags.publish(&reading(&[("raw", "0", 5), ("raw", "1", 7)]));
        assert_eq!(series(&gauge), [("raw/0".into(), 5), ("raw/1".into(), 7)]);
        lags.publish(&reading(&[("raw", "1", 2), ("alerts", "0", 0)]));
        assert_eq!(
            series(&gauge),
            [("alerts/0".into(), 0), ("raw/1".into(), 2)]
        );
        lags.publish(&BTreeMap::new());
        assert!(series(&gauge).is_empty());
    }
}
