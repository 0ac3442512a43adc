"""The names a question is about (acronyms, CamelCase, digit-bearing and hyphenated names, quoted phrases,
capitalised words inside a sentence) and the typos of question words it is forgiven; `rag.intent` reads them."""

from __future__ import annotations

import re

# Capitalised or digit-bearing tokens, CamelCase, acronyms: the names a question is about.
_SALIENT = re.compile(
    r"(?<![\w-])(?:[A-Z][a-z]*-[A-Za-z\d-]*[A-Z\d][\w+-]*|[A-Za-z]*\d[\w.+@/-]*|[A-Z]{2,}[\w+-]*|[A-Z][a-z]+[A-Z][\w+-]*|[a-z]+[A-Z][\w+-]*)(?![\w-])"
)
_GENERIC_SUFFIX = re.compile(
    r"-(level|based|like|style|free|aware|scale|sized?|driven|guided|specific|only|wise|efficient|friendly|agnostic)$",
    re.I,
)
_WH = frozenset("what which who whom whose how why when where is are does do did can could should would please".split())
QUOTED = re.compile(r"(?<!\w)[\"“‘']([^\"”’']{3,160})[\"”’'](?!\w)")  # not the ' of "what's" or "model's"
# Acronyms so common in ML that they say nothing about which paper is meant.
GENERIC_ACRONYMS = frozenset(
    "AI ML DL NLP CV RL LLM LLMS LM LMS VLM VLMS MLLM MLLMS GPU GPUS CPU CPUS TPU TPUS API APIS GAN GANS CNN CNNS "
    "RNN RNNS MLP MLPS SOTA SGD QA VQA NN NNS DNN DNNS GNN GNNS MOE MOES PDE PDES ODE ODES SDE SDES KL RAM IO OOD "
    "AUC MSE MAE RMSE FLOPS FLOP FPS MB GB TB KB ID IID ROC USD FID BLEU SSIM PSNR MAP F1 SOTA SSM SSMS GP GPS "
    "BO EP VI MCMC EM NAS VAE VAES KD TTA DA SSL NN HPO RAG ViT VITS".split()
)

TYPOS = {
    "wich": "which",
    "whcih": "which",
    "whihc": "which",
    "wat": "what",
    "waht": "what",
    "hwo": "how",
    "hw": "how",
    "papres": "papers",
    "paprs": "papers",
    "pappers": "papers",
    "comapre": "compare",
    "compair": "compare",
    "diffrence": "difference",
    "differnce": "difference",
}


def salient_terms(question: str) -> list[str]:
    """Specific names the question asks about: acronyms, CamelCase or digit-bearing tokens, quoted phrases and
    capitalised words inside a sentence ("France", "Llama"). Generic acronyms (LLM, GPU) are not names."""
    terms = [m.group(1).strip() for m in QUOTED.finditer(question) if len(m.group(1).split()) <= 12]
    if terms:  # a quoted title is one name: its capitalised words are not names of their own
        question = QUOTED.sub(lambda m: " " * len(m.group(0)), question)
    for m in re.finditer(r"(?<=[a-z,;:] )[A-Z][a-z]{2,}(?![\w-])", question):
        if m.group(0).lower() not in _WH:
            terms.append(m.group(0))
    first_word = question.split(" ", 1)[0]
    for m in _SALIENT.finditer(question):
        tok = _GENERIC_SUFFIX.sub("", m.group(0).strip(".-/@+"))
        if tok == first_word and not any(c.isdigit() for c in tok) and tok[1:].islower():
            continue
        if tok.upper() in GENERIC_ACRONYMS or tok.upper().rstrip("S") in GENERIC_ACRONYMS:
            continue
        if re.fullmatch(r"\d{1,3}(\.\d+)?[%x]?|(19|20)\d\d|\d+(st|nd|rd|th)|\d+x\d+|\d+[KMB]?", tok, re.I):
            continue  # a bare figure or a year is not a name
        if len(tok) >= 2:
            terms.append(tok)
    return list(dict.fromkeys(terms))
