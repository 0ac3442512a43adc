"""The look of the UI: theme, CSS and the small script that scrolls [n] citation links to their source cards."""

from __future__ import annotations

from typing import Any

CSS = """
.gradio-container { max-width: 1400px !important; }
#rag-header h1 { font-size: 1.5rem; margin: 0; }
#rag-header p { margin: .2rem 0 0; color: var(--body-text-color-subdued); }
.rag-question { white-space: pre-wrap; }
.rag-answer p { margin: 0 0 .6em; line-height: 1.55; }
.rag-answer .cite { font-size: .8em; font-weight: 600; vertical-align: super; line-height: 0; margin: 0 1px;
  color: var(--color-accent); text-decoration: none; }
.rag-answer a.cite:hover { text-decoration: underline; }
.rag-answer span.cite { color: var(--body-text-color-subdued); }
.rag-answer .unsupported { text-decoration: underline dotted #d97706; text-decoration-thickness: 2px;
  text-underline-offset: 3px; }
.rag-badge.refusal { display: inline-block; font-size: .75em; font-weight: 600; letter-spacing: .02em;
  padding: 1px 8px; margin-bottom: .5em; border-radius: 999px; background: #fef3c7; color: #92400e; }
.rag-warning { margin: .5em 0; padding: .45em .7em; border-radius: 6px; background: #fff7ed; color: #9a3412;
  border: 1px solid #fed7aa; font-size: .9em; }
.rag-related { font-size: .9em; margin-top: .4em; }
.rag-related ul { margin: .2em 0 0 1.2em; }
.rag-answer ul { margin: .3em 0 .3em 1.2em; padding: 0; }
.rag-answer li { margin: .2em 0; }
.rag-note { font-size: .85em; margin-top: .3em; }
.rag-signals { margin-top: .4em; display: flex; flex-wrap: wrap; gap: .4em; font-size: .78em; }
.rag-signals .sig { padding: .1em .5em; border-radius: 999px; border: 1px solid currentColor; }
.rag-signals .sig.ok { color: #15803d; }
.rag-signals .sig.partial { color: #a16207; }
.rag-signals .sig.warn, .rag-signals .sig.low { color: #b45309; }
.rag-resolved { margin-top: .4em; font-size: .78em; color: var(--body-text-color-subdued); }
.rag-resolved em { font-style: italic; color: var(--body-text-color); }
.src-group[hidden] { display: none !important; }
.src-turn { font-size: .8rem; color: var(--body-text-color-subdued); margin: 0 0 .3rem; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.rag-foot { margin-top: .4em; font-size: .75em; color: var(--body-text-color-subdued); }
.rag-pending .rag-dots::after { content: " …"; animation: rag-blink 1s steps(2) infinite; }
@keyframes rag-blink { 50% { opacity: .2; } }
#rag-sources { max-height: 78vh; overflow-y: auto !important; scroll-behavior: smooth; padding-right: 4px; }
.src-head { font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  color: var(--body-text-color-subdued); margin: 0 0 .5rem; }
.src-empty { color: var(--body-text-color-subdued); font-size: .9rem; padding: 1rem; border: 1px dashed
  var(--border-color-primary); border-radius: 8px; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .75rem .9rem;
  margin: 0 0 .75rem; background: var(--background-fill-primary); transition: box-shadow .3s, border-color .3s; }
.src-card header { display: flex; gap: .5rem; align-items: baseline; }
.src-card .src-n { font-weight: 700; color: var(--color-accent); flex: none; }
.src-card .src-title { margin: 0; font-size: .98rem; line-height: 1.35; }
.src-card .src-title a { color: inherit; }
.src-meta { font-size: .75rem; color: var(--body-text-color-subdued); margin: .25rem 0 .4rem; }
.src-abstract { font-size: .86rem; line-height: 1.5; margin: .3rem 0 0; }
.src-abstract mark.support { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.src-card mark.hit { background: #dbeafe; color: inherit; padding: 0 1px; border-radius: 2px; }
.src-supports { font-size: .82rem; margin: .3rem 0; padding: .4rem .6rem; border-left: 3px solid
  var(--color-accent); background: var(--background-fill-secondary); border-radius: 0 6px 6px 0; }
.src-supports .src-label { font-weight: 600; font-size: .72rem; text-transform: uppercase; letter-spacing: .04em;
  color: var(--body-text-color-subdued); }
.src-supports ul { margin: .2rem 0 0 1rem; padding: 0; }
.src-supports li.unsupported { color: #b45309; }
.src-score { font-size: .72rem; color: var(--body-text-color-subdued); }
.src-flag { font-size: .7rem; font-weight: 600; color: #b45309; }
.src-card.rag-flash { border-color: var(--color-accent); box-shadow: 0 0 0 3px var(--color-accent-soft); }
.src-card.related { opacity: .92; }
.rag-table { border-collapse: collapse; width: 100%; font-size: .9rem; margin-bottom: 1rem; border: none !important; }
.rag-table th, .rag-table td { text-align: left; padding: .35rem .6rem; border: none !important;
  border-bottom: 1px solid var(--border-color-primary) !important; background: transparent; }
.rag-table.kv th { width: 35%; font-weight: 600; color: var(--body-text-color-subdued); }
.rag-status { font-size: .9rem; padding: .6rem .8rem; border-radius: 8px; }
.rag-status.ok { background: #ecfdf5; color: #065f46; border: 1px solid #a7f3d0; }
.rag-status.error { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; white-space: pre-wrap; }
.rag-status.info { background: var(--background-fill-secondary); }
"""

# Citation links live in the chat; their targets live in the sources panel, a separate scroll container.
# Handle the click ourselves so it works whatever the chat renderer does with links (e.g. opening a new tab).
# Each answer's cards are a group in the panel; a click on [n] in an earlier answer shows that answer's group.
HEAD = """
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
</script>
"""


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
    )
    return {"css": CSS, "head": HEAD, "theme": theme}
