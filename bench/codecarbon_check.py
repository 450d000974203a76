"""Compares joulebench's emissions.csv with a file the real CodeCarbon 3.x writes.

    python codecarbon_check.py JOULEBENCH_EMISSIONS_CSV SCRATCH_DIR

Runs an OfflineEmissionsTracker in task mode (two tasks, a few seconds of busy loop) into
SCRATCH_DIR, twice, then checks that:
  1. joulebench's header is CodeCarbon's task-mode header, column for column: the fields of
     its TaskEmissionsData, in order;
  2. the header of the file CodeCarbon wrote with a region and coordinates given (so that no
     column is empty) is joulebench's, column for column; and the one it wrote with only a
     country is joulebench's less the columns its task writer dropped because all their
     values were missing (offline: region, longitude, latitude);
  3. pandas (CodeCarbon's own reader) reads joulebench's file: one row per configuration,
     numeric energy columns, cpu + gpu + ram = energy_consumed, and the two files
     concatenate column for column.
Exits 1 on any difference.
"""

import dataclasses
import glob
import os
import sys
import time

import codecarbon
import pandas as pd
from codecarbon import OfflineEmissionsTracker
from codecarbon.output_methods.emissions_data import TaskEmissionsData


class LocatedTracker(OfflineEmissionsTracker):
    """An offline tracker that also knows its coordinates (as the online one looks up), so
    CodeCarbon's task writer has a value for every column."""

    def _get_geo_metadata(self):
        from codecarbon.external.geography import GeoMetadata

        geo = super()._get_geo_metadata()
        return GeoMetadata(
            country_iso_code=geo.country_iso_code,
            country_name=geo.country_name,
            region=geo.region,
            latitude=47.6,
            longitude=-122.3,
        )


def real_task_file(scratch: str, located: bool) -> str:
    os.makedirs(scratch, exist_ok=True)
    kind = LocatedTracker if located else OfflineEmissionsTracker
    where = {"country_iso_code": "USA", "region": "washington"} if located else {"country_iso_code": "FRA"}
    tracker = kind(
        **where,
        output_dir=scratch,
        project_name="joulebench-check",
        measure_power_secs=1,
        log_level="error",
        save_to_file=True,
    )
    tracker.start()
    for task in ["load model", "query model"]:
        tracker.start_task(task)
        total = 0
        for i in range(3_000_000):
            total += i
        time.sleep(1.1)
        tracker.stop_task(task)
    tracker.stop()
    files = glob.glob(os.path.join(scratch, "emissions_*_*.csv"))
    if len(files) != 1:
        sys.exit(f"expected one CodeCarbon task file in {scratch}, found {files}")
    return files[0]


def main() -> int:
    ours_path, scratch = sys.argv[1], sys.argv[2]
    print(f"codecarbon {codecarbon.__version__}, pandas {pd.__version__}")
    ok = True
    fields = [f.name for f in dataclasses.fields(TaskEmissionsData)]
    ours = pd.read_csv(ours_path)
    header = list(ours.columns)
    print(f"joulebench header: {len(header)} columns; TaskEmissionsData: {len(fields)} fields")
    if header == fields:
        print("1. header == TaskEmissionsData fields, in order: PASS")
    else:
        ok = False
        print("1. header differs from TaskEmissionsData: FAIL")
        for i, (a, b) in enumerate(zip(header, fields)):
            if a != b:
                print(f"   column {i}: joulebench {a!r}, CodeCarbon {b!r}")
        print(f"   only joulebench: {set(header) - set(fields)}; only CodeCarbon: {set(fields) - set(header)}")

    located_path = real_task_file(os.path.join(scratch, "located"), located=True)
    located = list(pd.read_csv(located_path).columns)
    print(f"CodeCarbon's task file, region and coordinates given: {located_path} ({len(located)} columns)")
    if located == header:
        print("2a. CodeCarbon's header == joulebench's, column for column: PASS")
    else:
        ok = False
        print(f"2a. FAIL: CodeCarbon wrote {located}")

    real_path = real_task_file(os.path.join(scratch, "country"), located=False)
    real = pd.read_csv(real_path)
    real_header = list(real.columns)
    dropped = [c for c in header if c not in real_header]
    expected = [c for c in header if c not in dropped]
    print(f"CodeCarbon's task file, country only: {real_path} ({len(real)} rows, {len(real_header)} columns)")
    print(f"   columns CodeCarbon dropped as all-NA: {dropped}")
    if real_header == expected and set(dropped) <= {"region", "longitude", "latitude", "cloud_provider", "cloud_region"}:
        print("2b. CodeCarbon's header == joulebench's less its all-NA columns, same order: PASS")
    else:
        ok = False
        print(f"2b. FAIL: CodeCarbon wrote {real_header}")

    numeric = ["duration", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed", "cpu_power", "gpu_power", "ram_power"]
    bad = [c for c in numeric if not pd.api.types.is_numeric_dtype(ours[c])]
    parts = ours["cpu_energy"] + ours["gpu_energy"] + ours["ram_energy"]
    sums = ((parts - ours["energy_consumed"]).abs() <= 1e-12 + 1e-9 * ours["energy_consumed"]).all()
    both = pd.concat([real, ours], ignore_index=True)
    if not bad and sums and list(both.columns)[: len(real_header)] == real_header and len(ours) > 0:
        print(f"3. pandas reads joulebench's file: {len(ours)} rows, numeric energies, cpu+gpu+ram = energy_consumed, concatenates with CodeCarbon's: PASS")
    else:
        ok = False
        print(f"3. FAIL: non-numeric {bad}, sums {sums}, rows {len(ours)}")
    print(ours[["task_name", "run_id", "duration", "energy_consumed", "cpu_energy", "gpu_energy", "ram_energy", "emissions"]].to_string(index=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
