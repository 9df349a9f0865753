"""One selection shared by every page, kept in the session and mirrored in the URL.

Why not widget keys: Streamlit drops a widget's state when a page without that widget runs, so a
choice made on Rank would be gone on Probes. The selection lives in a plain dict in st.session_state
instead, and every page writes it back into st.query_params (a page switch clears them), so the
address bar always holds a link that reproduces the view.

URL keys: any config field a page pins (arch, dataset, loss, init, epochs, ...), plus
    epoch       the epoch picker, where a page has one ('last' or a number)
    split       the config field that splits lines ("split lines by")
    sweep       show one sweep's runs only
    data_split  the data split measured ('test' / 'train')
    kinds       representations shown, comma-separated (hidden,logits,softmax)

A value that came from the URL and does not exist in the current data falls back to the page's
default with a one-line notice (`choose`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from warehouse.queries import CONFIG_FIELDS

EPOCH, SPLIT, SWEEP, DATA_SPLIT, KINDS = "epoch", "split", "sweep", "data_split", "kinds"
UNLEARNED = "unlearned"  # 'leave out' or 'show' the temperatures at which no run learned
PROTOCOL = "probes"  # the probe protocol κ, ρ and probe curves come from ('converged' or 'paper')
UNCONVERGED = "unconverged"  # 'leave out' or 'show' runs whose converged-protocol probes did not converge
LIST_KEYS = frozenset({KINDS})
URL_KEYS: tuple[str, ...] = (*CONFIG_FIELDS, EPOCH, SPLIT, SWEEP, DATA_SPLIT, KINDS, UNLEARNED, PROTOCOL, UNCONVERGED)

_SELECTION = "thermoscope-selection"  # name -> value, typed as the data has it
_WRITTEN = "thermoscope-url-written"  # name -> the text this session last put in the URL
_FROM_URL = "thermoscope-from-url"  # names whose value came from a URL and is not yet checked against the data


def _session() -> tuple[dict[str, Any], dict[str, str], set[str]]:
    ss = st.session_state
    if _SELECTION not in ss:
        ss[_SELECTION], ss[_WRITTEN], ss[_FROM_URL] = {}, {}, set()
    return ss[_SELECTION], ss[_WRITTEN], ss[_FROM_URL]


# ---- values as URL text and back ----------------------------------------------------------------------


def to_text(value: Any) -> str:
    """How a value is written in the URL: 'null', 'true'/'false', '10' for 10.0, '1e-05', lists comma-joined."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, list | tuple):
        return ",".join(to_text(v) for v in value)
    return str(value)


def from_text(name: str, text: str) -> Any:
    """The inverse of to_text as far as text allows; `choose` matches it against real options by value."""
    if name in LIST_KEYS:
        return [t for t in text.split(",") if t]
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def same(option: Any, value: Any) -> bool:
    """Does a stored (maybe URL-parsed) value denote this option? 10 == 10.0, '16' == 16, never True == 1."""
    if option is None or value is None:
        return option is None and value is None
    if isinstance(option, bool) or isinstance(value, bool):
        return to_text(option) == to_text(value)
    if isinstance(option, int | float) and not isinstance(value, list):
        try:
            return float(option) == float(value)
        except (TypeError, ValueError):
            return False
    return to_text(option) == to_text(value)


# ---- the API the pages use ------------------------------------------------------------------------------


def sync() -> None:
    """Once per rerun, before any choice: adopt URL values this session did not write (a link opened, an
    address edited), then write the whole selection back to the URL (a page switch clears it)."""
    selection, written, from_url = _session()
    for name in URL_KEYS:
        if name not in st.query_params:
            continue
        text = st.query_params[name]
        if written.get(name) != text:
            selection[name] = from_text(name, text)
            from_url.add(name)
    for name, value in selection.items():
        _write_url(name, value)


def get(name: str, default: Any = None) -> Any:
    selection, _, _ = _session()
    return selection.get(name, default)


def put(name: str, value: Any) -> None:
    """Set one part of the selection (and the URL). None is a value (a config field may be NULL): use clear."""
    selection, _, from_url = _session()
    selection[name] = list(value) if isinstance(value, tuple) else value
    from_url.discard(name)
    _write_url(name, selection[name])


def clear(name: str) -> None:
    selection, written, from_url = _session()
    selection.pop(name, None)
    written.pop(name, None)
    from_url.discard(name)
    if name in st.query_params:
        del st.query_params[name]


def selection() -> dict[str, Any]:
    """A copy of the whole shared selection."""
    return dict(_session()[0])


def choose(name: str, options: Sequence[Any], default: Any) -> Any:
    """The selection's value for `name` among `options`, or `default` (stored) when it has none that fits.

    A value from a URL that fits no option is reported in one line, so a stale link says what changed."""
    selection, _, from_url = _session()
    options = list(options)
    if name in selection:
        wanted = selection[name]
        if name in LIST_KEYS:
            kept = [o for o in options if any(same(o, w) for w in wanted or [])]
            if kept or not wanted:
                if name in from_url and len(kept) < len(wanted or []):
                    _notice(name, wanted, default, partial=kept)
                from_url.discard(name)
                put(name, kept)
                return kept
        else:
            for option in options:
                if same(option, wanted):
                    from_url.discard(name)
                    if option is not wanted:
                        put(name, option)  # the data's own type from now on (10.0, not '10')
                    return option
        if name in from_url:
            _notice(name, wanted, default)
    put(name, default)
    return default


def _notice(name: str, wanted: Any, default: Any, partial: list | None = None) -> None:
    if partial is not None:
        st.info(f"The link asks for {name}={to_text(wanted)}; only {to_text(partial)} exist here, so those are shown.")
    else:
        st.info(f"The link asks for {name}={to_text(wanted)}, which these runs do not have: showing "
                f"{name}={to_text(default)} instead.")


def _write_url(name: str, value: Any) -> None:
    _, written, _ = _session()
    text = to_text(value)
    written[name] = text
    if st.query_params.get(name) != text:
        st.query_params[name] = text
