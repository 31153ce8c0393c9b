"""Grid files: parsing, the cartesian product, scenario ids, and one message id per
kind of bad grid (the grid file is never changed)."""

from __future__ import annotations

import pytest

from dasdlab.bench.grid import AXES, GridError, load_grid, parse_grid, scenario_id
from dasdlab.errors import DasdlabError

GOOD = """
[sweep]
name = "t"
description = "two sizes, three methods"

[grid]
db_sizes = ["1MiB", 4194304]
methods = ["standard", "dump-cc", "copy-flashcopy"]
seeds = [7]

[fixed]
duration = 5.0
"""


def test_product_order_ids_and_fixed():
    g = parse_grid(GOOD)
    assert g.name == "t" and g.size == 6 and g.varying == ["db_size", "method"]
    pts = g.points()
    assert pts[0] == {"db_size": "1MiB", "method": "standard", "seed": 7}
    assert [p["method"] for p in pts[:3]] == ["standard", "dump-cc", "copy-flashcopy"]  # last axis fastest
    assert pts[3]["db_size"] == 4194304
    sc = g.scenarios(dict)
    assert [s.index for s in sc] == list(range(6))
    assert sc[4].spec == {"duration": 5.0, "db_size": 4194304, "method": "dump-cc", "seed": 7}
    assert len({s.id for s in sc}) == 6
    assert sc[1].id.startswith("s0001-")
    # the id depends on every field set, fixed ones included
    assert scenario_id(1, {**sc[1].spec, "duration": 6.0}) != sc[1].id
    assert parse_grid(GOOD).scenarios(dict)[1].id == sc[1].id  # stable


def test_every_axis_maps_to_a_spec_field():
    text = "[grid]\n" + "\n".join(
        f"{k} = {v}" for k, v in zip(AXES, ['["2MiB"]', "[1.5]", "[100]", '["zipf"]', '["ds8000-ficon16"]',
                                            '["standard"]', "[0]"]))
    g = parse_grid(text)
    assert g.points() == [{"db_size": "2MiB", "scale": 1.5, "rate": 100, "skew": "zipf",
                           "profile": "ds8000-ficon16", "method": "standard", "seed": 0}]
    assert g.name == "grid"


def test_load_grid_names_by_file(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text("[grid]\nmethods = ['standard']\n")
    g = load_grid(p)
    assert g.name == "mine" and g.path == p and g.source == p.read_text()


@pytest.mark.parametrize("text, msgid", [
    ("[grid\nmethods = 1", "DLB751E"),
    ("[grid]\nmethods = ['a']\n[other]\nx = 1\n", "DLB752E"),
    ("[grid]\nsizes = ['1MiB']\n", "DLB752E"),
    ("[sweep]\nname = 'x'\n", "DLB752E"),
    ("[sweep]\nname = 'x'\nowner = 'me'\n[grid]\nseeds = [1]\n", "DLB752E"),
    ("grid = 3\n", "DLB752E"),
    ("[grid]\nmethods = ['a']\n[fixed]\nmethod = 'b'\n", "DLB752E"),
    ("[grid]\nmethods = ['a']\n[fixed]\nseeds = [1]\n", "DLB752E"),
    ("[grid]\nmethods = []\n", "DLB753E"),
    ("[grid]\nmethods = 'standard'\n", "DLB753E"),
    ("[grid]\nrates = [100, -5]\n", "DLB753E"),
    ("[grid]\nscales = [0]\n", "DLB753E"),
    ("[grid]\nseeds = [true]\n", "DLB753E"),
    ("[grid]\nseeds = [1.5]\n", "DLB753E"),
    ("[grid]\nmethods = [1]\n", "DLB753E"),
    ("[grid]\n", "DLB753E"),
    ("[grid]\nmethods = ['standard', 'dump-cc', 'standard']\n", "DLB754E"),
    ("[grid]\nscales = [1, 1.0]\n", "DLB754E"),
    ("[grid]\nseeds = " + str(list(range(101))) + "\nrates = " + str(list(range(1, 101))) + "\n", "DLB755E"),
])
def test_bad_grids_have_message_ids(tmp_path, text, msgid):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(GridError) as e:
        load_grid(p)
    assert e.value.msgid == msgid
    assert str(p) in e.value.text
    assert p.read_text() == text  # input unchanged


def test_missing_file(tmp_path):
    with pytest.raises(GridError) as e:
        load_grid(tmp_path / "nope.toml")
    assert e.value.msgid == "DLB750E"


def test_a_spec_that_refuses_a_scenario_names_it():
    def make_spec(**f):
        if f["method"] == "dump-cc":
            raise DasdlabError("DLB999E", "no such thing")
        if f["db_size"] == 4194304:
            raise ValueError("size too small")
        return f

    g = parse_grid(GOOD)
    with pytest.raises(GridError) as e:
        g.scenarios(make_spec)
    assert e.value.msgid == "DLB756E" and "scenario 1" in e.value.text and "method=dump-cc" in e.value.text
    assert "DLB999E no such thing" in e.value.text
    g2 = parse_grid(GOOD.replace('"dump-cc", ', ""))
    with pytest.raises(GridError) as e:
        g2.scenarios(make_spec)
    assert e.value.msgid == "DLB756E" and "size too small" in e.value.text


def test_fixed_fields_must_be_spec_fields():
    from dasdlab.bench.scenario import ScenarioSpec

    g = parse_grid("[grid]\nmethods = ['standard']\n[fixed]\nwarmup = 1.0\nwarmpu = 2.0\n")
    with pytest.raises(GridError) as e:
        g.scenarios(ScenarioSpec)
    assert e.value.msgid == "DLB752E" and "warmpu" in e.value.text and "warmup" in e.value.text
    ok = parse_grid("[grid]\nmethods = ['standard', 'dump-cc']\n[fixed]\nwarmup = 1.0\n").scenarios(ScenarioSpec)
    assert [s.spec.methods for s in ok] == [("standard",), ("dump-cc",)] and ok[0].spec.warmup == 1.0
