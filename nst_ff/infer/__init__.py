"""Inference: stylizing photos and video clips in styles and mixes, tiling, stroke scale, temporal stability,
ONNX export (fp32 and int8) and ONNX Runtime, activation maps."""
