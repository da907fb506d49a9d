"""Figures: attention maps and the explorer widget (chapter 6), training curves (chapter 5),
per-modality figures (chapters 7-10), image grids."""
from .images import image_grid

__all__ = ["image_grid"]
