"""Sources are read into the script stage's input; an unknown type fails the script stage."""

from __future__ import annotations

import pytest

from pipeline.sources import read_source
from pipeline.types import IdeaSource, StageError


def test_an_idea_is_read_with_its_language() -> None:
    """An idea source becomes an IdeaSource with the job's language."""
    assert read_source({"type": "idea", "idea": "Cold brew"}, "de") == IdeaSource("Cold brew",
                                                                                    "de")


@pytest.mark.parametrize("source", [{"type": "podcast"}, {}])
def test_a_source_without_a_reader_fails_the_script_stage(source: dict) -> None:
    """A type no reader knows is a script-stage StageError naming the type."""
    with pytest.raises(StageError) as caught:
        read_source(source)
    assert (caught.value.stage, caught.value.code) == ("script", "unsupported_source")
    assert repr(source.get("type")) in caught.value.message


def test_stage_packages_export_their_function_and_protocol() -> None:
    """Each stage package names its stage function and plug-in Protocol at its top."""
    import pipeline.captions
    import pipeline.publish
    import pipeline.render
    import pipeline.script
    import pipeline.sources
    import pipeline.voice

    assert callable(pipeline.script.generate_script) and pipeline.script.ScriptGenerator
    assert callable(pipeline.voice.synthesize_script) and pipeline.voice.VoiceEngine
    assert pipeline.publish.Publisher and pipeline.sources.SourceReader
    assert callable(pipeline.captions.build_captions) and pipeline.captions.CaptionWriter
    assert callable(pipeline.render.render_timeline) and pipeline.render.Renderer
    with pytest.raises(AttributeError):
        pipeline.voice.no_such_name  # noqa: B018


def test_a_caption_writer_plugs_in(tmp_path) -> None:
    """build_captions writes whatever formats it is given, each from the same groups."""
    from pipeline.captions.build import CAPTION_WRITERS, build_captions
    from pipeline.render.presets import get_preset
    from pipeline.types import WordTiming

    class WordCount:
        name, filename = "count", "count.txt"

        def write(self, groups, preset, style, out):  # noqa: ANN001, ANN201
            out.write_text(str(sum(len(g.words) for g in groups)))
            return out

    words = [WordTiming(w, i * 0.4, i * 0.4 + 0.3)
             for i, w in enumerate("one two three four".split())]
    files = build_captions(words, get_preset("tiktok"), tmp_path,
                           writers=(*CAPTION_WRITERS, WordCount()))
    assert set(files) == {"ass", "srt", "vtt", "json", "count"}
    assert files["count"].read_text() == "4"
    assert "three" in files["srt"].read_text()
