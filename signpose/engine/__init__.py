"""One video through detection and pose into arrays: the engine, its bookkeeping, the reference loop."""
