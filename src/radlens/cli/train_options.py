"""`radlens train`'s options: one per `TrainConfig` field, made from the config model itself.

The flag is the field's name (`--batch-size`; a bool `--x/--no-x`), the help its description and
the default the model's, shown by the help; tuples and lists are typed as text ("32,64,64",
"-1000:-200,-160:240") and parsed by the model's validators. Only flags given on the command line
override the YAML file and the model's defaults (`given_options`).

Importing the config model imports torch (seconds), so the options are made when `radlens train`
runs or shows its help, not when `radlens --help` lists the commands (`TrainCommand`).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from typing import Any

import typer
from typer.core import TyperCommand

__all__ = [
    "FLAG_NAMES",
    "TrainCommand",
    "config_options",
    "flag_text",
    "given_options",
    "option_parameter",
]

# bool fields whose flags are not --name/--no-name
FLAG_NAMES = {"small_input": "--small-input/--imagenet-stem"}


def _base_type(annotation: Any) -> Any:
    """`int` for `int | None`; the annotation itself otherwise."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def flag_text(value: Any) -> Any:
    """A default as it is typed on the command line: (32, 64, 64) -> "32,64,64",
    [(-1000, -200), (-160, 240)] -> "-1000:-200,-160:240"; scalars unchanged."""
    if not isinstance(value, tuple | list):
        return value
    return ",".join(":".join(map(str, v)) if isinstance(v, tuple | list) else str(v) for v in value)


def option_parameter(
    name: str, annotation: Any, default: Any, help: str | None
) -> inspect.Parameter:
    """The typer option of one config field, as a keyword parameter of a command's signature."""
    base = _base_type(annotation)
    flag = name.replace("_", "-")
    if base is bool:
        decls, kind = [FLAG_NAMES.get(name, f"--{flag}/--no-{flag}")], bool
    else:
        decls, kind = [f"--{flag}"], base if base in (int, float) else str
    option = typer.Option(flag_text(default), *decls, help=help)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None
    )


@functools.cache
def config_options() -> tuple[Any, ...]:
    """One option per `TrainConfig` field, in field order (made by typer from a signature)."""
    from radlens.training import TrainConfig

    def options(**_: Any) -> None:
        """The config fields as a command signature."""

    options.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            option_parameter(name, field.annotation, field.default, field.description)
            for name, field in TrainConfig.model_fields.items()
        ]
    )
    holder = typer.Typer(add_completion=False)
    holder.command()(options)
    return tuple(typer.main.get_command(holder).params)


def given_options(ctx: typer.Context) -> dict[str, Any]:
    """The config fields whose flags were given (not left at their shown default)."""
    names = {p.name for p in config_options()}
    return {
        name: value for name, value in ctx.params.items() if name in names and _given(ctx, name)
    }


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether parameter `name` came from the command line (or the environment), not a default
    (click's ParameterSource, compared by name: typer vendors its own click)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


class TrainCommand(TyperCommand):
    """A typer command with the config options before its own (--config, --resume, --help); its
    function gets its own parameters and reads the config fields with `given_options(ctx)`."""

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return [*config_options(), *super().get_params(ctx)]

    def invoke(self, ctx: typer.Context) -> Any:
        own = {p.name for p in self.params}
        return ctx.invoke(self.callback, **{k: v for k, v in ctx.params.items() if k in own})
