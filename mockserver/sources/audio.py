"""Audio: a synthetic voice for transcripts, and a look at audio clients send.

Output is a real WAV file (24 kHz, mono, 16-bit PCM, what the OpenAI API
returns for ``audio.format: wav``): one short voiced burst per word, pitched
by the voice's name, so its duration is proportional to the transcript, it is
never silence, and two voices never sound alike. Nothing here is a codec: it
is enough for a UI's audio element to play and for a test to open with
``wave``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import struct
import wave
from array import array
from dataclasses import dataclass
from functools import lru_cache

RATE = 24_000
SECONDS_PER_WORD = 0.32
GAP_SECONDS = 0.06
AUDIO_TOKENS_PER_SECOND = 10  # the documented price of audio, in and out


def voice_pitch(voice: str) -> float:
    """A base frequency (110-260 Hz) derived from the voice name."""
    digest = hashlib.blake2b(voice.encode(), digest_size=2).digest()
    return 110.0 + int.from_bytes(digest, "big") % 150


@lru_cache(maxsize=256)
def _word(voice: str, variant: int) -> bytes:
    """One voiced burst (PCM16 bytes); five pitch variants per voice, cached."""
    pitch = voice_pitch(voice) * (1.0 + 0.12 * variant)
    step = 2 * math.pi * pitch / RATE
    length = int(RATE * SECONDS_PER_WORD)
    samples = array("h")
    for n in range(length):
        # A syllable-like envelope: fade in and out within each word.
        envelope = math.sin(math.pi * n / length)
        samples.append(int(9000 * envelope * (math.sin(step * n) + 0.3 * math.sin(2 * step * n))))
    return samples.tobytes()


_GAP = bytes(2 * int(RATE * GAP_SECONDS))


def synthesize(transcript: str, voice: str) -> bytes:
    """A WAV file speaking ``transcript`` in ``voice`` (as tones, not words)."""
    words = transcript.split() or ["."]
    frames = b"".join(_word(voice, (len(word) + i) % 5) + _GAP for i, word in enumerate(words))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(frames)
    return out.getvalue()


def duration_of_wav(data: bytes) -> float:
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getnframes() / float(wav.getframerate())


def audio_tokens(seconds: float) -> int:
    return max(1, math.ceil(seconds * AUDIO_TOKENS_PER_SECOND))


class AudioInputError(ValueError):
    """Audio a client sent that is not what it claims to be."""


@dataclass(frozen=True)
class AudioClip:
    format: str
    seconds: float


def decode_base64(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AudioInputError(f"not valid base64 ({exc})") from None


def inspect_clip(data: str, fmt: str) -> AudioClip:
    """Check that ``data`` is base64 of a ``fmt`` file and return its duration."""
    raw = decode_base64(data)
    if fmt == "wav":
        if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
            raise AudioInputError("not a WAV file (no RIFF/WAVE header)")
        try:
            return AudioClip("wav", duration_of_wav(raw))
        except (wave.Error, EOFError, struct.error) as exc:
            raise AudioInputError(f"a broken WAV file ({exc})") from None
    if fmt == "mp3":
        if raw[:3] == b"ID3" or (len(raw) > 1 and raw[0] == 0xFF and (raw[1] & 0xE0) == 0xE0):
            # Without decoding, estimate at 128 kbit/s, the most common rate.
            return AudioClip("mp3", len(raw) * 8 / 128_000)
        raise AudioInputError("not an MP3 file (no ID3 tag or frame sync)")
    raise AudioInputError(f"unsupported format {fmt!r}; expected 'wav' or 'mp3'")
