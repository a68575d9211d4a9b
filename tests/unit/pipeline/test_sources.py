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
    import pipeline.publish
    import pipeline.script
    import pipeline.sources
    import pipeline.voice

    assert callable(pipeline.script.generate_script) and pipeline.script.ScriptGenerator
    assert callable(pipeline.voice.synthesize_script) and pipeline.voice.VoiceEngine
    assert pipeline.publish.Publisher and pipeline.sources.SourceReader
    with pytest.raises(AttributeError):
        pipeline.voice.no_such_name  # noqa: B018
