"""Render a sweep's table (``lstm-inspector sweep ... --json > sweep.json``) offscreen as a PNG.

    QT_QPA_PLATFORM=offscreen python tools/screenshot_sweep.py sweep.json docs/sweep-table.png
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lstm_inspector.gui.app import ensure_app  # noqa: E402
from lstm_inspector.gui.sweep_table import SweepWindow, load_sweep_result  # noqa: E402


def main(json_path, png_path, width=1500, height=600):
    app = ensure_app()
    window = SweepWindow(load_sweep_result(json_path))
    window.resize(width, height)
    window.show()
    app.processEvents()
    window.fit_columns()
    app.processEvents()
    window.grab().save(str(png_path))
    print(f"wrote {png_path}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
