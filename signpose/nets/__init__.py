"""The two networks: loading, devices, batched inference, RTMW3D, precision, speedups, runtimes."""
