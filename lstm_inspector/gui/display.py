"""Before Qt starts: choose a safe OpenGL setting and check that a window can be shown at all.

**OpenGL.** The window draws with QPainter (pyqtgraph uses OpenGL only when asked), but Qt's
xcb platform sets up its GLX integration at start-up anyway. On machines without a vendor GL
driver (Intel/AMD desktops, VMs, remote X, Xvfb) that is Mesa's llvmpipe, which loads the system
``libLLVM`` with ``RTLD_GLOBAL``; TensorFlow's native module, imported later in the background,
then binds to those symbols and the process dies (SIGSEGV, exit 139). So
``QT_XCB_GL_INTEGRATION=none`` is set before the QApplication exists, unless the user set the
variable themselves (:func:`prepare_qt_environment`).

**XDG_RUNTIME_DIR.** Qt wants it and prints "QStandardPaths: XDG_RUNTIME_DIR not set,
defaulting to '/tmp/runtime-USER'" at every launch where it is missing (a root shell, a
container, ssh). :func:`runtime_dir` (called by ``app.ensure_app``) sets it to that very folder
(private, 0700) before Qt looks.

**No display.** Qt aborts the process (exit 134, "Reinstalling the application may fix this
problem") when its platform plugin cannot start: no ``DISPLAY``, an X server that does not
answer, or system libraries the xcb plugin links against are missing. :func:`display_problem`
finds these cases first and says in one line what to do.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

GL_VARIABLE = "QT_XCB_GL_INTEGRATION"
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs", "minimalegl", "webgl")
SCREENSHOT_HINT = ("use --screenshot FILE to write a picture instead, or set "
                   "QT_QPA_PLATFORM=offscreen")


def prepare_qt_environment(environ=os.environ) -> None:
    """Turn off Qt's xcb OpenGL integration unless the user chose one (see the module text)."""
    environ.setdefault(GL_VARIABLE, "none")


def runtime_dir(environ=os.environ) -> str | None:
    """Where ``XDG_RUNTIME_DIR`` is not set: Qt's own default, ``<tmp>/runtime-<user>``, made
    private (0700, ours) and set, so Qt finds it and says nothing. Left unset when that folder
    cannot be ours (Qt then says why itself). Returns the folder set, or None."""
    if environ.get("XDG_RUNTIME_DIR") or not hasattr(os, "getuid"):
        return None
    import getpass
    import tempfile

    try:
        folder = Path(tempfile.gettempdir()) / f"runtime-{getpass.getuser()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.is_symlink() or folder.stat().st_uid != os.getuid():
            return None
        os.chmod(folder, 0o700)
    except (OSError, KeyError):
        return None
    environ["XDG_RUNTIME_DIR"] = str(folder)
    return str(folder)


def qt_platform(environ=os.environ) -> str:
    """The platform plugin Qt will try first: ``QT_QPA_PLATFORM``'s first entry, else xcb."""
    chosen = environ.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if chosen:
        return chosen
    return "xcb" if sys.platform.startswith("linux") else "native"


def display_problem(environ=os.environ, plugin_dir=None) -> str | None:
    """One line saying why Qt could not open a window here and what to do; None when it can.

    Parameters
    ----------
    environ : the environment Qt will see.
    plugin_dir : Qt's ``platforms`` plugin folder (default: ``QT_QPA_PLATFORM_PLUGIN_PATH``,
        else PyQt5's own).
    """
    platform = qt_platform(environ)
    if platform == "wayland" or platform.startswith("wayland-"):
        if not environ.get("WAYLAND_DISPLAY"):
            return f"no Wayland display (WAYLAND_DISPLAY is not set); {SCREENSHOT_HINT}"
        return None
    if platform != "xcb":
        return None  # offscreen and the other headless plugins, macOS, Windows
    display = environ.get("DISPLAY", "")
    if not display:
        return f"no display (DISPLAY is not set); {SCREENSHOT_HINT}"
    plugin = Path(plugin_dir or environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") or
                  _pyqt_plugin_dir()) / "libqxcb.so"
    missing = missing_libraries(plugin) if plugin.is_file() and not _loads(plugin) else []
    if missing:
        packages = " ".join(debian_package(name) for name in missing)
        return (f"Qt's xcb plugin cannot start, system libraries are missing: "
                f"{', '.join(missing)} (Debian/Ubuntu: apt install {packages}); {SCREENSHOT_HINT}")
    reason = x_server_problem(display)
    if reason:
        return f"cannot open the display {display!r} ({reason}); {SCREENSHOT_HINT}"
    return None


def _pyqt_plugin_dir() -> Path:
    spec = importlib.util.find_spec("PyQt5")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent")
    return Path(list(spec.submodule_search_locations)[0]) / "Qt5" / "plugins" / "platforms"


def _loads(library: Path) -> bool:
    """Whether the dynamic loader loads ``library`` with all it needs (what Qt is about to do)."""
    try:
        ctypes.CDLL(str(library))
    except OSError:
        return False
    return True


def missing_libraries(binary) -> list:
    """Shared libraries ``binary`` needs that the dynamic loader cannot find (``ldd``)."""
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({match.group(1) for match in re.finditer(r"^\s*(\S+) => not found",
                                                            out.stdout, re.MULTILINE)})


def debian_package(soname: str) -> str:
    """Debian's package name for a library soname: ``libfoo.so.N`` -> ``libfooN``.

    Debian policy lowercases it and adds a dash when the name ends in a digit
    (``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``).
    """
    match = re.match(r"^(lib.+)\.so\.(\d+)", soname)
    if not match:
        return soname
    stem, version = match.groups()
    stem = stem.lower()
    return f"{stem}-{version}" if stem[-1].isdigit() else f"{stem}{version}"


def x_server_problem(display: str) -> str | None:
    """Why an X connection to ``display`` fails (libxcb's own test, as Qt does), or None."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return f"libxcb.so.1 is missing (Debian/Ubuntu: apt install {debian_package('libxcb.so.1')})"
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = (ctypes.c_char_p, ctypes.c_void_p)
    xcb.xcb_connection_has_error.argtypes = (ctypes.c_void_p,)
    xcb.xcb_disconnect.argtypes = (ctypes.c_void_p,)
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        error = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    return None if not error else "no X server answers there"
