"""The look of the UI: theme, CSS for both colour schemes, and the page scripts (citation links, KaTeX, copy)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Every colour our HTML uses is a variable set for the light scheme and again under Gradio's `.dark` (which it
# sets from the browser's prefers-color-scheme). Pairs are chosen for WCAG AA (4.5:1 for text) against the
# background they sit on; tests/ui/test_ui_browser.py measures them in Chromium in both schemes.
CSS = """
:root {
  --rag-text-subdued: #475569; --rag-cite: #4338ca;
  --rag-support-bg: #fde68a; --rag-support-fg: #1c1917;
  --rag-hit-bg: #dbeafe; --rag-hit-fg: #172554;
  --rag-ok: #15803d; --rag-partial: #854d0e; --rag-warn: #9a3412;
  --rag-underline: #c2410c;
  --rag-warning-bg: #fff7ed; --rag-warning-fg: #9a3412; --rag-warning-border: #fed7aa;
  --rag-badge-bg: #fef3c7; --rag-badge-fg: #78350f;
  --rag-ok-bg: #ecfdf5; --rag-ok-fg: #065f46; --rag-ok-border: #a7f3d0;
  --rag-error-bg: #fef2f2; --rag-error-fg: #991b1b; --rag-error-border: #fecaca;
}
.dark {
  --rag-text-subdued: #a8b3c4; --rag-cite: #a5b4fc;
  --rag-support-bg: #854d0e; --rag-support-fg: #fefce8;
  --rag-hit-bg: #1e3a8a; --rag-hit-fg: #eff6ff;
  --rag-ok: #4ade80; --rag-partial: #facc15; --rag-warn: #fdba74;
  --rag-underline: #fb923c;
  --rag-warning-bg: #431407; --rag-warning-fg: #fed7aa; --rag-warning-border: #9a3412;
  --rag-badge-bg: #451a03; --rag-badge-fg: #fde68a;
  --rag-ok-bg: #052e16; --rag-ok-fg: #a7f3d0; --rag-ok-border: #166534;
  --rag-error-bg: #450a0a; --rag-error-fg: #fecaca; --rag-error-border: #991b1b;
}
.gradio-container { max-width: 1400px !important; }
#rag-header h1 { font-size: 1.5rem; margin: 0; }
#rag-header p { margin: .2rem 0 0; color: var(--rag-text-subdued); }
.rag-question { white-space: pre-wrap; }
.rag-answer p { margin: 0 0 .6em; line-height: 1.55; }
.rag-answer .cite { font-size: .8em; font-weight: 600; vertical-align: super; line-height: 0; margin: 0 1px;
  color: var(--rag-cite); text-decoration: none; }
.rag-answer a.cite:hover { text-decoration: underline; }
.rag-answer span.cite { color: var(--rag-text-subdued); }
.rag-answer .unsupported { text-decoration: underline dotted var(--rag-underline); text-decoration-thickness: 2px;
  text-underline-offset: 3px; }
.rag-badge.refusal { display: inline-block; font-size: .75em; font-weight: 600; letter-spacing: .02em;
  padding: 1px 8px; margin-bottom: .5em; border-radius: 999px; background: var(--rag-badge-bg);
  color: var(--rag-badge-fg); }
.rag-warning { margin: .5em 0; padding: .45em .7em; border-radius: 6px; background: var(--rag-warning-bg);
  color: var(--rag-warning-fg); border: 1px solid var(--rag-warning-border); font-size: .9em; }
.rag-related { font-size: .9em; margin-top: .4em; }
.rag-related ul { margin: .2em 0 0 1.2em; }
.rag-answer ul { margin: .3em 0 .3em 1.2em; padding: 0; }
.rag-answer li { margin: .2em 0; }
.rag-note { font-size: .85em; margin-top: .3em; color: var(--rag-text-subdued); }
.rag-signals { margin-top: .4em; display: flex; flex-wrap: wrap; gap: .4em; font-size: .78em; }
.rag-signals .sig { padding: .1em .5em; border-radius: 999px; border: 1px solid currentColor; }
.rag-signals .sig.ok { color: var(--rag-ok); }
.rag-signals .sig.partial { color: var(--rag-partial); }
.rag-signals .sig.warn, .rag-signals .sig.low { color: var(--rag-warn); }
.rag-resolved { margin-top: .4em; font-size: .78em; color: var(--rag-text-subdued); }
.rag-resolved em { font-style: italic; color: var(--body-text-color); }
.src-group[hidden] { display: none !important; }
.src-turn { font-size: .8rem; color: var(--rag-text-subdued); margin: 0 0 .3rem; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.rag-foot { margin-top: .4em; font-size: .75em; color: var(--rag-text-subdued); display: flex; gap: .6em;
  align-items: center; }
.rag-md { display: none !important; }
button.rag-copy { font: inherit; font-size: 1em; color: var(--rag-text-subdued); background: transparent;
  border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0 .5em; cursor: pointer; }
button.rag-copy:hover { color: var(--body-text-color); }
.rag-pending .rag-dots::after { content: " …"; animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: .2; } }
/* the chat's floating "Conversation" label sat on top of the first message once the chat scrolled */
#rag-chat .bubble-wrap, #rag-chat [role="log"] { padding-top: 2.2rem; }
#rag-sources { max-height: 78vh; overflow-y: auto !important; scroll-behavior: smooth; padding-right: 4px; }
.src-head { font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--rag-text-subdued); margin: 0 0 .5rem; }
.src-empty { color: var(--rag-text-subdued); font-size: .9rem; padding: 1rem; border: 1px dashed
  var(--border-color-primary); border-radius: 8px; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .75rem .9rem;
  margin: 0 0 .75rem; background: var(--background-fill-primary); color: var(--body-text-color);
  transition: box-shadow .3s, border-color .3s; }
.src-card header { display: flex; gap: .5rem; align-items: baseline; }
.src-card .src-n { font-weight: 700; color: var(--rag-cite); flex: none; }
.src-card .src-title { margin: 0; font-size: .98rem; line-height: 1.35; color: var(--body-text-color); }
.src-card .src-title a { color: inherit; }
.src-byline { font-size: .82rem; margin: .25rem 0 0; color: var(--body-text-color); }
.src-meta { font-size: .75rem; color: var(--rag-text-subdued); margin: .25rem 0 .4rem; }
.src-links { display: inline-flex; gap: .6em; margin-left: .4em; }
.src-links a { color: var(--rag-cite); }
.src-abstract { font-size: .86rem; line-height: 1.5; margin: .3rem 0 0; color: var(--body-text-color); }
.src-abstract mark.support { background: var(--rag-support-bg); color: var(--rag-support-fg); padding: 0 1px;
  border-radius: 2px; }
.src-card mark.hit { background: var(--rag-hit-bg); color: var(--rag-hit-fg); padding: 0 1px; border-radius: 2px; }
.src-supports { font-size: .82rem; margin: .3rem 0; padding: .4rem .6rem; border-left: 3px solid
  var(--rag-cite); background: var(--background-fill-secondary); border-radius: 0 6px 6px 0;
  color: var(--body-text-color); }
.src-supports .src-label { font-weight: 600; font-size: .72rem; text-transform: uppercase; letter-spacing: .04em;
  color: var(--rag-text-subdued); }
.src-supports ul { margin: .2rem 0 0 1rem; padding: 0; }
.src-supports li.unsupported { color: var(--rag-warn); }
.src-score { font-size: .72rem; color: var(--rag-text-subdued); }
.src-flag { font-size: .7rem; font-weight: 600; color: var(--rag-warn); }
.src-card.rag-flash { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.rag-math.display { display: block; margin: .3em 0; }
.rag-table { border-collapse: collapse; width: 100%; font-size: .9rem; margin-bottom: 1rem; border: none !important; }
.rag-table th, .rag-table td { text-align: left; padding: .35rem .6rem; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; background: transparent; }
.rag-table, .rag-table tr, .rag-table thead, .rag-table tbody, .rag-table th, .rag-table td {
  border-left: none !important; border-right: none !important; border-top: none !important; box-shadow: none !important; }
.rag-table.kv th { width: 35%; font-weight: 600; color: var(--rag-text-subdued); }
.rag-status { font-size: .9rem; padding: .6rem .8rem; border-radius: 8px; }
.rag-status.ok { background: var(--rag-ok-bg); color: var(--rag-ok-fg); border: 1px solid var(--rag-ok-border); }
.rag-status.error { background: var(--rag-error-bg); color: var(--rag-error-fg);
  border: 1px solid var(--rag-error-border); white-space: pre-wrap; }
.rag-status.info { background: var(--background-fill-secondary); color: var(--body-text-color); }
#rag-papers { --font-mono: var(--font); }  /* titles read as prose, not code */
.rag-paper-count { font-size: .85rem; color: var(--rag-text-subdued); }
"""

# Citation links live in the chat; their targets live in the sources panel, a separate scroll container.
# Handle the click ourselves so it works whatever the chat renderer does with links (e.g. opening a new tab).
# Each answer's cards are a group in the panel; a click on [n] in an earlier answer shows that answer's group.
# The copy button puts the answer's Markdown (kept beside it in a hidden <pre>) on the clipboard; the async
# clipboard needs a secure context (https or localhost), so a plain-http address falls back to execCommand.
SCRIPT = """
<script>
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a.cite");
  if (!link) return;
  var id = (link.getAttribute("href") || "").replace(/^#/, "");
  var card = id && document.getElementById(id);
  if (!card) return;
  event.preventDefault();
  event.stopPropagation();
  var group = card.closest(".src-group");
  if (group && group.hidden) {
    group.parentNode.querySelectorAll(".src-group").forEach(function (g) { g.hidden = g !== group; });
  }
  var panel = card.closest("#rag-sources");
  if (panel) panel.scrollTo({top: card.offsetTop - panel.offsetTop - 8, behavior: "smooth"});
  else card.scrollIntoView({behavior: "smooth", block: "nearest"});
  card.classList.add("rag-flash");
  setTimeout(function () { card.classList.remove("rag-flash"); }, 1600);
}, true);
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button.rag-copy");
  if (!button) return;
  event.preventDefault();
  var source = button.closest(".rag-answer");
  var md = source && source.querySelector(".rag-md");
  if (!md) return;
  var text = md.textContent;
  var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
  var fallback = function () {
    var area = document.createElement("textarea");
    area.value = text; area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); done(); } finally { area.remove(); }
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
});
</script>
"""

# KaTeX typesets the <span class="rag-math"> elements the server marks up (ui/latex.py) wherever they appear:
# answers, cards, search results and the collection. Gradio's frontend ships KaTeX (its Markdown uses it); the
# module and stylesheet are loaded from the app's own /assets, so nothing leaves the machine.
KATEX_SCRIPT = """
<link rel="stylesheet" href="assets/{css}">
<script type="module">
const katex = (await import("./assets/{js}")).default;
function typeset(root) {{
  root.querySelectorAll("span.rag-math:not([data-typeset])").forEach(function (el) {{
    const tex = el.textContent;
    el.setAttribute("data-typeset", "1");
    el.setAttribute("data-tex", tex);
    try {{
      katex.render(tex, el, {{throwOnError: false, trust: false, strict: "ignore",
                             displayMode: el.classList.contains("display"), maxExpand: 200, maxSize: 20}});
    }} catch (e) {{ el.textContent = tex; }}
  }});
}}
new MutationObserver(function () {{ typeset(document); }}).observe(document.body, {{subtree: true, childList: true}});
typeset(document);
window.__ragKatex = true;
</script>
"""


def katex_assets() -> tuple[str, str] | None:
    """The file names of the KaTeX module and stylesheet inside Gradio's built frontend (their names carry a
    content hash, so they are looked up); None when this Gradio build has none."""
    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    js = sorted(p.name for p in assets.glob("katex-*.js"))
    css = sorted(p.name for p in assets.glob("katex-*.css"))
    if not js or not css:
        log.warning("no KaTeX in Gradio's frontend at %s: LaTeX is shown as source", assets)
        return None
    return js[0], css[0]


def head() -> str:
    found = katex_assets()
    katex = KATEX_SCRIPT.format(js=found[0], css=found[1]) if found else ""
    return SCRIPT + katex


def launch_style() -> dict[str, Any]:
    """The `launch()` keyword arguments that carry the look (Gradio 6 takes theme and CSS there, not in Blocks)."""
    import gradio as gr

    # System fonts: nothing to fetch, and the bundled bold face renders some capitals oddly in Chromium.
    theme = gr.themes.Default(
        primary_hue="indigo",
        neutral_hue="slate",
        radius_size="md",
        font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    ).set(
        # the default subdued grey (slate 400) is 2.6:1 on white: below AA for the labels and hints it colours
        body_text_color_subdued="*neutral_600",
        body_text_color_subdued_dark="*neutral_400",
    )
    return {"css": CSS, "head": head(), "theme": theme}
