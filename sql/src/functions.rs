//! Presto/Athena functions that investigations use, with Presto's semantics, so queries
//! copied from Panther's docs and runbooks run unchanged.
//!
//! | function | semantics |
//! |---|---|
//! | `contains(array, value)` | true if the array holds the value; NULL if not found and the array holds a NULL, or either argument is NULL. Over a string it is DataFusion's substring test |
//! | `json_extract_scalar(json, path)` | the scalar at a JSONPath (`$.a.b[0]`, `$["key"]`) as text; NULL for objects, arrays, JSON null, a missing path or invalid JSON |
//! | `json_extract(json, path)` | the value at the path as JSON text |
//! | `json_array_length(json)`, `json_size(json, path)` | the length of an array; the size of the object or array at the path (0 for a scalar) |
//! | `from_iso8601_timestamp(text)`, `from_iso8601_date(text)` | ISO 8601 text to a UTC timestamp / a date |
//! | `to_iso8601(timestamp)` | `2020-11-27T10:00:00.000000Z` |
//! | `date_add(unit, n, timestamp)`, `date_diff(unit, t1, t2)` | units `millisecond`, `second`, `minute`, `hour`, `day`, `week`, `month`, `quarter`, `year` |
//! | `date_parse(text, format)`, `date_format(timestamp, format)` | MySQL-style formats (`%Y-%m-%d %H:%i:%s`) |
//! | `regexp_extract(text, pattern[, group])` | the first match (or its group); NULL when nothing matches |
//! | `split(text, delimiter)` | alias of `string_to_array` |
//! | `year`, `quarter`, `month`, `day`, `hour`, `minute`, `second`, `day_of_week`, `day_of_year` (timestamp) | the UTC field as BIGINT (`day_of_week`: 1 = Monday … 7 = Sunday) |
//! | `count_if(condition)` | aggregate: the rows where the condition is true (0 when none) |
//! | `arbitrary(x)`, `approx_percentile(x, p)` | aliases of `any_value`, `approx_percentile_cont` |
//! | `element_at(array, i)`, `element_at(map, key)` | 1-based (negative from the end); NULL when out of range or the key is missing |
//!
//! DataFusion's own functions cover the rest of the usual set under Presto's names:
//! `cardinality`, `array_join`, `lower`, `strpos`, `regexp_like`,
//! `date_trunc`, `from_unixtime`, `to_unixtime`, `approx_distinct`, `now()`,
//! `current_timestamp - INTERVAL '1' DAY`.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, Timelike, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::kernels::comparison::contains as string_contains;
use datafusion::arrow::compute::{cast, cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::binary::comparison_coercion;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use serde_json::Value;

/// Registers the Presto functions (replacing DataFusion's string-only `contains`).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(Contains::new()));
    for kind in [
        JsonKind::ExtractScalar,
        JsonKind::Extract,
        JsonKind::Size,
        JsonKind::ArrayLength,
    ] {
        ctx.register_udf(ScalarUDF::from(Json::new(kind)));
    }
    for kind in [
        TimeKind::FromIso8601Timestamp,
        TimeKind::FromIso8601Date,
        TimeKind::ToIso8601,
        TimeKind::DateAdd,
        TimeKind::DateDiff,
        TimeKind::DateParse,
        TimeKind::DateFormat,
    ] {
        ctx.register_udf(ScalarUDF::from(Time::new(kind)));
    }
    ctx.register_udf(ScalarUDF::from(RegexpExtract::new()));
    ctx.register_udf(ScalarUDF::from(ElementAt::new()));
    for part in [
        Part::Year,
        Part::Quarter,
        Part::Month,
        Part::Day,
        Part::Hour,
        Part::Minute,
        Part::Second,
        Part::DayOfWeek,
        Part::DayOfYear,
    ] {
        ctx.register_udf(ScalarUDF::from(DatePart::new(part)));
    }
    ctx.register_udaf(AggregateUDF::from(CountIf::new()));
    for (presto, datafusion) in [
        ("arbitrary", "any_value"),
        ("approx_percentile", "approx_percentile_cont"),
    ] {
        if let Ok(function) = ctx.udaf(datafusion) {
            if !function.aliases().iter().any(|a| a == presto) {
                ctx.register_udaf(function.as_ref().clone().with_aliases([presto]));
            }
        }
    }
    if let Ok(split) = ctx.udf("string_to_array") {
        if !split.aliases().iter().any(|a| a == "split") {
            ctx.register_udf(split.as_ref().clone().with_aliases(["split"]));
        }
    }
}

fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

fn is_time(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) || is_string(data_type)
        || data_type == &DataType::Null
}

/// `contains(array, value)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Contains {
    signature: Signature,
}

impl Contains {
    pub fn new() -> Contains {
        Contains {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for Contains {
    fn default() -> Self {
        Contains::new()
    }
}

impl ScalarUDFImpl for Contains {
    fn name(&self) -> &str {
        "contains"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [haystack, needle] = arg_types else {
            return plan_err!("contains takes two arguments: contains(array, value)");
        };
        let element = match haystack {
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::FixedSizeList(f, _)
            | DataType::ListView(f)
            | DataType::LargeListView(f) => f.data_type().clone(),
            DataType::Null => match needle {
                DataType::Null => DataType::Utf8,
                other => other.clone(),
            },
            t if is_string(t) => {
                if is_string(needle) || needle == &DataType::Null {
                    return Ok(vec![DataType::Utf8, DataType::Utf8]);
                }
                return plan_err!("contains(string, substring): the substring is {needle}");
            }
            other => {
                return plan_err!(
                    "contains(array, value): the first argument is {other}, not an array"
                )
            }
        };
        let common = if needle == &DataType::Null {
            element
        } else {
            match comparison_coercion(&element, needle) {
                Some(common) => common,
                None => {
                    return plan_err!(
                        "contains(array, value): cannot compare array<{element}> with {needle}"
                    )
                }
            }
        };
        Ok(vec![
            DataType::List(Arc::new(Field::new("item", common.clone(), true))),
            common,
        ])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [haystack, needle] = args.args.as_slice() else {
            return exec_err!("contains takes two arguments");
        };
        if is_string(&haystack.data_type()) {
            let arrays = ColumnarValue::values_to_arrays(&[haystack.clone(), needle.clone()])?;
            let haystack = cast(&arrays[0], &DataType::Utf8)?;
            let needle = cast(&arrays[1], &DataType::Utf8)?;
            return Ok(ColumnarValue::Array(Arc::new(string_contains(
                &haystack, &needle,
            )?)));
        }
        let lists = haystack.to_array(rows)?;
        let lists = lists.as_list::<i32>();
        let values = lists.values();
        let offsets = lists.value_offsets();
        let mut out = BooleanBuilder::with_capacity(lists.len());
        let found = |hits: &BooleanArray, range: std::ops::Range<usize>| -> Option<bool> {
            if range.clone().any(|j| hits.is_valid(j) && hits.value(j)) {
                Some(true)
            } else if range.clone().any(|j| values.is_null(j)) {
                None
            } else {
                Some(false)
            }
        };
        match needle {
            ColumnarValue::Scalar(value) if value.is_null() => out.append_nulls(lists.len()),
            ColumnarValue::Scalar(value) => {
                let hits = eq(values, &value.to_scalar()?)?;
                for i in 0..lists.len() {
                    if lists.is_null(i) {
                        out.append_null();
                    } else {
                        let range = offsets[i] as usize..offsets[i + 1] as usize;
                        out.append_option(found(&hits, range));
                    }
                }
            }
            ColumnarValue::Array(needles) => {
                for i in 0..lists.len() {
                    if lists.is_null(i) || needles.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let row = values.slice(start, end - start);
                    let needle = ScalarValue::try_from_array(needles, i)?;
                    let hits = eq(&row, &needle.to_scalar()?)?;
                    let any = (0..row.len()).any(|j| hits.is_valid(j) && hits.value(j));
                    out.append_option(if any {
                        Some(true)
                    } else if row.null_count() > 0 {
                        None
                    } else {
                        Some(false)
                    });
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// One step of a JSONPath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses the JSONPath subset Presto's JSON functions take: `$`, `.key`, `["key"]`,
/// `['key']`, `[index]`.
pub fn parse_json_path(path: &str) -> std::result::Result<Vec<PathStep>, String> {
    let invalid = |why: &str| format!("invalid JSON path {path:?}: {why}");
    let text = path.trim();
    let mut chars = text.chars().peekable();
    if chars.next() != Some('$') {
        return Err(invalid("it must start with $"));
    }
    let mut steps = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    key.push(next);
                    chars.next();
                }
                if key.is_empty() || key == "*" {
                    return Err(invalid("empty key or wildcard after '.'"));
                }
                steps.push(PathStep::Key(key));
            }
            '[' => match chars.peek() {
                Some(&quote) if quote == '"' || quote == '\'' => {
                    chars.next();
                    let mut key = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some(escaped) => key.push(escaped),
                                None => return Err(invalid("unterminated key")),
                            },
                            Some(c) if c == quote => break,
                            Some(c) => key.push(c),
                            None => return Err(invalid("unterminated key")),
                        }
                    }
                    if chars.next() != Some(']') {
                        return Err(invalid("expected ']'"));
                    }
                    steps.push(PathStep::Key(key));
                }
                _ => {
                    let mut digits = String::new();
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                        digits.push(c);
                    }
                    let index = digits
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| invalid("subscripts are quoted keys or array indexes"))?;
                    steps.push(PathStep::Index(index));
                }
            },
            c if c.is_whitespace() => {}
            _ => return Err(invalid("expected '.' or '['")),
        }
    }
    Ok(steps)
}

fn walk<'v>(mut value: &'v Value, steps: &[PathStep]) -> Option<&'v Value> {
    for step in steps {
        value = match step {
            PathStep::Key(key) => value.as_object()?.get(key)?,
            PathStep::Index(index) => value.as_array()?.get(*index)?,
        };
    }
    Some(value)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum JsonKind {
    ExtractScalar,
    Extract,
    Size,
    ArrayLength,
}

/// `json_extract_scalar`, `json_extract`, `json_size`, `json_array_length` over JSON text.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Json {
    kind: JsonKind,
    signature: Signature,
}

impl Json {
    fn new(kind: JsonKind) -> Json {
        Json {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn arity(&self) -> usize {
        match self.kind {
            JsonKind::ArrayLength => 1,
            _ => 2,
        }
    }
}

impl ScalarUDFImpl for Json {
    fn name(&self) -> &str {
        match self.kind {
            JsonKind::ExtractScalar => "json_extract_scalar",
            JsonKind::Extract => "json_extract",
            JsonKind::Size => "json_size",
            JsonKind::ArrayLength => "json_array_length",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            JsonKind::ExtractScalar | JsonKind::Extract => DataType::Utf8,
            JsonKind::Size | JsonKind::ArrayLength => DataType::Int64,
        })
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.arity() {
            return plan_err!("{} takes {} argument(s)", self.name(), self.arity());
        }
        for t in arg_types {
            if !is_string(t) && t != &DataType::Null {
                return plan_err!(
                    "{}: arguments are JSON text and a JSONPath, not {t}",
                    self.name()
                );
            }
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let texts = args.args[0].to_array(rows)?;
        let texts = texts.as_string::<i32>();
        // A constant path (the usual case) is parsed once.
        let constant_path = match args.args.get(1) {
            None => Some(Vec::new()),
            Some(ColumnarValue::Scalar(path)) => match path {
                ScalarValue::Utf8(Some(path)) => Some(parse_path_or_error(path)?),
                _ => None,
            },
            Some(ColumnarValue::Array(_)) => None,
        };
        let paths = match (&constant_path, args.args.get(1)) {
            (None, Some(path)) => Some(path.to_array(rows)?),
            _ => None,
        };
        let paths = paths.as_ref().map(|p| p.as_string::<i32>());
        let mut strings = StringBuilder::new();
        let mut sizes = Int64Builder::new();
        for i in 0..texts.len() {
            let steps = match (&constant_path, paths) {
                (Some(steps), _) => Some(steps.clone()),
                (None, Some(paths)) if paths.is_valid(i) => {
                    Some(parse_path_or_error(paths.value(i))?)
                }
                _ => None,
            };
            let value = match steps {
                Some(steps) if texts.is_valid(i) => serde_json::from_str::<Value>(texts.value(i))
                    .ok()
                    .and_then(|json| walk(&json, &steps).cloned()),
                _ => None,
            };
            match self.kind {
                JsonKind::ExtractScalar => strings.append_option(value.and_then(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    Value::Null | Value::Array(_) | Value::Object(_) => None,
                })),
                JsonKind::Extract => {
                    strings.append_option(value.map(|v| v.to_string()));
                }
                JsonKind::Size => sizes.append_option(value.map(|v| match v {
                    Value::Array(a) => a.len() as i64,
                    Value::Object(o) => o.len() as i64,
                    _ => 0,
                })),
                JsonKind::ArrayLength => {
                    sizes.append_option(value.and_then(|v| v.as_array().map(|a| a.len() as i64)))
                }
            }
        }
        let array: ArrayRef = match self.kind {
            JsonKind::ExtractScalar | JsonKind::Extract => Arc::new(strings.finish()),
            JsonKind::Size | JsonKind::ArrayLength => Arc::new(sizes.finish()),
        };
        Ok(ColumnarValue::Array(array))
    }
}

fn parse_path_or_error(path: &str) -> Result<Vec<PathStep>> {
    match parse_json_path(path) {
        Ok(steps) => Ok(steps),
        Err(message) => exec_err!("{message}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TimeKind {
    FromIso8601Timestamp,
    FromIso8601Date,
    ToIso8601,
    DateAdd,
    DateDiff,
    DateParse,
    DateFormat,
}

/// The date and time functions.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Time {
    kind: TimeKind,
    signature: Signature,
}

impl Time {
    fn new(kind: TimeKind) -> Time {
        Time {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// A `date_add`/`date_diff` unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Micros(i64),
    Months(u32),
}

fn unit(name: &str) -> Result<Unit> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Micros(1_000),
        "second" => Unit::Micros(1_000_000),
        "minute" => Unit::Micros(60_000_000),
        "hour" => Unit::Micros(3_600_000_000),
        "day" => Unit::Micros(86_400_000_000),
        "week" => Unit::Micros(7 * 86_400_000_000),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        other => {
            return exec_err!(
                "unknown unit {other:?}: use millisecond, second, minute, hour, day, week, month, quarter or year"
            )
        }
    })
}

fn constant_unit(arg: &ColumnarValue, function: &str) -> Result<Unit> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => unit(name),
        _ => exec_err!("{function}: the unit must be a constant string such as 'day'"),
    }
}

fn to_utc_micros(array: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let cast = cast_with_options(array, &utc_micros(), &options)?;
    Ok(cast.as_primitive().clone())
}

fn datetime(micros: i64) -> Result<DateTime<Utc>> {
    match DateTime::from_timestamp_micros(micros) {
        Some(time) => Ok(time),
        None => exec_err!("timestamp {micros}µs is out of range"),
    }
}

fn add_months(time: DateTime<Utc>, months: i64) -> Result<DateTime<Utc>> {
    let shifted = match u32::try_from(months.unsigned_abs()) {
        Ok(n) if months >= 0 => time.checked_add_months(Months::new(n)),
        Ok(n) => time.checked_sub_months(Months::new(n)),
        Err(_) => None,
    };
    match shifted {
        Some(time) => Ok(time),
        None => exec_err!("date_add: {months} months from {time} is out of range"),
    }
}

fn months_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    let months = (i64::from(b.year()) * 12 + i64::from(b.month0()))
        - (i64::from(a.year()) * 12 + i64::from(a.month0()));
    let within = |t: DateTime<Utc>| {
        (
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_nanos(),
        )
    };
    if months > 0 && within(b) < within(a) {
        months - 1
    } else if months < 0 && within(b) > within(a) {
        months + 1
    } else {
        months
    }
}

/// Translates a MySQL-style format (Presto's `date_parse`/`date_format`) to chrono's.
pub fn mysql_format_to_chrono(format: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            return Err(format!("format {format:?} ends with '%'"));
        };
        out.push_str(match spec {
            'a' => "%a",
            'b' => "%b",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'f' => "%6f",
            'H' => "%H",
            'h' | 'I' => "%I",
            'i' => "%M",
            'j' => "%j",
            'k' => "%-H",
            'l' => "%-I",
            'M' => "%B",
            'm' => "%m",
            'p' => "%p",
            'r' => "%I:%M:%S %p",
            'S' | 's' => "%S",
            'T' => "%H:%M:%S",
            'W' => "%A",
            'Y' => "%Y",
            'y' => "%y",
            '%' => "%%",
            other => return Err(format!("format specifier %{other} is not supported")),
        });
    }
    Ok(out)
}

fn parse_with(text: &str, format: &str) -> Option<i64> {
    if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
        return Some(time.and_utc().timestamp_micros());
    }
    NaiveDate::parse_from_str(text, format)
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc().timestamp_micros())
}

impl ScalarUDFImpl for Time {
    fn name(&self) -> &str {
        match self.kind {
            TimeKind::FromIso8601Timestamp => "from_iso8601_timestamp",
            TimeKind::FromIso8601Date => "from_iso8601_date",
            TimeKind::ToIso8601 => "to_iso8601",
            TimeKind::DateAdd => "date_add",
            TimeKind::DateDiff => "date_diff",
            TimeKind::DateParse => "date_parse",
            TimeKind::DateFormat => "date_format",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            TimeKind::FromIso8601Timestamp | TimeKind::DateAdd | TimeKind::DateParse => {
                utc_micros()
            }
            TimeKind::FromIso8601Date => DataType::Date32,
            TimeKind::ToIso8601 | TimeKind::DateFormat => DataType::Utf8,
            TimeKind::DateDiff => DataType::Int64,
        })
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        let text = |t: &DataType| is_string(t) || t == &DataType::Null;
        let coerced = match (self.kind, arg_types) {
            (TimeKind::FromIso8601Timestamp | TimeKind::FromIso8601Date, [t]) if text(t) => {
                Some(vec![DataType::Utf8])
            }
            (TimeKind::ToIso8601, [t]) if is_time(t) => Some(vec![utc_micros()]),
            (TimeKind::DateAdd, [u, n, t])
                if text(u) && (n.is_integer() || n == &DataType::Null) && is_time(t) =>
            {
                Some(vec![DataType::Utf8, DataType::Int64, utc_micros()])
            }
            (TimeKind::DateDiff, [u, a, b]) if text(u) && is_time(a) && is_time(b) => {
                Some(vec![DataType::Utf8, utc_micros(), utc_micros()])
            }
            (TimeKind::DateParse, [t, f]) if text(t) && text(f) => {
                Some(vec![DataType::Utf8, DataType::Utf8])
            }
            (TimeKind::DateFormat, [t, f]) if is_time(t) && text(f) => {
                Some(vec![utc_micros(), DataType::Utf8])
            }
            _ => None,
        };
        if let Some(coerced) = coerced {
            return Ok(coerced);
        }
        let usage = match self.kind {
            TimeKind::FromIso8601Timestamp | TimeKind::FromIso8601Date => "(text)",
            TimeKind::ToIso8601 => "(timestamp)",
            TimeKind::DateAdd => "(unit, n, timestamp)",
            TimeKind::DateDiff => "(unit, timestamp1, timestamp2)",
            TimeKind::DateParse => "(text, format)",
            TimeKind::DateFormat => "(timestamp, format)",
        };
        let given: Vec<String> = arg_types.iter().map(|t| t.to_string()).collect();
        plan_err!("{name}{usage} was called with ({})", given.join(", "))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = &args.args;
        let array: ArrayRef = match self.kind {
            TimeKind::FromIso8601Timestamp => Arc::new(to_utc_micros(&a[0].to_array(rows)?)?),
            TimeKind::FromIso8601Date => {
                let options = CastOptions {
                    safe: false,
                    ..CastOptions::default()
                };
                cast_with_options(&a[0].to_array(rows)?, &DataType::Date32, &options)?
            }
            TimeKind::ToIso8601 => {
                let times = to_utc_micros(&a[0].to_array(rows)?)?;
                let mut out = StringBuilder::new();
                for t in times.iter() {
                    match t {
                        Some(t) => out.append_value(
                            datetime(t)?.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                        ),
                        None => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            TimeKind::DateAdd => {
                let unit = constant_unit(&a[0], "date_add")?;
                let amounts = a[1].to_array(rows)?;
                let amounts = amounts.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let times = to_utc_micros(&a[2].to_array(rows)?)?;
                let mut out = Vec::with_capacity(rows);
                for (n, t) in amounts.iter().zip(times.iter()) {
                    out.push(match (n, t) {
                        (Some(n), Some(t)) => Some(match unit {
                            Unit::Micros(step) => {
                                match n.checked_mul(step).and_then(|d| t.checked_add(d)) {
                                    Some(v) => v,
                                    None => return exec_err!("date_add: result out of range"),
                                }
                            }
                            Unit::Months(step) => {
                                add_months(datetime(t)?, n * i64::from(step))?.timestamp_micros()
                            }
                        }),
                        _ => None,
                    });
                }
                Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC"))
            }
            TimeKind::DateDiff => {
                let unit = constant_unit(&a[0], "date_diff")?;
                let from = to_utc_micros(&a[1].to_array(rows)?)?;
                let to = to_utc_micros(&a[2].to_array(rows)?)?;
                let mut out = Int64Builder::with_capacity(rows);
                for (x, y) in from.iter().zip(to.iter()) {
                    out.append_option(match (x, y) {
                        (Some(x), Some(y)) => Some(match unit {
                            Unit::Micros(step) => (y - x) / step,
                            Unit::Months(step) => {
                                months_between(datetime(x)?, datetime(y)?) / i64::from(step)
                            }
                        }),
                        _ => None,
                    });
                }
                Arc::new(out.finish())
            }
            TimeKind::DateParse => {
                let texts = a[0].to_array(rows)?;
                let formats = a[1].to_array(rows)?;
                let (texts, formats) = (texts.as_string::<i32>(), formats.as_string::<i32>());
                let mut out = Vec::with_capacity(rows);
                let mut cached: Option<(String, String)> = None;
                for i in 0..rows {
                    if texts.is_null(i) || formats.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    let format = chrono_format(&mut cached, formats.value(i))?;
                    match parse_with(texts.value(i), &format) {
                        Some(v) => out.push(Some(v)),
                        None => {
                            return exec_err!(
                                "date_parse: {:?} does not match the format {:?}",
                                texts.value(i),
                                formats.value(i)
                            )
                        }
                    }
                }
                Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC"))
            }
            TimeKind::DateFormat => {
                let times = to_utc_micros(&a[0].to_array(rows)?)?;
                let formats = a[1].to_array(rows)?;
                let formats = formats.as_string::<i32>();
                let mut out = StringBuilder::new();
                let mut cached: Option<(String, String)> = None;
                for i in 0..rows {
                    if times.is_null(i) || formats.is_null(i) {
                        out.append_null();
                        continue;
                    }
                    let format = chrono_format(&mut cached, formats.value(i))?;
                    out.append_value(datetime(times.value(i))?.format(&format).to_string());
                }
                Arc::new(out.finish())
            }
        };
        Ok(ColumnarValue::Array(array))
    }
}

fn chrono_format(cached: &mut Option<(String, String)>, mysql: &str) -> Result<String> {
    if let Some((from, to)) = cached.as_ref() {
        if from == mysql {
            return Ok(to.clone());
        }
    }
    match mysql_format_to_chrono(mysql) {
        Ok(format) => {
            *cached = Some((mysql.to_owned(), format.clone()));
            Ok(format)
        }
        Err(message) => exec_err!("{message}"),
    }
}

/// `regexp_extract(text, pattern[, group])`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
}

impl RegexpExtract {
    fn new() -> RegexpExtract {
        RegexpExtract {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let text = |t: &DataType| is_string(t) || t == &DataType::Null;
        match arg_types {
            [t, p] if text(t) && text(p) => Ok(vec![DataType::Utf8, DataType::Utf8]),
            [t, p, g] if text(t) && text(p) && (g.is_integer() || g == &DataType::Null) => {
                Ok(vec![DataType::Utf8, DataType::Utf8, DataType::Int64])
            }
            _ => plan_err!("regexp_extract(text, pattern[, group]) was called with {arg_types:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let pattern = match &args.args[1] {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(p))) => p.clone(),
            _ => return exec_err!("regexp_extract: the pattern must be a constant string"),
        };
        let group = match args.args.get(2) {
            None => 0,
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(g)))) if *g >= 0 => *g as usize,
            Some(_) => return exec_err!("regexp_extract: the group must be a constant, 0 or more"),
        };
        let regex = match regex::Regex::new(&pattern) {
            Ok(regex) => regex,
            Err(error) => return exec_err!("regexp_extract: {error}"),
        };
        if group >= regex.captures_len() {
            return exec_err!(
                "regexp_extract: pattern has {} groups, not {group}",
                regex.captures_len() - 1
            );
        }
        let texts = args.args[0].to_array(rows)?;
        let texts = texts.as_string::<i32>();
        let out: StringArray = texts
            .iter()
            .map(|text| {
                text.and_then(|t| regex.captures(t))
                    .and_then(|c| c.get(group).map(|m| m.as_str().to_owned()))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `element_at(array, index)` and `element_at(map, key)` (DataFusion's `element_at` is
/// the map function only).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ElementAt {
    signature: Signature,
}

impl ElementAt {
    fn new() -> ElementAt {
        ElementAt {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        "element_at"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(
                DataType::List(f)
                | DataType::LargeList(f)
                | DataType::FixedSizeList(f, _)
                | DataType::ListView(f)
                | DataType::LargeListView(f),
            ) => Ok(f.data_type().clone()),
            Some(DataType::Map(entries, _)) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => Ok(kv[1].data_type().clone()),
                other => plan_err!("element_at: unexpected map entries {other}"),
            },
            Some(DataType::Null) => Ok(DataType::Null),
            other => plan_err!("element_at(array, index) or element_at(map, key), not {other:?}"),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [list @ (DataType::List(_) | DataType::LargeList(_) | DataType::Null), index]
                if index.is_integer() || index == &DataType::Null =>
            {
                Ok(vec![list.clone(), DataType::Int64])
            }
            [DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f), index]
                if index.is_integer() || index == &DataType::Null =>
            {
                Ok(vec![DataType::List(Arc::clone(f)), DataType::Int64])
            }
            [map @ DataType::Map(entries, _), _] => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => {
                    Ok(vec![map.clone(), kv[0].data_type().clone()])
                }
                other => plan_err!("element_at: unexpected map entries {other}"),
            },
            _ => plan_err!(
                "element_at(array, index) or element_at(map, key) was called with {arg_types:?}"
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::functions_nested::extract::array_element_udf;
        use datafusion::functions_nested::map_extract::map_extract_udf;
        let DataType::Map(..) = args.args[0].data_type() else {
            return array_element_udf().invoke_with_args(args);
        };
        let value_type = args.return_field.data_type().clone();
        let list = DataType::List(Arc::new(Field::new("item", value_type, true)));
        let extracted = map_extract_udf().invoke_with_args(ScalarFunctionArgs {
            args: args.args,
            arg_fields: args.arg_fields,
            number_rows: args.number_rows,
            return_field: Arc::new(Field::new("values", list.clone(), true)),
            config_options: Arc::clone(&args.config_options),
        })?;
        array_element_udf().invoke_with_args(ScalarFunctionArgs {
            args: vec![
                extracted,
                ColumnarValue::Scalar(ScalarValue::Int64(Some(1))),
            ],
            arg_fields: vec![
                Arc::new(Field::new("values", list, true)),
                Arc::new(Field::new("index", DataType::Int64, false)),
            ],
            number_rows: args.number_rows,
            return_field: args.return_field,
            config_options: args.config_options,
        })
    }
}

/// A field of a timestamp, Presto's `year(ts)`, `hour(ts)`, ….
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Part {
    Year,
    Quarter,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    DayOfWeek,
    DayOfYear,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DatePart {
    part: Part,
    signature: Signature,
}

impl DatePart {
    fn new(part: Part) -> DatePart {
        DatePart {
            part,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DatePart {
    fn name(&self) -> &str {
        match self.part {
            Part::Year => "year",
            Part::Quarter => "quarter",
            Part::Month => "month",
            Part::Day => "day",
            Part::Hour => "hour",
            Part::Minute => "minute",
            Part::Second => "second",
            Part::DayOfWeek => "day_of_week",
            Part::DayOfYear => "day_of_year",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_time(t) => Ok(vec![utc_micros()]),
            _ => plan_err!("{}(timestamp) was called with {arg_types:?}", self.name()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let times = to_utc_micros(&args.args[0].to_array(args.number_rows)?)?;
        let mut out = Int64Builder::with_capacity(times.len());
        for t in times.iter() {
            out.append_option(match t {
                Some(t) => {
                    let t = datetime(t)?;
                    Some(i64::from(match self.part {
                        Part::Year => return_year(t.year())?,
                        Part::Quarter => t.month0() / 3 + 1,
                        Part::Month => t.month(),
                        Part::Day => t.day(),
                        Part::Hour => t.hour(),
                        Part::Minute => t.minute(),
                        Part::Second => t.second(),
                        Part::DayOfWeek => t.weekday().number_from_monday(),
                        Part::DayOfYear => t.ordinal(),
                    }))
                }
                None => None,
            });
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

fn return_year(year: i32) -> Result<u32> {
    match u32::try_from(year) {
        Ok(year) => Ok(year),
        Err(_) => exec_err!("year {year} is before year 0"),
    }
}

/// `count_if(condition)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CountIf {
    signature: Signature,
}

impl CountIf {
    fn new() -> CountIf {
        CountIf {
            signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
        }
    }
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn state_fields(
        &self,
        args: StateFieldsArgs,
    ) -> Result<Vec<datafusion::arrow::datatypes::FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[count]", args.name),
            DataType::Int64,
            false,
        ))])
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountIfAccumulator(0)))
    }
}

#[derive(Debug)]
struct CountIfAccumulator(i64);

impl Accumulator for CountIfAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let conditions = values[0].as_boolean();
        // Counts the non-null true values.
        self.0 += conditions.true_count() as i64;
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.0)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.0))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        self.0 += counts.iter().flatten().sum::<i64>();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_parse_like_presto() {
        assert_eq!(
            parse_json_path("$.useridentity.arn").expect("path"),
            vec![
                PathStep::Key("useridentity".into()),
                PathStep::Key("arn".into())
            ]
        );
        assert_eq!(
            parse_json_path("$[\"a.b\"][2]['c']").expect("path"),
            vec![
                PathStep::Key("a.b".into()),
                PathStep::Index(2),
                PathStep::Key("c".into())
            ]
        );
        assert_eq!(parse_json_path("$").expect("root"), vec![]);
        assert!(parse_json_path("a.b").is_err());
        assert!(parse_json_path("$.a[x]").is_err());
    }

    #[test]
    fn mysql_formats_translate() {
        assert_eq!(
            mysql_format_to_chrono("%Y-%m-%d %H:%i:%s").expect("format"),
            "%Y-%m-%d %H:%M:%S"
        );
        assert!(mysql_format_to_chrono("%Q").is_err());
    }

    #[test]
    fn months_between_counts_whole_months() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        assert_eq!(
            months_between(t("2020-01-31T00:00:00Z"), t("2020-02-29T00:00:00Z")),
            0
        );
        assert_eq!(
            months_between(t("2020-01-15T00:00:00Z"), t("2020-03-15T00:00:00Z")),
            2
        );
        assert_eq!(
            months_between(t("2020-03-15T00:00:00Z"), t("2020-01-16T00:00:00Z")),
            -1
        );
    }
}
