"""Files: images in and out, JSON, paths, and the one reader of conf/ for tools Hydra does not run."""
