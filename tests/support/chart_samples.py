"""Hand-made chart inputs for the chart tests: a ward whose concerns rose, and its rise detector."""

from __future__ import annotations

from datetime import date, timedelta

from frontend.charts import Assurance, CusumChartData, CusumPoint, SpcChartData, SpcPoint, Variation

FIRST_WEEK = date(2025, 9, 1)  # a Monday
# 30 weeks: usual weeks around 2, one quiet week (an improvement: fewer concerns is better), two weeks
# withheld (None), and the last four well above the mean, each marked special cause by the engine.
WARD_7_VALUES: list[float | None] = [
    2, 3, 1, 2, 2, 4, 1, 2, 3, 2,
    None, 2, 1, 3, 2, 2, 0, 2, 3, 1,
    2, None, 2, 3, 2, 1, 7, 6, 8, 7,
]  # fmt: skip
SPECIAL = {16: "low", 26: "high", 27: "high", 28: "high", 29: "high"}


def week(index: int) -> date:
    return FIRST_WEEK + timedelta(weeks=index)


def ward_7_spc(*, title: str = "Concerns a week on Ward 7") -> SpcChartData:
    return SpcChartData(
        title=title,
        unit_label="concerns a week",
        points=tuple(
            SpcPoint(week=week(i), value=v, special=SPECIAL.get(i))  # type: ignore[arg-type]
            for i, v in enumerate(WARD_7_VALUES)
        ),
        mean=2.1,
        lower=0.0,
        upper=5.6,
        improvement="decrease",
        variation=Variation.CONCERN_HIGH,
        assurance=Assurance.HIT_AND_MISS,
        target=3.0,
    )


# The upper CUSUM for the same ward: nothing until the rise, then it climbs past the threshold on the
# second high week (index 27).
WARD_7_CUSUM = [0.0] * 26 + [3.1, 5.4, 8.6, 11.2]
WARD_7_CUSUM[5] = 1.2
WARD_7_CUSUM[6] = 0.4


def ward_7_cusum(*, title: str = "Rise detector for concerns on Ward 7") -> CusumChartData:
    return CusumChartData(
        title=title,
        points=tuple(CusumPoint(week=week(i), value=v) for i, v in enumerate(WARD_7_CUSUM)),
        threshold=4.8,
        direction="rise",
    )
