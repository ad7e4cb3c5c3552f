"""The loss network (a frozen VGG addressed by layer name) and the perceptual content and style loss."""
