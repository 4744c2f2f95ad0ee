"""Loading scenario files: TOML -> a frozen, validated :class:`~nurture_lab.scenario.model.Scenario`.

``load_scenario(path)`` reads a TOML file, refuses unknown keys, wrong types and out-of-range
values with one message naming the file, the table and the key. A bare name such as
``"speed_to_lead"`` loads the scenario of that name shipped with the package.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import FieldError, ScenarioError
from .model import (
    CHANNELS,
    DEFAULT_CAPS,
    DEFAULT_CHANNELS,
    DEFAULT_CONTENTS,
    SERVICE_LINE_DEFAULTS,
    Arm,
    Behaviour,
    ChannelBehaviour,
    ChannelCaps,
    ContactCenter,
    Content,
    Design,
    Experiment,
    Policy,
    Population,
    Reminder,
    Scenario,
    ServiceLine,
    Step,
    _freeze,
)

__all__ = ["bundled_scenarios", "load_scenario", "restrict", "scenario_from_dict", "scenario_path"]


class _Ctx:
    def __init__(self, path: str) -> None:
        self.path = path

    def build(self, cls: type, table: Any, where: str, **nested: Any) -> Any:
        if not isinstance(table, Mapping):
            raise ScenarioError(f"[{where}] of {self.path} must be a table; got {table!r}.")
        names = [f.name for f in dataclasses.fields(cls) if f.name not in ("path", "sha256")]
        nested_keys = set(nested)
        for key in table:
            if key not in names:
                raise ScenarioError(
                    f"Unknown key '{key}' in [{where}] of {self.path}; expected one of: {', '.join(sorted(names))}."
                )
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        for key in required:
            if key not in table and key not in nested:
                raise ScenarioError(f"Missing key '{key}' in [{where}] of {self.path}.")
        kwargs = {k: _freeze(v) for k, v in table.items() if k not in nested_keys}
        kwargs.update({k: v for k, v in nested.items() if v is not dataclasses.MISSING})
        try:
            return cls(**kwargs)
        except FieldError as e:
            key = e.key
            if where == "top level" and "." in key:  # a rule across tables names its table: "policy.clinic_hours"
                where, _, key = key.rpartition(".")
            raise self.invalid(key, where, e.expected, e.got) from None

    def invalid(self, key: str, where: str, expected: str, got: Any) -> ScenarioError:
        """The one message for a value that does not fit: the key, its table, this file, expected, got."""
        return ScenarioError(
            f"Invalid value for '{key}' in [{where}] of {self.path}: expected {expected}; got {got!r}."
        )


def _table(d: Mapping[str, Any], key: str, ctx: _Ctx, where: str) -> Mapping[str, Any]:
    v = d.get(key, {})
    if not isinstance(v, Mapping):
        raise ScenarioError(f"[{where}] of {ctx.path} must be a table; got {v!r}.")
    return v


def _toml_key(name: str) -> str:
    """A table name as TOML writes it: bare when it can be, else quoted (``arms.""`` for an empty name)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _opt(d: Mapping[str, Any], key: str, value: Any) -> Any:
    return value if key in d else dataclasses.MISSING


def scenario_from_dict(data: Mapping[str, Any], path: str = "<dict>") -> Scenario:
    """Build a :class:`Scenario` from a parsed TOML document (see :func:`load_scenario`)."""
    ctx = _Ctx(path)
    top_keys = {
        "name",
        "description",
        "horizon_days",
        "population",
        "service_lines",
        "behaviour",
        "policy",
        "contents",
        "cadences",
        "arms",
        "experiment",
        "contact_center",
        "design",
    }
    for key in data:
        if key not in top_keys:
            raise ScenarioError(
                f"Unknown key '{key}' at the top level of {path}; expected one of: {', '.join(sorted(top_keys))}."
            )
    sl_tables = _table(data, "service_lines", ctx, "service_lines")
    if not sl_tables:
        raise ScenarioError(f"Missing table [service_lines] in {path}: a scenario needs at least one service line.")
    lines: dict[str, ServiceLine] = {}
    for name, t in sl_tables.items():
        if not isinstance(t, Mapping):
            raise ScenarioError(f"[service_lines.{name}] of {path} must be a table; got {t!r}.")
        merged = dict(SERVICE_LINE_DEFAULTS.get(name, {})) | dict(t)
        lines[name] = ctx.build(ServiceLine, merged, f"service_lines.{name}")
    pop_t = _table(data, "population", ctx, "population")
    population = ctx.build(Population, pop_t, "population", service_lines=lines)

    beh_t = _table(data, "behaviour", ctx, "behaviour")
    ch_t = _table(beh_t, "channels", ctx, "behaviour.channels")
    channels = {}
    for ch, t in ch_t.items():
        if ch not in CHANNELS:
            raise ScenarioError(
                f"Unknown channel '{ch}' in [behaviour.channels] of {path}; expected one of: {', '.join(CHANNELS)}."
            )
        base = dataclasses.asdict(DEFAULT_CHANNELS[ch])
        channels[ch] = ctx.build(ChannelBehaviour, base | dict(t), f"behaviour.channels.{ch}")
    behaviour = ctx.build(Behaviour, beh_t, "behaviour", channels=channels)

    pol_t = _table(data, "policy", ctx, "policy")
    caps_t = _table(pol_t, "caps", ctx, "policy.caps")
    caps = {}
    for ch, t in caps_t.items():
        if ch not in CHANNELS:
            raise ScenarioError(
                f"Unknown channel '{ch}' in [policy.caps] of {path}; expected one of: {', '.join(CHANNELS)}."
            )
        if not isinstance(t, Mapping):
            raise ScenarioError(f"[policy.caps.{ch}] of {path} must be a table; got {t!r}.")
        # unset keys keep the channel's defaults (per_day = 1 alone keeps the weekly cap of texts)
        base = dataclasses.asdict(DEFAULT_CAPS[ch])
        caps[ch] = ctx.build(ChannelCaps, base | dict(t), f"policy.caps.{ch}")
    policy = ctx.build(Policy, pol_t, "policy", caps=caps)

    contents = {}
    for name, t in _table(data, "contents", ctx, "contents").items():
        base = dataclasses.asdict(DEFAULT_CONTENTS[name]) if name in DEFAULT_CONTENTS else {}
        contents[name] = ctx.build(Content, base | dict(t), f"contents.{name}")

    cadences: dict[str, tuple[Step, ...]] = {}
    known = sorted(set(DEFAULT_CONTENTS) | set(contents))
    for name, t in _table(data, "cadences", ctx, "cadences").items():
        cadences[name] = _steps(ctx, t, f"cadences.{name}")
        for i, step in enumerate(cadences[name]):  # said where it is written, not at an arm that uses it
            if step.content not in known:
                where = f"cadences.{_toml_key(name)}.steps.{i}"
                raise ctx.invalid("content", where, "a known content: " + ", ".join(known), step.content)

    arms_t = _table(data, "arms", ctx, "arms")
    if not arms_t:
        raise ScenarioError(f"Missing table [arms] in {path}: an experiment needs at least one arm.")
    arms = []
    for name, t in arms_t.items():
        where = f"arms.{_toml_key(name)}"
        if not isinstance(t, Mapping):
            raise ScenarioError(f"[{where}] of {path} must be a table; got {t!r}.")
        allowed = {"cadence", "steps", "changes", "allocation", "reminder", "holdout"}
        for key in t:
            if key not in allowed:
                raise ScenarioError(
                    f"Unknown key '{key}' in [{where}] of {path}; expected one of: {', '.join(sorted(allowed))}."
                )
        if "cadence" in t and "steps" in t:
            raise ScenarioError(f"[{where}] of {path} has both 'cadence' and 'steps'; give one of them.")
        if "cadence" in t:
            cname = t["cadence"]
            if cname not in cadences:
                raise ScenarioError(
                    f"Invalid value for 'cadence' in [{where}] of {path}: expected one of: "
                    f"{', '.join(cadences) or '(no [cadences] defined)'}; got {cname!r}."
                )
            steps = cadences[cname]
        else:
            steps = _steps(ctx, {"steps": t.get("steps", [])}, where)
        steps = _apply_changes(ctx, steps, t.get("changes", []), where)
        reminder = ctx.build(Reminder, t["reminder"], f"{where}.reminder") if "reminder" in t else None
        fields = {k: v for k, v in t.items() if k in ("allocation", "holdout")}
        arms.append(ctx.build(Arm, fields | {"name": name}, where, steps=steps, reminder=reminder))
    exp_t = _table(data, "experiment", ctx, "experiment")
    experiment = ctx.build(Experiment, exp_t, "experiment", arms=tuple(arms))

    centre = None
    if "contact_center" in data:
        cc_t = _table(data, "contact_center", ctx, "contact_center")
        centre = ctx.build(ContactCenter, cc_t, "contact_center")
        _check_centre_keys(ctx, centre, cc_t, pol_t)
    design = _design(ctx, _table(data, "design", ctx, "design")) if "design" in data else Design()
    top = {k: data[k] for k in ("name", "description", "horizon_days") if k in data}
    if "name" not in top:
        top["name"] = Path(path).stem
    return ctx.build(
        Scenario,
        top,
        "top level",
        population=population,
        experiment=experiment,
        behaviour=behaviour,
        policy=policy,
        contents=contents,
        contact_center=centre,
        design=design,
    )


def _design(ctx: _Ctx, t: Mapping[str, Any]) -> Design:
    """The ``[design]`` table; with ``allocation = "fixed"`` the adaptive keys would be ignored: refused."""
    design: Design = ctx.build(Design, t, "design")
    if not design.adaptive:
        for key in t:
            if key != "allocation":
                raise ctx.invalid(
                    key, "design", f'no {key} with allocation = "fixed" (it sets an adaptive rule)', t[key]
                )
    return design


def _check_centre_keys(ctx: _Ctx, centre: ContactCenter, cc_t: Mapping[str, Any], pol_t: Mapping[str, Any]) -> None:
    """Keys a file sets that its contact centre would ignore: a contradiction, refused.

    An agents table's non-zero cells are the staffed hours, so ``[policy] staffed_hours`` or
    ``staffed_days`` beside it would be silently overruled; score points order nothing in a fifo queue.
    """
    if isinstance(centre.agents, tuple):
        for key in ("staffed_hours", "staffed_days"):
            if key in pol_t:
                raise ctx.invalid(
                    key,
                    "policy",
                    f"no {key} beside a [contact_center] agents table (its non-zero cells are the staffed hours)",
                    pol_t[key],
                )
    if centre.queue == "fifo":
        for key in ("score_points", "new_lead_hours"):
            if key in cc_t:
                raise ctx.invalid(
                    key, "contact_center", f'no {key} with queue = "fifo" (or queue = "score")', cc_t[key]
                )


def _steps(ctx: _Ctx, t: Any, where: str) -> tuple[Step, ...]:
    if not isinstance(t, Mapping) or set(t) - {"steps"}:
        extra = sorted(set(t) - {"steps"}) if isinstance(t, Mapping) else t
        raise ScenarioError(f"Unknown key(s) {extra} in [{where}] of {ctx.path}; expected one of: steps.")
    steps = t.get("steps", [])
    if not isinstance(steps, list):
        raise ScenarioError(f"'steps' in [{where}] of {ctx.path} must be a list of tables; got {steps!r}.")
    return tuple(ctx.build(Step, s, f"{where}.steps.{i}") for i, s in enumerate(steps))


def _apply_changes(ctx: _Ctx, steps: tuple[Step, ...], changes: Any, where: str) -> tuple[Step, ...]:
    """Variants of a base cadence: ``changes = [{step = 0, delay_minutes = 60}]``; ``drop = true`` removes."""
    if not isinstance(changes, list):
        raise ScenarioError(f"'changes' in [{where}] of {ctx.path} must be a list of tables; got {changes!r}.")
    out: list[Step | None] = list(steps)
    step_keys = [f.name for f in dataclasses.fields(Step)]
    for i, ch in enumerate(changes):
        w = f"{where}.changes.{i}"
        if not isinstance(ch, Mapping) or "step" not in ch:
            raise ScenarioError(f"[{w}] of {ctx.path} must be a table with a 'step' index; got {ch!r}.")
        idx = ch["step"]
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(steps):
            raise ScenarioError(
                f"Invalid value for 'step' in [{w}] of {ctx.path}: expected an int in the range "
                f"[0, {len(steps) - 1}]; got {idx!r}."
            )
        for key in ch:
            if key not in [*step_keys, "step", "drop"]:
                raise ScenarioError(
                    f"Unknown key '{key}' in [{w}] of {ctx.path}; expected one of: "
                    f"{', '.join(sorted([*step_keys, 'step', 'drop']))}."
                )
        if ch.get("drop", False):
            out[idx] = None
            continue
        base = out[idx]
        if base is None:
            raise ScenarioError(f"[{w}] of {ctx.path} changes step {idx}, which an earlier change dropped.")
        fields = {k: getattr(base, k) for k in step_keys} | {k: v for k, v in ch.items() if k != "step"}
        out[idx] = ctx.build(Step, fields, w)
    return tuple(s for s in out if s is not None)


def bundled_scenarios() -> dict[str, Path]:
    """The scenarios shipped with the package: name -> file (also in the repository's ``simulations/``)."""
    from importlib import resources

    folder = Path(str(resources.files("nurture_lab").joinpath("data", "scenarios")))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def scenario_path(path: str | Path) -> Path:
    """The file behind ``path``: the path itself when it exists, else the bundled scenario of that name.

    ``"speed_to_lead"``, ``"speed_to_lead.toml"`` and ``"simulations/speed_to_lead.toml"`` (from any
    directory, e.g. after ``pip install``) all name the bundled ``speed_to_lead`` scenario.
    """
    p = Path(path)
    if p.is_file():
        return p
    bundled = bundled_scenarios()
    if not p.is_absolute() and p.suffix in ("", ".toml") and p.stem in bundled:
        return bundled[p.stem]
    raise ScenarioError(
        f"Scenario file not found: {p} (expected a TOML file, or the name of a bundled scenario: {', '.join(bundled)})."
    )


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a scenario file.

    Args:
        path: a TOML file (see ``simulations/`` for examples), or the name of a scenario shipped
            with the package (``"speed_to_lead"``, ``"content_test"``).

    Returns:
        A frozen :class:`Scenario`; ``scenario.sha256`` is the hash of the file's bytes.

    Raises:
        ScenarioError: the file is missing, is not valid TOML (the message has its line), or a
            value is unknown, of the wrong type or out of range (the message names the table and key).

    Example:
        >>> sc = load_scenario("speed_to_lead")
        >>> sc.experiment.arm_names
        ('within_5_min', 'within_1_hour', 'next_business_day')
    """
    if not isinstance(path, (str, Path)):
        from ..errors import require

        require(
            "load_scenario", "path", path, "a path (str or Path) or a bundled scenario's name", False, wrong_type=True
        )
    p = scenario_path(path)
    raw = p.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p} is not UTF-8 text: {e}.") from None
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{p} is not valid TOML: {e}.") from None
    except RecursionError:
        raise ScenarioError(f"{p} nests arrays or tables too deeply to be a scenario.") from None
    sc = scenario_from_dict(data, str(path))
    return dataclasses.replace(sc, path=str(path), sha256=hashlib.sha256(raw).hexdigest())


def restrict(scenario: Scenario, service_line: str) -> Scenario:
    """The scenario with one service line only (share 1), e.g. to plan a test in behavioral health."""
    lines = scenario.population.service_lines
    if service_line not in lines:
        from ..errors import require

        require("restrict", "service_line", service_line, "one of: " + ", ".join(lines), False)
    one = {service_line: dataclasses.replace(lines[service_line], share=1.0)}
    # steps aimed at other lines keep their aim: their service_line condition keeps only this line
    # (an empty list selects no lead, so such a step is logged as not_selected)
    arms = tuple(
        dataclasses.replace(
            arm,
            steps=tuple(
                dataclasses.replace(st, service_line=tuple(v for v in st.service_line if v == service_line))
                if st.service_line is not None
                else st
                for st in arm.steps
            ),
        )
        for arm in scenario.experiment.arms
    )
    return dataclasses.replace(
        scenario,
        population=dataclasses.replace(scenario.population, service_lines=one),
        experiment=dataclasses.replace(scenario.experiment, arms=arms),
    )
