"""The what-if app's front door: page config, the API connection, navigation."""

import streamlit as st

from components.connection import DemoApiUnavailable, connection_sidebar
from components.frame import CONNECTION_KEY, use_explicit_navigation
from components.store import history_problem_sentence
from whatif.history import HistoryUnavailable

use_explicit_navigation()
st.set_page_config(page_title="What-if for saved models", page_icon=":material/tune:", layout="wide")

navigation = st.navigation([
    st.Page("pages/what_if.py", title="What-if", icon=":material/tune:", default=True),
    st.Page("pages/saved_models.py", title="Saved models", icon=":material/inventory_2:"),
    st.Page("pages/settings.py", title="Settings", icon=":material/settings:"),
])
try:
    st.session_state[CONNECTION_KEY] = connection_sidebar()
    navigation.run()
except DemoApiUnavailable as problem:  # setup problems: one sentence each, not a traceback
    st.error(str(problem), icon=":material/dns:")
except HistoryUnavailable as problem:
    st.error(history_problem_sentence(problem), icon=":material/database:")
