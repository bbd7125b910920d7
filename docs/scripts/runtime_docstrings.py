"""A griffe extension for the API pages: where a function's docstring is completed at import
time (``jaxloss.rl`` fills in its shared argument lists, ``{trajectory}`` and ``{options}``),
render the docstring of the imported function instead of the template in the source."""

from __future__ import annotations

import importlib
import inspect

import griffe


class RuntimeDocstrings(griffe.Extension):
    def on_function(self, *, func: griffe.Function, **kwargs) -> None:
        if func.docstring is None or "{" not in func.docstring.value:
            return
        try:
            runtime = getattr(importlib.import_module(func.module.path), func.name)
        except (ImportError, AttributeError):
            return
        text = inspect.getdoc(runtime)
        if text and text != func.docstring.value:
            func.docstring = griffe.Docstring(
                text, lineno=func.docstring.lineno, endlineno=func.docstring.endlineno,
                parent=func, parser=func.docstring.parser,
                parser_options=func.docstring.parser_options,
            )
