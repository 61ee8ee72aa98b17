"""The two networks: devices (what a worker runs with), loading, the detector and the pose model on batches, RTMW3D, precision, speedups, runtimes."""
