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


def test_brackets_in_a_figure_phrase_are_kept_when_matched_and_cut_when_not():
    sentence = (
        "SE-MoE achieves 33% higher throughput (tokens per second) in training and 13% higher throughput in inference."
    )
    assert figure_phrases(sentence, set(tokenize("throughput training")), 1) == [
        "33% higher throughput (tokens per second)"
    ]
    cut = figure_phrases("We obtain 65.03% verified error on CIFAR-10 (epsilon=8{255} and more.", set(), 1)[0]
    assert cut.count("(") == cut.count(")") and cut.count("{") == cut.count("}")


def test_the_lead_figure_comes_from_whichever_sentence_says_what_was_asked():
    from rag.generators.extractive import ExtractiveGenerator
    from rag.types import Source

    text = (  # the abstract's own sentences (bundled corpus)
        "This paper proposes a novel Real-ISR method, AdcSR, by distilling the one-step diffusion network OSEDiff "
        "into a streamlined diffusion-GAN model under our Adversarial Diffusion Compression (ADC) framework. This "
        "ADC-based diffusion-GAN hybrid design effectively reduces complexity by 73% in inference time, 78% in "
        "computation, and 74% in parameters, while preserving the model's generation capability. Experiments "
        "manifest that our proposed AdcSR achieves competitive recovery quality on both synthetic and real-world "
        "datasets, offering up to 9.3times speedup over previous one-step diffusion-based methods."
    )
    paper = Source(rank=1, title="AdcSR: One-Step Super-Resolution", paper_id="adcsr", score=1.0, text=text)
    draft = ExtractiveGenerator().generate("How much does AdcSR reduce inference time?", [paper])
    assert draft.text.startswith("73% in inference time"), draft.text


def test_a_paper_s_own_name_keeps_its_capital_after_the_lead():
    from rag.generators.extractive.rewrite import lower_first

    assert lower_first("Glimmer reduces memory by 40%.", ("Glimmer", "Glimmer")) == "Glimmer reduces memory by 40%."
    assert lower_first("The authors reduce memory.", ("Glimmer", None)) == "the authors reduce memory."
