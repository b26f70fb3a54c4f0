"""A tiny page for the AppTest of ``components.bulk_whatif``: a file's rows and the bulk what-if section under them.

What the Batch page will give the section is set from outside: the API (``WHATIF_BULK_TEST_URL`` and
``_SECRET``), the history database (``WHATIF_BULK_TEST_DB``, empty for none), and in session state the
model (``bulk_test_path``) and the CSV of rows (``bulk_test_rows``), else from ``WHATIF_BULK_TEST_PATH`` and
``WHATIF_BULK_TEST_ROWS`` (to look at it in a browser: ``streamlit run tests/pages/bulk_page_app.py``).
"""

import os
from pathlib import Path

import sqlalchemy as sa
import streamlit as st

from components.bulk_whatif import bulk_whatif_section
from components.connection import Connection
from components.model_picker import ModelChoice
from whatif.client import ModelClient
from whatif.profiles import Profile
from whatif.rowsfile import read_form_rows
from whatif.server.samples import DEMO_BUCKET


@st.cache_resource(show_spinner=False)
def history_engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


profile = Profile(
    "bulk test",
    url=os.environ["WHATIF_BULK_TEST_URL"],
    secret=os.environ["WHATIF_BULK_TEST_SECRET"],
    user_id="1",
    email="demo@example.com",
)
if "bulk_test_client" not in st.session_state:
    st.session_state["bulk_test_client"] = ModelClient(
        profile.url, secret=profile.secret, user_id="1", email="demo@example.com", poll_deadline_s=30
    )
client: ModelClient = st.session_state["bulk_test_client"]
path = st.session_state.get("bulk_test_path") or os.environ["WHATIF_BULK_TEST_PATH"]
schema = client.schema(path, DEMO_BUCKET)
choice = ModelChoice(path, DEMO_BUCKET, schema.name, schema.version, schema)

st.title("Batch")
rows_file = st.session_state.get("bulk_test_rows") or os.environ["WHATIF_BULK_TEST_ROWS"]
rows = read_form_rows(schema, Path(rows_file).read_bytes(), limit=100_000)
st.caption(f"{len(rows):,} rows from the file.")
database = os.environ.get("WHATIF_BULK_TEST_DB", "")
bulk_whatif_section(Connection(profile, client), choice, rows, history_engine(database) if database else None)
