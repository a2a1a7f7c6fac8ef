"""Export what the inspector shows: the view (PNG/SVG), the traces (NPZ/CSV), the report (JSON/HTML).

Everything written is the engine's data as recorded; nothing is recomputed here.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
from PyQt5 import QtCore, QtGui, QtSvg



def view_png(widget, path) -> Path:
    """The widget (the whole window) as it is on screen, as a PNG."""
    path = Path(path)
    if not widget.grab().save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def view_svg(widget, path) -> Path:
    """The widget painted into an SVG (vector where Qt can, images where it cannot)."""
    path = Path(path)
    generator = QtSvg.QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), widget.size()))
    generator.setTitle("lstm-inspector view")
    painter = QtGui.QPainter(generator)
    try:
        widget.render(painter)
    finally:
        painter.end()
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def traces_npz(state, path) -> Path:
    """Both traces, every layer/direction/quantity: keys ``A.layer0.forward.z`` ... plus ``x``."""
    path = Path(path)
    arrays = {"x": np.asarray(state.trace_a.x)}
    meta = {}
    for tag, trace in (("A", state.trace_a), ("B", state.trace_b)):
        if trace is None:
            continue
        meta[tag] = {"label": trace.label, "meta": trace.meta, "layer_names": list(trace.layer_names)}
        for k, direction, lt in trace.items():
            for name in ("z", "a", "c", "h"):
                if getattr(lt, name) is not None:   # a GRU holds no c
                    arrays[f"{tag}.layer{k}.{direction}.{name}"] = getattr(lt, name)
    arrays["meta_json"] = np.array(json.dumps(meta, default=_json_default))
    np.savez_compressed(path, **arrays)
    return path


def traces_csv(state, path) -> Path:
    """The selected layer/direction, one row per step: ``step, time_s, A_i_u0 ... B_h_u{H-1}``."""
    path = Path(path)
    columns, names = [np.arange(state.steps), np.arange(state.steps) * state.frame_shift], ["step", "time_s"]
    for tag in ("A", "B"):
        lt = state.layer_trace(tag.lower())
        if lt is None:
            continue
        for q in lt.quantities:   # a GRU's r z n Rh h
            arr = lt.quantity(q)  # (T, H)
            columns += [arr[:, u] for u in range(arr.shape[1])]
            names += [f"{tag}_{q}_u{u}" for u in range(arr.shape[1])]
    table = np.column_stack(columns)
    np.savetxt(path, table, delimiter=",", header=",".join(names), comments="", fmt="%.9g")
    return path


def report_dict(state) -> dict:
    d = dict(state.report.to_dict())
    d.setdefault("verdict", state.report.verdict)
    d["inputs"] = {"model": state.model_path,
                   "features": state.features.source if state.features is not None else ""}
    d["notes"] = state.notes()  # the model's, the features', each path's, the comparison's
    return d


def report_json(state, path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report_dict(state), indent=2, default=_json_default))
    return path


def report_html(state, path, window=None) -> Path:
    """A one-page report: verdict, first divergence, what ran, and a picture of the window."""
    path = Path(path)
    report = state.report
    rows = ""
    first = report.first
    if first is not None:
        for field in ("layer_name", "direction", "quantity", "step", "unit", "a", "b", "abs_error"):
            rows += (f"<tr><th>{html.escape(field)}</th>"
                     f"<td>{html.escape(str(getattr(first, field, '')))}</td></tr>")
    meta_rows = ""
    for tag, trace in (("A", state.trace_a), ("B", state.trace_b)):
        if trace is not None:
            meta_rows += (f"<tr><th>{tag}</th><td>{html.escape(trace.label)}</td>"
                          f"<td>{html.escape(trace.describe())}</td></tr>")
    picture = ""
    if window is not None:
        buffer = QtCore.QBuffer()
        buffer.open(QtCore.QIODevice.WriteOnly)
        window.grab().save(buffer, "PNG")
        data = base64.b64encode(bytes(buffer.data())).decode("ascii")
        picture = f'<h2>View</h2><img alt="inspector window" src="data:image/png;base64,{data}">'
    notes = "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in state.notes()) + "</ul>"
    details = html.escape(json.dumps(report_dict(state), indent=2, default=_json_default))
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>lstm-inspector report</title>
<style>body{{font-family:sans-serif;max-width:1500px;margin:1em auto}}
th{{text-align:left;padding-right:1em}} td{{padding-right:1em}} img{{max-width:100%}}</style></head>
<body><h1>lstm-inspector report</h1>
<p><b>{html.escape(report.verdict)}</b></p>
<p>kind: {html.escape(str(report.kind))}; atol {report.atol:g}, rtol {report.rtol:g}</p>
<h2>Inputs</h2><p>model: {html.escape(state.model_path or '(in memory)')}<br>
features: {html.escape(state.features.source if state.features is not None else '')}</p>
<h2>What ran</h2><table>{meta_rows}</table>
<h2>Notes</h2>{notes}
<h2>First divergence</h2>{'<table>' + rows + '</table>' if rows else '<p>none: the paths agree</p>'}
{picture}
<h2>Full report</h2><pre>{details}</pre>
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path
