"""`Paper` ids and hashes, title normalisation and sentence splitting."""

from __future__ import annotations

import pytest

from ingest import Paper, normalise_title, paper_id_for, split_sentences


def test_normalise_title_ignores_case_accents_punctuation_and_spacing():
    assert normalise_title("  Schrödinger  Bridges: A Light-Weight VIEW! ") == "schrodinger bridges a light weight view"
    assert normalise_title("Schrodinger bridges — a light weight view") == "schrodinger bridges a light weight view"


def test_paper_id_is_a_readable_slug_plus_a_hash_of_the_normalised_title():
    pid = paper_id_for("Gaussian Mixture Convolution Networks")
    assert pid.startswith("gaussian-mixture-convolution-networks-")
    assert pid == paper_id_for("gaussian mixture convolution networks.")
    assert pid != paper_id_for("Gaussian Mixture Convolution Network")


def test_paper_id_does_not_change_when_a_source_gives_an_arxiv_id():
    """The same paper from a dump (no id) and from an arXiv export must keep one id."""
    assert Paper(title="T", abstract="A.", arxiv_id="2401.01234").paper_id == paper_id_for("T")


def test_a_discriminator_extends_the_title_id_only_for_papers_sharing_a_title():
    base = paper_id_for("Same Title")
    assert paper_id_for("Same Title", "2401.01234") == base + "-2401-01234"
    assert paper_id_for("Same Title", "2401.01234") != paper_id_for("Same Title", "2401.09999")


def test_latex_markup_is_ignored_when_matching_titles():
    plain = normalise_title("Attention is all you need")
    assert normalise_title("\\textbf{Attention} is {All} you need.") == plain
    assert normalise_title("$\\alpha$-Divergence") == normalise_title("α-divergence")
    assert normalise_title("Cutting 50% of the FLOPs") == "cutting 50 of the flops"  # a bare % is no comment


def test_titles_in_non_latin_scripts_get_distinct_ascii_ids():
    ids = {paper_id_for(t) for t in ("中文标题", "另一个标题", "другой заголовок", "α-Divergence", "β-Divergence")}
    assert len(ids) == 5
    assert all(pid.isascii() for pid in ids)
    assert paper_id_for("α-Divergence").startswith("divergence-")


def test_paper_collapses_whitespace_in_title_and_abstract():
    p = Paper(title=" A\n  Title ", abstract="Line one.\n\n  Line   two. ")
    assert (p.title, p.abstract) == ("A Title", "Line one. Line two.")


def test_content_hash_covers_what_is_shown_but_not_where_it_came_from():
    base = Paper(title="T", abstract="Some abstract.", sources=["a.txt"])
    assert Paper(title="T", abstract="Some abstract.", sources=["b.txt"]).content_hash == base.content_hash
    for change in (
        {"abstract": "Other abstract."},
        {"title": "T2"},
        {"url": "u"},
        {"date": "Mar 11"},
        {"authors": "X"},
    ):
        fields = {"title": "T", "abstract": "Some abstract.", **change}
        assert Paper(**fields).content_hash != base.content_hash, change


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We use e.g. transformers, i.e. attention. Accuracy rises to 93.5% on ImageNet.",
            ["We use e.g. transformers, i.e. attention.", "Accuracy rises to 93.5% on ImageNet."],
        ),
        (
            "See Fig. 3 for details! Is it good? Yes (mostly).",
            ["See Fig. 3 for details!", "Is it good?", "Yes (mostly)."],
        ),
        ("Smith et al. found this. 3D models improve.", ["Smith et al. found this.", "3D models improve."]),
        ("A. Turing wrote it. Then more.", ["A. Turing wrote it.", "Then more."]),
        ("no final period", ["no final period"]),
        ("   ", []),
    ],
)
def test_split_sentences_keeps_abbreviations_and_decimals_intact(text, expected):
    assert split_sentences(text) == expected
