"""Measuring quality: the fixed VGG yardstick, evaluation of a checkpoint, per-image optimisation."""
