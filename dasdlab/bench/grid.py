"""Scenario grids: a TOML file naming lists of values whose cartesian product is a set
of outage scenarios (docs/architecture.md: "a sweep over many scenarios runs on Dask").

A grid file has three tables; only ``[grid]`` is required::

    [sweep]                     # optional: a name and a sentence for the results
    name = "size"
    description = "standard outage grows with the database, AICS outages stay flat"

    [grid]                      # each list is one axis; every combination is a scenario
    db_sizes = ["4MiB", "16MiB"]
    scales   = [100.0]
    rates    = [400.0]
    skews    = ["zipf"]
    profiles = ["ds8000-ficon16"]
    methods  = ["standard", "dump-cc", "copy-flashcopy"]
    seeds    = [1, 2]

    [fixed]                     # the same value for every scenario (any other spec field)
    duration = 20.0

The axes are named in the plural and become the singular field of
:class:`dasdlab.bench.scenario.ScenarioSpec` (``db_sizes`` -> ``db_size``); an axis
left out takes the spec's default.  Scenarios are numbered in the order of the product
(the last axis varies fastest) and each gets an id made of that number and a hash of
its parameters, so a resumed sweep recognises the scenarios it already ran.

Everything is checked before any scenario runs: the file (DLB750E, DLB751E), its tables
and keys (DLB752E), the axis values (DLB753E, DLB754E), the size of the product
(DLB755E) and every scenario's spec (DLB756E, raised by :meth:`Grid.scenarios`).
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dasdlab.errors import DasdlabError

#: plural axis key in the grid file -> the scenario spec field it sets
AXES: dict[str, str] = {
    "db_sizes": "db_size",
    "scales": "scale",
    "rates": "rate",
    "skews": "skew",
    "profiles": "profile",
    "methods": "method",
    "seeds": "seed",
}
#: what an axis value may be (TOML types), and how to say so
_AXIS_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "db_sizes": ((str, int), 'sizes such as "16MiB" or byte counts'),
    "scales": ((int, float), "positive numbers"),
    "rates": ((int, float), "positive numbers (updates per modeled second)"),
    "skews": ((str,), 'names such as "uniform" or "zipf"'),
    "profiles": ((str,), 'device profile names such as "ds8000-ficon16"'),
    "methods": ((str,), 'copy method names such as "standard" or "dump-cc"'),
    "seeds": ((int,), "integers"),
}
#: a grid larger than this is almost certainly a mistake (a sweep of days)
MAX_SCENARIOS = 10_000


class GridError(DasdlabError):
    """A grid file that cannot be read, or that names scenarios which cannot exist."""


@dataclass(frozen=True)
class Scenario:
    """One point of the grid: its id, the parameters that vary and the full spec."""

    index: int
    id: str
    params: dict[str, Any]  # the axis values of this scenario (spec field -> value)
    spec: Any  # what the scenario function receives


@dataclass(frozen=True)
class Grid:
    """A parsed grid file.  ``axes`` maps spec fields to their lists, in file order."""

    name: str
    description: str
    axes: dict[str, list]
    fixed: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file's text, kept with the results
    path: Path | None = None

    @property
    def size(self) -> int:
        n = 1
        for values in self.axes.values():
            n *= len(values)
        return n

    @property
    def varying(self) -> list[str]:
        """The spec fields that take more than one value in this grid."""
        return [k for k, v in self.axes.items() if len(v) > 1]

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the axes (spec field -> value), last axis fastest."""
        keys = list(self.axes)
        return [dict(zip(keys, combo)) for combo in itertools.product(*self.axes.values())]

    def scenarios(self, make_spec: Callable[..., Any] | None = None) -> list[Scenario]:
        """The scenarios of the grid.  ``make_spec(**fields)`` builds what the scenario
        function receives (default: :class:`dasdlab.bench.scenario.ScenarioSpec`); any
        error it raises becomes DLB756E naming the scenario, before anything runs."""
        if make_spec is None:
            from dasdlab.bench.scenario import ScenarioSpec as make_spec
        self._check_fields(make_spec)
        out = []
        for i, params in enumerate(self.points()):
            fields_ = {**self.fixed, **params}
            try:
                spec = make_spec(**fields_)
            except DasdlabError as e:
                raise GridError("DLB756E", f"{self._where()}: scenario {i} ({_show(params)}) is not valid: "
                                           f"{e}") from None
            except (TypeError, ValueError) as e:
                raise GridError("DLB756E", f"{self._where()}: scenario {i} ({_show(params)}) is not valid: "
                                           f"{e}.") from None
            out.append(Scenario(i, scenario_id(i, fields_), params, spec))
        return out

    def _check_fields(self, make_spec: Callable[..., Any]) -> None:
        """Every field the grid sets must be a parameter of the spec (DLB752E)."""
        try:
            params = inspect.signature(make_spec).parameters
        except (TypeError, ValueError):  # a builtin such as dict: takes anything
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        unknown = sorted(set(self.fixed) - set(params))
        if unknown:
            known = ", ".join(sorted(k for k in params if k not in self.axes))
            raise GridError("DLB752E", f"{self._where()}: [fixed] sets {', '.join(unknown)}, which a scenario does "
                                       f"not have; the fields are {known}.")

    def _where(self) -> str:
        return str(self.path) if self.path is not None else f"grid {self.name!r}"


def scenario_id(index: int, fields_: dict[str, Any]) -> str:
    """``sNNNN-hhhhhhhh``: the position in the grid and a hash of every spec field set."""
    digest = hashlib.sha256(json.dumps(fields_, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"s{index:04d}-{digest}"


def _show(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file (nothing is run, nothing is written)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GridError("DLB750E", f"grid file {path} does not exist; the grids shipped with dasdlab are in "
                                   "fixtures/grids/.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GridError("DLB750E", f"grid file {path} cannot be read: {e}.") from None
    return parse_grid(text, path)


def parse_grid(text: str, path: Path | None = None) -> Grid:
    """Check the text of a grid file and build the :class:`Grid`."""
    where = str(path) if path is not None else "grid"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise GridError("DLB751E", f"{where} is not valid TOML: {e}.") from None
    unknown = sorted(set(doc) - {"sweep", "grid", "fixed"})
    if unknown:
        raise GridError("DLB752E", f"{where}: unknown table or key {', '.join(unknown)}; a grid file has the "
                                   "tables [sweep], [grid] and [fixed].")
    for table in ("sweep", "grid", "fixed"):
        if table in doc and not isinstance(doc[table], dict):
            raise GridError("DLB752E", f"{where}: {table} must be a table ([{table}]).")
    if "grid" not in doc:
        raise GridError("DLB752E", f"{where} has no [grid] table; it needs at least one axis such as "
                                   "methods = [\"standard\", \"dump-cc\"].")
    sweep = doc.get("sweep", {})
    bad = sorted(set(sweep) - {"name", "description"})
    if bad:
        raise GridError("DLB752E", f"{where}: unknown key {', '.join(bad)} in [sweep]; it takes name and "
                                   "description.")
    name = sweep.get("name", path.stem if path is not None else "grid")
    description = sweep.get("description", "")
    if not isinstance(name, str) or not name or not isinstance(description, str):
        raise GridError("DLB752E", f"{where}: [sweep] name and description must be text, and name not empty.")
    axes: dict[str, list] = {}
    for key, values in doc["grid"].items():
        if key not in AXES:
            raise GridError("DLB752E", f"{where}: unknown axis {key!r} in [grid]; the axes are "
                                       f"{', '.join(AXES)} (other fields go in [fixed]).")
        if not isinstance(values, list) or not values:
            raise GridError("DLB753E", f"{where}: axis {key} must be a non-empty list, e.g. {key} = [...].")
        kinds, want = _AXIS_TYPES[key]
        for v in values:
            # bool is an int to Python, never a size, rate or seed here
            bad_type = isinstance(v, bool) or not isinstance(v, kinds)
            if bad_type or (isinstance(v, (int, float)) and key != "seeds" and v <= 0):
                raise GridError("DLB753E", f"{where}: axis {key} holds {v!r}; its values must be {want}.")
        if len(set(map(_key, values))) != len(values):
            dup = sorted({_key(v) for v in values if sum(_key(w) == _key(v) for w in values) > 1})
            raise GridError("DLB754E", f"{where}: axis {key} repeats {', '.join(map(str, dup))}; each value "
                                       "once, or the same scenario would run twice.")
        axes[AXES[key]] = list(values)
    if not axes:
        raise GridError("DLB753E", f"{where}: [grid] is empty; give at least one axis.")
    fixed = dict(doc.get("fixed", {}))
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise GridError("DLB752E", f"{where}: {', '.join(clash)} is both an axis in [grid] and a value in "
                                   "[fixed]; keep one.")
    plural = sorted(k for k in fixed if k in AXES)
    if plural:
        raise GridError("DLB752E", f"{where}: [fixed] takes single spec fields, not the axis "
                                   f"{', '.join(plural)}; write e.g. {AXES[plural[0]]} = ... instead.")
    g = Grid(name=name, description=description, axes=axes, fixed=fixed, source=text, path=path)
    if g.size > MAX_SCENARIOS:
        raise GridError("DLB755E", f"{where} makes {g.size:,} scenarios, more than the {MAX_SCENARIOS:,} a "
                                   "sweep runs; shorten some axes or split the grid.")
    return g


def _key(v) -> str:
    # "16MiB" and 16.0 vs 16 compare by their text so that 1 and 1.0 count as one value
    return str(float(v)) if isinstance(v, (int, float)) else v
