"""The toolkit behind every interactive walkthrough: controls, one redraw, a static fallback.

An element is a plain object, as chapter 6's attention explorer is::

    element = AttentionPlayground()      # expensive work (models, measurements) happens here, once
    element                              # in JupyterLab: the controls and the figure
    element.update(temperature=2.0)      # set controls from code; one redraw
    element.state["entropy"]             # the numbers behind the figure, no browser needed
    element.render_static(temperature=0.5)   # a fresh matplotlib Figure of that state (for a book)

A subclass declares its controls (ipywidgets) and writes two methods: ``compute(**values) -> dict``
(the numbers) and ``draw(fig, state, **values)`` (the figure from those numbers).  Every control is
an attribute of the element and carries a stable CSS class ``pe-<name>``; the figure is an
``ipywidgets.Image`` with class ``pe-figure`` inside a box with class ``pe-<element name>``, so a
browser test can find them.  The figure is drawn with Agg into a PNG, whatever matplotlib backend
is active, and redrawing never needs a kernel.
"""
from __future__ import annotations

import io
import threading
import time

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

STYLE = {"description_width": "initial"}


class Interactive:
    """Base class of the interactive elements (see the module docstring)."""

    css_name = "interactive"  # the box's CSS class is "pe-" + css_name
    per_row = 3  # controls per row of the layout
    dpi = 72  # of the PNG shown in the browser

    def _build(self, controls: dict, extra: tuple = ()) -> None:
        """Register ``controls`` (name -> widget), lay them out above the figure, draw once."""
        self.controls = dict(controls)
        for name, control in self.controls.items():
            setattr(self, name, control)
            control.add_class("pe-" + name.replace("_", "-"))
            control.observe(lambda change, name=name: self._changed(name), names="value")
        self.image = widgets.Image(format="png")
        self.image.add_class("pe-figure")
        items = list(self.controls.values()) + list(extra)
        rows = [widgets.HBox(items[i:i + self.per_row]) for i in range(0, len(items), self.per_row)]
        self.widget = widgets.VBox(rows + [self.image])
        self.widget.add_class("pe-" + self.css_name)
        self.figure = Figure()
        self.state: dict = {}
        self.redraw_seconds: list[float] = []  # wall time of every redraw, PNG included
        self.redraw_cpu_seconds: list[float] = []  # CPU time of the redrawing thread: what an idle core would take
        self._holding = False
        self._drawing = threading.RLock()  # a background thread (live training) redraws too
        self.update()

    # -- what a subclass writes ------------------------------------------------------------
    def compute(self, **values) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self, fig: Figure, state: dict, **values) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- the loop ----------------------------------------------------------------------------
    @property
    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _check_names(self, values: dict) -> None:
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no control named {', '.join(map(repr, unknown))}; "
                             f"its controls are {sorted(self.controls)}")

    def adjust(self, name: str) -> None:
        """Called when control ``name`` changed, before any redraw: a subclass may change other
        controls' ranges here (without redrawing)."""

    def _changed(self, name: str) -> None:
        if self._holding:
            self.adjust(name)
            return
        self._holding = True
        try:
            self.adjust(name)
        finally:
            self._holding = False
        self.redraw()

    def update(self, **values) -> Figure:
        """Set the named controls (all at once: one redraw) and redraw :attr:`figure`."""
        self._check_names(values)
        self._holding = True
        try:
            for name in self.controls:  # in the controls' order, so that a range set by adjust() comes first
                if name in values:
                    self.controls[name].value = values[name]
        finally:
            self._holding = False
        return self.redraw()

    def redraw(self) -> Figure:
        """Recompute :attr:`state` from the controls, redraw :attr:`figure` and the PNG shown."""
        with self._drawing:
            start, cpu = time.perf_counter(), time.thread_time()
            values = self.values
            self.state = self.compute(**values)
            self.figure.clear()
            self.draw(self.figure, self.state, **values)
            self.image.value = self.png_bytes()
            self.redraw_seconds.append(time.perf_counter() - start)
            self.redraw_cpu_seconds.append(time.thread_time() - cpu)
        return self.figure

    def state_at(self, **values) -> dict:
        """The numbers the figure would show with ``values`` (others as they are); controls untouched."""
        self._check_names(values)
        return self.compute(**{**self.values, **values})

    def render_static(self, **values) -> Figure:
        """A new Figure of the state the controls would have with ``values`` (others as they are);
        the controls themselves are left alone.  For the static cell under a widget cell."""
        self._check_names(values)
        merged = {**self.values, **values}
        fig = Figure()
        self.draw(fig, self.compute(**merged), **merged)
        return fig

    def png_bytes(self, fig: Figure | None = None) -> bytes:
        """``fig`` (default: the current figure) as PNG bytes, drawn with Agg."""
        buffer = io.BytesIO()
        (fig or self.figure).savefig(buffer, format="png", dpi=self.dpi)
        return buffer.getvalue()

    def _ipython_display_(self):
        display(self.widget)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({values})"


def slider(kind: str, value, lo, hi, step, description: str, **kwargs):
    """An ipywidgets slider (``kind`` "int", "float" or "log") that redraws only on release."""
    cls = {"int": widgets.IntSlider, "float": widgets.FloatSlider, "log": widgets.FloatLogSlider}[kind]
    return cls(value=value, min=lo, max=hi, step=step, description=description, continuous_update=False,
               style=STYLE, **kwargs)


def choice(options, value, description: str, *, buttons: bool = False):
    """A dropdown (or toggle buttons) over ``options``: a list of values or of (label, value) pairs."""
    cls = widgets.ToggleButtons if buttons else widgets.Dropdown
    return cls(options=options, value=value, description=description, style=STYLE)


def selection(options, value, description: str):
    """A slider over a fixed list of values (e.g. powers of two)."""
    return widgets.SelectionSlider(options=options, value=value, description=description,
                                   continuous_update=False, style=STYLE)
