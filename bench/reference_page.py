"""The reference for bench_browser.py: the least a Streamlit page with one chart and one selectbox can cost.

No warehouse, no query, no Altair: a title, a selectbox and a 50-point Vega-Lite line. Served and timed the
same way as the dashboard's pages, so page / reference says what the dashboard adds to Streamlit's own cost.
"""

import streamlit as st

st.set_page_config(page_title="reference", layout="wide")
st.title("Reference page")
power = st.selectbox("power", [1, 2, 3], key="reference-power")
points = [{"x": i, "y": i**power} for i in range(50)]
st.vega_lite_chart({"data": {"values": points}, "mark": {"type": "line", "point": True},
                    "encoding": {"x": {"field": "x", "type": "quantitative"},
                                 "y": {"field": "y", "type": "quantitative"}}}, width="stretch")
