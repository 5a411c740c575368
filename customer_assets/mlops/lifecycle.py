"""One champion / challenger lifecycle for every model domain: load, compare, decide, gate.

Each domain evaluates its own models (the metrics differ: ROC-AUC, silhouette, NDCG@10, macro-F1, MAE), then
hands the figures to these functions, so the rules and their words are the same everywhere:

- ``load_champion``: the model holding the ``champion`` alias, or the reason it cannot be loaded. A champion
  that fails to load or to score the current rows is *replaced* (``decide``), never silently treated as
  absent: the run says which version failed and why.
- ``evaluate_champion``: the domain's evaluation of the champion on the challenger's rows, catching the
  error of a champion that cannot score them (a column gone, an incompatible library version).
- ``decide``: no champion -> the challenger; a broken champion or one without a finite score -> replaced;
  else the challenger must beat it by more than ``margin`` on the same holdout (``higher_is_better``).
- ``gate_check``: the one WARN check ``champion_gate`` on every training asset, with one metadata schema:
  ``metric``, ``serving_version`` (-1 when nothing serves), ``serving_score``, ``baselines`` (name -> score on
  the same holdout), ``vs_baseline`` (the sentence), ``decision`` (promoted, reason, challenger and champion
  scores), plus the domain's own keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import dagster as dg

from customer_assets.mlops import registry

GATE_CHECK = "champion_gate"
NO_VERSION = -1


@dataclass(frozen=True)
class ChampionState:
    model: Any | None
    version: int | None
    error: str | None = None
    """Why the champion cannot be used (load failure), None when it loaded or when there is none."""

    @property
    def exists(self) -> bool:
        return self.version is not None


def load_champion(models: registry.ModelRegistry, model_name: str) -> ChampionState:
    version = models.champion_version(model_name)
    if version is None:
        return ChampionState(None, None)
    try:
        loaded = models.load_champion(model_name)
    except Exception as error:  # an artifact that no longer unpickles (library moved on, file gone)
        return ChampionState(None, version, f"v{version} cannot be loaded: {type(error).__name__}: {error}")
    if loaded is None:
        return ChampionState(None, None)
    return ChampionState(loaded[0], loaded[1])


def evaluate_champion(champion: ChampionState, evaluate: Callable[[Any], dict]) -> tuple[dict | None, str | None]:
    """(evaluation, error): the domain's ``evaluate(model)`` of a loaded champion, or why it failed."""
    if champion.error:
        return None, champion.error
    if champion.model is None:
        return None, None
    try:
        return evaluate(champion.model), None
    except Exception as error:  # e.g. a feature column it needs is gone, or new categories it cannot encode
        return None, f"v{champion.version} cannot score the current rows: {type(error).__name__}: {error}"


def finite(value) -> float | None:
    """`value` as a float when it is a finite number (int or float, bools included), else None."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def decide(
    metric: str,
    challenger: float,
    champion: float | None,
    *,
    champion_exists: bool,
    champion_error: str | None = None,
    higher_is_better: bool = True,
    margin: float = 0.0,
) -> registry.Decision:
    """The promotion rule shared by every domain (see the module docstring)."""
    score = finite(challenger)
    shown = f"{score:.4f}" if score is not None else "nan"
    if champion_error:
        return registry.Decision(
            True,
            f"the champion is replaced: {champion_error}; the challenger ({metric}={shown}) takes the alias",
            challenger,
            None,
        )
    if not champion_exists:
        return registry.decide_promotion(metric, challenger, None, higher_is_better, margin)
    if finite(champion) is None:
        return registry.Decision(
            True,
            f"the champion has no finite {metric} on the holdout: the challenger ({metric}={shown}) replaces it",
            challenger,
            None,
        )
    return registry.decide_promotion(metric, challenger, champion, higher_is_better=higher_is_better, margin=margin)


def beats(score: float | None, baseline: float | None, higher_is_better: bool) -> bool:
    if finite(score) is None or finite(baseline) is None:
        return False
    return score > baseline if higher_is_better else score < baseline


def gate_check(
    *,
    metric: str,
    higher_is_better: bool,
    serving_version: int | None,
    serving_score: float | None,
    baselines: dict[str, float | None],
    decision: registry.Decision | None,
    passed: bool | None = None,
    why: str | None = None,
    asset_key=None,
    extra: dict | None = None,
    serving_label: str | None = None,
    decision_details: dict | None = None,
) -> dg.AssetCheckResult:
    """``champion_gate``: passes when a model serves and beats every baseline on the same holdout (WARN).

    ``passed`` / ``why`` override the verdict where a domain's rule differs (e.g. the baseline itself serves);
    ``extra`` adds the domain's own metadata beside the shared keys; ``serving_label`` names what serves
    (a family, an engine) in the sentence; ``decision_details`` adds keys to the ``decision`` JSON."""
    finite_baselines = {name: finite(value) for name, value in baselines.items()}
    shown = ", ".join(f"{name} {value:.4f}" for name, value in finite_baselines.items() if value is not None) or "none"
    if passed is None:
        if serving_version is None:
            passed, why = False, "no model holds the champion alias"
        else:
            passed = all(
                beats(serving_score, value, higher_is_better)
                for value in finite_baselines.values()
                if value is not None
            )
            verb = "beats" if passed else "does not beat"
            label = f" ({serving_label})" if serving_label else ""
            why = (
                f"serving v{serving_version}{label} {metric} {finite(serving_score) or float('nan'):.4f} {verb} the "
                f"baselines on the same holdout ({shown})"
            )
    metadata = {
        "metric": metric,
        "serving_version": serving_version if serving_version is not None else NO_VERSION,
        "serving_score": finite(serving_score) if finite(serving_score) is not None else float("nan"),
        "baselines": dg.MetadataValue.json({k: v for k, v in finite_baselines.items()}),
        "vs_baseline": why or "",
        "decision": dg.MetadataValue.json(
            None
            if decision is None
            else registry.jsonable(
                {
                    "promoted": decision.promote,
                    "reason": decision.reason,
                    "challenger_score": finite(decision.challenger_score),
                    "champion_score": finite(decision.champion_score),
                    "serving_version": serving_version,
                    **(decision_details or {}),
                }
            )
        ),
        **(extra or {}),
    }
    kwargs = {"asset_key": asset_key} if asset_key is not None else {}
    return dg.AssetCheckResult(
        check_name=GATE_CHECK,
        passed=bool(passed),
        severity=dg.AssetCheckSeverity.WARN,
        description=why,
        metadata=metadata,
        **kwargs,
    )
