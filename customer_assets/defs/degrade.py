"""Degrade, never collapse: one model's failure must not take down outputs that do not need it.

Dagster skips every step downstream of a failed one in the same run, so a churn model that cannot train would
otherwise stop the online snapshot, customer_360, drift and monitoring, which carry every other model too.
`degrade_on_failure` wraps the body of a model asset (training or scoring): when it raises, the asset writes
nothing (the last good table and champion stay), records a materialization whose `degraded` metadata says
what failed and what to do, and fails each of its checks at WARN severity with the same reason. The `make run`
summary lists these lines; downstream assets read what exists and name what is missing.

Checks that protect data (the input contract, leakage, atomic writes) are not model assets and stay blocking.
"""

from __future__ import annotations

import functools
import inspect

import dagster as dg

from customer_assets.warehouse.reads import MissingInput

DEGRADED = "degraded"


def _reason(error: BaseException) -> str:
    """The first line users see: a dg.Failure's description or a MissingInput's message as written (they are
    sentences for people), any other error with its class name."""
    if isinstance(error, dg.Failure) and error.description:
        text = error.description
    elif isinstance(error, MissingInput) and str(error):
        text = str(error)
    else:
        text = f"{type(error).__name__}: {error}"
    return (text.strip().splitlines() or [type(error).__name__])[0]


def degraded_results(context: dg.AssetExecutionContext, reason: str) -> list[dg.MaterializeResult]:
    """One degraded materialization per selected asset (multi-assets too), each with its checks failed as WARN."""
    results: list = []
    for asset_key in sorted(context.selected_asset_keys, key=str):
        checks = [
            dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"not evaluated: {reason}",
            )
            for key in sorted(context.selected_asset_check_keys, key=str)
            if key.asset_key == asset_key
        ]
        results.append(
            dg.MaterializeResult(
                asset_key=asset_key, metadata={DEGRADED: reason, "written": False}, check_results=checks
            )
        )
    return results


def degrade_on_failure(body):
    """Decorator for a model asset's function (generator or plain return) taking `context` first."""

    if inspect.isgeneratorfunction(body):

        @functools.wraps(body)
        def wrapped(context, *args, **kwargs):
            try:
                yield from body(context, *args, **kwargs)
            except Exception as error:  # noqa: BLE001 - reported as degraded below, with the error in the log
                context.log.exception(f"degraded: {_reason(error)}")
                yield from degraded_results(context, _reason(error))
    else:

        @functools.wraps(body)
        def wrapped(context, *args, **kwargs):
            try:
                return body(context, *args, **kwargs)
            except Exception as error:  # noqa: BLE001
                context.log.exception(f"degraded: {_reason(error)}")
                results = degraded_results(context, _reason(error))
                return results[0] if len(results) == 1 else tuple(results)

    return wrapped
