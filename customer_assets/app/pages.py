"""The app's pages: thin Streamlit renderers over `customer_assets.app.data` (no SQL here)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from customer_assets.app import data
from customer_assets.config import Settings


def _note_missing(what: str) -> None:
    st.info(f"No {what} in this snapshot: run `make run` first (or this data set has none).")


def overview(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Overview")
    st.caption(f"Snapshot {snap.version}, as of {snap.as_of}")
    numbers = data.overview(snap)
    cols = st.columns(5)
    cols[0].metric("Customers", f"{numbers['customers']:,}")
    cols[1].metric("Active share", "n/a" if numbers["active_share"] is None else f"{numbers['active_share']:.1%}")
    cols[2].metric("Mean churn risk", "n/a" if numbers["churn_rate"] is None else f"{numbers['churn_rate']:.1%}")
    cols[3].metric("High-risk customers", "n/a" if numbers["high_risk"] is None else f"{numbers['high_risk']:,}")
    cols[4].metric("Value at risk", "n/a" if numbers["value_at_risk"] is None else f"{numbers['value_at_risk']:,.0f}")
    history = data.history(snap)
    st.subheader("Over time")
    if len(history) < 2:
        st.info(f"One as-of date so far ({snap.as_of}): the charts over time fill in as daily runs add dates.")
    trend = history.melt(
        id_vars="as_of_date", value_vars=["active_share", "churn_rate"], var_name="measure", value_name="share"
    ).dropna()
    left, right = st.columns(2)
    left.plotly_chart(
        px.line(history, x="as_of_date", y="customers", markers=True, title="Customers"), key="overview_customers"
    )
    if not trend.empty:
        right.plotly_chart(
            px.line(
                trend,
                x="as_of_date",
                y="share",
                color="measure",
                markers=True,
                title="Active share and mean churn risk",
            ),
            key="overview_rates",
        )
    left, right = st.columns(2)
    if history["high_risk"].notna().any():
        left.plotly_chart(
            px.line(history, x="as_of_date", y="high_risk", markers=True, title="High-risk customers"),
            key="overview_high_risk",
        )
    if history["value_at_risk"].notna().any():
        right.plotly_chart(
            px.line(history, x="as_of_date", y="value_at_risk", markers=True, title="Value at risk"),
            key="overview_value_at_risk",
        )
    sizes = data.segment_sizes(snap)
    over_time = data.segment_history(snap)
    if sizes.empty:
        _note_missing("segments")
    elif over_time["as_of_date"].nunique() >= 2:
        st.plotly_chart(
            px.area(over_time, x="as_of_date", y="customers", color="segment", title="Segment sizes over time"),
            key="overview_segments",
        )
    else:
        st.plotly_chart(
            px.bar(sizes, x="segment", y="customers", title=f"Segment sizes ({snap.as_of})"), key="overview_segments"
        )
    _latest_run(settings)
    with st.expander("Snapshot manifest (tables, champions)"):
        st.code(data.manifest_text(snap), language="json")


def _latest_run(settings: Settings) -> None:
    st.subheader("Latest run")
    run = data.latest_run(settings.home)
    if run is None:
        st.info("No run summary in this home (`make run` writes runs/latest.json): run `make run` first.")
        return
    checks = pd.DataFrame(run.get("checks", []), columns=["asset", "check", "passed", "severity", "description"])
    failed = checks[~checks["passed"].astype(bool)] if not checks.empty else checks
    jobs = ", ".join(f"{r['job']} ({'ok' if r['success'] else 'failed'})" for r in run.get("runs", []))
    st.write(
        f"Finished {run.get('finished_at', '?')}: **{'built' if run.get('success') else 'stopped early'}** - {jobs}"
    )
    st.write(f"Checks: {int(checks['passed'].sum()) if not checks.empty else 0} passed, {len(failed)} not passed")
    for line in run.get("failed_steps", []) + run.get("degraded", []):
        st.warning(line)
    if not failed.empty:
        st.dataframe(failed, hide_index=True, key="overview_failed_checks")
    with st.expander(f"All {len(checks)} checks"):
        st.dataframe(checks, hide_index=True, key="overview_checks")


def churn(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Churn")
    if not snap.has("churn_scores"):
        _note_missing("churn scores")
        return
    hist = data.risk_histogram(snap)
    st.plotly_chart(
        px.bar(
            hist,
            x="low",
            y="customers",
            title="Churn risk distribution",
            labels={"low": "churn probability (bin start)"},
        )
    )
    options = data.filter_options(snap)
    left, right = st.columns(2)
    segment = left.selectbox("Segment", ["(all)", *options["segment"]], key="churn_segment")
    country = right.selectbox("Country", ["(all)", *options["country"]], key="churn_country")
    segment = None if segment == "(all)" else segment
    country = None if country == "(all)" else country
    page = int(st.number_input("Page", min_value=1, value=1, step=1, key="churn_page")) - 1
    rows, total = data.high_risk(snap, segment, country, page=page)
    st.subheader(f"High-risk customers ({total:,})")
    st.dataframe(rows, hide_index=True)
    st.download_button(  # a callable: the CSV (every matching customer) is built on click, not on every run
        "Download the list as CSV",
        lambda: data.high_risk_csv(snap, segment, country),
        file_name=f"high_risk_{snap.as_of}.csv",
        mime="text/csv",
    )
    _churn_calibration(settings)


def _churn_calibration(settings: Settings) -> None:
    st.subheader("Calibration (holdout)")
    plot = data.champion_plot(
        settings.mlflow_tracking_uri, settings.mlflow_artifact_root, "churn_model", "churn_calibration.png"
    )
    if plot is None:
        st.info("No calibration plot in MLflow for a churn champion yet: run `make run` first.")
        return
    image, version = plot
    st.image(image, width=420)
    st.caption(
        f"Predicted P(churn) against the observed churn rate on the training run's time holdout, in "
        f"equal-count bins (churn_model v{version}, logged by its training run to MLflow). Today's scores "
        "have no observed outcome yet, so the holdout is where calibration can be seen."
    )


def segments(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Segments")
    profiles = data.segment_profiles(snap)
    if profiles.empty:
        _note_missing("segments")
        return
    st.subheader("Segment profiles (feature means)")
    st.dataframe(profiles, hide_index=True)
    scatter = data.segment_scatter(snap)
    if scatter.empty:
        st.info("Too few customers or numeric features for a PCA scatter in this snapshot.")
    else:
        explained = scatter.attrs.get("explained", [0.0, 0.0])
        st.plotly_chart(
            px.scatter(
                scatter,
                x="x",
                y="y",
                color="segment",
                opacity=0.6,
                labels={"x": f"PC1 ({explained[0]:.0%})", "y": f"PC2 ({explained[1]:.0%})"},
                title="Customers by segment (PCA)",
            ),
            key="segments_scatter",
        )
        st.caption(
            f"A random sample of {len(scatter):,} customers (at most {data.SCATTER_SAMPLE:,}); PCA of their "
            "standardized log features, computed here."
        )
    st.subheader("Movement between segments")
    moves = data.segment_moves(snap)
    if moves.empty:
        st.info(f"One segmentation date so far ({snap.as_of}): movement shows once a later as-of date is built.")
    else:
        table = moves.pivot_table(index="from_segment", columns="to_segment", values="customers", fill_value=0)
        st.caption(
            f"Customers by segment on {moves['previous_as_of'].iloc[0]} (rows) and on "
            f"{moves['as_of_date'].iloc[0]} (columns); customers in only one of the two are left out."
        )
        st.dataframe(table, key="segments_moves")


def customer(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Customer")
    customer_id = st.text_input("Customer id", key="customer_id").strip()
    if not customer_id:
        st.caption("Type a customer id to see its features, churn risk, segment, value and recommendations.")
        return
    found = data.customer(snap, customer_id)
    if found is None:
        st.warning(f"No customer {customer_id!r} in the snapshot of {snap.as_of}.")
        return
    if found["churn"]:
        st.metric("Churn probability", f"{found['churn']['churn_probability']:.1%}")
        st.write("Reasons: " + "; ".join(found["churn"].get("top_reasons") or []))
    if found["segment"]:
        st.write(f"Segment: **{found['segment'].get('segment_name', found['segment'].get('segment_id'))}**")
    if found["value"]:
        st.write(f"Expected 12-month value: **{found['value'].get('clv_12m', 0):,.2f}**")
    st.subheader("Features")
    st.dataframe(pd.DataFrame([found["features"]]).astype(str).T.rename(columns={0: "value"}))
    st.subheader("Recommendations")
    if found["recommendations"].empty:
        _note_missing("recommendations")
    else:
        st.dataframe(found["recommendations"], hide_index=True, key="customer_recommendations")
    st.subheader("Reviews")
    if found["reviews"] is None:
        st.info("No reviews in this data (or the snapshot was published without them).")
    elif found["reviews"].empty:
        st.caption("This customer has written no reviews.")
    else:
        st.dataframe(found["reviews"], hide_index=True, key="customer_reviews")


def products(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Products and reviews")
    if not snap.has("similar_products"):
        _note_missing("product similarities")
    else:
        prefix = st.text_input("Product id starts with", key="product_prefix").strip()
        ids = data.product_ids(snap, prefix)
        if not ids:
            st.warning("No product matches.")
        else:
            product_id = st.selectbox("Product", ids, key="product_id")
            st.subheader(f"Products similar to {data.product_label(snap, product_id)}")
            st.dataframe(data.similar_products(snap, product_id), hide_index=True)
            _product_reviews(snap, product_id)
    st.subheader("Review topics")
    found = data.topics(snap)
    if found.empty:
        st.info("No reviews in this data (or no topics published in this snapshot).")
    else:
        st.dataframe(found, hide_index=True)


def _product_reviews(snap: data.Snapshot, product_id: str) -> None:
    st.subheader("Reviews of this product")
    summary, monthly = data.product_sentiment(snap, product_id)
    if summary is None:
        st.info("No reviews of this product in this data.")
        return
    cols = st.columns(4)
    cols[0].metric("Reviews", f"{summary['review_count']:,}")
    cols[1].metric("Average rating", f"{summary['average_rating']:.2f}")
    cols[2].metric("Positive share", f"{summary['positive_share']:.0%}")
    cols[3].metric("Negative share", f"{summary['negative_share']:.0%}")
    st.write(
        f"Aspects praised: **{summary['aspects_praised'] or 'none'}** - "
        f"criticized: **{summary['aspects_criticized'] or 'none'}**"
    )
    if len(monthly) >= 2:
        st.plotly_chart(
            px.line(
                monthly,
                x="month",
                y="average_sentiment",
                markers=True,
                hover_data=["reviews"],
                title="Mean review sentiment by month",
            ),
            key="product_sentiment_over_time",
        )


def models(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Models")
    table = data.champions(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    if table.empty:
        st.info("No champion in the MLflow registry yet: run `make run` first.")
    else:
        st.dataframe(table, hide_index=True, key="models_champions")
    st.subheader("Promotion history")
    history = data.promotion_history(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    if history.empty:
        st.info("No training runs with a promotion decision in MLflow yet.")
    else:
        st.caption(
            "Each training run, newest first: the version it registered (none when the challenger lost "
            "and nothing was registered), whether that version serves now, and the decision's reason."
        )
        st.dataframe(history, hide_index=True, key="models_promotions")
    st.subheader("Feature drift (PSI)")
    drift = data.drift(snap).dropna(subset=["psi"])  # null where a feature had no values to bin
    if drift.empty:
        st.info("No drift report in this snapshot: run `make run` first.")
    elif drift["as_of_date"].nunique() >= 2:
        st.plotly_chart(
            px.line(
                drift,
                x="as_of_date",
                y="psi",
                color="feature",
                markers=True,
                title="PSI per feature over time (< 0.1 stable, > 0.2 significant shift)",
            ),
            key="models_drift",
        )
    else:
        st.plotly_chart(
            px.bar(
                drift.sort_values("psi", ascending=False),
                x="feature",
                y="psi",
                color="status",
                title=f"PSI per feature on {drift['as_of_date'].iloc[0]}",
            ),
            key="models_drift",
        )


PAGES = {
    "Overview": overview,
    "Churn": churn,
    "Segments": segments,
    "Customer": customer,
    "Products and reviews": products,
    "Models": models,
}
