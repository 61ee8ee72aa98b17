"""Where the work comes from: the manifest, shards, tasks per video, frame sampling and decoding."""
