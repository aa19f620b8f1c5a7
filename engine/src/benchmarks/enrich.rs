//! The enrichment benchmark: events/s through `corvid run`'s enrichment stage
//! ([`enrich_with`]) against the same events through the same dataflow without it, both
//! measured in the same run on one worker; and what loading a lookup table costs in time
//! and resident memory.
//!
//! * **Events**: the parse benchmark's CloudTrail, VPC flow and syslog corpora, parsed by
//!   the engine's own parsers before timing starts and interleaved, so every epoch mixes
//!   the three log types; `p_any_ip_addresses` holds one or two addresses per event.
//! * **Exact table**: `rows` rows `{"ip", "owner", "team"}` loaded at epoch 0, before the
//!   first event. Some rows are addresses the events carry, chosen so that about
//!   `hit_share` of the events hit one; the rest are addresses no event carries.
//! * **CIDR table**: `cidr_ranges` ranges of mixed prefix lengths (/8 to /32), chosen the
//!   same way, measured as a separate pipeline.
//! * **Epochs** advance every [`EPOCH_EVENTS`] events, as batches from a source would,
//!   and each epoch is driven until it has left the pipeline: only that is timed, not
//!   copying the batch beforehand.
//! * **Checked**: every event must come out, and exactly the events expected to hit (an
//!   independent computation over the events and the table) must carry
//!   `p_enrichment`; otherwise the run fails rather than report a broken pipeline's speed.
//!
//! Rows reach the stage as ready-made upserts: the table topic's consumer and its JSON
//! validation ([`crate::enrich::feed`]) are outside the measurement.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

use super::alerts::resident_bytes;
use super::{raw_records, BenchmarkError, VecInput};
use crate::enrich::config::{EnrichmentConfig, LookupTableConfig, MatchKind};
use crate::enrich::keys::{cidr_key, exact_key};
use crate::enrich::{enrich_with, Tables, Upsert};
use crate::event::Event;
use crate::parse::{Classifier, LogTypeRegistry, ParseOutcome};
use crate::source::Epoch;
use corvid_loadtest::parse_bench;

/// Events per epoch: about one source batch.
pub const EPOCH_EVENTS: usize = 10_000;

/// Upserts handed to the dataflow per message while a table loads.
const LOAD_CHUNK: usize = 10_000;

/// Prefix lengths of CIDR ranges that hold event addresses: narrow enough that one range
/// adds a small share of the events, so the hit share can be approached closely.
const HIT_LENGTHS: [u8; 5] = [24, 26, 28, 30, 32];

/// Prefix lengths of the other CIDR ranges, with weights: mostly /24 and longer, a few
/// wide ranges, like a cloud provider's or a corporate network's range list. The number
/// of distinct lengths matters: a CIDR table is probed once per length it holds.
const FILLER_LENGTHS: [(u8, u64); 10] = [
    (8, 1),
    (12, 2),
    (16, 8),
    (20, 10),
    (22, 10),
    (24, 30),
    (26, 10),
    (28, 10),
    (30, 5),
    (32, 14),
];

const TEAMS: [&str; 8] = [
    "platform", "payments", "identity", "data", "mobile", "security", "growth", "infra",
];

#[derive(Debug, thiserror::Error)]
pub enum EnrichBenchError {
    #[error(transparent)]
    Setup(#[from] BenchmarkError),
    #[error("--rows, --events, --cidr-ranges and --rounds must be at least 1")]
    Empty,
    #[error("the hit share must be between 0 and 1, not {0}")]
    Share(f64),
    #[error("only {parsed} of the {wanted} events parsed from the benchmark corpora")]
    TooFewEvents { parsed: usize, wanted: usize },
    #[error("{rows} rows do not fit in the addresses reserved for rows no event hits")]
    TooManyRows { rows: usize },
    #[error("no room for {ranges} CIDR ranges outside the events' addresses")]
    TooManyRanges { ranges: usize },
    #[error("table key `{0}` has no canonical form")]
    Key(String),
    #[error("{side}: {got} of the {sent} events sent came out")]
    Lost {
        side: &'static str,
        sent: u64,
        got: u64,
    },
    #[error("{side}: {got} events carry p_enrichment, {expected} were expected to hit the table")]
    Hits {
        side: &'static str,
        expected: u64,
        got: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Rows of the exact-match table.
    pub rows: usize,
    /// Events per pass.
    pub events: usize,
    /// The share of events that should hit a row (the built tables approach it from below).
    pub hit_share: f64,
    /// Ranges of the CIDR table.
    pub cidr_ranges: usize,
    /// Rounds of (baseline, exact, CIDR) passes.
    pub rounds: usize,
    pub epoch_events: usize,
}

impl Options {
    pub fn new(rows: usize, events: usize) -> Options {
        Options {
            rows,
            events,
            hit_share: 0.3,
            cidr_ranges: 10_000,
            rounds: 2,
            epoch_events: EPOCH_EVENTS,
        }
    }
}

/// One table's figures.
#[derive(Clone, Debug)]
pub struct TableFigures {
    pub rows: usize,
    /// Rows (or ranges) that some event hits.
    pub hit_rows: usize,
    /// Distinct prefix lengths (1 for an exact table).
    pub lengths: usize,
    /// Events expected to carry a row, and found to.
    pub hits: u64,
    pub load_seconds: f64,
    /// Resident memory the loaded table added, freed heap returned to the OS first.
    pub resident_bytes: u64,
}

/// One round's timed seconds per pipeline.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    pub baseline: f64,
    pub exact: f64,
    pub cidr: f64,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub events: usize,
    pub epoch_events: usize,
    pub log_types: LogTypeCounts,
    pub exact: TableFigures,
    pub cidr: TableFigures,
    pub rounds: Vec<Round>,
    /// Resident growth over the moment before the exact table loaded, after every round
    /// (both tables, after their spines merged the epochs' batches).
    pub resident_end_bytes: u64,
}

impl Report {
    fn rate(&self, seconds: f64) -> f64 {
        self.events as f64 / seconds.max(1e-9)
    }

    /// The best (shortest) round of each pipeline.
    fn best(&self) -> Round {
        let best =
            |pick: fn(&Round) -> f64| self.rounds.iter().map(pick).fold(f64::INFINITY, f64::min);
        Round {
            baseline: best(|r| r.baseline),
            exact: best(|r| r.exact),
            cidr: best(|r| r.cidr),
        }
    }

    pub fn render(&self) -> String {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let share = |hits: u64| 100.0 * hits as f64 / self.events.max(1) as f64;
        let per_row = |t: &TableFigures| t.resident_bytes / t.rows.max(1) as u64;
        let types: Vec<String> = self
            .log_types
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        let mut out = format!(
            "enrich benchmark: 1 worker, {events} parsed events ({types}), {per} per epoch, only driving the epochs timed\n\
             \x20 exact table : {rows} rows, {hit_rows} of them hit; loaded at epoch 0 in {load:.2} s ({load_rate:.0} rows/s); +{exact_mib:.1} MiB resident ({exact_per} bytes per row)\n\
             \x20 CIDR table  : {ranges} ranges, {lengths} prefix lengths, {hit_ranges} of them hit; loaded in {cidr_load:.3} s; +{cidr_mib:.1} MiB resident ({cidr_per} bytes per range)\n\
             \x20 hits        : exact {exact_hits} events ({exact_share:.1}%), CIDR {cidr_hits} events ({cidr_share:.1}%), each as expected\n",
            events = self.events,
            types = types.join(", "),
            per = self.epoch_events,
            rows = self.exact.rows,
            hit_rows = self.exact.hit_rows,
            load = self.exact.load_seconds,
            load_rate = self.exact.rows as f64 / self.exact.load_seconds.max(1e-9),
            exact_mib = mib(self.exact.resident_bytes),
            exact_per = per_row(&self.exact),
            ranges = self.cidr.rows,
            lengths = self.cidr.lengths,
            hit_ranges = self.cidr.hit_rows,
            cidr_load = self.cidr.load_seconds,
            cidr_mib = mib(self.cidr.resident_bytes),
            cidr_per = per_row(&self.cidr),
            exact_hits = self.exact.hits,
            exact_share = share(self.exact.hits),
            cidr_hits = self.cidr.hits,
            cidr_share = share(self.cidr.hits),
        );
        // The time a stage adds per event is steadier across machines than either rate:
        // the baseline's own cost is mostly freeing the events.
        let added =
            |seconds: f64, baseline: f64| 1e6 * (seconds - baseline) / self.events.max(1) as f64;
        for (index, round) in self.rounds.iter().enumerate() {
            let baseline = self.rate(round.baseline);
            out.push_str(&format!(
                "  round {n}     : baseline {b:>9.0} events/s | exact {e:>9.0} events/s (ratio {er:.3}, {eu:+.1} µs/event) | CIDR {c:>9.0} events/s (ratio {cr:.3}, {cu:+.1} µs/event)\n",
                n = index + 1,
                b = baseline,
                e = self.rate(round.exact),
                er = self.rate(round.exact) / baseline,
                eu = added(round.exact, round.baseline),
                c = self.rate(round.cidr),
                cr = self.rate(round.cidr) / baseline,
                cu = added(round.cidr, round.baseline),
            ));
        }
        out.push_str(&format!(
            "  after rounds: +{:.1} MiB resident for both tables\n",
            mib(self.resident_end_bytes)
        ));
        let best = self.best();
        let baseline = self.rate(best.baseline);
        out.push_str(&format!(
            "summary: enriched/baseline ratio {exact_ratio:.3} exact ({exact:.0} vs {baseline:.0} events/s, best rounds), {cidr_ratio:.3} CIDR ({cidr:.0} events/s); {rows}-row table loads in {load:.2} s and holds {exact_mib:.1} MiB ({exact_per} bytes/row)\n",
            exact = self.rate(best.exact),
            exact_ratio = self.rate(best.exact) / baseline,
            cidr = self.rate(best.cidr),
            cidr_ratio = self.rate(best.cidr) / baseline,
            rows = self.exact.rows,
            load = self.exact.load_seconds,
            exact_mib = mib(self.exact.resident_bytes),
            exact_per = per_row(&self.exact),
        ));
        out
    }
}

/// Runs the benchmark; fails when a pipeline loses events or enriches other events than
/// the expected ones.
pub fn run(options: &Options) -> Result<Report, EnrichBenchError> {
    if options.rows == 0
        || options.events == 0
        || options.cidr_ranges == 0
        || options.rounds == 0
        || options.epoch_events == 0
    {
        return Err(EnrichBenchError::Empty);
    }
    if !(0.0..=1.0).contains(&options.hit_share) {
        return Err(EnrichBenchError::Share(options.hit_share));
    }
    let (events, log_types) = parsed_events(options.events)?;
    let addresses = Addresses::of(&events);
    let mut random = SplitMix(0x00c0_ffee);
    let exact_design = design_exact(&addresses, options, &mut random);
    let cidr_design = design_cidr(&addresses, options, &mut random)?;
    let exact_tables = one_table("inventory", MatchKind::Exact);
    let cidr_tables = one_table("ranges", MatchKind::Cidr);
    let options = options.clone();

    timely::execute_directly(move |worker| {
        let mut baseline = Pipe::new(worker, None);
        let mut exact = Pipe::new(worker, Some(exact_tables));
        let mut cidr = Pipe::new(worker, Some(cidr_tables));

        trim_heap();
        let before = resident_bytes();
        let rows = exact_rows(&exact_design, options.rows, &addresses, &mut random)?;
        let exact_load = exact.load(worker, rows);
        trim_heap();
        let exact_loaded = resident_bytes();
        let ranges = cidr_rows(&cidr_design)?;
        let cidr_load = cidr.load(worker, ranges);
        trim_heap();
        let cidr_loaded = resident_bytes();

        let mut rounds = Vec::with_capacity(options.rounds);
        for _ in 0..options.rounds {
            let step = options.epoch_events;
            let base = baseline.pass(worker, &events, step).check("baseline", 0)?;
            let ex = exact
                .pass(worker, &events, step)
                .check("exact", exact_design.expected)?;
            let ci = cidr
                .pass(worker, &events, step)
                .check("CIDR", cidr_design.expected)?;
            rounds.push(Round {
                baseline: base,
                exact: ex,
                cidr: ci,
            });
        }
        trim_heap();
        let end = resident_bytes();
        Ok(Report {
            events: events.len(),
            epoch_events: options.epoch_events,
            log_types,
            exact: TableFigures {
                rows: options.rows,
                hit_rows: exact_design.hit_keys.len(),
                lengths: 1,
                hits: exact_design.expected,
                load_seconds: exact_load,
                resident_bytes: exact_loaded.saturating_sub(before),
            },
            cidr: TableFigures {
                rows: cidr_design.ranges.len(),
                hit_rows: cidr_design.hit_ranges,
                lengths: cidr_design.lengths(),
                hits: cidr_design.expected,
                load_seconds: cidr_load,
                resident_bytes: cidr_loaded.saturating_sub(exact_loaded),
            },
            rounds,
            resident_end_bytes: end.saturating_sub(before),
        })
    })
}

/// Events per log type.
type LogTypeCounts = Vec<(&'static str, usize)>;

/// `wanted` events parsed from the parse benchmark's corpora, the log types interleaved;
/// with the count of each log type.
fn parsed_events(wanted: usize) -> Result<(Vec<Event>, LogTypeCounts), EnrichBenchError> {
    let registry = Arc::new(LogTypeRegistry::builtin().map_err(BenchmarkError::from)?);
    let corpora = parse_bench::corpora(wanted / 3 + 2);
    let mut parsed = Vec::with_capacity(corpora.len());
    for corpus in &corpora {
        if registry.get(corpus.log_type).is_none() {
            return Err(BenchmarkError::UnknownLogType(corpus.log_type.to_owned()).into());
        }
        let mut classifier = Classifier::new(Arc::clone(&registry));
        let parse_time = chrono::Utc::now();
        // The VPC flow corpus's header line yields no event; nothing else is dropped.
        let events: Vec<Event> = raw_records(&corpus.lines, corpus.log_type)
            .iter()
            .flat_map(|record| classifier.classify(record, parse_time))
            .filter_map(|outcome| match outcome {
                ParseOutcome::Event(event) => Some(event),
                ParseOutcome::DeadLetter(_) => None,
            })
            .collect();
        parsed.push((corpus.log_type, events.into_iter()));
    }
    let mut events = Vec::with_capacity(wanted);
    let mut counts: LogTypeCounts = parsed.iter().map(|(t, _)| (*t, 0)).collect();
    'fill: loop {
        let mut any = false;
        for ((_, iter), (_, count)) in parsed.iter_mut().zip(counts.iter_mut()) {
            if events.len() == wanted {
                break 'fill;
            }
            if let Some(event) = iter.next() {
                events.push(event);
                *count += 1;
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    if events.len() < wanted {
        return Err(EnrichBenchError::TooFewEvents {
            parsed: events.len(),
            wanted,
        });
    }
    Ok((events, counts))
}

/// The events' addresses, indexed both ways.
struct Addresses {
    /// Per event, its distinct canonical `p_any_ip_addresses`.
    per_event: Vec<Vec<String>>,
    /// Canonical address → the events carrying it.
    events_of: HashMap<String, Vec<usize>>,
    /// IPv4 addresses → the events carrying them, ordered so a range's events are a
    /// range query.
    v4: BTreeMap<u32, Vec<usize>>,
}

impl Addresses {
    fn of(events: &[Event]) -> Addresses {
        let mut per_event = Vec::with_capacity(events.len());
        let mut events_of: HashMap<String, Vec<usize>> = HashMap::new();
        let mut v4: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (index, event) in events.iter().enumerate() {
            // The stage probes canonical keys; so must the expectation.
            let mut mine: Vec<String> = match event.fields().get("p_any_ip_addresses") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(exact_key)
                    .collect(),
                _ => Vec::new(),
            };
            mine.sort_unstable();
            mine.dedup();
            for address in &mine {
                events_of.entry(address.clone()).or_default().push(index);
                if let Ok(ip) = address.parse::<Ipv4Addr>() {
                    v4.entry(u32::from(ip)).or_default().push(index);
                }
            }
            per_event.push(mine);
        }
        Addresses {
            per_event,
            events_of,
            v4,
        }
    }

    /// Whether some event carries an IPv4 address in `first..=last`.
    fn any_in(&self, first: u32, last: u32) -> bool {
        self.v4.range(first..=last).next().is_some()
    }
}

/// The exact table's rows that events hit, and how many events hit one.
struct ExactDesign {
    hit_keys: Vec<String>,
    expected: u64,
}

/// Picks event addresses, in random order, whose events keep the hit count within the
/// target: one address can be carried by many events (a VPC flow's destination, a
/// syslog host), so the share is approached from below rather than met exactly.
fn design_exact(addresses: &Addresses, options: &Options, random: &mut SplitMix) -> ExactDesign {
    let target = (options.hit_share * addresses.per_event.len() as f64).round() as u64;
    let mut candidates: Vec<&String> = addresses.events_of.keys().collect();
    candidates.sort_unstable();
    random.shuffle(&mut candidates);
    let mut hit = vec![false; addresses.per_event.len()];
    let mut hits = 0u64;
    let mut hit_keys = Vec::new();
    for address in candidates {
        if hits == target || hit_keys.len() == options.rows {
            break;
        }
        let events = &addresses.events_of[address];
        let added = events.iter().filter(|&&e| !hit[e]).count() as u64;
        if added == 0 || hits + added > target {
            continue;
        }
        for &e in events {
            hit[e] = true;
        }
        hits += added;
        hit_keys.push(address.clone());
    }
    // The expectation, recomputed the way a reader would state it: an event hits when
    // one of its addresses is a key of the table.
    let keys: HashSet<&String> = hit_keys.iter().collect();
    let expected = addresses
        .per_event
        .iter()
        .filter(|mine| mine.iter().any(|address| keys.contains(address)))
        .count() as u64;
    ExactDesign { hit_keys, expected }
}

/// The exact table: the hit rows, then rows for addresses from 100.64.0.0 upwards that
/// no event carries, shuffled as a compacted topic's order would be.
fn exact_rows(
    design: &ExactDesign,
    rows: usize,
    addresses: &Addresses,
    random: &mut SplitMix,
) -> Result<Vec<Upsert>, EnrichBenchError> {
    let mut keys: Vec<String> = design.hit_keys.clone();
    let first = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    // Below 192.0.0.0 the range cannot reach the documentation networks the corpora use.
    let last = u32::from(Ipv4Addr::new(191, 255, 255, 255));
    let mut next = first;
    while keys.len() < rows {
        if next > last {
            return Err(EnrichBenchError::TooManyRows { rows });
        }
        if !addresses.any_in(next, next) {
            keys.push(Ipv4Addr::from(next).to_string());
        }
        next += 1;
    }
    random.shuffle(&mut keys);
    keys.into_iter()
        .enumerate()
        .map(|(index, key)| {
            let canonical = exact_key(&key).ok_or_else(|| EnrichBenchError::Key(key.clone()))?;
            let row = json!({
                "ip": key,
                "owner": format!("owner-{:05}", index % 20_000),
                "team": TEAMS[index % TEAMS.len()],
            });
            Ok(((0, canonical), Some(row.to_string()), 0))
        })
        .collect()
}

/// The CIDR table's ranges (network, prefix length), and how many events hit one.
struct CidrDesign {
    ranges: Vec<(u32, u8)>,
    hit_ranges: usize,
    expected: u64,
}

impl CidrDesign {
    fn lengths(&self) -> usize {
        self.ranges
            .iter()
            .map(|(_, length)| *length)
            .collect::<BTreeSet<u8>>()
            .len()
    }
}

fn mask(address: u32, length: u8) -> u32 {
    match length {
        0 => 0,
        1..=31 => address & (u32::MAX << (32 - u32::from(length))),
        _ => address,
    }
}

fn last_of(network: u32, length: u8) -> u32 {
    network | !mask(u32::MAX, length)
}

/// Ranges around event addresses (as for the exact table, approaching the hit share
/// from below), then ranges holding no event address, of the weighted filler lengths.
fn design_cidr(
    addresses: &Addresses,
    options: &Options,
    random: &mut SplitMix,
) -> Result<CidrDesign, EnrichBenchError> {
    let target = (options.hit_share * addresses.per_event.len() as f64).round() as u64;
    let mut candidates: Vec<u32> = addresses.v4.keys().copied().collect();
    random.shuffle(&mut candidates);
    let mut hit = vec![false; addresses.per_event.len()];
    let mut hits = 0u64;
    let mut chosen: HashSet<(u32, u8)> = HashSet::new();
    let mut ranges = Vec::with_capacity(options.cidr_ranges);
    for address in candidates {
        if hits == target || ranges.len() == options.cidr_ranges {
            break;
        }
        let length = HIT_LENGTHS[random.below(HIT_LENGTHS.len())];
        let network = mask(address, length);
        if chosen.contains(&(network, length)) {
            continue;
        }
        let events: BTreeSet<usize> = addresses
            .v4
            .range(network..=last_of(network, length))
            .flat_map(|(_, events)| events.iter().copied())
            .filter(|&e| !hit[e])
            .collect();
        let added = events.len() as u64;
        if added == 0 || hits + added > target {
            continue;
        }
        for e in events {
            hit[e] = true;
        }
        hits += added;
        chosen.insert((network, length));
        ranges.push((network, length));
    }
    let hit_ranges = ranges.len();
    let total_weight: u64 = FILLER_LENGTHS.iter().map(|(_, weight)| weight).sum();
    // Wide lengths have few distinct networks; give up rather than loop forever when the
    // address space outside the events' is exhausted.
    let mut attempts = 0usize;
    while ranges.len() < options.cidr_ranges {
        attempts += 1;
        if attempts > options.cidr_ranges.saturating_mul(100) {
            return Err(EnrichBenchError::TooManyRanges {
                ranges: options.cidr_ranges,
            });
        }
        let mut pick = random.next() % total_weight;
        let mut length = 32;
        for (candidate, weight) in FILLER_LENGTHS {
            if pick < weight {
                length = candidate;
                break;
            }
            pick -= weight;
        }
        let network = mask(random.next() as u32, length);
        if addresses.any_in(network, last_of(network, length)) || !chosen.insert((network, length))
        {
            continue;
        }
        ranges.push((network, length));
    }
    // The expectation, from the definition (a range holds an address when the address
    // masked to the range's length is its network), in integers rather than the stage's
    // canonical strings.
    let lengths: BTreeSet<u8> = ranges.iter().map(|(_, length)| *length).collect();
    let held = |ip: u32| {
        lengths
            .iter()
            .any(|&length| chosen.contains(&(mask(ip, length), length)))
    };
    let expected = addresses
        .per_event
        .iter()
        .filter(|mine| {
            mine.iter()
                .filter_map(|address| address.parse::<Ipv4Addr>().ok())
                .any(|ip| held(u32::from(ip)))
        })
        .count() as u64;
    Ok(CidrDesign {
        ranges,
        hit_ranges,
        expected,
    })
}

fn cidr_rows(design: &CidrDesign) -> Result<Vec<Upsert>, EnrichBenchError> {
    design
        .ranges
        .iter()
        .enumerate()
        .map(|(index, &(network, length))| {
            let text = format!("{}/{length}", Ipv4Addr::from(network));
            let (key, _) = cidr_key(&text).ok_or_else(|| EnrichBenchError::Key(text.clone()))?;
            let row = json!({
                "cidr": text,
                "network": format!("net-{index:05}"),
                "team": TEAMS[index % TEAMS.len()],
            });
            Ok(((0, key), Some(row.to_string()), 0))
        })
        .collect()
}

fn one_table(name: &str, kind: MatchKind) -> Arc<Tables> {
    Arc::new(Tables::from_config(&EnrichmentConfig {
        tables: vec![LookupTableConfig {
            name: name.to_owned(),
            topic: None,
            match_kind: kind,
            fields: vec!["p_any_ip_addresses".to_owned()],
            log_types: Vec::new(),
        }],
        derived: Vec::new(),
    }))
}

/// One pipeline: events (and, enriched, table upserts) in, a counting sink out.
struct Pipe {
    events_in: VecInput<Event>,
    table_in: Option<VecInput<Upsert>>,
    probe: ProbeHandle<Epoch>,
    seen: Rc<Cell<u64>>,
    enriched: Rc<Cell<u64>>,
    epoch: Epoch,
}

/// What one pass measured.
struct Pass {
    seconds: f64,
    sent: u64,
    seen: u64,
    enriched: u64,
}

impl Pass {
    /// The pass's seconds, if every event came out and exactly `expected` were enriched.
    fn check(self, side: &'static str, expected: u64) -> Result<f64, EnrichBenchError> {
        if self.seen != self.sent {
            return Err(EnrichBenchError::Lost {
                side,
                sent: self.sent,
                got: self.seen,
            });
        }
        if self.enriched != expected {
            return Err(EnrichBenchError::Hits {
                side,
                expected,
                got: self.enriched,
            });
        }
        Ok(self.seconds)
    }
}

impl Pipe {
    /// Without `tables` the events go straight to the sink: the baseline.
    fn new(worker: &mut Worker, tables: Option<Arc<Tables>>) -> Pipe {
        let mut events_in = VecInput::<Event>::new();
        let mut table_in = tables.as_ref().map(|_| VecInput::<Upsert>::new());
        let probe = ProbeHandle::new();
        let seen = Rc::new(Cell::new(0u64));
        let enriched = Rc::new(Cell::new(0u64));
        let (count_seen, count_enriched) = (Rc::clone(&seen), Rc::clone(&enriched));
        worker.dataflow::<Epoch, _, _>(|scope| {
            let events = scope.input_from(&mut events_in);
            let events = match (tables, table_in.as_mut()) {
                (Some(tables), Some(table_in)) => {
                    let rows = scope.input_from(table_in);
                    enrich_with(scope, events, tables, vec![rows], None)
                }
                _ => events,
            };
            // The same per-event check on both sides, so it weighs on neither ratio.
            events
                .inspect(move |event: &Event| {
                    count_seen.set(count_seen.get() + 1);
                    if event.fields().contains_key("p_enrichment") {
                        count_enriched.set(count_enriched.get() + 1);
                    }
                })
                .probe_with(&probe);
        });
        Pipe {
            events_in,
            table_in,
            probe,
            seen,
            enriched,
            epoch: 0,
        }
    }

    fn advance(&mut self, worker: &mut Worker) {
        self.epoch += 1;
        self.events_in.advance_to(self.epoch);
        if let Some(table_in) = &mut self.table_in {
            table_in.advance_to(self.epoch);
        }
        while self.probe.less_than(&self.epoch) {
            worker.step();
        }
    }

    /// Loads `rows` at the current epoch and drives it through; returns the seconds.
    fn load(&mut self, worker: &mut Worker, mut rows: Vec<Upsert>) -> f64 {
        let started = Instant::now();
        if let Some(table_in) = &mut self.table_in {
            while !rows.is_empty() {
                let mut chunk = rows.split_off(rows.len().saturating_sub(LOAD_CHUNK));
                table_in.send_batch(&mut chunk);
                worker.step();
            }
        }
        self.advance(worker);
        started.elapsed().as_secs_f64()
    }

    /// Sends `events`, one epoch per `per_epoch`, timing only the driving of each epoch.
    fn pass(&mut self, worker: &mut Worker, events: &[Event], per_epoch: usize) -> Pass {
        let (seen, enriched) = (self.seen.get(), self.enriched.get());
        let mut busy = Duration::ZERO;
        for chunk in events.chunks(per_epoch) {
            // Unshared copies, as the parse stage hands them over: the stage adds
            // `p_enrichment` in place, and would copy every hit event's fields if the
            // benchmark still held them.
            let mut batch: Vec<Event> = chunk
                .iter()
                .map(|event| Event::from_fields(event.fields().clone()))
                .collect();
            let started = Instant::now();
            self.events_in.send_batch(&mut batch);
            self.advance(worker);
            busy += started.elapsed();
        }
        Pass {
            seconds: busy.as_secs_f64(),
            sent: events.len() as u64,
            seen: self.seen.get() - seen,
            enriched: self.enriched.get() - enriched,
        }
    }
}

/// Returns freed heap to the OS (glibc keeps it otherwise), so RSS shows live memory.
/// The alerts benchmark's twin is private to it.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// SplitMix64: the same tables on every run, without a dependency (`rand` is only a
/// dev-dependency of the engine).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for index in (1..items.len()).rev() {
            items.swap(index, self.below(index + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_enriches_exactly_the_expected_events() {
        let mut options = Options::new(1_000, 2_000);
        options.cidr_ranges = 300;
        options.rounds = 1;
        options.epoch_events = 500;
        let report = run(&options).expect("the benchmark runs and its hit counts check out");
        assert_eq!(report.events, 2_000);
        assert_eq!(report.rounds.len(), 1);
        // Shown with --nocapture: the report of a debug build, for its shape only.
        eprint!("{}", report.render());
        // Near the 30% asked for (approached from below), and not trivially zero.
        for table in [&report.exact, &report.cidr] {
            assert!(
                (400..=600).contains(&table.hits),
                "hits {} of 2000",
                table.hits
            );
        }
        assert_eq!(report.exact.rows, 1_000);
        assert_eq!(report.cidr.rows, 300);
        assert!(report.render().contains("summary: enriched/baseline ratio"));
    }

    #[test]
    fn a_pass_with_other_hits_than_expected_fails() {
        let pass = || Pass {
            seconds: 1.0,
            sent: 10,
            seen: 10,
            enriched: 3,
        };
        assert!(pass().check("exact", 3).is_ok());
        assert!(matches!(
            pass().check("exact", 4),
            Err(EnrichBenchError::Hits { .. })
        ));
        let lost = Pass { seen: 9, ..pass() };
        assert!(matches!(
            lost.check("exact", 3),
            Err(EnrichBenchError::Lost { .. })
        ));
    }

    #[test]
    fn masks_and_range_ends() {
        let ip = u32::from(Ipv4Addr::new(10, 1, 200, 9));
        assert_eq!(mask(ip, 16), u32::from(Ipv4Addr::new(10, 1, 0, 0)));
        assert_eq!(mask(ip, 32), ip);
        assert_eq!(
            last_of(mask(ip, 24), 24),
            u32::from(Ipv4Addr::new(10, 1, 200, 255))
        );
    }
}
