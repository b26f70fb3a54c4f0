"""What-if: pick a model, change inputs, predict, compare with every earlier run."""

import streamlit as st

from components.code_snippet import code_snippet
from components.frame import app_connection
from components.history_view import load_run_popover, run_actions, runs_chart_section, runs_table, runs_window
from components.model_picker import choose_model
from components.result_card import result_card
from components.runs_io import export_button, import_uploader
from components.schema_form import form_problems_note, reset_to_defaults, schema_form, start_form_run
from components.share_link import apply_link_values, read_link_once, sync_link
from components.store import run_store, show_history_problem
from components.task_progress import predict_and_record
from whatif.history import HistoryKey
from whatif.schema import RowValidationError

connection = app_connection()
start_form_run()

st.title("What-if")
if connection.profile.is_demo:
    st.caption("Predictions come from the **local demo API**: the embedded reference server with sample models. "
               "Choose another API in the sidebar or on the Settings page.")
else:
    st.caption(f"Predictions come from **{connection.profile.name}** as user {connection.profile.user_id}.")
show_history_problem()
store = run_store()
read_link_once()
choice = choose_model(connection)
if choice is None:
    st.stop()
key = HistoryKey(connection.history_key, connection.profile.user_id, choice.bucket, choice.path)
error_key = f"whatif_error_{choice.key}"  # an error belongs to the model it happened with
apply_link_values(choice)

form_side, result_side = st.columns([11, 9], gap="large")

with form_side:
    head, reset, load = st.columns([2, 3, 2], vertical_alignment="bottom")
    head.subheader("Inputs")
    reset.button("Reset to defaults", key="whatif_reset", icon=":material/restart_alt:", width="stretch",
                 on_click=reset_to_defaults, args=(choice,))
    load_slot = load.empty()  # filled once this run's prediction is stored, so it lists that run too
    values = schema_form(choice)
    to_fix = form_problems_note(choice)  # "Fix age: 'abc' is not a number." while a number field cannot be read
    try:
        row = None if to_fix else choice.schema.to_row(values)
    except RowValidationError as invalid:
        row = None
        st.error(f"Some values are not valid: {invalid}.", icon=":material/error:")
    predict = st.button("Predict", key="whatif_predict", type="primary", icon=":material/play_arrow:",
                        width="stretch", disabled=row is None, help=to_fix or None)
    if to_fix:
        st.caption(f":red[:material/error: {to_fix}]")

with result_side:
    if predict and row is not None:
        st.session_state[error_key] = predict_and_record(connection.client, store, key, choice, values, row)
    if st.session_state.get(error_key):
        st.error(st.session_state[error_key], icon=":material/error:")
    baseline = store.baseline(key)
    total = store.count(key)
    newest = store.runs(key, limit=1)
    if newest:
        if row is not None and newest[-1].row and newest[-1].row != row:
            st.caption(":orange[:material/edit: The inputs differ from this prediction's; press **Predict** "
                       "to see what the model says now.]")
        result_card(choice.schema, newest[-1], baseline)
        frame = runs_window(store, key, choice, baseline)
        runs_chart_section(choice, frame, baseline, total)
    elif not st.session_state.get(error_key):  # beside an error, "press Predict" would mislead
        st.info("No runs of this model yet: change the inputs and press **Predict**.", icon=":material/science:")

with load_slot.container():
    load_run_popover(store, choice, frame if newest else None, baseline)

if newest:
    st.subheader("Runs compared")
    runs_table(choice, frame, baseline)
    run_actions(store, key, choice, frame, baseline, total)

with st.expander("Import and export runs", icon=":material/swap_vert:"):
    if newest:
        export_button(store, key, choice)
    if st.session_state.get("whatif_import_message"):
        st.markdown(st.session_state.pop("whatif_import_message"))
    message = import_uploader(store, key, choice, connection.client)
    if message:
        st.session_state["whatif_import_message"] = message
        st.rerun()

link = sync_link(choice, values)
with st.expander("Share this what-if", icon=":material/link:"):
    st.caption("The link opens this model with these inputs. It never contains the API secret.")
    st.code(link, language=None)

if row is not None:
    with st.expander("Show code", icon=":material/code:"):
        code_snippet(connection, choice, row)
