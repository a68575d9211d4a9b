"""A few seconds of a voice, to hear it before choosing it: one sentence in its language."""

from __future__ import annotations

import io
import wave

from pipeline.text.language import base_language
from pipeline.voice.synthesis import VoiceEngine, speech_tokens

SAMPLE_SENTENCES = {
    "en": "Hi there! This is how your next video will sound.",
    "de": "Hallo! So klingt dein nächstes Video.",
    "fr": "Bonjour ! Voici comment sonnera votre prochaine vidéo.",
    "es": "¡Hola! Así sonará tu próximo vídeo.",
    "it": "Ciao! Ecco come suonerà il tuo prossimo video.",
    "pt": "Olá! É assim que o seu próximo vídeo vai soar.",
    "nl": "Hallo! Zo klinkt je volgende video.",
    "pl": "Cześć! Tak zabrzmi twój następny film.",
    "sv": "Hej! Så här låter din nästa video.",
    "tr": "Merhaba! Bir sonraki videon böyle duyulacak.",
}


def sample_sentence(language: str) -> str:
    """What a sample says: a short line in the language, English where we have none."""
    return SAMPLE_SENTENCES.get(base_language(language), SAMPLE_SENTENCES["en"])


def speak_sample(engine: VoiceEngine, language: str) -> bytes:
    """The engine saying the sample sentence, as a mono 16-bit WAV file's bytes."""
    speech = engine.speak(speech_tokens(sample_sentence(language)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(speech.sample_rate)
        wav.writeframes(speech.samples.tobytes())
    return out.getvalue()
