"""Streamlit entry point (`make app`): key gate, page picker, and a friendly note instead of any traceback."""

from __future__ import annotations

import hmac
import logging

import streamlit as st

from customer_assets import config
from customer_assets.app import data, pages

logger = logging.getLogger(__name__)


def _unlocked(expected: str | None) -> bool:
    if not expected or st.session_state.get("unlocked"):
        return True
    given = st.text_input("API key", type="password", key="api_key_input")
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        st.session_state["unlocked"] = True
        return True
    if given:
        st.error("That key is not right.")
    st.info("This app asks for the CUSTOMER_ML_API_KEY it was started with.")
    return False


def main() -> None:
    st.set_page_config(page_title="customer-ml", layout="wide")
    settings = config.load_settings()
    if not _unlocked(config.api_key()):
        return
    names = list(pages.PAGES)
    wanted = st.query_params.get("page", names[0])
    name = st.sidebar.radio("Page", names, index=names.index(wanted) if wanted in names else 0, key="page")
    try:
        snap = data.current_snapshot(settings.home)  # resolved on every rerun: a new snapshot shows at once
    except data.NoSnapshot as note:
        st.header(name)
        st.info(str(note))
        return
    try:
        pages.PAGES[name](settings, snap)
    except Exception:  # a page must never show a traceback: log it, tell the user what to do
        logger.exception("page %s failed", name)
        st.error(
            f"This page could not be shown for snapshot {snap.version}. "
            "The app log has the details; run `make run` again if the home is incomplete."
        )


main()
