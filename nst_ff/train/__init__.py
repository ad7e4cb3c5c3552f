"""Training: data, the Lightning module, its callbacks, the recipe, fine-tuning and the checks before a run."""
