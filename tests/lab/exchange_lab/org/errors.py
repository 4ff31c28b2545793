"""Exchange-style error records for the emulated organisation.

Two families, like real Exchange over remote PowerShell:

* Engine errors (raised by PowerShell itself before the Exchange task runs): script text in a
  no-language runspace, unknown command, unknown/ambiguous parameter, missing mandatory
  parameter, argument transformation (type conversion, value syntax) and binding (range)
  failures, and a confirmation prompt on a host without UI. Their FullyQualifiedErrorId is the
  plain PowerShell one, e.g. ``NamedParameterNotFound,Microsoft.Exchange...NewSendConnector``.
  They are always terminating (:class:`~exchange_lab.api.CmdletFailure`).
* Task errors (written by the Exchange task: cross-parameter rules, duplicates, not found).
  Their FullyQualifiedErrorId carries the remoting prefix
  ``[Server=EX01,RequestId=<guid>,TimeStamp=<time>] [FailureCategory=Cmdlet-<Type>] <hex>,<task class>``.
  They are written as non-terminating error records (see ``org/__init__.py`` for the reason).
"""

from __future__ import annotations

import datetime
import uuid
import zlib

from psrpcore.types import ErrorCategory

from exchange_lab.api import CmdletFailure, ErrorInfo

# Cmdlet name -> .NET task class, used in FullyQualifiedErrorIds. Extensions add theirs via
# ``registry.register(..., task_class=...)``.
TASK_NAMESPACE = "Microsoft.Exchange.Management.SystemConfigurationTasks"


def task_class(cmdlet: str) -> str:
    """``New-SendConnector`` -> ``Microsoft.Exchange...SystemConfigurationTasks.NewSendConnector``."""
    return f"{TASK_NAMESPACE}.{cmdlet.replace('-', '')}"


class TaskError(Exception):
    """A task-level (Exchange) error; the cmdlet turns it into an ErrorInfo."""

    def __init__(
        self,
        message: str,
        exception_type: str = "Microsoft.Exchange.Data.DataValidationException",
        category: ErrorCategory = ErrorCategory.InvalidArgument,
        target: str = "",
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exception_type = exception_type
        self.category = category
        self.target = target
        self.code = code or exception_type


class ErrorFactory:
    """Builds ErrorInfos for one server (the endpoint's local server)."""

    def __init__(self, server: str) -> None:
        self.server = server

    def task_error(self, cmdlet: str, err: TaskError, klass: str | None = None) -> ErrorInfo:
        short = err.exception_type.rsplit(".", 1)[-1]
        now = datetime.datetime.now()
        stamp = f"{now.month}/{now.day}/{now.year} {now.strftime('%I:%M:%S %p').lstrip('0')}"
        token = format(zlib.crc32(f"{cmdlet}:{err.code}".encode()) & 0xFFFFFFFF, "08X")
        fqid = (
            f"[Server={self.server},RequestId={uuid.uuid4()},TimeStamp={stamp}] "
            f"[FailureCategory=Cmdlet-{short}] {token},{klass or task_class(cmdlet)}"
        )
        return ErrorInfo(
            message=err.message,
            fully_qualified_error_id=fqid,
            category=int(err.category),
            exception_type=err.exception_type,
            target_name=err.target,
            reason=short,
            activity=cmdlet,
        )


def engine_failure(
    cmdlet: str,
    message: str,
    error_id: str,
    exception_type: str = "System.Management.Automation.ParameterBindingException",
    category: ErrorCategory = ErrorCategory.InvalidArgument,
    klass: str | None = None,
    with_class: bool = True,
) -> CmdletFailure:
    """A terminating PowerShell engine error (binding, parse, command lookup)."""
    fqid = f"{error_id},{klass or task_class(cmdlet)}" if with_class else error_id
    return CmdletFailure(
        ErrorInfo(
            message=message,
            fully_qualified_error_id=fqid,
            category=int(category),
            exception_type=exception_type,
            reason=exception_type.rsplit(".", 1)[-1],
            activity=cmdlet,
        )
    )


def scripts_not_allowed() -> CmdletFailure:
    return engine_failure(
        "",
        "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
        "ScriptsNotAllowed",
        exception_type="System.Management.Automation.ParseException",
        category=ErrorCategory.ParserError,
        with_class=False,
    )


def command_not_found(name: str) -> CmdletFailure:
    return engine_failure(
        name,
        f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
        "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
        "and try again.",
        "CommandNotFoundException",
        exception_type="System.Management.Automation.CommandNotFoundException",
        category=ErrorCategory.ObjectNotFound,
        with_class=False,
    )


def parameter_not_found(cmdlet: str, name: str, klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        f"A parameter cannot be found that matches parameter name '{name}'.",
        "NamedParameterNotFound",
        klass=klass,
    )


def ambiguous_parameter(cmdlet: str, name: str, matches: list[str], klass: str | None = None) -> CmdletFailure:
    options = " ".join(f"-{m}" for m in matches)
    return engine_failure(
        cmdlet,
        f"Parameter cannot be processed because the parameter name '{name}' is ambiguous. Possible matches include: {options}.",
        "AmbiguousParameter",
        klass=klass,
    )


def positional_not_found(cmdlet: str, value: object, klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        f"A positional parameter cannot be found that accepts argument '{value}'.",
        "PositionalParameterNotFound",
        klass=klass,
    )


def missing_mandatory(cmdlet: str, names: list[str], klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        "Cannot process command because of one or more missing mandatory parameters: " + " ".join(names) + ".",
        "MissingMandatoryParameter",
        klass=klass,
    )


def transformation_error(cmdlet: str, param: str, detail: str, klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        f"Cannot process argument transformation on parameter '{param}'. {detail}",
        "ParameterArgumentTransformationError",
        exception_type="System.Management.Automation.ParameterBindingArgumentTransformationException",
        klass=klass,
    )


def binding_error(cmdlet: str, param: str, detail: str, klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        f'Cannot bind parameter \'{param}\' to the target. Exception setting "{param}": "{detail}"',
        "ParameterBindingFailed",
        category=ErrorCategory.WriteError,
        klass=klass,
    )


def input_not_bound(cmdlet: str, klass: str | None = None) -> ErrorInfo:
    """PowerShell's non-terminating error for a pipeline input object no parameter of the cmdlet takes."""
    return engine_failure(
        cmdlet,
        "The input object cannot be bound to any parameters for the command either because the command does not "
        "take pipeline input or the input and its properties do not match any of the parameters that take pipeline "
        "input.",
        "InputObjectNotBound",
        klass=klass,
    ).error


def no_ui_prompt(cmdlet: str, action: str, klass: str | None = None) -> CmdletFailure:
    return engine_failure(
        cmdlet,
        "A command that prompts the user failed because the host program or the command type does not support "
        "user interaction. The host was attempting to request confirmation with the following message: "
        f"Are you sure you want to perform this action? {action}",
        "HostFunctionNotImplemented",
        exception_type="System.Management.Automation.Host.HostException",
        category=ErrorCategory.NotImplemented,
        klass=klass,
    )
