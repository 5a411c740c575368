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
    sizes = data.segment_sizes(snap)
    if sizes.empty:
        _note_missing("segments")
    else:
        st.plotly_chart(px.bar(sizes, x="segment", y="customers", title="Segment sizes"))
    with st.expander("Snapshot manifest (tables, champions)"):
        st.code(data.manifest_text(snap), language="json")


def churn(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Churn")
    if not snap.has("churn_scores"):
        _note_missing("churn scores")
        return
    hist = data.risk_histogram(snap)
    st.plotly_chart(px.bar(hist, x="low", y="customers", title="Churn risk distribution",
                           labels={"low": "churn probability (bin start)"}))
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
    st.download_button("Download the list as CSV", data.high_risk_csv(snap, segment, country),
                       file_name=f"high_risk_{snap.as_of}.csv", mime="text/csv")


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
        st.info("This snapshot carries no 2-D coordinates for a scatter: see the segmentation plots in MLflow.")
    else:
        st.plotly_chart(px.scatter(scatter, x="x", y="y", color="segment", title="Customers by segment"))


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
        st.dataframe(found["recommendations"], hide_index=True)


def products(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Products and reviews")
    if not snap.has("similar_products"):
        _note_missing("product similarities")
        return
    prefix = st.text_input("Product id starts with", key="product_prefix").strip()
    ids = data.product_ids(snap, prefix)
    if not ids:
        st.warning("No product matches.")
        return
    product_id = st.selectbox("Product", ids, key="product_id")
    st.subheader(f"Products similar to {product_id}")
    st.dataframe(data.similar_products(snap, product_id), hide_index=True)


def models(settings: Settings, snap: data.Snapshot) -> None:
    st.header("Models")
    table = data.champions(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    if table.empty:
        st.info("No champion in the MLflow registry yet: run `make run` first.")
        return
    st.dataframe(table, hide_index=True)


PAGES = {"Overview": overview, "Churn": churn, "Segments": segments, "Customer": customer,
         "Products and reviews": products, "Models": models}
