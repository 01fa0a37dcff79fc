"""One way to configure a stage: a dataclass whose fields carry their help text.

Defaults < a YAML file given with --config < command-line flags. Field `max_tokens` becomes
`--max-tokens`; a bool becomes a switch (`--dry-run`, and `--no-dry-run` where the default is True);
a list field takes comma-separated values and may be repeated (`--teacher-model A --teacher-model B`).
Each Config checks itself in `__post_init__` and raises UserError.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
import typing
from pathlib import Path

from imitate.errors import UserError


def opt(default, help: str, *, choices=None, factory=None, flag: str | None = None, old: tuple = ()):
    """A config field: default (or factory for lists), help text, optional choices and flag name.
    `old`: former names of the setting ("from", "seed"), still read from flags and config files
    with a warning that names the new one."""
    meta = {"help": help, "choices": choices, "flag": flag, "old": tuple(old)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _base_type(tp):
    """(scalar type, is_list) for int | None, list[str], Path, ..."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    if origin is list:
        return typing.get_args(tp)[0], True
    return tp, False


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class _Extend(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        cur = list(getattr(ns, self.dest, None) or [])
        setattr(ns, self.dest, cur + [self.type_(v) for v in _split(values)])


_warned: set[str] = set()


def renamed(old: str, new: str) -> None:
    """Warn once per process that a flag, setting or subcommand has a new name."""
    if old not in _warned:
        _warned.add(old)
        print(f"warning: {old} is now {new}; the old name still works for now", file=sys.stderr)


def _old_name(action_cls, new_flag: str):
    """The argparse action for a former flag name: warn, then act as the new flag does."""
    class Old(action_cls):
        def __call__(self, parser, ns, values, option_string=None):
            renamed(option_string, new_flag)
            super().__call__(parser, ns, values, option_string)
    return Old


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """Add one flag per field of dataclass `cls`; unset flags stay absent from the namespace."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("help") is None:
            continue
        tp, is_list = _base_type(hints[f.name])
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_ = f.metadata["help"] + f" (default: {default!r})"
        kw = dict(dest=f.name, default=argparse.SUPPRESS)
        if tp is bool and not is_list:
            action, extra = argparse.BooleanOptionalAction, {}
        elif is_list:
            action = type("Extend", (_Extend,), {"type_": staticmethod(tp)})
            extra = {"metavar": f.name.upper()}
        else:
            action = argparse._StoreAction
            extra = {"type": tp, "choices": f.metadata.get("choices"),
                     "metavar": None if f.metadata.get("choices") else f.name.upper()}
        parser.add_argument(flag, action=action, help=help_, **kw, **extra)
        for old in f.metadata.get("old", ()):
            parser.add_argument("--" + old.replace("_", "-"), action=_old_name(action, flag),
                                help=argparse.SUPPRESS, **kw, **extra)


def read_yaml(path: str | Path, nodes: bool = False):
    """A YAML file's data (and, with `nodes`, its node tree, for line numbers); UserError naming
    the file, and the line of a syntax error."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UserError("no such file", path)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        return (data, yaml.compose(text)) if nodes else data
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise UserError(f"invalid YAML: {getattr(e, 'problem', e)}", path,
                        mark.line + 1 if mark else None) from None


def load_yaml(path: str | Path) -> dict:
    """A --config file: a mapping of setting: value."""
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise UserError("a config file must be a mapping of setting: value", path)
    return {k.replace("-", "_"): v for k, v in data.items()}


def build(cls, flags: dict, config_file: str | Path | None = None):
    """Merge defaults < YAML < flags into `cls`, rejecting unknown YAML keys."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = load_yaml(config_file) if config_file else {}
    for f in dataclasses.fields(cls):
        for old in f.metadata.get("old", ()):
            if old in values and f.name not in values:
                renamed(f"setting {old!r} in {config_file}", repr(f.name))
                values[f.name] = values.pop(old)
    unknown = sorted(set(values) - names)
    if unknown:
        raise UserError(f"unknown settings {', '.join(unknown)}; known: {', '.join(sorted(names))}",
                        config_file)
    hints = typing.get_type_hints(cls)
    for k, v in list(values.items()):
        tp, is_list = _base_type(hints[k])
        if is_list and isinstance(v, str):
            values[k] = _split(v)
    values.update({k: v for k, v in flags.items() if k in names})
    try:
        return cls(**values)
    except TypeError as e:
        raise UserError(f"bad settings: {e}", config_file) from None


def to_dict(cfg) -> dict:
    """The config as plain JSON values (Paths as strings), for the run folder."""
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
