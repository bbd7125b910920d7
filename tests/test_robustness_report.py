"""The generated robustness page (docs/robustness.md) and its generator."""

from __future__ import annotations

import pathlib

import robustness_report

from jaxloss import catalog

PAGE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "robustness.md"


def _record(entry, variant, outcome="passed"):
    return {"loss": entry.name, "variant": variant, "outcome": outcome, "cases": 6,
            "in_range": 5, "out_of_range": 1, "weighted_mean": entry.weighted_mean.get(variant),
            "classes": ["scale 1e-30", "scale 1e+30", "indices at 0 and C-1"]}


def test_render_has_a_row_per_loss_and_marks_failures():
    records = [_record(e, v) for e in catalog.ENTRIES for v in e.variants]
    records[0] = _record(catalog.ENTRIES[0], catalog.ENTRIES[0].variants[0], "failed")
    page = robustness_report.render(records, "default")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    for entry in catalog.ENTRIES:
        row = next(r for r in rows if r.startswith(f"| `{entry.name}` | {entry.family} |"))
        assert f"| {6 * len(entry.variants)} | {len(entry.variants)} | 1e-30 to 1e+30 |" in row
    first = catalog.ENTRIES[0]
    assert f"**failed**: {first.variants[0]}" in next(r for r in rows if f"`{first.name}`" in r)
    assert "Not run" not in page


def test_the_page_covers_every_loss():
    """Regenerate with `python -m tests.robustness_report` when a loss is added."""
    page = PAGE.read_text()
    missing = [e.name for e in catalog.ENTRIES if f"| `{e.name}` | {e.family} |" not in page]
    assert not missing, f"docs/robustness.md lacks {missing}; run python -m tests.robustness_report"
    assert "**failed**" not in page
