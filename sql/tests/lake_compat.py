"""The lake as other tools read it: every fixture file opens with pyarrow with the schema
the table declares, pyarrow's Hive dataset sees the integer partitions, and DuckDB, with
the checked-in DDL of sql/duckdb/, answers the investigation queries as corvid-query does.

Driven by sql/tests/python_compat.rs:

    python lake_compat.py --root LAKE --schemas DIR --ddl sql/duckdb/fixture_lake.sql \
        --expected expected.json

DIR holds one Arrow IPC stream per table, named `<db folder>.<table>.arrows`, with the
declared schema; expected.json holds the queries, corvid-query's answers and the row
counts of 2020-11-27 per table.
"""

import argparse
import json
import pathlib
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

PARTITIONS = pa.schema(
    [("year", pa.int32()), ("month", pa.int32()), ("day", pa.int32()), ("hour", pa.int32())]
)


def check_files(root, schemas, expected, failures):
    checked = 0
    for schema_file in sorted(schemas.glob("*.arrows")):
        folder, table = schema_file.name[: -len(".arrows")].split(".", 1)
        with pa.ipc.open_stream(schema_file.read_bytes()) as reader:
            declared = reader.schema
        files = sorted((root / folder / table).rglob("*.parquet"))
        if not files:
            failures.append(f"{folder}/{table}: no Parquet files")
            continue
        for path in files:
            actual = pq.read_schema(path)
            if not actual.equals(declared, check_metadata=False):
                failures.append(
                    f"{path.relative_to(root)}: schema differs\n"
                    f"  file:     {actual.remove_metadata()}\n"
                    f"  declared: {declared.remove_metadata()}"
                )
            metadata = pq.ParquetFile(path).metadata
            codecs = {
                metadata.row_group(g).column(c).compression
                for g in range(metadata.num_row_groups)
                for c in range(metadata.num_columns)
            }
            if codecs != {"ZSTD"}:
                failures.append(f"{path.relative_to(root)}: compression {codecs}, not ZSTD")
            pq.read_table(path)  # every column decodes
            checked += 1
        dataset = ds.dataset(
            root / folder / table,
            format="parquet",
            partitioning=ds.partitioning(PARTITIONS, flavor="hive"),
        )
        day = dataset.to_table(filter=(ds.field("month") == 11) & (ds.field("day") == 27))
        want = expected["day_27_rows"].get(f"{folder}.{table}")
        if want is not None and day.num_rows != want:
            failures.append(f"{folder}/{table}: {day.num_rows} rows on 2020-11-27, want {want}")
        if dataset.schema.field("month").type != pa.int32():
            failures.append(f"{folder}/{table}: month is {dataset.schema.field('month').type}")
    return checked


def normalize(rows, ordered):
    rows = [list(row) for row in rows]
    return rows if ordered else sorted(rows, key=json.dumps)


def check_duckdb(root, ddl_path, expected, failures):
    ddl = ddl_path.read_text().replace("${LAKE_ROOT}", str(root))
    con = duckdb.connect()
    con.execute(ddl)
    for query in expected["queries"]:
        try:
            got = con.execute(query["sql"]).fetchall()
        except duckdb.Error as error:
            failures.append(f"DuckDB failed on {query['sql']}: {error}")
            continue
        if normalize(got, query["ordered"]) != normalize(query["rows"], query["ordered"]):
            failures.append(
                f"DuckDB answers {query['sql']}\n  with {got}\n  corvid-query: {query['rows']}"
            )
    return len(expected["queries"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=pathlib.Path, required=True)
    parser.add_argument("--schemas", type=pathlib.Path, required=True)
    parser.add_argument("--ddl", type=pathlib.Path, required=True)
    parser.add_argument("--expected", type=pathlib.Path, required=True)
    args = parser.parse_args()
    expected = json.loads(args.expected.read_text())
    failures = []
    files = check_files(args.root, args.schemas, expected, failures)
    queries = check_duckdb(args.root, args.ddl, expected, failures)
    for failure in failures:
        print(f"FAIL {failure}")
    print(
        f"lake_compat: pyarrow {pa.__version__} read {files} files, "
        f"DuckDB {duckdb.__version__} ran {queries} queries, {len(failures)} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
