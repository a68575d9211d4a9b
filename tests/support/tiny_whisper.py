"""A tiny randomly initialised Whisper checkpoint that the real `whisper.load_model` loads.

Follows /work/shared/notes/media-stack.md §3. Its transcripts are garbage, but every code
path of ours — loading, 30 s windows, word timestamps, alignment, captions — runs on the
real libraries with no download.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

MULTILINGUAL_VOCAB = 51865  # the v1/v2 multilingual tokenizer, 99 languages
ENGLISH_VOCAB = 51864  # the English-only (gpt2) tokenizer


def build_tiny_whisper(path: Path, *, multilingual: bool = True, text_layers: int = 1,
                       text_heads: int = 2, seed: int = 0) -> Path:
    """Write a ~14 MB Whisper checkpoint (3.5 M random parameters) to `path` and return it.

    `text_layers`/`text_heads` let a test build a decoder shaped like an official model's
    (tiny: 4 × 6) so that model's alignment heads fit it.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    # The decoder's cross-attention reads the encoder's output, so both widths must match;
    # 64 unless the head count does not divide it (tiny's 6 heads: 48).
    state = 64 if 64 % text_heads == 0 else 8 * text_heads
    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,  # 30 s of mel is 3000 frames, halved by the conv: must be 1500
        n_audio_state=state,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=MULTILINGUAL_VOCAB if multilingual else ENGLISH_VOCAB,
        n_text_ctx=448,
        n_text_state=state,
        n_text_head=text_heads,
        n_text_layer=text_layers,
    )
    torch.manual_seed(seed)
    model = Whisper(dims)
    with torch.no_grad():
        # Allocated with torch.empty and never initialised by Whisper: left alone it holds
        # whatever was in memory, which gives NaN logits.
        model.decoder.positional_embedding.normal_(0, 0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path
