"""An indicator of the event (IP address, domain, file hash, …) is in the threat-intel table.

The engine looks every `p_any_*` indicator of an event up in the `threat_intel` lookup table
(a compacted Kafka topic loaded with `corvid connect table`) and attaches the rows it finds:

    p_enrichment:
      threat_intel:
        p_any_ip_addresses: [{indicator: 198.51.100.24, type: ip, source: …, severity: HIGH}]
        p_any_domain_names: [{indicator: c2.bad-actor.example, …}]

An array field holds a list of rows, a single-valued field one row. The rule fires when the
table matched anything; the matched rows say what and how bad.
"""

from collections.abc import Mapping, Sequence

TABLE = "threat_intel"

# The order in which fields are reported (and which hit names the alert): addresses first,
# then names, then file hashes, then any other field in name order.
FIELD_ORDER = [
    "p_any_ip_addresses",
    "p_any_domain_names",
    "p_any_sha256_hashes",
    "p_any_sha1_hashes",
    "p_any_md5_hashes",
]

# A row's `severity` (any case) → Panther's level.
SEVERITIES = {
    "info": "INFO",
    "informational": "INFO",
    "low": "LOW",
    "medium": "MEDIUM",
    "med": "MEDIUM",
    "moderate": "MEDIUM",
    "high": "HIGH",
    "critical": "CRITICAL",
    "crit": "CRITICAL",
}
RANK = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]


def _rows(value):
    """The rows of one field's enrichment: a list of rows, or one row."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [row for row in value if isinstance(row, Mapping)]
    return []


def _field_key(field):
    if field in FIELD_ORDER:
        return (FIELD_ORDER.index(field), "")
    return (len(FIELD_ORDER), field)


def hits(event):
    """[(field, row), …] for every matched row, fields in FIELD_ORDER, rows in event order."""
    matched = event.deep_get("p_enrichment", TABLE, default=None)
    if not isinstance(matched, Mapping):
        return []
    found = []
    for field in sorted(matched.keys(), key=_field_key):
        for row in _rows(matched.get(field)):
            found.append((field, row))
    return found


def indicator(event, field, row):
    """The matched indicator: the row's `indicator` column, else the event's own value when
    the field holds exactly one."""
    value = row.get("indicator")
    if value:
        return str(value)
    own = event.get(field)
    if isinstance(own, str) and own:
        return own
    if isinstance(own, Sequence) and not isinstance(own, (str, bytes)) and len(own) == 1:
        return str(own[0])
    return "<UNKNOWN_INDICATOR>"


def indicator_type(field, row):
    """The row's `type` column, else the kind of indicator array it was found in."""
    value = row.get("type")
    if value:
        return str(value)
    if field.startswith("p_any_"):
        return field[len("p_any_") :]
    return field


def rule(event):
    return bool(hits(event))


def title(event):
    found = hits(event)
    field, row = found[0]
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    return (
        f"Threat-intel match: {indicator_type(field, row)} [{indicator(event, field, row)}]"
        f"{more} in {event.get('p_log_type', '<UNKNOWN_LOG_TYPE>')}"
    )


def dedup(event):
    field, row = hits(event)[0]
    return indicator(event, field, row)


def severity(event):
    """The highest severity among the matched rows; the YAML Severity when none says."""
    levels = []
    for _, row in hits(event):
        level = SEVERITIES.get(str(row.get("severity") or "").strip().lower())
        if level:
            levels.append(level)
    if not levels:
        return "DEFAULT"
    return max(levels, key=RANK.index)


def alert_context(event):
    by_field = {}
    for field, row in hits(event):
        entry = by_field.setdefault(field, {"indicators": [], "sources": []})
        value = indicator(event, field, row)
        if value not in entry["indicators"]:
            entry["indicators"].append(value)
        source = row.get("source")
        if source and str(source) not in entry["sources"]:
            entry["sources"].append(str(source))
    return {
        "log_type": event.get("p_log_type"),
        "matches": by_field,
        "descriptions": sorted(
            {str(row["description"]) for _, row in hits(event) if row.get("description")}
        ),
    }
