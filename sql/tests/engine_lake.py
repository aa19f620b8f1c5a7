"""The engine's own lake as other tools read it (driven by sql/tests/scenario.rs).

    python engine_lake.py --root LAKE --ddl DUCKDB.sql

pyarrow opens every Parquet file; within a table all files share one schema, the p_
timestamps are microsecond UTC timestamps and the p_any_* columns lists of strings, and
every file is zstd-compressed. DuckDB runs the DDL `corvid-query ddl --dialect duckdb`
generated and answers the first investigation query. Prints a summary; exits 1 on any
failure.
"""

import argparse
import collections
import pathlib
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True, type=pathlib.Path)
    parser.add_argument("--ddl", required=True, type=pathlib.Path)
    args = parser.parse_args()

    failures = []
    schemas = collections.defaultdict(set)
    files = sorted(args.root.rglob("*.parquet"))
    for path in files:
        table = "/".join(path.relative_to(args.root).parts[:2])
        schema = pq.read_schema(path).remove_metadata()
        schemas[table].add(schema.to_string())
        for name in ("p_event_time", "p_parse_time"):
            field = schema.field(name)
            if not (pa.types.is_timestamp(field.type) and field.type.unit == "us" and field.type.tz in ("+00:00", "UTC")):
                failures.append(f"{path}: {name} is {field.type}")
        if schema.field("p_any_ip_addresses").type != pa.list_(pa.string()):
            failures.append(f"{path}: p_any_ip_addresses is {schema.field('p_any_ip_addresses').type}")
        metadata = pq.ParquetFile(path).metadata
        codecs = {
            metadata.row_group(g).column(c).compression
            for g in range(metadata.num_row_groups)
            for c in range(metadata.num_columns)
        }
        if codecs != {"ZSTD"}:
            failures.append(f"{path}: compression {codecs}")
        pq.read_table(path)
    for table, variants in schemas.items():
        if len(variants) != 1:
            failures.append(f"{table}: {len(variants)} different file schemas")
    if not files:
        failures.append("no Parquet files")
    print(f"pyarrow files: {len(files)} in {len(schemas)} tables")

    con = duckdb.connect()
    con.execute(args.ddl.read_text())
    rows = con.execute(
        "SELECT DISTINCT p_log_type FROM panther_views.all_logs "
        "WHERE list_contains(p_any_ip_addresses, '136.24.229.194') AND month=11 AND day=27 "
        "ORDER BY p_log_type"
    ).fetchall()
    print("duckdb log types: " + ",".join(r[0] for r in rows))

    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
