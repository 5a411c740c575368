"""Customer value on CDNOW, classic split (39 weeks calibration, 39 weeks holdout): the model beats the naive
baseline (historical rate x horizon, historical mean order value) on per-customer MAE and on the aggregate total.

Spearman is reported, not asserted: on CDNOW the naive ranking puts all one-time buyers (tied at zero) below
every repeat buyer, which ranks slightly better overall than BG/NBD's P(alive)-discounted predictions (BG/NBD
ranks the repeat buyers among themselves better); see the README's evaluation table."""

from __future__ import annotations


def _row(rows, metric):
    return next(r for r in rows if r.dataset == "cdnow (39/39 weeks)" and r.metric == metric)


def test_value_model_beats_the_naive_baseline_on_cdnow(shared_data):
    from customer_assets.evaluation import value

    rows = value.evaluate(shared_data, reduced=True)
    assert {r.baseline_name for r in rows} == {"naive (rate x horizon, mean value)"}
    for metric in ("orders MAE", "value MAE ($)", "orders |aggregate ratio - 1|", "value |aggregate ratio - 1|"):
        row = _row(rows, metric)
        assert row.delta > 0, row  # lower than the naive baseline
    orders_mae = _row(rows, "orders MAE")
    assert orders_mae.model < 0.9 * orders_mae.baseline, orders_mae
    assert _row(rows, "orders |aggregate ratio - 1|").model < 0.2
    for metric in ("orders Spearman", "value Spearman"):
        assert 0.35 < _row(rows, metric).model < 0.6  # a plausible band: ranks, not noise, not leaking
