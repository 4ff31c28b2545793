"""Parameter binding like PowerShell's, for API-built commands (no script text).

Names are matched case-insensitively, by alias, or by an unambiguous prefix; positional
arguments fill the declared positions; values are converted to the declared type. Every
failure is a terminating engine error, as in PowerShell.
"""

from __future__ import annotations

import dataclasses
import typing as t

from exchange_lab.org import errors
from exchange_lab.org.values import ConvertError, RangeError

try:  # psrpcore's types; a PSCredential arrives already deserialised
    from psrpcore.types import PSCredential as _PSCredential
except ImportError:  # pragma: no cover
    _PSCredential = None  # type: ignore[assignment,misc]

COMMON = {
    "Verbose": ("vb",),
    "Debug": ("db",),
    "ErrorAction": ("ea",),
    "WarningAction": ("wa",),
    "InformationAction": ("infa",),
    "ErrorVariable": ("ev",),
    "WarningVariable": ("wv",),
    "InformationVariable": ("iv",),
    "OutVariable": ("ov",),
    "OutBuffer": ("ob",),
    "PipelineVariable": ("pv",),
}
SHOULD_PROCESS = {"WhatIf": ("wi",), "Confirm": ("cf",)}
_BOOL_MSG = (
    'Cannot convert value "System.String" to type "System.Boolean". Boolean parameters accept only Boolean '
    "values and numbers, such as $True, $False, 1 or 0."
)


@dataclasses.dataclass
class Param:
    """One declared parameter.

    kind: string | bool | int | switch | enum | flags | list | credential | custom | any.
    ``parse`` converts one element (list) or the value (custom); it raises ConvertError/RangeError.
    ``hashtable`` lets a list parameter take ``@{Add=...; Remove=...}``.
    """

    name: str
    kind: str = "string"
    position: int | None = None
    mandatory: bool = False
    aliases: tuple[str, ...] = ()
    pipeline: bool = False
    choices: tuple[str, ...] = ()
    dotnet: str = "System.String"
    parse: t.Callable[[t.Any], t.Any] | None = None
    range: tuple[int, int] | None = None
    hashtable: bool = False
    nullable: bool = True


@dataclasses.dataclass
class ListChange:
    """A multi-valued parameter: a full replacement (``replace``) or ``@{Add=..;Remove=..}``."""

    replace: list[t.Any] | None = None
    add: list[t.Any] = dataclasses.field(default_factory=list)
    remove: list[t.Any] = dataclasses.field(default_factory=list)

    def apply(self, current: list[t.Any], key: t.Callable[[t.Any], t.Any] = lambda v: v) -> list[t.Any]:
        if self.replace is not None:
            result = list(self.replace)
        else:
            result = list(current)
            for item in self.add:
                if key(item) not in [key(v) for v in result]:
                    result.append(item)
        gone = {key(v) for v in self.remove}
        return [v for v in result if key(v) not in gone]


class Binder:
    """Binds one CommandCall's (name, value) pairs to a cmdlet's declared parameters."""

    def __init__(self, cmdlet: str, params: list[Param], should_process: bool, klass: str | None = None) -> None:
        self.cmdlet = cmdlet
        self.klass = klass
        self.params = {p.name: p for p in params}
        self.names: dict[str, str] = {}
        extra = dict(COMMON)
        if should_process:
            extra.update(SHOULD_PROCESS)
        for p in params:
            self._add(p.name, p.aliases)
        for name, aliases in extra.items():
            if name not in self.params:
                self.params[name] = Param(
                    name, kind="switch" if name in ("Verbose", "Debug", "WhatIf", "Confirm") else "any"
                )
                self._add(name, aliases)

    def _add(self, name: str, aliases: t.Iterable[str]) -> None:
        self.names[name.lower()] = name
        for alias in aliases:
            self.names[alias.lower()] = name

    def resolve(self, given: str) -> str:
        key = given.lstrip("-").rstrip(":").lower()
        if key in self.names:
            return self.names[key]
        matches = sorted({v for k, v in self.names.items() if k.startswith(key) and k == v.lower()})
        if len(matches) == 1 and key:
            return matches[0]
        if len(matches) > 1:
            raise errors.ambiguous_parameter(self.cmdlet, given.lstrip("-"), matches, self.klass)
        raise errors.parameter_not_found(self.cmdlet, given.lstrip("-").rstrip(":"), self.klass)

    def bind(
        self, pairs: list[tuple[str | None, t.Any]], pipeline_value: t.Any = None, has_pipeline: bool = False
    ) -> dict[str, t.Any]:
        raw: dict[str, t.Any] = {}
        positionals: list[t.Any] = []
        for name, value in pairs:
            if name is None:
                positionals.append(value)
                continue
            pname = self.resolve(name)
            if pname in raw:
                raise errors.engine_failure(
                    self.cmdlet,
                    f"Cannot bind parameter because parameter '{pname}' is specified more than once. To provide "
                    "multiple values to parameters that can accept multiple values, use the array syntax.",
                    "ParameterAlreadyBound",
                    klass=self.klass,
                )
            raw[pname] = value
        slots = sorted((p for p in self.params.values() if p.position is not None), key=lambda p: p.position or 0)
        slots = [p for p in slots if p.name not in raw]
        for value in positionals:
            if not slots:
                raise errors.positional_not_found(self.cmdlet, value, self.klass)
            raw[slots.pop(0).name] = value
        if has_pipeline:
            target = next((p for p in self.params.values() if p.pipeline), None)
            if target is not None and target.name not in raw:
                raw[target.name] = pipeline_value
        missing = [p.name for p in self.params.values() if p.mandatory and p.name not in raw]
        if missing:
            raise errors.missing_mandatory(self.cmdlet, missing, self.klass)
        for p in self.params.values():
            if p.mandatory and (raw[p.name] is None or raw[p.name] == ""):
                what, rule = (
                    ("null", "NullNotAllowed") if raw[p.name] is None else ("an empty string", "EmptyStringNotAllowed")
                )
                raise errors.engine_failure(
                    self.cmdlet,
                    f"Cannot bind argument to parameter '{p.name}' because it is {what}.",
                    f"ParameterArgumentValidationError{rule}",
                    exception_type="System.Management.Automation.ParameterBindingValidationException",
                    klass=self.klass,
                )
        return {name: self.convert(self.params[name], value) for name, value in raw.items()}

    # --- conversions -------------------------------------------------------------------

    def _transform(self, param: Param, detail: str) -> Exception:
        return errors.transformation_error(self.cmdlet, param.name, detail, self.klass)

    def convert(self, param: Param, value: t.Any) -> t.Any:
        try:
            converted = getattr(self, f"_to_{param.kind}")(param, value)
        except ConvertError as exc:
            raise self._transform(param, str(exc)) from None
        except RangeError as exc:
            raise errors.binding_error(self.cmdlet, param.name, str(exc), self.klass) from None
        if param.range is not None and isinstance(converted, int) and not isinstance(converted, bool):
            low, high = param.range
            if not low <= converted <= high:
                raise errors.binding_error(
                    self.cmdlet,
                    param.name,
                    f"The value {converted} is out of range; {param.name} must be between {low} and {high}.",
                    self.klass,
                )
        return converted

    @staticmethod
    def _to_any(param: Param, value: t.Any) -> t.Any:
        return value

    @staticmethod
    def _to_string(param: Param, value: t.Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and "\x00" in value:
            raise ConvertError(
                f'Cannot bind parameter "{param.name}": the string contains a NUL character, which Active Directory '
                "can't store."
            )
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, (list, tuple)):
            return " ".join(str(v) for v in value)
        return str(value)

    @staticmethod
    def _to_switch(param: Param, value: t.Any) -> bool:
        if value is None or value is True:
            return True
        if isinstance(value, (bool, int)):
            return bool(value)
        raise ConvertError(_BOOL_MSG.replace("Boolean parameters", "Switch parameters"))

    @staticmethod
    def _to_bool(param: Param, value: t.Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if value is None:
            raise ConvertError(
                'Cannot convert value "" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.'
            )
        raise ConvertError(_BOOL_MSG)

    @staticmethod
    def _to_int(param: Param, value: t.Any) -> int:
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float):
            number = round(value)
        elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            number = int(value.strip())
        else:
            raise ConvertError(
                f'Cannot convert value "{value}" to type "System.Int32". Error: "Input string was not in a correct format."'
            )
        if not -(2**31) <= number < 2**31:
            raise ConvertError(
                f'Cannot convert value "{value}" to type "System.Int32". Error: "Value was either too large or too small for an Int32."'
            )
        return number

    @staticmethod
    def _enum_lookup(param: Param, text: str) -> str:
        for choice in param.choices:
            if choice.lower() == text.strip().lower():
                return choice
        raise ConvertError(
            f'Cannot convert value "{text}" to type "{param.dotnet}". Error: "Unable to match the identifier name '
            f"{text} to a valid enumerator name. Specify one of the following enumerator names and try again: "
            f'{", ".join(param.choices)}"'
        )

    def _to_enum(self, param: Param, value: t.Any) -> str | None:
        if value is None:
            if param.nullable:
                return None
            raise ConvertError(f'Cannot convert null to type "{param.dotnet}".')
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(param.choices):
            return param.choices[value]
        return self._enum_lookup(param, str(value))

    def _to_flags(self, param: Param, value: t.Any) -> list[str]:
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        names = [self._enum_lookup(param, str(v)) for v in items if str(v).strip()]
        if not names:
            raise ConvertError(f'Cannot convert value "{value}" to type "{param.dotnet}".')
        ordered = [c for c in param.choices if c in names]
        return [c for c in ordered if c != param.choices[0]] or [param.choices[0]]

    def _to_custom(self, param: Param, value: t.Any) -> t.Any:
        if value is None:
            return None
        assert param.parse is not None
        return param.parse(value)

    @staticmethod
    def _to_credential(param: Param, value: t.Any) -> t.Any:
        if value is None:
            return None
        if _PSCredential is not None and isinstance(value, _PSCredential):
            return value
        if hasattr(value, "UserName") and hasattr(value, "Password"):
            return value
        raise ConvertError(
            f'Cannot convert the "{value}" value of type "{type(value).__name__}" to type "System.Management.Automation.PSCredential".'
        )

    def _to_list(self, param: Param, value: t.Any) -> ListChange:
        parse = param.parse or (lambda v: v)
        if isinstance(value, dict):
            if not param.hashtable:
                raise ConvertError(f'Cannot convert the "System.Collections.Hashtable" value to type "{param.dotnet}".')
            change = ListChange()
            for key, items in value.items():
                lowered = str(key).lower()
                if lowered not in ("add", "remove"):
                    raise ConvertError(
                        f'The hashtable key "{key}" isn\'t supported for {param.name}; use @{{Add=...; Remove=...}}.'
                    )
                parsed = [parse(v) for v in self._items(items)]
                (change.add if lowered == "add" else change.remove).extend(parsed)
            return change
        return ListChange(replace=[parse(v) for v in self._items(value)])

    @staticmethod
    def _items(value: t.Any) -> list[t.Any]:
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return [v for v in value if v is not None]
        return [value]
