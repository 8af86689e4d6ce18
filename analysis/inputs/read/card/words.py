"""Scenario cards: what the words on a line say beyond its key: a top-k ("top-2", "selects six
experts"), an expert count inside another line, dense / MoE / attention-kind words."""

from __future__ import annotations

import re

from analysis.inputs.read.card.values import CardLine, CardState
from analysis.inputs.read.text import words_to_digits

TOPK_TEXT = [
    re.compile(r"\btop[-_\s]?k\s*(?:=|:|is|of)?\s*(\d+)", re.IGNORECASE),
    re.compile(r"\btop[-_\s]?(\d+)(?![\d%.])", re.IGNORECASE),
    re.compile(r"(\d+)\s+(?:routed\s+)?experts?\s+(?:are\s+)?(?:activated\s+|active\s+|selected\s+"
               r"|chosen\s+|used\s+|routed\s+)?(?:per|for each|for every|each)\s+token",
               re.IGNORECASE),
    re.compile(r"(\d+)\s+(?:active|activated|selected)\s+experts", re.IGNORECASE),
    re.compile(r"activates?\s+(\d+)\s+experts", re.IGNORECASE),
    # "selects 4 experts", "routed to 6 experts", "chooses a single expert" (words -> digits)
    re.compile(r"(?:select|choose|pick|activate|use|route)(?:s|d|ed)?\s+(?:each\s+token\s+)?"
               r"(?:to\s+)?(?:the\s+)?(?:top\s+)?(\d+)\s+(?:routed\s+)?experts?\b",
               re.IGNORECASE),
    re.compile(r"(\d+)\s+(?:routed\s+)?experts?\s+(?:are\s+|is\s+)?(?:selected|chosen|activated"
               r"|picked)\b", re.IGNORECASE),
]
_TOPK_BEFORE = re.compile(r"(?:top|select\w*|choose\w*|chosen|pick\w*|activat\w*|route\w*|to|"
                          r"uses?)\s*(?:the\s+)?(?:top\s+)?$", re.IGNORECASE)
#: "no experts", "without experts", "not an MoE", "(no experts)": a dense model says so.
NO_EXPERTS = re.compile(r"\b(?:no|without|zero|not\s+an?|non)[\s-]+(?:routed\s+)?"
                        r"(?:experts?|moe|mixture[\s-]+of[\s-]+experts?)\b(?![\s-]*parallel)",
                        re.IGNORECASE)
EXPERTS_TEXT = re.compile(
    r"(?<![\w.])(\d+)[\s-]*(?:routed\s+)?experts?\b"
    r"(?!\s+(?:are\s+)?(?:activated\s+|active\s+|selected\s+|chosen\s+|used\s+)?"
    r"(?:per|for each|for every|each)\s+token)", re.IGNORECASE)
MOE_WORDS = re.compile(r"mixture[\s-]+of[\s-]+experts?|\bmoe\b|\bexperts?\b", re.IGNORECASE)
DENSE_WORDS = re.compile(r"\bmlp\b|\bffn\b|\bdense\b|feed[\s-]?forward", re.IGNORECASE)


def scan_top_k(st: CardState, line: CardLine, from_key: bool = False) -> bool:
    """Top-k stated on the line ("top-2", "selects six experts", "a single expert per token")."""
    text = line.value if from_key else words_to_digits(line.text)
    for rx in TOPK_TEXT:
        m = rx.search(text)
        if m:
            st.top_k.append((int(m.group(1)), line, from_key))
            return True
    return False


def scan_experts(st: CardState, line: CardLine, text: str) -> bool:
    """Experts named inside another line ("Each layer has 64 experts")."""
    text = words_to_digits(text)
    for m in EXPERTS_TEXT.finditer(text):
        if _TOPK_BEFORE.search(text[max(0, m.start() - 24):m.start()]):
            continue        # "top 2 experts", "selects 4 experts": a top-k, not the count
        st.set("num_experts", int(m.group(1)), line)
        return True
    return False


def architecture_words(st: CardState, line: CardLine, text: str) -> None:
    """Dense / MoE / MHA / MQA / MLA words on a Layers or architecture line; "a dense MLP (no
    experts)" states zero experts."""
    if NO_EXPERTS.search(text):
        st.set("num_experts", 0, line)
        st.flags.setdefault("dense", line)
        text = NO_EXPERTS.sub(" ", text)
    if MOE_WORDS.search(text):
        st.flags.setdefault("moe", line)
    elif DENSE_WORDS.search(text):
        st.flags.setdefault("dense", line)
    attention_words(st, line, text)


def attention_words(st: CardState, line: CardLine, text: str) -> None:
    if re.search(r"multi[\s-]?latent|\bmla\b", text, re.IGNORECASE):
        raise st.error(line, "model.attention: multi-head latent attention (MLA) cannot be "
                             "described in a card; give the model as YAML instead")
    if re.search(r"multi[\s-]?query|\bmqa\b", text, re.IGNORECASE):
        st.flags.setdefault("mqa", line)
    elif re.search(r"grouped[\s-]?query|\bgqa\b", text, re.IGNORECASE):
        st.flags.setdefault("gqa", line)
    elif re.search(r"multi[\s-]?head[\s-]?attention|\bmha\b", text, re.IGNORECASE):
        st.flags.setdefault("mha", line)
