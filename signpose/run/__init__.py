"""Running the stage: the command, its executors (this process, a pool, Ray) and the console."""
