"""The Gradio chat UI: `ui.app.create_app(assistant)` builds it, `ui.app.launch(assistant)` serves it."""

import os

# Before gradio is imported anywhere below: no analytics look-ups (the machine may have no internet at all).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
