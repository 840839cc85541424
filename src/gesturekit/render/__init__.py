"""Rendering: skeleton videos (vectorised rasteriser, burned-in text, MP4 via the PyPI ffmpeg)."""
