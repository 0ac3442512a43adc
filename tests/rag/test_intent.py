"""Question analysis (rag/intent.py): the intent decides the answer's shape, so a wrong class is a wrong answer.

Each case is a phrasing kind a user types; the issue-12 examples live in test_composer.py."""

import pytest

from rag.intent import Intent, analyse

CASES = [
    ("What does GMFlow do?", Intent.ABOUT),
    ("Tell me about STARFlow", Intent.ABOUT),
    ("Which is faster, SOAP or Shampoo?", Intent.COMPARE),
    ("Compare SOAP and Shampoo", Intent.COMPARE),
    ("What do Squeeze3D and SUNDAE propose?", Intent.COMPARE),
    ("Which papers speed up diffusion sampling without retraining?", Intent.LIST),
    ("List all papers about video generation", Intent.LIST),
    ("What accuracy did Squeeze3D report on point clouds?", Intent.QUANTITY),
    ("How many steps does GMFlow need?", Intent.QUANTITY),
    ("Which paper introduces the Hutchinson estimator trick?", Intent.LOOKUP),
    ("What is a prototype classifier?", Intent.DEFINITION),
    ("what about TC-GS?", Intent.ABOUT),
    ("SE-MoE or HetuMoE — which reports the larger advantage over DeepSpeed?", Intent.COMPARE),
    ("DRAKES or SVDD if I want to steer a diffusion model toward a reward?", Intent.COMPARE),
    ("and what about Switch Transformers?", Intent.ABOUT),
]


@pytest.mark.parametrize(("question", "intent"), CASES)
def test_intent_by_phrasing(question: str, intent: Intent) -> None:
    assert analyse(question).intent is intent


@pytest.mark.parametrize(
    ("question", "targets"),
    [
        ("Which is faster, SOAP or Shampoo?", ["SOAP", "Shampoo"]),
        ("Compare SOAP and Shampoo", ["SOAP", "Shampoo"]),
        ("What do Squeeze3D and SUNDAE propose?", ["Squeeze3D", "SUNDAE"]),
    ],
)
def test_comparison_targets(question: str, targets: list[str]) -> None:
    assert analyse(question).targets == targets


def test_quantity_names_the_paper_and_the_attribute() -> None:
    analysis = analyse("How many steps does GMFlow need?")
    assert analysis.names == ["GMFlow"]
    assert analysis.asked == ["step"]


def test_other_papers_question_is_a_list() -> None:
    assert analyse("Which other papers use flow matching?").intent is Intent.LIST


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("What accuracy does V-MoE reach on ImageNet?", ["V-MoE", "ImageNet"]),
        ("How does X-LoRA route between experts?", ["X-LoRA"]),
        ("Is Mip-NeRF360 better than Zip-NeRF?", ["Mip-NeRF360", "Zip-NeRF"]),
        ("What is an A-grade design?", []),
    ],
)
def test_single_letter_hyphenated_names_are_names(question: str, names: list[str]) -> None:
    assert sorted(analyse(question).names) == sorted(names)


@pytest.mark.parametrize(
    ("sentence", "states_accuracy"),
    [
        ("We train a 15B parameter model that attains 90.35% on ImageNet.", True),
        ("Our baseline achieved 88.53% on 10-Split-CIFAR-100.", True),
        ("DeepZero achieves a 10-20% improvement over SOTA.", False),
        ("The method reduces the counting error by 16%.", False),
        ("It needs 30% fewer parameters.", False),
    ],
)
def test_a_percentage_level_answers_an_accuracy_question_and_a_change_does_not(sentence, states_accuracy) -> None:
    from rag.asked import asked_share
    from rag.text import tokenize

    groups = analyse("What accuracy does the model reach?").asked_groups
    assert (asked_share(groups, sentence, set(tokenize(sentence))) > 0) is states_accuracy


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("Wie funktioniert DM-Count?", "German"),
        ("Wie funktioniert LLaMA-MoE?", "German"),
        ("Comment fonctionne FlashAttention ?", "French"),
        ("Token merging?", None),
        ("Stitchable networks?", None),
        ("Knowledge distillation results?", None),
        ("How does DM-Count work?", None),
    ],
)
def test_two_word_questions_in_another_language_are_recognised(question: str, language: str | None) -> None:
    from rag.language import non_english

    assert non_english(question) == language


def test_an_asked_word_is_not_matched_by_a_word_sharing_five_letters() -> None:
    from rag.asked import asked_share
    from rag.text import tokenize

    groups = analyse("How many experts does MC-SMoE use?").asked_groups
    wrong = "Extensive experiments across 8 benchmarks validate the effectiveness of MC-SMoE."
    right = "MC-SMoE merges 32 experts into 8 experts."
    assert asked_share(groups, wrong, set(tokenize(wrong))) == 0
    assert asked_share(groups, right, set(tokenize(right))) == 1
    reduced = "The method reduces inference time by 40%."
    assert asked_share(analyse("What reduction in latency does it get?").asked_groups, reduced, set(tokenize(reduced)))


@pytest.mark.parametrize(
    ("question", "groups"),
    [
        ("How many pretraining tokens was the OLMo 2 13B model trained on?", [["token"]]),
        ("how many fewer iterations and how much less wall-clock time?", [["iter"], ["time"]]),
        ("How much does AdcSR reduce inference time?", []),
    ],
)
def test_how_many_asks_for_the_noun_before_the_verb(question: str, groups: list[list[str]]) -> None:
    assert analyse(question).asked_groups == groups


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("With what fraction of the trainable parameters?", "IDPT wins with a mere 7% of the trainable parameters."),
        ("How many fewer iterations?", "SOAP reduces the number of iterations by over 40% compared to AdamW."),
    ],
)
def test_a_share_or_a_reduction_is_said_in_other_words(question: str, sentence: str) -> None:
    from rag.asked import asked_share
    from rag.text import tokenize

    assert asked_share(analyse(question).asked_groups, sentence, set(tokenize(sentence))) == 1


@pytest.mark.parametrize(
    "question", ["In the neural PDE solver work, what is CAPE short for?", "It uses NARS. What is NARS exactly?"]
)
def test_short_for_and_what_is_x_exactly_ask_for_a_definition(question: str) -> None:
    assert analyse(question).intent == Intent.DEFINITION


def test_a_version_number_after_a_name_is_not_a_figure() -> None:
    from rag.text import numbers

    assert numbers("all OLMo 2 artifacts at 7B and 13B scales; BLEU 28 on WMT") == ["7", "13", "28"]


@pytest.mark.parametrize(
    ("question", "targets"),
    [
        ("DRAKES or SVDD if I want to steer a diffusion model toward a reward?", ["DRAKES", "SVDD"]),
        (
            "Compare the entropy models proposed by FlashGMM, the multivariate mixture paper (McQuic), and the "
            "generalized Gaussian model paper for learned image compression.",
            ["FlashGMM", "the multivariate mixture paper (McQuic)", "the generalized Gaussian model paper"],
        ),
    ],
)
def test_comparison_targets_offered_first_or_in_a_list(question: str, targets: list[str]) -> None:
    assert analyse(question).targets == targets


def test_an_apostrophe_is_not_a_quote_and_a_quoted_title_is_one_name() -> None:
    a = analyse("what's the difference between 'Diffusion Models Beat GANs' and 'Semi-Parametric Image Synthesis'?")
    assert a.intent == Intent.COMPARE
    assert a.names == ["Diffusion Models Beat GANs", "Semi-Parametric Image Synthesis"]
    both = analyse("tell me about SimQ-NAS and 'A Hardware-Aware System for Accelerating Optimization'")
    assert both.intent == Intent.COMPARE
    assert both.targets == ["SimQ-NAS", "A Hardware-Aware System for Accelerating Optimization"]
