"""Generated backgrounds: soft gradients with depth, a different palette per segment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Pairs of gradient colours (top, bottom); consecutive segments never share one.
PALETTES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((255, 94, 98), (255, 153, 102)),
    ((54, 209, 220), (91, 134, 229)),
    ((142, 45, 226), (74, 0, 224)),
    ((17, 153, 142), (56, 239, 125)),
    ((252, 74, 26), (247, 183, 51)),
    ((31, 64, 55), (153, 242, 200)),
    ((238, 9, 121), (255, 106, 0)),
    ((20, 30, 48), (36, 59, 85)),
)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def brand_palettes(primary: str, accent: str) -> tuple[tuple[tuple[int, int, int],
                                                              tuple[int, int, int]], ...]:
    """Gradients in a brand's colours: primary into a darker primary, and into the accent."""
    base, other = _rgb(primary), _rgb(accent)
    darker = tuple(int(c * 0.45) for c in base)
    return ((base, darker), (darker, base), (base, other))  # type: ignore[return-value]


def render_background(palette_index: int, width: int, height: int, out: Path, *,
                      palettes: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...]
                      = PALETTES) -> Path:
    """Draw one background as a JPEG of exactly width × height."""
    top, bottom = palettes[palette_index % len(palettes)]
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    base = np.array(top, np.float32) * (1 - ramp) + np.array(bottom, np.float32) * ramp
    image = Image.fromarray(np.broadcast_to(base, (height, width, 3)).astype(np.uint8))
    # Soft translucent circles give depth, so the frame is not a flat ramp.
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    rng = np.random.default_rng(palette_index)
    for _ in range(5):
        radius = int(rng.uniform(0.15, 0.45) * width)
        cx, cy = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        alpha = int(rng.uniform(25, 60))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                     fill=(255, 255, 255, alpha))
    overlay = overlay.filter(ImageFilter.GaussianBlur(width // 30))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB").save(
        out, "JPEG", quality=92)
    return out
