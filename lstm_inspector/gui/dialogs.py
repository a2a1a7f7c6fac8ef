"""Small dialogs: errors (one sentence + details), tolerance, help pages."""
from __future__ import annotations

from PyQt5 import QtCore, QtGui, QtWidgets

from .. import __version__


def error_box(parent, message: str, details: str = "") -> QtWidgets.QMessageBox:
    """A non-blocking warning with the one sentence and a "Show Details..." button.

    Opened with ``open()`` (window-modal, not ``exec_``), so the event loop keeps running:
    background work continues and tests can find and close it.
    """
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Warning)
    box.setWindowTitle("lstm-inspector")
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QtWidgets.QMessageBox.Ok)
    box.setAttribute(QtCore.Qt.WA_DeleteOnClose)
    box.setObjectName("errorBox")
    box.open()
    return box


class ToleranceDialog(QtWidgets.QDialog):
    """atol and rtol: an element is out of tolerance when |A - B| > atol + rtol |A|."""

    def __init__(self, atol, rtol, default_atol=1e-5, default_rtol=1e-4, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Tolerance")
        self.atol_edit = QtWidgets.QLineEdit("" if atol is None else f"{atol:g}")
        self.rtol_edit = QtWidgets.QLineEdit("" if rtol is None else f"{rtol:g}")
        self.atol_edit.setPlaceholderText(f"default {default_atol:g}")
        self.rtol_edit.setPlaceholderText(f"default {default_rtol:g}")
        validator = QtGui.QDoubleValidator(0.0, 1e6, 20, self)
        validator.setNotation(QtGui.QDoubleValidator.ScientificNotation)
        for edit in (self.atol_edit, self.rtol_edit):
            edit.setValidator(validator)
        form = QtWidgets.QFormLayout(self)
        form.addRow(QtWidgets.QLabel("An element is out of tolerance when\n"
                                     "|A - B| > atol + rtol * |A|. Empty: the default."))
        form.addRow("atol", self.atol_edit)
        form.addRow("rtol", self.rtol_edit)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok
                                             | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self):
        """``(atol, rtol)``; None where left empty."""
        def read(edit):
            text = edit.text().strip()
            return float(text) if text else None
        return read(self.atol_edit), read(self.rtol_edit)


CUDNN_LAYOUT_HTML = """
<h2>How CuDNNLSTM stores its weights</h2>
<p><code>CuDNNLSTM(units=H)</code> on inputs of width <i>in</i> stores</p>
<table border="1" cellpadding="3" cellspacing="0">
<tr><th>weight</th><th>shape</th><th>blocks</th></tr>
<tr><td><code>kernel</code></td><td>(in, 4H)</td><td>gate blocks of H columns, order <b>i, f, c, o</b></td></tr>
<tr><td><code>recurrent_kernel</code></td><td>(H, 4H)</td><td>same order</td></tr>
<tr><td><code>bias</code></td><td>(8H,)</td><td>input side b<sub>Wi</sub> b<sub>Wf</sub> b<sub>Wc</sub>
 b<sub>Wo</sub>, then recurrent side b<sub>Ri</sub> b<sub>Rf</sub> b<sub>Rc</sub> b<sub>Ro</sub></td></tr>
</table>
<h3>The reshape trap</h3>
<p>The layer hands each gate block to cuDNN <b>flattened as stored, without a transpose</b>, and
cuDNN reads it back row-major as an (H, in) or (H, H) matrix that multiplies from the left:</p>
<pre>
W_g = kernel[:, g*H:(g+1)*H].reshape(H, in)     # NOT kernel_block.T
R_g = recurrent_kernel[:, g*H:(g+1)*H]          # used as R_g @ h, NOT h @ block
z_g = W_g x_t + R_g h_(t-1) + b_Wg + b_Rg       # both bias halves, summed
i, f, o = sigmoid(z_i, z_f, z_o);   c~ = tanh(z_c)
c_t = f * c_(t-1) + i * c~;         h_t = o * tanh(c_t)
</pre>
<p>A port that writes <code>x @ kernel + h @ recurrent_kernel</code> (the "naive" reading) multiplies
by other matrices. Keras's own converter to <code>LSTM</code> weights does the right thing:
per gate <code>k.T.reshape(k.shape, order='F')</code> for the kernel, <code>k.T</code> for the
recurrent kernel, and the two bias halves summed.</p>
<h3>The forum case</h3>
<p>A speech engineer re-implemented the forward pass in NumPy from <code>get_weights()</code>:
it matched for 1 unit and drifted for 2. With input width 1 the reshape is a no-op, and with
H = 1 the recurrent transpose is a no-op, so a 1-unit model hides the bug. With H = 2,
<code>h @ recurrent_kernel</code> uses the transposed matrix: step 0 still matches (h = 0), every
later step drifts. Open <code>forum_cudnnlstm_in1_h2.h5</code>, choose <i>Run &gt; Path B &gt;
NumPy, 'naive' reading</i>, press <b>N</b>: the cursor lands on step 1, where they part.</p>
<h3>Neighbouring conventions</h3>
<ul>
<li>Keras <code>LSTM</code>: <code>x @ kernel</code>, one (4H,) bias; old files (Keras &le; 2.2, TF 1.x)
use <code>hard_sigmoid</code> = clip(0.2x + 0.5, 0, 1) as the recurrent activation.</li>
<li>PyTorch <code>nn.LSTM</code>: cuDNN's canonical layout itself (weight_ih = stacked W_g).</li>
<li>ONNX <code>LSTM</code>: gate order i, o, f, c.</li>
</ul>
"""


def help_dialog(parent, title: str, html: str) -> QtWidgets.QDialog:
    dialog = QtWidgets.QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.resize(720, 640)
    browser = QtWidgets.QTextBrowser(dialog)
    browser.setOpenExternalLinks(False)
    browser.setHtml(html)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close)
    buttons.rejected.connect(dialog.close)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addWidget(browser)
    layout.addWidget(buttons)
    dialog.setAttribute(QtCore.Qt.WA_DeleteOnClose)
    dialog.open()
    return dialog


def about_html() -> str:
    import numpy
    import pyqtgraph

    return (f"<h2>lstm-inspector {__version__}</h2>"
            "<p>See exactly where a port of a cuDNN LSTM parts from the real thing: an instrumented "
            "NumPy forward pass (path A) beside a real backend or another reading (path B), every "
            "gate, cell state and output at every step, and the first place they differ.</p>"
            f"<p>Qt {QtCore.QT_VERSION_STR}, PyQt {QtCore.PYQT_VERSION_STR}, "
            f"pyqtgraph {pyqtgraph.__version__}, NumPy {numpy.__version__}</p>"
            "<p>Keys: Left/Right one step, Shift+Left/Right ten, Home/End, N/P next/previous "
            "divergence, Space play/pause. Click a heatmap row to select that unit "
            "(Ctrl+click adds it); drag a red cursor to move in time.</p>")
