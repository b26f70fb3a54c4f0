"""The what-if app's front door: page config, the connection, navigation."""

import streamlit as st

from components.connection import current_connection

st.set_page_config(page_title="What-if for saved models", page_icon=":material/tune:", layout="wide")
st.session_state["app_connection"] = current_connection()

navigation = st.navigation([st.Page("pages/saved_models.py", title="Saved models", icon=":material/inventory_2:",
                                    default=True)])
navigation.run()
