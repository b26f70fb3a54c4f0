"""The what-if app's front door: page config, the API connection, navigation."""

import sys

import streamlit as st

from components.connection import connection_sidebar, warm_up_demo_models
from components.frame import CONNECTION_KEY, setup_problems_in_one_sentence, use_explicit_navigation

# Streamlit serves the browser (the page's scripts included) from this process's event loop while the
# script thread and the embedded demo API import and compute; a 1 ms GIL switch interval (5 ms by
# default) keeps it serving meanwhile: the first page shows ~0.3 s sooner (bench/ui.py).
sys.setswitchinterval(0.001)

use_explicit_navigation()
st.set_page_config(page_title="What-if for saved models", page_icon=":material/tune:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/what_if.py", title="What-if", icon=":material/tune:", default=True),
        st.Page("pages/batch.py", title="Batch", icon=":material/table_view:"),
        st.Page("pages/saved_models.py", title="Saved models", icon=":material/inventory_2:"),
        st.Page("pages/sanity_checks.py", title="Sanity checks", icon=":material/fact_check:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
    ]
)
with setup_problems_in_one_sentence():  # the demo API or the run history cannot start: a sentence, not a traceback
    st.session_state[CONNECTION_KEY] = connection_sidebar()  # the demo API starts meanwhile, with a status
    navigation.run()
    warm_up_demo_models()  # after the page, which it would slow down
