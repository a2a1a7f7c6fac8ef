"""The GUI command's failures before and around its window: always one line, exit 2.

- Errors on the ``--screenshot`` path print their sentence even while TensorFlow is being
  imported in the background (its import points native fd 2 at /dev/null).
- Without a usable display (no DISPLAY, an X server that does not answer, no Wayland display,
  missing xcb libraries) the command says what to do instead of Qt's abort (exit 134).
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lstm_inspector.gui.display import debian_package, display_problem, prepare_qt_environment

REPO = Path(__file__).resolve().parents[2]
RESOURCES = REPO / "resources"
PYQT_QT = Path(__import__("PyQt5").__file__).parent / "Qt5"


def run_inspector(args, env_changes, tmp_path, timeout=180):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "LSTM_INSPECTOR_DEBUG",
                        "QT_QPA_PLATFORM_PLUGIN_PATH")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), **env_changes)
    return subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)], env=env,
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=timeout)


def one_line(out) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("lstm-inspector: ") and "Traceback" not in out.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("model, features, named", [
    ("demo_digits_cudnnlstm.h5", "forum_input.npy", "forum_input.npy"),  # 1 column, 13 expected
    ("../README.md", "forum_input.npy", "README.md"),
    ("forum_cudnnlstm_in1_h2.h5", "../README.md", "README.md"),
])
def test_screenshot_errors_show_while_tensorflow_loads(tmp_path, model, features, named):
    """The default backend preloads TensorFlow behind the window; the error comes first."""
    png = tmp_path / "x.png"
    out = run_inspector([RESOURCES / model, RESOURCES / features, "--screenshot", png],
                        {"QT_QPA_PLATFORM": "offscreen"}, tmp_path)
    assert out.returncode == 2, out.stderr
    assert named in one_line(out)
    assert not png.exists()


def test_overlapping_quiet_blocks_keep_python_stderr_and_restore_fd2(tmp_path):
    """Two threads silencing native stderr at once (preload and a backend run): Python's
    sentences still show meanwhile, native output is dropped meanwhile, and fd 2 works after."""
    script = textwrap.dedent("""
        import os, sys, threading
        from lstm_inspector.io.tf_runtime import quiet_native_stderr
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
        def a():
            with quiet_native_stderr():
                a_in.set(); b_in.wait()
            a_out.set()
        def b():
            a_in.wait()
            with quiet_native_stderr():
                b_in.set()
                os.write(2, b"native while silenced\\n")
                print("python sentence while silenced", file=sys.stderr)
                a_out.wait()
        threads = [threading.Thread(target=f) for f in (a, b)]
        [t.start() for t in threads]; [t.join() for t in threads]
        os.write(2, b"native after\\n")
        print("python after", file=sys.stderr)
    """)
    env = {k: v for k, v in os.environ.items() if k != "LSTM_INSPECTOR_DEBUG"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60, cwd=str(REPO))
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == ["python sentence while silenced", "native after",
                                       "python after"]


def test_no_display_says_what_to_do_instead_of_aborting(tmp_path):
    out = run_inspector([], {}, tmp_path, timeout=60)
    assert out.returncode == 2, out.stderr  # Qt alone: 134
    line = one_line(out)
    assert "DISPLAY" in line and "--screenshot FILE" in line and "QT_QPA_PLATFORM=offscreen" in line


def _dead_display() -> str:
    for number in range(150, 250):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return f":{number}"
    pytest.skip("no free display number")


def test_display_nobody_answers_on(tmp_path):
    display = _dead_display()
    out = run_inspector([], {"DISPLAY": display}, tmp_path, timeout=60)
    assert out.returncode == 2, out.stderr
    assert f"cannot open the display '{display}'" in one_line(out)


def test_wayland_without_a_compositor(tmp_path):
    out = run_inspector([], {"QT_QPA_PLATFORM": "wayland"}, tmp_path, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "WAYLAND_DISPLAY" in one_line(out)


@pytest.mark.skipif(shutil.which("ldd") is None, reason="ldd is not installed")
def test_missing_xcb_library_is_named_with_its_debian_package(tmp_path):
    """A copy of Qt's xcb plugin whose libxcb-icccm dependency is renamed to one no system has
    (same length, so the ELF stays valid): exactly what the loader meets on a machine without
    the package. Qt itself would abort (134) with "could not load the Qt platform plugin"."""
    plugin = PYQT_QT / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("PyQt5 has no xcb plugin here")
    data = plugin.read_bytes()
    assert data.count(b"libxcb-icccm.so.4\0") == 1
    folder = tmp_path / "qt" / "plugins" / "platforms"
    folder.mkdir(parents=True)
    (folder / "libqxcb.so").write_bytes(data.replace(b"libxcb-icccm.so.4\0", b"libxcb-absnt.so.4\0"))
    (tmp_path / "qt" / "lib").symlink_to(PYQT_QT / "lib")  # the plugin's RUNPATH: $ORIGIN/../../lib
    out = run_inspector([], {"DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(folder)}, tmp_path,
                        timeout=60)
    assert out.returncode == 2, out.stderr
    line = one_line(out)
    assert "libxcb-absnt.so.4" in line and "apt install libxcb-absnt4" in line


def test_debian_package_names_follow_the_soname():
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libxcb-render-util.so.0") == "libxcb-render-util0"
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"


def _system_llvm():
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        found = sorted(Path(folder).glob("libLLVM-*.so.*")) if Path(folder).is_dir() else []
        if found:
            return found[-1]
    return None


@pytest.mark.skipif(_system_llvm() is None, reason="no system libLLVM (Mesa's llvmpipe) here")
def test_a_global_llvm_refuses_tensorflow_with_a_sentence_not_a_segfault():
    """What Mesa's llvmpipe does when a user turns Qt's GL integration back on."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed")
    script = textwrap.dedent(f"""
        import ctypes, sys
        ctypes.CDLL({str(_system_llvm())!r}, mode=ctypes.RTLD_GLOBAL)
        from lstm_inspector.errors import InspectorError
        from lstm_inspector.io.tf_runtime import import_tensorflow
        try:
            import_tensorflow()
        except InspectorError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, cwd=str(REPO))
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])  # unguarded: -11
    assert "QT_XCB_GL_INTEGRATION=none" in out.stdout and "tensorflow" not in out.stderr.lower()


def test_display_checks_without_a_process():
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert "DISPLAY" in display_problem({"QT_QPA_PLATFORM": "xcb"})
    assert "WAYLAND_DISPLAY" in display_problem({"QT_QPA_PLATFORM": "wayland;xcb"})


def test_gl_integration_is_off_unless_the_user_chose_one():
    env = {}
    prepare_qt_environment(env)
    assert env == {"QT_XCB_GL_INTEGRATION": "none"}
    env = {"QT_XCB_GL_INTEGRATION": "xcb_glx"}
    prepare_qt_environment(env)
    assert env == {"QT_XCB_GL_INTEGRATION": "xcb_glx"}


def test_an_exception_escaping_a_slot_is_a_dialog_not_an_abort(tmp_path):
    """PyQt5 aborts (134) on an exception that escapes a slot; the inspector shows it instead."""
    script = textwrap.dedent("""
        import sys
        from PyQt5 import QtCore
        from lstm_inspector.gui.app import end_process, ensure_app, guard_exits, make_window
        app = ensure_app()
        window = make_window(backend="numpy:naive", preload=False)
        guard_exits(app, window)
        window.show()
        QtCore.QTimer.singleShot(0, lambda: 1 / 0)
        QtCore.QTimer.singleShot(300, app.quit)
        code = app.exec_()
        print(code, [box.text() for box in window.error_boxes])
        end_process(0)  # as the command does: the demo may still be loading
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=120, cwd=str(REPO))
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.strip() == "0 ['Internal error: ZeroDivisionError: division by zero.']"

