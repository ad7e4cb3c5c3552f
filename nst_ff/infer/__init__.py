"""Inference: stylizing photos in styles and mixes, tiling, ONNX export and ONNX Runtime, activation maps."""
