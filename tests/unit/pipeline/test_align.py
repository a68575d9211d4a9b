"""`align`: the script's own words with the times Whisper heard them at."""

from __future__ import annotations

import pytest

import pipeline.captions.transcribe as transcribe_module
from pipeline.captions.transcribe import EDGE_WORD_SECONDS, align, normalise_word
from pipeline.types import StageError, WordTiming
from pipeline.voice.synthesis import speech_tokens


def heard(*words: tuple[str, float, float]) -> list[WordTiming]:
    """WordTimings from (text, start, end) triples."""
    return [WordTiming(text, start, end) for text, start, end in words]


def times(words: list[WordTiming]) -> list[tuple[float, float]]:
    """(start, end) of each word, rounded to the microsecond."""
    return [(round(w.start, 6), round(w.end, 6)) for w in words]


def assert_well_formed(script: str, words: list[WordTiming]) -> None:
    """Texts are exactly the script's tokens; times never go back and each end >= start."""
    assert [w.text for w in words] == speech_tokens(script)
    flat = [t for w in words for t in (w.start, w.end)]
    assert flat == sorted(flat)
    assert all(t >= 0 for t in flat)


def test_exact_match_keeps_heard_times() -> None:
    """When Whisper hears the script word for word, each word keeps Whisper's timing."""
    said = heard(("Buy", 0.0, 0.3), ("it", 0.3, 0.5), ("today.", 0.6, 1.1))
    words = align("Buy it today.", said)
    assert words == said


def test_case_punctuation_and_accents_do_not_matter() -> None:
    """Case, punctuation and accents are ignored when matching; the script's spelling wins."""
    script = "Crème brûlée, s'il vous plaît!"
    said = heard(("creme", 0.0, 0.4), ("Brulee", 0.4, 0.9), ("sil", 1.0, 1.2),
                 ("VOUS", 1.2, 1.4), ("plait", 1.4, 1.9))
    words = align(script, said)
    assert [w.text for w in words] == ["Crème", "brûlée,", "s'il", "vous", "plaît!"]
    assert times(words) == times(said)


def test_substitution_keeps_script_spelling_and_heard_time() -> None:
    """A misheard word is shown as the script spells it, at the time of the word heard instead."""
    said = heard(("Our", 0.0, 0.2), ("new", 0.2, 0.4), ("Syrah", 0.4, 0.9),
                 ("mug", 0.9, 1.2))
    words = align("Our new ceramic mug", said)
    assert [w.text for w in words] == ["Our", "new", "ceramic", "mug"]
    assert times(words) == times(said)


def test_equal_length_mishearings_pair_in_order() -> None:
    """A run of misheard words pairs with the heard run position by position."""
    said = heard(("a", 0.0, 0.1), ("x", 0.2, 0.3), ("y", 0.4, 0.5), ("z", 0.6, 0.7),
                 ("e", 0.8, 0.9))
    words = align("a b c d e", said)
    assert times(words) == times(said)


def test_deleted_words_share_the_gap_between_neighbours() -> None:
    """Words Whisper missed split the gap between the heard words around them evenly."""
    said = heard(("one", 0.0, 0.5), ("four", 1.1, 1.5))
    words = align("one two three four", said)
    assert_well_formed("one two three four", words)
    assert times(words) == [(0.0, 0.5), (0.5, 0.8), (0.8, 1.1), (1.1, 1.5)]


def test_deleted_word_between_touching_neighbours_has_no_length() -> None:
    """With no gap to share, a missed word sits at the boundary and times stay monotonic."""
    said = heard(("one", 0.0, 0.5), ("three", 0.5, 0.9))
    words = align("one two three", said)
    assert_well_formed("one two three", words)
    assert times(words)[1] == (0.5, 0.5)


def test_deleted_words_at_the_start_sit_just_before_the_first_heard_word() -> None:
    """Missed opening words end where the first heard word starts, not at the audio start."""
    said = heard(("three", 4.0, 4.4), ("four", 4.4, 4.8))
    words = align("one two three four", said)
    assert_well_formed("one two three four", words)
    assert times(words)[:2] == [(4.0 - 2 * EDGE_WORD_SECONDS, 4.0 - EDGE_WORD_SECONDS),
                                (4.0 - EDGE_WORD_SECONDS, 4.0)]


def test_deleted_words_at_the_start_never_go_before_zero() -> None:
    """Missed opening words share 0 … first heard start when that is shorter than usual."""
    said = heard(("three", 0.3, 0.6),)
    words = align("one two three", said)
    assert_well_formed("one two three", words)
    assert times(words) == [(0.0, 0.15), (0.15, 0.3), (0.3, 0.6)]


def test_deleted_words_at_the_end_follow_the_last_heard_word_inside_the_audio() -> None:
    """Missed closing words come right after the last heard word and end by `duration`."""
    said = heard(("one", 0.0, 0.4), ("two", 0.4, 0.8))
    words = align("one two three four", said, duration=1.4)
    assert_well_formed("one two three four", words)
    assert times(words)[2:] == [(0.8, 1.1), (1.1, 1.4)]
    unbounded = align("one two three four", said)
    assert times(unbounded)[2:] == [(0.8, 0.8 + EDGE_WORD_SECONDS),
                                    (0.8 + EDGE_WORD_SECONDS, 0.8 + 2 * EDGE_WORD_SECONDS)]


def test_inserted_words_are_dropped() -> None:
    """Heard words that are not in the script never appear, and correct words keep their time."""
    said = heard(("Buy", 0.0, 0.3), ("um,", 0.3, 0.6), ("it", 0.6, 0.8), ("today", 0.9, 1.3),
                 ("Thanks", 3.0, 3.3), ("for", 3.3, 3.4), ("watching!", 3.4, 3.9))
    words = align("Buy it today.", said)
    assert [w.text for w in words] == ["Buy", "it", "today."]
    assert times(words) == [(0.0, 0.3), (0.6, 0.8), (0.9, 1.3)]


def test_number_heard_as_several_words_spans_them_all() -> None:
    """A script number spoken as several words is timed from the first of them to the last."""
    said = heard(("It", 0.0, 0.2), ("costs", 0.2, 0.6), ("three", 0.6, 0.9),
                 ("hundred", 0.9, 1.3), ("fifty", 1.3, 1.7), ("euros.", 1.7, 2.2))
    words = align("It costs 350 euros.", said)
    assert [w.text for w in words] == ["It", "costs", "350", "euros."]
    assert times(words)[2] == (0.6, 1.7)


def test_word_heard_as_two_spans_both() -> None:
    """One script word that Whisper splits in two takes the time of both halves."""
    said = heard(("the", 0.0, 0.2), ("sir", 0.2, 0.4), ("ramic", 0.4, 0.8), ("mug", 0.8, 1.1))
    words = align("the ceramic mug", said)
    assert times(words) == [(0.0, 0.2), (0.2, 0.8), (0.8, 1.1)]


def test_hallucination_after_a_pause_does_not_stretch_a_misheard_word() -> None:
    """Words heard after a pause that follows a misheard last word are not joined to it."""
    said = heard(("See", 0.0, 0.2), ("you", 0.2, 0.4), ("letter", 0.4, 0.9),
                 ("Subscribe", 3.0, 3.5), ("now", 3.5, 3.8))
    words = align("See you later!", said)
    assert times(words)[2] == (0.4, 0.9)


def test_insertions_deletions_and_substitutions_together() -> None:
    """A transcript with every kind of error still gives every script word, in order."""
    script = "Five tips for better sleep: dim the lights, skip late coffee, and stretch."
    said = heard(("uh", 0.0, 0.2), ("five", 0.3, 0.6), ("tips", 0.6, 0.9),
                 ("four", 0.9, 1.1), ("bitter", 1.1, 1.4), ("sleep", 1.4, 1.8),
                 ("the", 2.2, 2.3), ("lights", 2.3, 2.7), ("skip", 2.9, 3.2),
                 ("like", 3.2, 3.4), ("coffee", 3.4, 3.9), ("and", 4.0, 4.1),
                 ("stretch", 4.1, 4.6), ("you", 5.5, 5.7))
    words = align(script, said, duration=6.0)
    assert_well_formed(script, words)
    by_text = {w.text: (round(w.start, 6), round(w.end, 6)) for w in words}
    assert by_text["Five"] == (0.3, 0.6)
    assert by_text["for"] == (0.9, 1.1)  # heard "four"
    assert by_text["better"] == (1.1, 1.4)  # heard "bitter"
    assert by_text["dim"] == (1.8, 2.2)  # missed: the gap between "sleep:" and "the"
    assert by_text["late"] == (3.2, 3.4)  # heard "like"
    assert by_text["stretch."] == (4.1, 4.6)


def test_symbols_stay_glued_to_their_word() -> None:
    """Script tokens are the captions' tokens: a lone symbol rides with the word before it."""
    script = "Price — 20 euros"
    said = heard(("Price", 0.0, 0.4), ("20", 0.5, 0.9), ("euros", 0.9, 1.3))
    words = align(script, said)
    assert [w.text for w in words] == ["Price —", "20", "euros"]
    assert times(words) == times(said)


def test_overlapping_heard_times_come_out_monotonic() -> None:
    """Even if Whisper's times overlap or go back, the aligned times never do."""
    said = heard(("a", 0.0, 0.6), ("b", 0.5, 0.7), ("c", 0.4, 0.45))
    words = align("a b c", said)
    assert_well_formed("a b c", words)
    assert times(words) == [(0.0, 0.6), (0.6, 0.7), (0.7, 0.7)]


def test_without_character_similarity_blocks_still_pair_in_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A block too large for the similarity measure still pairs misheard words in order."""
    monkeypatch.setattr(transcribe_module, "_SIMILARITY_CELLS", 0)
    said = heard(("x", 0.0, 0.1), ("y", 0.2, 0.3), ("z", 0.4, 0.5))
    assert times(align("a b c", said)) == times(said)


def test_long_garbage_transcript_gives_every_script_word() -> None:
    """Hundreds of words of nonsense against a long script still give each script word a time."""
    script = " ".join(f"word{i}" for i in range(600))
    said = [WordTiming(f"noise{i}", i * 0.1, i * 0.1 + 0.05) for i in range(700)]
    words = align(script, said)
    assert_well_formed(script, words)


@pytest.mark.parametrize("said", [[], heard(("...", 0.0, 0.5), ("—", 0.5, 0.6))],
                         ids=["nothing", "only_punctuation"])
def test_no_heard_words_is_no_speech(said: list[WordTiming]) -> None:
    """With no word heard there is nothing to time the script by: a `no_speech` error."""
    with pytest.raises(StageError) as caught:
        align("Buy it today.", said)
    assert (caught.value.stage, caught.value.code) == ("captions", "no_speech")


def test_empty_script_gives_no_words() -> None:
    """A script without words aligns to an empty list whatever was heard."""
    assert align("  🚀 ", heard(("hello", 0.0, 0.5))) == []


@pytest.mark.parametrize(
    ("text", "normal"),
    [("Crème", "creme"), ("s'il", "sil"), ("Straße", "strasse"), ("€19.99", "1999"),
     ("İstanbul", "istanbul"), ("東京", "東京"), ("—", "")],
)
def test_normalise_word(text: str, normal: str) -> None:
    """Normalisation drops accents, case and punctuation but keeps letters of every script."""
    assert normalise_word(text) == normal
