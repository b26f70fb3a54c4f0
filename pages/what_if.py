"""What-if: pick a model, change inputs, predict, compare with every earlier run."""

import streamlit as st

from components.code_snippet import code_snippet
from components.compare_view import compare_with_another_version
from components.explore import RunKeeping, explore_section, importance
from components.frame import app_connection
from components.history_view import (
    announce_runs_of_others,
    card_run,
    load_run_popover,
    only_mine_toggle,
    remember_card,
    run_actions,
    runs_chart_section,
    runs_table,
    runs_window,
)
from components.model_picker import choose_model
from components.real_rows import real_row_button, real_row_note
from components.result_card import result_card
from components.runs_io import export_button, import_uploader
from components.schema_form import form_problems_note, reset_to_defaults, schema_form, start_form_run
from components.session import remember_session_in_browser, session_id
from components.share_link import apply_link_values, read_link_once, sync_link
from components.store import run_store, show_history_problem
from components.task_progress import predict_and_record
from whatif.history import HistoryKey
from whatif.runs import inputs_differ
from whatif.schema import RowValidationError

connection = app_connection()
start_form_run()
me = session_id()
remember_session_in_browser()

st.title("What-if")
if connection.profile.is_demo:
    st.caption(
        "Predictions come from the **local demo API**: the embedded reference server with sample models. "
        "Choose another API in the sidebar or on the Settings page."
    )
else:
    st.caption(f"Predictions come from **{connection.profile.name}** as user {connection.profile.user_id}.")
show_history_problem()
store = run_store()
read_link_once()
choice = choose_model(connection)
if choice is None:
    st.stop()
key = HistoryKey(connection.history_key, connection.profile.user_id, choice.bucket, choice.path, choice.schema_key)
error_key = f"whatif_error_{choice.key}"  # an error belongs to the model it happened with
apply_link_values(choice)

form_side, result_side = st.columns([11, 9], gap="large")

with form_side:
    st.subheader("Inputs")
    reset, real, load = st.columns(3)
    reset.button(
        "Reset to defaults",
        key="whatif_reset",
        icon=":material/restart_alt:",
        width="stretch",
        on_click=reset_to_defaults,
        args=(choice,),
    )
    with real:
        real_row_button(connection, choice)
    load_slot = load.empty()  # filled once this run's prediction is stored, so it lists that run too
    ranking = importance(choice)  # the last tornado's or contributions' rank of each field, if any
    values = schema_form(choice, ranking.features if ranking else None)
    real_row_note(choice, values)
    to_fix = form_problems_note(choice)  # "Fix age: 'abc' is not a number." while a number field cannot be read
    try:
        row = None if to_fix else choice.schema.to_row(values)
    except RowValidationError as invalid:
        row = None
        st.error(f"Some values are not valid: {invalid}.", icon=":material/error:")
    if ranking is not None:
        st.caption(ranking.note(row))
    predict = st.button(
        "Predict",
        key="whatif_predict",
        type="primary",
        icon=":material/play_arrow:",
        width="stretch",
        disabled=row is None,
        help=to_fix or None,
    )
    if to_fix:
        st.caption(f":red[:material/error: {to_fix}]")

with result_side:
    if predict and row is not None:
        made, st.session_state[error_key] = predict_and_record(connection.client, store, key, choice, values, row, me)
        if made is not None:
            remember_card(key, made.id)
    if st.session_state.get(error_key):
        st.error(st.session_state[error_key], icon=":material/error:")
    baseline = store.baseline(key)
    total = store.count(key)
    mine = store.count(key, me)
    shown, restored = card_run(store, key, me)
    announce_runs_of_others(store, key, me)
    if shown is not None:
        if row is not None and inputs_differ(choice.schema, shown, row):
            st.caption(
                ":orange[:material/edit: The inputs differ from this prediction's; press **Predict** "
                "to see what the model says now.]"
            )
        result_card(choice.schema, shown, baseline, restored=restored)
    elif not st.session_state.get(error_key):  # beside an error, "press Predict" would mislead
        if total:
            others = "1 run by another session is" if total == 1 else f"{total:,} runs by other sessions are"
            st.info(
                f"No runs of yours with this model yet: change the inputs and press **Predict**. "
                f"{others} in the history.",
                icon=":material/science:",
            )
        else:
            st.info("No runs of this model yet: change the inputs and press **Predict**.", icon=":material/science:")
    with st.expander("Compare with another version", icon=":material/compare_arrows:"):
        compare_with_another_version(connection, choice, values, row)
    frame = None
    if total:
        only_mine = only_mine_toggle(choice, total, mine)
        if only_mine and not mine:
            st.caption("Your runs will appear here; turn off *Only my runs* to see the others.")
        else:
            frame = runs_window(store, key, choice, baseline, me if only_mine else None)
            ringed = shown.id if shown is not None and shown.id in set(frame["id"]) else None
            runs_chart_section(choice, frame, baseline, mine if only_mine else total, ringed)

with load_slot.container():
    load_run_popover(store, key, choice, frame, baseline)

explore_section(connection, choice, values, row, RunKeeping(store, key, me))

if frame is not None:
    st.subheader("Runs compared")
    runs_table(choice, frame, baseline, me)
    run_actions(
        store,
        key,
        choice,
        frame,
        baseline,
        total,
        shown.id if shown is not None else None,
        mine,
        me if only_mine else None,
    )

with st.expander("Import and export runs", icon=":material/swap_vert:"):
    if total:
        export_button(store, key, choice)
    if st.session_state.get("whatif_import_message"):
        st.markdown(st.session_state.pop("whatif_import_message"))
    message = import_uploader(store, key, choice, connection.client, me)
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
