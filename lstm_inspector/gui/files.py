"""Files in and out of the window (a mixin of :class:`MainWindow`): open dialogs, recent files,
drag-and-drop, export. Last folders and recent files persist in the window's QSettings."""
from __future__ import annotations

from pathlib import Path

from PyQt5 import QtWidgets

from . import dialogs, export, pipeline
from ..paths.registry import choice_for, spelling

MAX_RECENT = 10


def impl_timeout() -> float:
    """Seconds the user's function may run (``paths.user_impl.DEFAULT_TIMEOUT``)."""
    from ..paths.user_impl import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT


class FilesMixin:
    def open_model_dialog(self):
        path = self._ask_open("model", "Open model",
                              "Models (*.h5 *.hdf5 *.keras *.index *.ckpt* *.pt *.pth "
                              "*.safetensors *.onnx);;All files (*)")
        if path:
            self.controller.open_model(path)

    def open_features_dialog(self):
        path = self._ask_open("features", "Open features",
                              "Features (*.npy *.npz *.csv *.txt *.htk *.fea* *.mfc *.ark *.scp *.wav)"
                              ";;All files (*)")
        if path:
            self.controller.open_features(path)

    def run_impl_dialog(self):
        """Pick a Python file, confirm that it will run, make it path B."""
        path = self._ask_open("impl", "Run my implementation: pick the Python file (it will run)",
                              "Python (*.py);;All files (*)")
        if not path:
            return
        name, ok = QtWidgets.QInputDialog.getText(
            self, "Run my implementation",
            f"This executes {Path(path).name} in a separate Python process (time limit "
            f"{impl_timeout():g} s; Cancel stops it).\n\nFunction name (empty: the one called "
            "forward or step, or the file's only function):")
        if ok:
            self.use_your_path(choice_for(spelling(
                "impl", path + (f":{name.strip()}" if name.strip() else ""))))

    def open_outputs_dialog(self):
        path = self._ask_open("outputs", "Open my port's outputs",
                              "Outputs (*.npy *.npz *.csv *.txt);;All files (*)")
        if path:
            self.use_your_path(choice_for(spelling("outputs", path)))

    def use_your_path(self, choice):
        """Offer ``choice`` in the A/B choosers and make it path B (runs it)."""
        self.state.add_path(choice)
        self.controller.set_paths(b=choice.key)

    def _ask_open(self, kind, title, filters):
        folder = self._settings.value(f"folders/{kind}", "", str)
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, title, folder, filters)
        if path:
            self._settings.setValue(f"folders/{kind}", str(Path(path).parent))
        return path

    def export_dialog(self, kind):
        s = self.state
        needs = {"npz": s.trace_a, "csv": s.trace_a, "json": s.report, "html": s.report}
        if kind in needs and needs[kind] is None:
            dialogs.error_box(self, "Nothing to export yet: open a model and a feature file first.")
            return
        folder = self._settings.value("folders/export", "", str)
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, f"Export {kind.upper()}", str(Path(folder) / f"lstm-inspector.{kind}"),
            f"{kind.upper()} (*.{kind})")
        if path:
            self._settings.setValue("folders/export", str(Path(path).parent))
            self.export(kind, path)

    def export(self, kind, path):
        """Write ``kind`` (png, svg, npz, csv, json, html) to ``path``; errors go to a dialog."""
        writers = {"png": lambda: export.view_png(self, path), "svg": lambda: export.view_svg(self, path),
                   "npz": lambda: export.traces_npz(self.state, path),
                   "csv": lambda: export.traces_csv(self.state, path),
                   "json": lambda: export.report_json(self.state, path),
                   "html": lambda: export.report_html(self.state, path, window=self)}
        try:
            written = writers[kind]()
        except OSError as exc:
            dialogs.error_box(self, f"Could not write {path}: {exc.strerror or exc}.", str(exc))
            return None
        self.statusBar().showMessage(f"wrote {written}", 5000)
        return written

    def recent_files(self) -> list:
        value = self._settings.value("recent/files", [], list) or []
        return [str(v) for v in value if v]

    def _remember(self, path, kind):
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self._settings.setValue("recent/files", recent[:MAX_RECENT])
        self._settings.setValue(f"folders/{kind}", str(Path(path).parent))
        self._fill_recent_menu()
        self._update_title()

    def _fill_recent_menu(self):
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.controller.open_path(p))
        self.recent_menu.setEnabled(bool(recent))

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        self.open_paths(paths)
        event.acceptProposedAction()

    def open_paths(self, paths):
        """Open dropped files: the model first, then the features (each decided by extension/content)."""
        kinds = sorted(((pipeline.classify_path(p), p) for p in paths), key=lambda kp: kp[0] != "model")
        for k, (kind, path) in enumerate(kinds):
            opener = self.controller.open_model if kind == "model" else self.controller.open_features
            opener(path, replace=(k == 0))  # later files queue behind the first
