"""One video through detection and pose into rows: the engine (video.py) and its bookkeeping (segments.py)."""
