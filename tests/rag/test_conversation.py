"""The follow-up resolver by itself: hand-written conversations, no index, no model."""

from __future__ import annotations

import pytest

from rag.conversation import FollowUpResolver, history_messages, parse_citations
from rag.types import PaperRef

# A small made-up collection: id -> (title, abstract).
PAPERS = {
    "snn": (
        "SpikeBoost: Faster Inference for Spiking Neural Networks",
        "Spiking neural networks are energy efficient but slow at inference. SpikeBoost cuts the number of "
        "timesteps with an adaptive threshold and runs 3.1x faster on neuromorphic hardware.",
    ),
    "gs": (
        "LiteSplat: Compact 3D Gaussian Splatting",
        "3D Gaussian Splatting needs gigabytes of memory. LiteSplat prunes and quantises Gaussians and reduces "
        "the memory footprint 15x while keeping rendering quality.",
    ),
    "rs2": (
        "RS2: Repeated Sampling of Random Subsets for Data-Efficient Training",
        "RS2 samples a new random subset of the training data every epoch and reaches ImageNet accuracy with a "
        "fraction of the compute.",
    ),
    "moe": (
        "MoEfy: Building Mixture-of-Experts from Dense Checkpoints",
        "MoEfy splits the feed-forward layers of a dense language model into 16 experts. Continued "
        "pre-training on 200B tokens of RedPajama recovers the dense model's quality at a third of the FLOPs.",
    ),
    "route": (
        "RouteNet: Learned Routing for Sparse Experts",
        "RouteNet learns a router with a balancing loss. It is trained on the Pile and evaluated on MMLU.",
    ),
    "prune": (
        "TrimLM: Pruning Experts without Retraining",
        "TrimLM removes rarely used experts from a trained mixture-of-experts model, measured on ImageNet "
        "probing and GLUE, with no retraining.",
    ),
    "tiny": (
        "TinyDet: Object Detection on Microcontrollers",
        "TinyDet runs object detection on microcontrollers with 256 kB of memory at 4 frames per second.",
    ),
    "crowd": (
        "CrowdCount: Density Maps for Crowd Counting",
        "CrowdCount predicts density maps for crowd counting in dense scenes.",
    ),
}


def ref(pid: str) -> PaperRef:
    return PaperRef(paper_id=pid, title=PAPERS[pid][0])


def answer(text: str, *pids: str, numbers: list[int] | None = None) -> dict:
    """An assistant history entry citing `pids` as [1], [2], ... (or as the given numbers)."""
    ns = numbers or list(range(1, len(pids) + 1))
    return {
        "role": "assistant",
        "content": text,
        "citations": [{"n": n, "paper_id": p, "title": PAPERS[p][0]} for n, p in zip(ns, pids, strict=True)],
    }


def user(text: str) -> dict:
    return {"role": "user", "content": text}


@pytest.fixture
def resolver() -> FollowUpResolver:
    return FollowUpResolver(paper_text=lambda ids: {i: PAPERS[i][1] for i in ids if i in PAPERS})


MOE_LIST = [
    user("which papers build mixture of experts models?"),
    answer(
        "MoEfy splits dense layers [1]. RouteNet learns a router [2]. TrimLM removes experts [3].",
        "moe",
        "route",
        "prune",
    ),
]


# ---- the examples of issue 13 ------------------------------------------------------------------------------
def test_an_unrelated_question_after_another_topic_is_standalone(resolver):
    history = [
        user("wich papers make spiking neural netwroks faster at inferense"),
        answer("SpikeBoost cuts timesteps and runs 3.1x faster [1].", "snn"),
    ]
    r = resolver.resolve("gaussian splating memory reduce??", history)
    assert not r.resolved and r.papers == () and r.query == "gaussian splating memory reduce??"


def test_a_question_naming_its_own_papers_is_standalone(resolver):
    history = [user("what is RS2?"), answer("RS2 samples a random subset every epoch [1].", "rs2")]
    q = "Compare Dataset Distillation via Committee Voting with Difficulty-Aligned Trajectory Matching"
    r = resolver.resolve(q, history)
    assert not r.resolved and r.query == q


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("what about the second one?", ["route"]),
        ("the first two: are they trained on the same data?", ["moe", "route"]),
        ("how much faster is the last paper?", ["prune"]),
        ("what datasets does [2] use?", ["route"]),
        ("tell me more about paper 3", ["prune"]),
        ("compare [1] and [3]", ["moe", "prune"]),
    ],
)
def test_references_into_a_listed_answer_point_at_its_cited_papers(resolver, question, expected):
    r = resolver.resolve(question, MOE_LIST)
    assert [p.paper_id for p in r.papers] == expected
    assert r.resolved and r.note is None
    for pid in expected:  # the query names them, so the retrieval text stands on its own
        assert PAPERS[pid][0].split(":")[0] in r.query


def test_several_brackets_are_each_replaced_by_their_paper(resolver):
    assert resolver.resolve("compare [1] and [3]", MOE_LIST).query == "compare MoEfy and TrimLM"


def test_the_second_one_is_not_confused_by_the_answer_order_when_the_user_named_the_papers(resolver):
    history = [
        user("compare TrimLM and RouteNet"),
        answer("RouteNet learns a router [1]. TrimLM removes experts [2].", "route", "prune"),
    ]
    assert [p.paper_id for p in resolver.resolve("what does the second one evaluate on?", history).papers] == ["route"]
    assert [p.paper_id for p in resolver.resolve("is [2] retrained?", history).papers] == ["prune"]


def test_a_pronoun_keeps_pointing_at_the_same_paper_through_a_chain_of_follow_ups(resolver):
    history = [
        user("Tell me about MoEfy"),
        answer("MoEfy splits the feed-forward layers into 16 experts [1], unlike RouteNet [2].", "moe", "route"),
    ]
    second = resolver.resolve("how many tokens was it trained on?", history)
    assert [p.paper_id for p in second.papers] == ["moe"] and second.kind == "pronoun"
    assert "MoEfy" in second.query and " it " not in f" {second.query} "
    history += [user("how many tokens was it trained on?"), answer("It used 200B tokens of RedPajama [1].", "moe")]
    third = resolver.resolve("what dataset did it use?", history)
    assert [p.paper_id for p in third.papers] == ["moe"]
    history += [user("what dataset did it use?"), answer("RedPajama [1]; RouteNet used the Pile [2].", "moe", "route")]
    assert [p.paper_id for p in resolver.resolve("and how many experts does it have?", history).papers] == ["moe"]


def test_two_equally_likely_referents_are_both_kept_and_said(resolver):
    history = [
        user("compare MoEfy and RouteNet"),
        answer("MoEfy converts dense models [1]; RouteNet learns routers [2].", "moe", "route"),
    ]
    r = resolver.resolve("how big is it?", history)
    assert {p.paper_id for p in r.papers} == {"moe", "route"}
    assert r.note and "MoEfy" in r.note and "RouteNet" in r.note


def test_the_words_of_the_question_can_pick_one_of_two_referents(resolver):
    history = [
        user("compare MoEfy and RouteNet"),
        answer("MoEfy converts dense models [1]; RouteNet learns routers [2].", "moe", "route"),
    ]
    r = resolver.resolve("does it use a balancing loss for its router?", history)
    assert [p.paper_id for p in r.papers] == ["route"] and r.note is None


@pytest.mark.parametrize(
    "question", ["how fast?", "and on neuromorphic hardware?", "what about energy?", "which datasets?"]
)
def test_an_elliptical_question_points_at_the_focus(resolver, question):
    history = [user("how much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    r = resolver.resolve(question, history)
    assert [p.paper_id for p in r.papers] == ["snn"] and r.kind == "ellipsis"
    assert r.query.startswith("how much faster is SpikeBoost?")  # read against the question it continues


@pytest.mark.parametrize(
    "question",
    [
        "is it possible to count people in crowds?",
        "does it even make sense to run detection on microcontrollers?",
        "what is TinyDet and how does it work?",
        "crowd counting papers?",
        "also, anything on crowd counting?",
        "and one about object detection on microcontrollers?",
        "is there a paper that reduces Gaussian splatting memory?",
        "which was the first paper to count crowds?",
        "papers that use both density maps and transformers?",
    ],
)
def test_questions_with_a_topic_of_their_own_glue_nothing_on(resolver, question):
    history = [user("how much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    r = resolver.resolve(question, history)
    assert not r.resolved and r.papers == () and r.query == question


def test_that_paper_and_the_other_one(resolver):
    history = [
        user("compare MoEfy and RouteNet"),
        answer("MoEfy converts dense models [1]; RouteNet learns routers [2].", "moe", "route"),
        user("how many experts does MoEfy use?"),
        answer("16 experts [1].", "moe"),
    ]
    assert [p.paper_id for p in resolver.resolve("and the other one?", history).papers] == ["route"]
    assert [p.paper_id for p in resolver.resolve("what data was that paper trained on?", history).papers] == ["moe"]


def test_both_points_at_the_pair_and_says_both(resolver):
    history = [
        user("compare MoEfy and RouteNet"),
        answer("MoEfy converts dense models [1]; RouteNet learns routers [2].", "moe", "route"),
    ]
    r = resolver.resolve("are both of them evaluated on MMLU?", history)
    assert [p.paper_id for p in r.papers] == ["moe", "route"] and r.kind == "both"
    assert "both MoEfy and RouteNet" in r.query


def test_back_to_an_earlier_paper_after_a_switch(resolver):
    history = [
        user("what is TrimLM?"),
        answer("TrimLM removes rarely used experts [1].", "prune"),
        user("crowd counting papers?"),
        answer("CrowdCount predicts density maps [1].", "crowd"),
    ]
    r = resolver.resolve("back to the expert pruning one - is it retrained?", history)
    assert [p.paper_id for p in r.papers] == ["prune"] and r.kind == "description"
    assert r.query == "is TrimLM retrained?"
    r = resolver.resolve("what does the density map paper predict?", history)
    assert [p.paper_id for p in r.papers] == ["crowd"]


def test_earlier_papers_can_be_named_by_their_place_in_the_conversation(resolver):
    history = [
        user("what is TrimLM?"),
        answer("TrimLM removes rarely used experts [1].", "prune"),
        user("what is TinyDet?"),
        answer("TinyDet runs detection on microcontrollers [1].", "tiny"),
        user("crowd counting papers?"),
        answer("CrowdCount predicts density maps [1].", "crowd"),
    ]
    for question, expected in [
        ("going back to the first paper, is it retrained?", "prune"),
        ("what memory does the previous paper need?", "tiny"),
        ("and the original one?", "prune"),
        ("tell me more about the second", "tiny"),
    ]:
        assert [p.paper_id for p in resolver.resolve(question, history).papers] == [expected], question


def test_what_about_a_new_topic_is_not_an_ellipsis(resolver):
    history = [user("how much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    assert not resolver.resolve("what about crowd counting?", history).resolved
    assert [p.paper_id for p in resolver.resolve("what about latency?", history).papers] == ["snn"]


def test_a_reference_that_matches_nothing_is_said_and_not_guessed(resolver):
    history = [user("what is TrimLM?"), answer("TrimLM removes rarely used experts [1].", "prune")]
    for question in ("what does the third one do?", "what does [4] say?"):
        r = resolver.resolve(question, history)
        assert not r.resolved and r.papers == () and r.query == question and r.note


def test_a_history_without_citations_resolves_against_the_earlier_question(resolver):
    history = [user("Tell me about the TinyDet detector."), {"role": "assistant", "content": "It runs on MCUs [1]."}]
    r = resolver.resolve("What frame rate does it report?", history)
    assert r.resolved and r.papers == () and "TinyDet detector" in r.query
    assert not resolver.resolve("crowd counting with density maps?", history).resolved


def test_malformed_history_entries_are_skipped(resolver):
    history = [
        None,
        "text",
        {"role": "user", "content": 5},
        user("Tell me about TinyDet"),
        {
            "role": "assistant",
            "content": "x [1] [2]",
            "citations": [{"n": "one"}, 7, {"n": 2, "paper_id": "tiny", "title": PAPERS["tiny"][0]}],
        },
    ]
    r = resolver.resolve("how much memory does it need?", history)
    assert [p.paper_id for p in r.papers] == ["tiny"]


def test_citations_are_ordered_by_first_appearance_in_the_answer():
    cited, by_n = parse_citations(answer("B first [3], then A [1].", "moe", "route", numbers=[1, 3]))
    assert [p.paper_id for p in cited] == ["route", "moe"]
    assert by_n[3].paper_id == "route"


def test_history_messages_carry_the_cited_papers():
    data = {"answer": "It is fast [1].", "citations": [{"n": 1, "paper_id": "snn", "title": "T", "supporting": "s"}]}
    assert history_messages("q", data) == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "It is fast [1].", "citations": [{"n": 1, "paper_id": "snn", "title": "T"}]},
    ]


# ---- naming another paper, asking for more ------------------------------------------------------------------
@pytest.fixture
def naming_resolver() -> FollowUpResolver:
    names = {
        "spikeboost",
        "litesplat",
        "rs2",
        "moefy",
        "routenet",
        "trimlm",
        "tinydet",
        "crowdcount",
        "switch transformers",
    }
    return FollowUpResolver(
        paper_text=lambda ids: {i: PAPERS[i][1] for i in ids if i in PAPERS}, paper_names=lambda: names
    )


def test_what_about_another_paper_asks_the_last_question_about_it(naming_resolver):
    history = [user("How much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    r = naming_resolver.resolve("what about TinyDet?", history)
    assert r.kind == "switch" and r.papers == ()
    assert r.query == "How much faster is TinyDet?"


def test_a_paper_name_of_several_words_is_swapped_in_whole(naming_resolver):
    history = [user("How much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    r = naming_resolver.resolve("what about Switch Transformer?", history)
    assert r.kind == "switch" and r.query == "How much faster is Switch Transformer?"


def test_what_about_a_dataset_keeps_the_paper(naming_resolver):
    history = [user("what accuracy does RS2 reach?"), answer("RS2 reaches ImageNet accuracy [1].", "rs2")]
    r = naming_resolver.resolve("and on CIFAR-10?", history)
    assert r.kind == "ellipsis" and r.papers == (ref("rs2"),)


def test_a_continuation_with_its_own_question_is_about_the_paper_it_names(naming_resolver):
    history = [user("How much faster is SpikeBoost?"), answer("SpikeBoost runs 3.1x faster [1].", "snn")]
    r = naming_resolver.resolve("what about TinyDet, how much memory does it need?", history)
    assert r.papers == () and "TinyDet" in r.query and "SpikeBoost" not in r.query


def test_a_switch_moves_the_focus_for_the_next_pronoun(naming_resolver):
    history = [
        user("How much faster is SpikeBoost?"),
        answer("SpikeBoost runs 3.1x faster [1].", "snn"),
        user("what about TinyDet?"),
        answer("TinyDet runs at 4 frames per second [1].", "tiny"),
    ]
    r = naming_resolver.resolve("how much memory does it use?", history)
    assert r.papers == (ref("tiny"),)


@pytest.mark.parametrize("question", ["any other papers on that?", "what else?", "more like these?"])
def test_asking_for_more_repeats_the_last_topic(naming_resolver, question):
    r = naming_resolver.resolve(question, MOE_LIST)
    assert r.kind == "more" and r.papers == ()
    assert r.query == "which papers build mixture of experts models?"


def test_asking_for_other_papers_on_a_new_topic_is_standalone(naming_resolver):
    r = naming_resolver.resolve("which other papers do crowd counting?", MOE_LIST)
    assert not r.resolved


def test_each_of_them_after_a_new_name_is_still_the_last_answers_pair(naming_resolver):
    history = [user("compare RouteNet and MoEfy"), answer("RouteNet routes [1]. MoEfy merges [2].", "route", "moe")]
    r = naming_resolver.resolve("how much faster than DeepSpeed is each of them?", history)
    assert set(r.papers) == {ref("route"), ref("moe")}
