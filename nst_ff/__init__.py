"""Feed-forward multi-style neural style transfer (Dumoulin et al. 2017, Magenta's image_stylization)."""
