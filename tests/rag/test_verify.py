"""Post-generation checks as pure functions: markers, numbers, sentence support."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag.types import Answer, Citation, Source
from rag.verify import answer_sentences, cited_numbers, ground, numbers_in, remove_invalid_markers


def src(rank: int, title: str, text: str) -> Source:
    return Source(rank=rank, title=title, paper_id=f"p{rank}", score=1.0, text=text)


SOURCES = [
    src(1, "A", "The model reaches 92.5% accuracy on ImageNet. It uses sparse attention."),
    src(2, "B", "We train on 3 million images. Training takes two days."),
]


def test_markers_outside_the_sources_are_removed_and_reported():
    text, removed = remove_invalid_markers("It works [1][7]. Also this [3, 2].", 2)
    assert removed == [7, 3]
    assert text == "It works [1]. Also this [2]."


def test_cited_numbers_normalise_lists_and_keep_first_appearance_order():
    assert cited_numbers("x [2] y [1, 2] z [3;1]") == [2, 1, 3]


def test_numbers_in_ignores_single_digits_and_thousands_separators():
    assert numbers_in("3 models, 1,000 steps and 92.5% accuracy") == {"1000", "92.5"}


def test_sentence_with_a_number_absent_from_the_cited_abstract_is_unsupported():
    g = ground("The model reaches 95.1% accuracy on ImageNet [1].", SOURCES)
    assert g.supported_fraction == 0.0
    assert "95.1" in g.sentence_scores[0]["reason"]


def test_verbatim_sentence_is_supported_and_uncited_sentence_is_not():
    g = ground("The model reaches 92.5% accuracy on ImageNet [1]. Everyone agrees it is the best model.", SOURCES)
    assert g.sentence_scores[0]["supported"] is True
    assert g.sentence_scores[1]["supported"] is False
    assert g.supported_fraction == 0.5
    assert g.unsupported_sentences == ["Everyone agrees it is the best model."]


def test_sentence_citing_the_wrong_paper_is_unsupported():
    g = ground("The model reaches 92.5% accuracy on ImageNet [2].", SOURCES)
    assert g.sentence_scores[0]["supported"] is False


def test_paraphrase_is_judged_by_embedding_similarity_when_words_differ(embeddings):
    g = ground("Its training lasts 48 hours [2].", SOURCES, embed=embeddings.embed_documents)
    assert g.sentence_scores[0]["supported"] is False  # 48 is not in the abstract
    g = ground("Learning is carried out over a couple of days [2].", SOURCES, embed=embeddings.embed_documents)
    assert g.sentence_scores[0]["score"] > 0.5


def test_markers_after_the_period_stay_with_their_sentence():
    assert answer_sentences("First claim. [1] Second claim [2].") == ["First claim [1].", "Second claim [2]."]


def test_an_answer_cannot_cite_a_paper_that_was_not_retrieved():
    with pytest.raises(ValidationError, match="not retrieved"):
        Answer(
            question="q", answer="x [1]", sources=SOURCES, citations=[Citation(n=1, title="Invented", paper_id="p9")]
        )


def test_a_refusal_cannot_carry_citations():
    with pytest.raises(ValidationError, match="refusal"):
        Answer(
            question="q",
            answer="no",
            refused=True,
            sources=SOURCES,
            citations=[Citation(n=1, title="A", paper_id="p1")],
        )


def test_public_settings_never_carry_url_credentials_or_keys():
    from rag.settings import Settings

    s = Settings(
        llm_base_url="http://bob:hunter2@127.0.0.1:9/v1", openai_api_key="sk-secret", chroma_url="http://a:b@h:8000"
    )
    dumped = str(s.public_dict())
    assert "hunter2" not in dumped and "sk-secret" not in dumped and "a:b@" not in dumped
    assert s.public_dict()["llm_base_url"] == "http://***@127.0.0.1:9/v1"


def test_names_with_digits_are_not_figures_and_units_are():
    from rag.text import numbers

    assert numbers("3D Gaussian Splatting (3DGS) at 2D scale") == []
    assert numbers("trained on 200B tokens with 12GB of memory, 3.5x faster") == ["200", "12", "3.5"]


# ---- statements from a paper's record (rag.record) ---------------------------------------------------------

RECORDED = Source(
    rank=1,
    title="Tidepool: Sparse Expert Routing for Streaming Speech",
    paper_id="tidepool",
    score=1.0,
    text="We propose Tidepool, a mixture-of-experts speech recogniser.",
    authors=["Jane Doe", "Rahul Mehta"],
    year=2024,
    date="2024-03-08",
)


@pytest.mark.parametrize(
    "sentence",
    [
        "“Tidepool: Sparse Expert Routing for Streaming Speech” [1] was published in 2024 (from the paper's record).",
        "“Tidepool: Sparse Expert Routing for Streaming Speech” [1] was published on 8 March 2024 (from the paper's record).",
        "Tidepool [1] is by Jane Doe and Rahul Mehta (from the paper’s record).",
        "The first author of Tidepool [1] is Jane Doe (from the paper's record).",
    ],
)
def test_a_record_statement_is_supported_by_the_cited_papers_metadata_not_its_abstract(sentence):
    g = ground(sentence, [RECORDED])
    assert g.supported_fraction == 1.0, g.sentence_scores
    assert "Jane Doe" in g.sentence_scores[0]["best_evidence"]  # the record it was checked against


@pytest.mark.parametrize(
    "sentence",
    [
        "Tidepool [1] was published in 2019 (from the paper's record).",  # another year
        "Tidepool [1] is by Jane Doe and Alan Turing (from the paper's record).",  # a name the record lacks
        "Tidepool [1] was published in 2024 (from the paper's record) by Google.",
    ],
)
def test_a_record_statement_the_record_does_not_hold_is_unsupported(sentence):
    g = ground(sentence, [RECORDED])
    assert g.supported_fraction == 0.0
    assert g.sentence_scores[0]["reason"] == "not what the cited papers' records say"


def test_a_year_stated_without_the_record_note_still_needs_the_abstract():
    assert ground("Tidepool [1] was published in 2024.", [RECORDED]).supported_fraction == 0.0


# ---- answers_question: content words only ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answer", "not_missing"),
    [
        ("How does COMET's sparse gate work?", "COMET routes tokens with a gate [1].", {"s", "work"}),
        ("How does Lighthouse handle failures?", "Lighthouse replans after failures [1].", {"handle"}),
        ("On which datasets was X evaluated?", "Results on GLUE and SQuAD datasets [1].", {"evaluated", "X"}),
        ("How much memory does QLoRA save?", "QLoRA needs 48 GB less memory [1].", {"save"}),
    ],
)
def test_generic_verbs_and_fragments_of_the_question_are_never_missing_terms(question, answer, not_missing):
    from rag.intent import analyse
    from rag.verify import answer_check

    check = answer_check(analyse(question), answer, False, [RECORDED])
    assert not_missing.isdisjoint(check.missing_terms), check
    assert all(len(t) > 1 for t in check.missing_terms)


def test_content_words_the_answer_lacks_are_still_missing_terms():
    from rag.intent import analyse
    from rag.verify import answer_check

    check = answer_check(
        analyse("How does Lighthouse handle sensor failures?"), "Lighthouse replans [1].", False, [RECORDED]
    )
    assert check.missing_terms == ["sensor", "failures"]
    noun = answer_check(analyse("What test error does COMET reach?"), "COMET reaches a new low [1].", False, [RECORDED])
    assert "test" in noun.missing_terms  # "test" as a noun is content, not the verb "tested"


def test_surface_never_names_a_single_letter():
    from rag.intent import surface

    assert surface("How does COMET's sparse gate work?", ["s", "spars"]) == "sparse"
