"""Bulk import throughput of contacts from CSV, against reading the same file with the
standard library's ``csv`` module, in the same run.

Imports N generated contacts through the real ``RecordImportService`` (validate every row,
then write, one transaction) into a fresh SQLite database, then imports the same file again
(every row matched by address and updated). The first figure is the plain read of the CSV.

    python bench/record_import.py [--count 20000]
"""

from __future__ import annotations

import argparse
import csv
import io
import tempfile
import time
from pathlib import Path

from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import bootstrap
from tidings.config import Settings
from tidings.domain.people import Caller, Privilege, User
from tidings.domain.records import RecordKind
from tidings.services.import_formats import ImportFormat


def make_csv(count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["full_name", "emailaddress1", "emailaddress2"])
    for n in range(count):
        writer.writerow([f"Person {n}", f"p{n}@customer{n % 97}.example", f"p{n}@home.example"])
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    count = parser.parse_args().count
    data = make_csv(count)

    started = time.perf_counter()
    rows = sum(1 for _ in csv.reader(io.StringIO(data.decode())))
    baseline = (rows - 1) / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'tidings.db'}"
        upgrade(url)
        tidings = bootstrap(Settings(database_url=url, parse_workers=0))
        admin = Caller(User("Bench", "bench@example.com", id=1), frozenset(Privilege))
        print(f"{count} contacts, {len(data) / 1e6:.1f} MB of CSV")
        print(f"  stdlib csv.reader:                 {baseline:10.0f} rows/s")
        for label in ("tidings import (all new):", "tidings import (all matched):"):
            started = time.perf_counter()
            report = tidings.record_import.import_records(
                admin, RecordKind.CONTACT, io.BytesIO(data), ImportFormat.CSV
            )
            rate = report.rows / (time.perf_counter() - started)
            done = f"{report.created} created, {report.updated} updated"
            print(f"  {label:34} {rate:10.0f} rows/s  ({done})")
        tidings.close()


if __name__ == "__main__":
    main()
