"""The render stage: script, visuals, sound and captions become an MP4 checked against its
preset (timeline, stills, cards, audio mix, compositor, output checks). Renderers plug in as
Renderer; FfmpegRenderer is the one there is."""

from pipeline._exports import lazy_exports

__all__ = ["FfmpegRenderer", "Renderer", "build_timeline", "check_output", "render_timeline"]
__getattr__ = lazy_exports(__name__, {
    "FfmpegRenderer": "pipeline.render.compositor", "Renderer": "pipeline.render.compositor",
    "build_timeline": "pipeline.render.timeline", "check_output": "pipeline.render.check",
    "render_timeline": "pipeline.render.compositor",
})
