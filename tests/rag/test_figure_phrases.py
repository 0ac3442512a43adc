"""Which figure leads a quantity answer (rag/generators/extractive/compose.figure_phrases): the one whose own
clause holds the asked words, not the first figure of the sentence. Sentences are abstract sentences from the
bundled corpus; questions are phrasings a user typed in review."""

from rag.generators.extractive.compose import figure_phrases
from rag.text import tokenize

SOAP = (
    "In the large batch regime, SOAP reduces the number of iterations by over 40% and wall clock time by over 35% "
    "compared to AdamW, with approximately 20% improvements in both metrics compared to Shampoo."
)
SQUEEZE = (
    "Their experiments demonstrate that Squeeze3D achieves compression ratios of up to 2187x for textured meshes, "
    "55x for point clouds, and 619x for radiance fields while maintaining visual quality comparable to many "
    "existing methods."
)
GMFLOW = (
    "Extensive experiments demonstrate that GMFlow consistently outperforms flow matching baselines in generation "
    "quality, achieving a Precision of 0.942 with only 6 sampling steps on ImageNet 256x256."
)


def phrases(sentence: str, question: str, limit: int = 1) -> list[str]:
    return figure_phrases(sentence, set(tokenize(question)), limit)


def test_the_figure_in_the_asked_clause_leads() -> None:
    assert phrases(SOAP, "How much wall-clock time does SOAP save versus AdamW?") == ["over 35%"]
    assert phrases(SOAP, "How many fewer iterations does SOAP need?") == ["over 40%"]


def test_a_list_of_figures_shares_its_head_noun() -> None:
    assert phrases(SQUEEZE, "What compression ratio does Squeeze3D reach for point clouds?") == ["55x for point clouds"]
    asked_all = "What compression ratios does Squeeze3D reach for meshes, point clouds and radiance fields?"
    assert phrases(SQUEEZE, asked_all, limit=3) == [
        "up to 2187x for textured meshes",
        "55x for point clouds",
        "619x for radiance fields",
    ]


def test_a_bare_number_keeps_what_it_measures_and_several_keep_sentence_order() -> None:
    got = phrases(GMFLOW, "what precision does GMFlow get on imagenet 256 and with how many sampling steps", 3)
    assert got[0] == "Precision of 0.942"
    assert any("6 sampling steps" in p for p in got[1:])


def test_no_asked_words_near_any_figure_gives_the_first_figure_alone() -> None:
    assert phrases(SOAP, "What does SOAP do?", limit=3) == ["over 40%"]
