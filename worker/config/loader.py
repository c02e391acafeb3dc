"""`load_config`: files -> merged data with line numbers -> validated `Settings`, or every problem.

Foreign errors (yaml, pydantic) stop here; callers only see `ConfigError`.
"""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from worker.config.crosscheck import cross_check
from worker.config.merge import merge_documents
from worker.config.models import Settings
from worker.config.problems import DataPath, Origin, Problem, locate, render_all
from worker.config.yamlsource import Document, read_document
from worker.errors import ConfigError

CONFIG_SUFFIXES = (".yaml", ".yml")
DATA_DIR_VARIABLE = "WIREWATCH_DATA_DIR"


def load_config(path: str | Path, env: Mapping[str, str]) -> Settings:
    """Settings from a YAML file or a directory of them; ConfigError lists every problem found."""
    config_path = Path(path)
    files, problems = config_files(config_path)
    documents: list[Document] = []
    for file in files:
        document, found = read_document(file, env)
        problems += found
        if document is not None:
            documents.append(document)
    if not files or len(documents) < len(files):
        # A file we could not read at all would turn into misleading follow-on errors.
        raise ConfigError(render_all(problems))
    merged, conflicts = merge_documents(documents)
    _apply_env_redis_url(merged, env)
    _apply_env_data_dir(merged, env)
    return _validate(merged, config_path, merged.problems + conflicts)


def config_files(path: Path) -> tuple[list[Path], list[Problem]]:
    """The YAML files `path` names, in merge order (a directory's `*.yaml`/`*.yml` by name)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in CONFIG_SUFFIXES and p.is_file())
        if files:
            return files, []
        return [], [Problem(Origin(str(path)), (), "directory has no *.yaml or *.yml files")]
    if path.is_file():
        return [path], []
    return [], [Problem(Origin(str(path)), (), "config file or directory not found")]


def _apply_env_redis_url(document: Document, env: Mapping[str, str]) -> None:
    # The config wins; REDIS_URL is the fallback so one env var can point every process at Redis.
    if document.data.get("redis_url") or not env.get("REDIS_URL"):
        return
    document.data["redis_url"] = env["REDIS_URL"]
    document.origins[("redis_url",)] = Origin("environment variable REDIS_URL")


def _apply_env_data_dir(document: Document, env: Mapping[str, str]) -> None:
    # The environment wins here: where state may be written is the deployment's business (a
    # systemd unit's StateDirectory, a container's volume), not the shared config's.
    if not env.get(DATA_DIR_VARIABLE):
        return
    document.data["data_dir"] = env[DATA_DIR_VARIABLE]
    document.origins[("data_dir",)] = Origin(f"environment variable {DATA_DIR_VARIABLE}")


def _validate(document: Document, config_path: Path, problems: list[Problem]) -> Settings:
    default = Origin(str(config_path))
    base = config_path if config_path.is_dir() else config_path.parent
    context = {"base_dir": Path(os.path.abspath(base))}
    settings: Settings | None = None
    found: list[Problem] = []
    try:
        settings = Settings.model_validate(document.data, context=context)
    except ValidationError as exc:
        found += [_problem(error, document, default) for error in exc.errors(include_input=False)]
    found += cross_check(document, default)
    reported = {p.path for p in document.problems}
    problems += [p for p in found if not _follow_on(p, reported)]
    if problems or settings is None:
        raise ConfigError(render_all(problems))
    return settings


def _follow_on(problem: Problem, unresolved: set[DataPath]) -> bool:
    """Whether `problem` only restates an unusable value that was already reported."""
    return any(problem.path[: len(path)] == path for path in unresolved)


def _problem(error: ErrorDetails, document: Document, default: Origin) -> Problem:
    path: DataPath = tuple(error["loc"])
    return Problem(locate(document.origins, path, default), path, _message(error, path))


def _unknown_key(key: str, known: list[str]) -> str:
    """Name the likely intended key when there is one (a typo), else list the valid keys."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; expected one of: {', '.join(known)}" if known else "unknown key"


def _message(error: ErrorDetails, path: DataPath) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_key(str(path[-1]), _known_keys(path[:-1]))
    # Pydantic's wording, turned to match ours ("<field>: must be ...").
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be", 1)


def _known_keys(path: DataPath) -> list[str]:
    """The field names of the model at `path`, to suggest what a misspelt key meant."""
    model: Any = Settings
    for part in path:
        if isinstance(part, int):
            args = typing.get_args(model)
            model = args[0] if args else None
        elif (
            isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields
        ):
            model = model.model_fields[part].annotation
        else:
            return []
    return (
        list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
    )
