"""Deployment: score new inputs with a trained run (`predict`) and export it (TorchScript, ONNX)."""

__all__: list[str] = []
