"""Storage precisions: canonical names, bytes per element, and which compute peak each uses.

Bytes per element are floats on purpose (int4 = 0.5, mxfp4 = 4.25 / 8), never integer division.
"""

from __future__ import annotations

from analysis.inputs.errors import InputError

__all__ = ["BYTES_PER_ELEMENT", "COMPUTE_PEAK_KEY", "FP4_FORMATS", "PRECISION_ALIASES",
           "bytes_per_element", "matmul_precision", "normalise_precision"]

#: Bytes per element of each storage precision. Floats on purpose: int4 is half a byte.
#: mxfp4 = 4-bit element + one 8-bit scale per 32 elements = 4.25 bits (OCP MX spec v1.0).
BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "mxfp4": 4.25 / 8,
    "fp4": 0.5,
    "int4": 0.5,
}

#: Which tensor-core peak a matmul in a given precision runs at. Weight-only int4/mxfp4 kernels
#: dequantise to bf16, so they use the bf16 peak unless the GPU has native fp4 (then "fp4").
COMPUTE_PEAK_KEY: dict[str, str] = {
    "fp32": "tf32",
    "tf32": "tf32",
    "bf16": "bf16",
    "fp16": "bf16",  # NVIDIA and AMD quote the same dense peak for FP16 and BF16
    "fp8": "fp8",
    "int8": "int8",
    "fp4": "fp4",
    "mxfp4": "bf16",
    "int4": "bf16",
}

PRECISION_ALIASES: dict[str, str] = {
    "float32": "fp32", "float": "fp32", "fp-32": "fp32",
    "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
    "float8": "fp8", "e4m3": "fp8", "fp8_e4m3": "fp8", "float8_e4m3fn": "fp8", "e5m2": "fp8",
    "nvfp4": "fp4", "float4": "fp4", "w4a16": "int4",
}


def normalise_precision(name: str, field_name: str = "precision") -> str:
    """Return the canonical precision name (``"FP16"`` -> ``"fp16"``), or raise InputError."""
    if not isinstance(name, str):
        raise InputError(field_name, name, "a precision is a name", ", ".join(BYTES_PER_ELEMENT))
    key = name.strip().lower().replace(" ", "")
    key = PRECISION_ALIASES.get(key, key)
    if key not in BYTES_PER_ELEMENT:
        raise InputError(field_name, name, "unknown precision", ", ".join(BYTES_PER_ELEMENT))
    return key


def bytes_per_element(precision: str) -> float:
    """Bytes per element of ``precision`` (bf16 -> 2.0, fp8 -> 1.0, int4 -> 0.5)."""
    return BYTES_PER_ELEMENT[normalise_precision(precision)]


#: 4-bit floating-point formats Blackwell's tensor cores multiply natively (NVFP4: E2M1 with an
#: FP8 scale per 16 elements; MXFP4: E2M1 with an E8M0 scale per 32, OCP MX v1.0).
FP4_FORMATS = ("fp4", "mxfp4")


def matmul_precision(weight_precision: str, activation_precision: str) -> str:
    """The precision a matmul of ``weight_precision`` weights by ``activation_precision``
    activations runs at (the key for :data:`COMPUTE_PEAK_KEY`): the activations' (W8A8, W4A16,
    W4A8 run at the activations' precision, weights dequantised), except that FP4 activations
    need FP4 weights to use the FP4 tensor cores (NVFP4 / MXFP4 W4A4 on Blackwell: "fp4"); FP4
    activations against wider weights run at the weights' precision (no W8A4 kernels)."""
    w = normalise_precision(weight_precision, "weight_precision")
    a = normalise_precision(activation_precision, "activation_precision")
    if a in FP4_FORMATS:
        return "fp4" if w in FP4_FORMATS else w
    return a
