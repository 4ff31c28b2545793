"""Turn the backend's :class:`api.ErrorInfo` into PowerShell ErrorRecords (psrpcore types)."""

from __future__ import annotations

from psrpcore.types import ErrorCategory, ErrorCategoryInfo, ErrorRecord, NETException

from exchange_lab import api

_BASE_CHAIN = ["System.SystemException", "System.Exception", "System.Object"]


def _exception_chain(type_name: str) -> list[str]:
    chain = [type_name]
    if type_name != "System.Management.Automation.RuntimeException" and "Exchange" not in type_name:
        chain.append("System.Management.Automation.RuntimeException")
    if type_name.startswith("Microsoft.Exchange."):
        # Exchange task exceptions derive from LocalizedException.
        chain.append("Microsoft.Exchange.Data.Common.LocalizedException")
    for name in _BASE_CHAIN:
        if name not in chain:
            chain.append(name)
    return chain


def _category(value: int) -> ErrorCategory:
    try:
        return ErrorCategory(int(value))
    except (ValueError, TypeError):
        return ErrorCategory.NotSpecified


def error_record(info: api.ErrorInfo) -> ErrorRecord:
    exception = NETException(Message=info.message, HResult=-2146233087)
    exception.PSObject.type_names = _exception_chain(info.exception_type or "System.Exception")
    short_type = (info.exception_type or "Exception").rsplit(".", 1)[-1]
    target_type = type(info.target_object).__name__ if info.target_object is not None else ""
    category = ErrorCategoryInfo(
        Category=_category(info.category),
        Activity=info.activity or "",
        Reason=info.reason or short_type,
        TargetName=info.target_name or "",
        TargetType={"str": "String", "int": "Int32"}.get(target_type, target_type),
    )
    return ErrorRecord(
        Exception=exception,
        CategoryInfo=category,
        TargetObject=info.target_object,
        FullyQualifiedErrorId=info.fully_qualified_error_id,
    )


def internal_error(command: str) -> api.ErrorInfo:
    """What a client sees when the lab itself failed while running ``command``."""
    return api.ErrorInfo(
        message=f"The Exchange lab failed while running '{command}'; see the lab's log for details.",
        fully_qualified_error_id=f"LabInternalError,{command}",
        category=int(ErrorCategory.NotSpecified),
        exception_type="System.InvalidOperationException",
        reason="InvalidOperationException",
        activity=command,
    )
