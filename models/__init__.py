"""Model code and configs of the project (``models.rtmpose3d``: RTMW3D for mmpose)."""
