"""The script stage: a source becomes a Script. Generators plug in as ScriptGenerator."""

from pipeline._exports import lazy_exports

__all__ = ["ScriptGenerator", "generate_script"]
__getattr__ = lazy_exports(__name__, {
    "ScriptGenerator": "pipeline.script.template", "generate_script": "pipeline.script.template",
    "ProductScriptGenerator": "pipeline.script.product",
    "generate_product_script": "pipeline.script.product",
})
