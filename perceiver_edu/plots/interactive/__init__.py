"""Interactive walkthroughs: something to move and watch where a chapter's concept has a knob.

Every element is built on :class:`~.toolkit.Interactive` (controls as attributes, ``update(**values)``,
``state``, ``figure``, ``render_static``), as chapter 6's attention explorer is.

=================================  =====  ======================================================
element                            ch.    the knobs
=================================  =====  ======================================================
:class:`AttentionPlayground`        1     query, head width d, ÷√d on/off, temperature
:class:`CostExplorer`               2     M, N, D -> FLOPs and memory, self vs cross
:class:`FourierExplorer`            3     bands K, max_freq μ, resolution n, band shown
:class:`LiveTraining`               5     train / stop, learning rate, smoothing
:class:`PermutationToggle`          7     image, raw / permuted pixels, positions follow / stay
:class:`PointCloudReader`           9     latent, points highlighted, elevation, azimuth
=================================  =====  ======================================================
"""
from .attention_playground import AttentionPlayground
from .cost_explorer import CostExplorer
from .fourier_explorer import FourierExplorer
from .live_training import LiveTraining
from .permutation_toggle import PermutationToggle
from .point_cloud_reader import PointCloudReader
from .toolkit import Interactive

__all__ = ["AttentionPlayground", "CostExplorer", "FourierExplorer", "Interactive", "LiveTraining",
           "PermutationToggle", "PointCloudReader"]
