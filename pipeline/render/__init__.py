"""The render stage: script, visuals, sound and captions become an MP4 checked against its
preset (timeline, stills, cards, audio mix, compositor, output checks)."""

from pipeline._exports import lazy_exports

__all__ = ["build_timeline", "check_output", "render_timeline"]
__getattr__ = lazy_exports(__name__, {
    "build_timeline": "pipeline.render.timeline", "check_output": "pipeline.render.check",
    "render_timeline": "pipeline.render.compositor",
})
