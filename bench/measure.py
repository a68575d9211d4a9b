"""Measurements taken from audio itself, shared by the benchmarks and the tests."""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HOP_SECONDS = 0.005


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono float samples in [-1, 1] and the sample rate."""
    with wave.open(str(path), "rb") as handle:
        rate = handle.getframerate()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0, rate


def energy_onsets(audio: np.ndarray, rate: int, *, min_gap: float = 0.05,
                  min_rise_db: float = 15.0) -> np.ndarray:
    """Times (s) where the energy rises sharply: peaks of the rise in log energy.

    Log energy is taken over 10 ms windows every 5 ms; the rise at t is the energy 20 ms after
    t minus the energy 20 ms before it. Peaks above `min_rise_db`, `min_gap` apart, are onsets.
    """
    hop = int(rate * HOP_SECONDS)
    window = 2 * hop
    frames = max(0, (len(audio) - window) // hop)
    if frames == 0:
        return np.zeros(0)
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    energy = 10 * np.log10(np.mean(audio[index] ** 2, axis=1) + 1e-9)
    lag = 4  # 20 ms
    rise = np.full(frames, -np.inf)
    rise[lag:-lag] = energy[2 * lag:] - energy[: -2 * lag]
    onsets: list[int] = []
    for i in np.argsort(-rise):
        if rise[i] < min_rise_db:
            break
        if all(abs(i - j) * HOP_SECONDS >= min_gap for j in onsets):
            onsets.append(int(i))
    # A rise centred on frame i begins where its window starts (t of frame i + half a window).
    return np.sort(np.array(onsets)) * HOP_SECONDS + HOP_SECONDS


def onset_errors(starts: Sequence[float], onsets: np.ndarray) -> np.ndarray:
    """For each word start, the distance (s) to the nearest energy onset."""
    if len(onsets) == 0:
        return np.full(len(starts), np.inf)
    starts_array = np.asarray(starts)[:, None]
    return np.min(np.abs(starts_array - onsets[None, :]), axis=1)
