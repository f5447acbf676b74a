"""Server-drawn charts and the percentiles behind them."""

from openhitl.requests.analytics import percentile
from openhitl.web.charts import TIME_STEPS, Series, bar_chart, line_chart, nice_step


def test_labels_and_titles_are_escaped() -> None:
    svg = bar_chart(["<script>x</script>"], [Series("a&b", [3])], title='"quoted" <title>')
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt;" in svg
    assert 'aria-label="&#34;quoted&#34; &lt;title&gt;"' in svg and "a&amp;b: 3" in svg


def test_axis_steps_are_round() -> None:
    assert [nice_step(v) for v in (0, 0.3, 1.25, 3, 7, 12, 260)] == [1, 1, 2, 5, 10, 20, 500]
    assert [nice_step(v, TIME_STEPS) for v in (40, 1350, 5000)] == [60, 1800, 7200]


def test_a_line_has_a_point_per_value_and_skips_gaps() -> None:
    svg = line_chart(["a", "b", "c"], [Series("n", [1, None, 4])], title="t")
    assert svg.count("<circle") == 2 and "<title>c: 4</title>" in svg


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([60, 120, 4000], 0.5) == 120
    assert percentile([60, 120, 4000], 0.9) == 3224
    assert percentile([5], 0.9) == 5
