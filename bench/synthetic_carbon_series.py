#!/usr/bin/env python3
"""Writes suites/carbon/synthetic-week.csv: a SYNTHETIC hourly grid carbon intensity series
(gCO2eq/kWh), one week from 2030-01-07T00:00Z, for three made-up zones. Not measured and
not any real grid: it has the shapes the what-ifs are about (a midday solar dip, a windy
spell, a flat fossil grid), so `joulebench` can be tried on it. Deterministic (seeded).

    python3 bench/synthetic_carbon_series.py > suites/carbon/synthetic-week.csv
"""
import math
import random
from datetime import datetime, timedelta, timezone

START = datetime(2030, 1, 7, tzinfo=timezone.utc)
HOURS = 168


def solar(rng):
    """380 at night, down to about 120 at 13:00 on a clear day; some days cloudier."""
    out = []
    for day in range(HOURS // 24):
        sun = rng.uniform(0.4, 1.0)
        for h in range(24):
            daylight = max(0.0, math.sin(math.pi * (h - 6) / 14)) if 6 <= h <= 20 else 0.0
            out.append(380.0 - 260.0 * sun * daylight + rng.gauss(0.0, 8.0))
    return out


def wind(rng):
    """A wind share that drifts (AR(1)); 450 without wind, 20 with all wind."""
    out, share = [], 0.3
    for _ in range(HOURS):
        share = min(0.95, max(0.0, 0.93 * share + 0.07 * 0.35 + rng.gauss(0.0, 0.05)))
        out.append(450.0 * (1.0 - share) + 20.0 * share)
    return out


def fossil(rng):
    """About 760, a little higher at the evening peak."""
    return [760.0 + 30.0 * math.sin(2 * math.pi * (h % 24 - 12) / 24) + rng.gauss(0.0, 6.0)
            for h in range(HOURS)]


def main():
    rng = random.Random(20261207)
    zones = {"SYN-SOLAR": solar(rng), "SYN-WIND": wind(rng), "SYN-FOSSIL": fossil(rng)}
    print("datetime,zone,intensity")
    for zone, values in zones.items():
        for h, v in enumerate(values):
            t = START + timedelta(hours=h)
            print(f"{t:%Y-%m-%dT%H:%M:%SZ},{zone},{max(v, 5.0):.2f}")


if __name__ == "__main__":
    main()
