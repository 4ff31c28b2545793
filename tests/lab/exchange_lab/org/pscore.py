"""PowerShell's own cmdlets in Exchange's restricted remote session: ``Select-Object``.

Besides the cmdlets RBAC grants, Exchange's session offers a few of PowerShell's own (commonly reported:
Select-Object, Measure-Object, Get-Command, Get-Help, Get-FormatData, Out-Default, Exit-PSSession; not verified
on a real server: ``Get-Command`` there lists them, and the collection falls back to a full read where
Select-Object is missing, ``ConnectorManager.get_names``). The lab has ``Select-Object`` only, and the lab config key
``core_cmdlets`` says whether the session offers it (``[]``: a session without it, where a pipeline naming it
fails with the terminating "The term 'Select-Object' is not recognized ..." before anything runs).

What is modelled, as PowerShell's SelectObjectCommand does it:

* ``-Property name, ...``: one new object per input object with only those properties, as note properties,
  type names ``Selected.<the input's type>``, ``System.Management.Automation.PSCustomObject``, ``System.Object``.
  A name is matched without case and takes the property's own spelling; ``*``, ``?`` and ``[...]`` are wildcards.
  A name without wildcards that matches nothing gives a property of that name with a null value; a pattern that
  matches nothing gives nothing. A property selected twice is written once, with the non-terminating error
  "The property cannot be processed because the property "X" already exists." (AlreadyExistingUserSpecifiedPropertyNoExpand).
* ``-ExpandProperty name``: the property's value instead of the object (each element of a list, nulls left
  out; a null value gives nothing). A property that does not exist is the non-terminating error
  'Property "X" cannot be found.' (ExpandPropertyNotFound) and the pipeline goes on; a pattern matching
  several properties is the error "Multiple properties cannot be expanded." (MutlipleExpandProperties, the
  spelling of PowerShell's own id).
* Neither: the input objects unchanged.

Not modelled (a terminating error that says so): ``-Property`` and ``-ExpandProperty`` together (PowerShell adds
the properties to each expanded object), calculated properties (hashtables); ``-First``, ``-Last``, ``-Skip``,
``-Unique``, ``-ExcludeProperty`` and the other parameters are unknown parameters here. Only objects have
properties in the lab: a string or number given as input has none.
"""

from __future__ import annotations

import fnmatch
import typing as t

from psrpcore.types import ErrorCategory, PSNoteProperty, PSObject

from exchange_lab.api import ErrorInfo
from exchange_lab.org import errors, shapes
from exchange_lab.org.params import Param

if t.TYPE_CHECKING:
    from exchange_lab.org.registry import Context

SELECT_CLASS = "Microsoft.PowerShell.Commands.SelectObjectCommand"
SELECT_PARAMS = [
    Param("Property", kind="any", position=0),
    Param("ExpandProperty", kind="string"),
    Param("InputObject", kind="any", pipeline=True),
]
_WILDCARDS = "*?["


def _properties(value: t.Any) -> list[tuple[str, t.Any]]:
    """(name, value) of every property of an output object, in member order; adapted ones win over notes."""
    if not isinstance(value, PSObject) or isinstance(value, (str, int, float, list)):
        return []
    meta = value.PSObject
    seen: dict[str, tuple[str, t.Any]] = {}
    for prop in list(meta.adapted_properties) + list(meta.extended_properties):
        seen.setdefault(prop.name.lower(), (prop.name, prop.get_value(value)))
    return list(seen.values())


def _match(pattern: str, props: list[tuple[str, t.Any]]) -> list[tuple[str, t.Any]]:
    if any(c in pattern for c in _WILDCARDS):
        return [(n, v) for n, v in props if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
    return [(n, v) for n, v in props if n.lower() == pattern.lower()]


def _error(message: str, error_id: str, category: ErrorCategory, exception: str) -> ErrorInfo:
    return ErrorInfo(
        message=message,
        fully_qualified_error_id=f"{error_id},{SELECT_CLASS}",
        category=int(category),
        exception_type=exception,
        reason=exception.rsplit(".", 1)[-1],
        activity="Select-Object",
    )


def _not_modelled(what: str) -> t.NoReturn:
    raise errors.engine_failure(
        "Select-Object", f"The Exchange lab does not model Select-Object {what}.", "ExchangeLabNotModelled",
        exception_type="System.NotSupportedException", category=ErrorCategory.NotImplemented, klass=SELECT_CLASS,
    )


def _names(value: t.Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            _not_modelled("with calculated properties (hashtables)")
        if item is not None:
            names.append(str(item))
    return names


def _text(value: t.Any) -> str:
    """A property value as ``@{...}`` (a PSCustomObject's ToString) shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, PSObject) and not isinstance(value, (str, int, float)):
        if isinstance(value, list):
            types = value.PSObject.type_names or []
            return types[0][len(shapes.D):] if types and types[0].startswith(shapes.D) else (types[0] if types else "System.Object[]")
        return str(value.PSObject.to_string or "")
    return str(value)


def _selected(item: t.Any, chosen: list[tuple[str, t.Any]]) -> PSObject:
    types = item.PSObject.type_names if isinstance(item, PSObject) else []
    base = types[0] if types else "System.Object"
    base = base[len(shapes.D):] if base.startswith(shapes.D) else base
    result = PSObject()
    meta = result.PSObject
    # the ``objects`` profile writes type names as a client reads them (Deserialized.); wire.py drops the prefix
    meta.type_names = shapes.chain("Selected." + base, "System.Management.Automation.PSCustomObject")
    meta.extended_properties.extend(PSNoteProperty(name, value) for name, value in chosen)
    meta.to_string = "@{" + "; ".join(f"{name}={_text(value)}" for name, value in chosen) + "}"
    return result


def select_object(ctx: "Context", args: dict[str, t.Any]) -> list[t.Any]:
    if "InputObject" not in args:
        return []  # nothing came down the pipeline
    item = args["InputObject"]
    wanted = _names(args["Property"]) if args.get("Property") is not None else []
    expand = args.get("ExpandProperty")
    if wanted and expand:
        _not_modelled("with -Property and -ExpandProperty together")
    props = _properties(item)
    if expand:
        found = _match(expand, props)
        if not found:
            ctx.result.errors.append(_error(f'Property "{expand}" cannot be found.', "ExpandPropertyNotFound",
                                            ErrorCategory.InvalidArgument,
                                            "System.Management.Automation.PSArgumentException"))
            return []
        if len(found) > 1:
            ctx.result.errors.append(_error("Multiple properties cannot be expanded.", "MutlipleExpandProperties",
                                            ErrorCategory.InvalidArgument,
                                            "System.Management.Automation.PSArgumentException"))
            return []
        value = found[0][1]
        if value is None:
            return []
        if isinstance(value, list):
            return [v for v in value if v is not None]
        return [value]
    if not wanted:
        return [item]
    chosen: list[tuple[str, t.Any]] = []
    for pattern in wanted:
        matched = _match(pattern, props)
        if not matched and not any(c in pattern for c in _WILDCARDS):
            matched = [(pattern, None)]
        for name, value in matched:
            if any(name.lower() == have.lower() for have, _value in chosen):
                ctx.result.errors.append(_error(
                    f'The property cannot be processed because the property "{name}" already exists.',
                    "AlreadyExistingUserSpecifiedPropertyNoExpand", ErrorCategory.InvalidOperation,
                    "System.Management.Automation.PSArgumentException"))
                continue
            chosen.append((name, value))
    return [_selected(item, chosen)]
