"""The documents stay readable: the README's size and one-line status cells, results.md's size and
per-paper sections, and links that land."""

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
RESULTS = (ROOT / "docs" / "results.md").read_text()
PAPERS = ("prodlda", "gcn", "noising", "tying", "sharp_minima", "meta_lstm", "vlae", "qprop", "snn4hrl")


def test_the_readme_is_short_with_one_line_per_paper():
    assert len(README.splitlines()) <= 150
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|$", README, re.M)}
    assert set(rows) == set(PAPERS)
    for paper, status in rows.items():
        assert len(status.strip()) <= 200, paper
        assert re.match(r"(reproduced|partly|not started)\b", status.strip()), paper


def test_results_is_the_current_state_per_paper():
    lines = RESULTS.splitlines()
    assert len(lines) <= 600
    starts = [i for i, line in enumerate(lines) if line.startswith("## ")]
    for start, end in zip(starts, [*starts[1:], len(lines)]):
        assert end - start <= 80, lines[start]
    assert not [line for line in lines if line.startswith("#") and len(line) > 120]


def test_readme_links_land_on_a_results_section_or_a_file():
    for target, anchor in re.findall(r"\]\(((?:docs|notebooks)/[^)#]+)(?:#([\w-]+))?\)", README):
        assert (ROOT / target).exists(), target
        if anchor:
            assert f'<a id="{anchor}"></a>' in (ROOT / target).read_text(), anchor


def test_no_run_output_is_committed():
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    data = [f for f in files if f.startswith("data/0") and not f.endswith(".gitkeep")]
    assert not data and not [f for f in files if "mlruns/" in f or f.endswith((".pt", ".pkl", ".db"))]
