"""The what-if app's front door: page config, the API connection, navigation."""

import sys

import streamlit as st

from components.connection import connection_sidebar, warm_up_demo_models
from components.frame import CONNECTION_KEY, app_pages, setup_problems_in_one_sentence

# Streamlit serves the browser (the page's scripts included) from this process's event loop while the
# script thread and the embedded demo API import and compute; a 1 ms GIL switch interval (5 ms by
# default) keeps it serving meanwhile: the first page shows ~0.3 s sooner (bench/ui.py).
sys.setswitchinterval(0.001)

st.set_page_config(page_title="What-if for saved models", page_icon=":material/tune:", layout="wide")

# st.navigation before anything is drawn: a server's first runs may start as a legacy pages/ app, and only
# what is drawn after it gets the ids of every later run (components/frame.py).
navigation = st.navigation(app_pages())  # pages/*.py with their titles and icons
with setup_problems_in_one_sentence():  # the demo API or the run history cannot start: a sentence, not a traceback
    st.session_state[CONNECTION_KEY] = connection_sidebar()  # the demo API starts meanwhile, with a status
    navigation.run()
    warm_up_demo_models()  # after the page, which it would slow down
