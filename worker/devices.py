"""What accelerators this process can use; every CUDA path falls back to the CPU."""

from __future__ import annotations


def onnx_providers() -> list[str]:
    """onnxruntime's execution providers here (Piper runs on the first usable one)."""
    try:
        import onnxruntime

        return list(onnxruntime.get_available_providers())
    except ImportError:
        return []


def describe_accelerators() -> str:
    """One line for the worker log: which device each model library will use."""
    providers = onnx_providers()
    piper = "CUDA" if "CUDAExecutionProvider" in providers else "CPU"
    try:
        import torch

        whisper = f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    except ImportError:
        whisper = "CPU (torch missing)"
    return f"piper on {piper}, whisper on {whisper}"
