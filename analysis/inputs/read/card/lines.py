"""Scenario cards, part 2: what each line says (classified by its key, or by its words)."""

from __future__ import annotations

import re

from analysis.inputs.errors import InputError, ParseError
from analysis.inputs.read.card.serving import read_request_rate, read_tpot, read_ttft
from analysis.inputs.read.card.values import (
    NONE_RE,
    CardLine,
    CardState,
    first_number,
    fmt_num,
    need_number,
    read_bandwidth_tbs,
    read_bytes_gb,
    read_flops,
    read_fraction,
    read_params_b,
    read_prompt,
    read_throughput_per_ms,
    read_tokens,
)
from analysis.inputs.read.card.words import (
    DENSE_WORDS,
    MOE_WORDS,
    NO_EXPERTS,
    architecture_words,
    attention_words,
    scan_experts,
    scan_top_k,
)
from analysis.inputs.read.text import (
    find_product,
    words_to_digits,
)
from analysis.inputs.types import normalise_precision

# --------------------------------------------------------------------------------------------
# Line classification (the words on a line: .words)
# --------------------------------------------------------------------------------------------

def handle_attention(st: CardState, line: CardLine) -> None:
    key, val = line.key or "", line.value
    attention_words(st, line, key + " " + val)
    read = False
    m = re.search(r"(?<![\w.])(\d+)\s*[x×*]\s*(\d+)(?![\w.])", val)
    if m:
        st.set("num_heads", int(m.group(1)), line)
        st.set("head_dim", int(m.group(2)), line)
        st.note(f"line {line.no}: '{m.group(0)}' read as {m.group(1)} heads of dimension "
                f"{m.group(2)}")
        read = True
    kv = (re.search(r"(\d+)\s*(?:kv|key[\s-]*value)\s*(?:heads|groups)", val, re.IGNORECASE)
          or re.search(r"(?:kv|key[\s-]*value)\s*heads\D{0,12}?(\d+)", val, re.IGNORECASE))
    if kv:
        st.set("num_kv_heads", int(kv.group(1)), line)
        read = True
    heads = (re.search(r"number of (?:attention |query |q )?heads\s*(?:is|=|:|of)?\s*(\d+)",
                       val, re.IGNORECASE)
             or re.search(r"(\d+)\s*(?:attention\s+|query\s+|q\s+)?heads\b", val, re.IGNORECASE))
    if heads and not m:
        st.set("num_heads", int(heads.group(1)), line)
        read = True
    hd = (re.search(r"dimension of (?:each|every|one|a)\s+heads?\s*(?:is|=|:|of)?\s*(\d+)", val,
                    re.IGNORECASE)
          or re.search(r"head[\s_-]*dim(?:ension)?s?\s*(?:is|=|:|of)?\s*(\d+)", val, re.IGNORECASE)
          or re.search(r"(\d+)\s*(?:dims?|dimensions?)?\s*(?:per|each)\s+head", val, re.IGNORECASE)
          or re.search(r"heads?\s+(?:of|with)\s+(?:size|dim(?:ension)?)s?\s*(?:of\s+)?(\d+)", val,
                       re.IGNORECASE))
    if hd and not m:
        st.set("head_dim", int(hd.group(1)), line)
        read = True
    if read:
        return
    if re.search(r"kv|key[\s-]*value|groups", key):
        v, _ = need_number(st, line, "model.attention.num_kv_heads", "KV heads: 8", True)
        st.set("num_kv_heads", int(v), line)
    elif re.search(r"head[\s_-]*dim|dimension of (?:each|a|one) head|per head", key):
        v, _ = need_number(st, line, "model.attention.head_dim", "Head dim: 128", True)
        st.set("head_dim", int(v), line)
    elif re.search(r"heads", key):
        v, _ = need_number(st, line, "model.attention.num_heads", "Attention heads: 16", True)
        st.set("num_heads", int(v), line)
    elif first_number(val) is not None:
        raise st.error(line, "model.attention: cannot tell heads from head dimension; write "
                             "e.g. 'Attention Heads: 16 x 32' (16 heads of dimension 32)")
    elif not any(f in st.flags and st.flags[f] is line for f in ("mha", "gqa", "mqa")):
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def handle_ffn(st: CardState, line: CardLine, dense_key: bool) -> None:
    key, val = line.key or "", line.value
    v, _ = need_number(st, line, "model.expert_intermediate_size",
                        "MoE Hidden Size: 1024", integer=True)
    val_dense = bool(DENSE_WORDS.search(val)) and not MOE_WORDS.search(val)
    val_moe = bool(MOE_WORDS.search(val))
    key_moe = bool(re.search(r"moe|expert", key))
    if dense_key:
        st.set("dense_intermediate_size", int(v), line)
    elif val_dense or (not val_moe and not key_moe):
        st.set("ffn_width_dense", int(v), line)
        st.flags.setdefault("ffn_dense", line)
        if key_moe:
            st.note(f"line {line.no}: the key says MoE but the value says "
                    f"'{DENSE_WORDS.search(val).group(0)}': read as the dense MLP width")
    else:
        st.set("ffn_width_moe", int(v), line)
        st.flags.setdefault("ffn_moe", line)


def handle_gpus(st: CardState, line: CardLine) -> None:
    val = line.value
    if re.search(r"no\s+limit|unlimited|ample|plenty|any number|as many|unbounded|enough",
                 val, re.IGNORECASE) or NONE_RE.match(val):
        st.set("gpus_unlimited", True, line)
        return
    p = find_product(words_to_digits(val))
    if p is not None and p.factors:
        count = int(p.total if p.total is not None else p.value)
        if p.total is not None and p.total != p.value:
            st.warn(f"line {line.no}: the product {' x '.join(fmt_num(f) for f in p.factors)} "
                    f"= {fmt_num(p.value)}, not the {fmt_num(p.total)} written; "
                    f"{fmt_num(p.total)} GPUs kept as stated")
        st.set("max_gpus", count, line)
        return
    m = re.match(r"\s*(?:up to|at most|max(?:imum)?|<=|≤|~)?\s*(\d[\d,]*)(?![\w.])", val,
                 re.IGNORECASE)
    if m:
        st.set("max_gpus", int(m.group(1).replace(",", "")), line)
        return
    if first_number(val) is None and re.search(r"[A-Za-z]", val):
        st.set("gpu_name", val.strip().rstrip("."), line)
        return
    st.note(f"line {line.no} ignored: {line.text.strip()!r} (GPU count not understood)")


def _throughput(st: CardState, line: CardLine) -> None:
    st.set("throughput_per_ms", read_throughput_per_ms(st, line), line)


def _mfu(st: CardState, line: CardLine) -> None:
    st.set("mfu", read_fraction(st, line, "hardware.mfu"), line)


def _bw_util(st: CardState, line: CardLine) -> None:
    st.set("bandwidth_utilization", read_fraction(st, line, "hardware.bandwidth_utilization"),
           line)


def _flops(st: CardState, line: CardLine) -> None:
    st.set("peak_tflops", read_flops(st, line), line)


def _bandwidth(st: CardState, line: CardLine) -> None:
    if re.search(r"nvlink|interconnect|network|infiniband|\bib\b|pcie|scale|inter[\s-]?node"
                 r"|intra[\s-]?node|link|ethernet|rdma", line.key or ""):
        st.note(f"line {line.no} ignored: {line.text.strip()!r} (interconnect bandwidth is "
                f"not read from cards; the hardware defaults apply)")
    else:
        st.set("hbm_bandwidth_tbs", read_bandwidth_tbs(st, line), line)


def _capacity(st: CardState, line: CardLine) -> None:
    st.set("hbm_capacity_gb", read_bytes_gb(st, line), line)


def _top_k_key(st: CardState, line: CardLine) -> None:
    if not scan_top_k(st, line, from_key=True):
        got = first_number(line.value)
        if got is None:
            raise st.error(line, "model.top_k: no number (write e.g. 'Top-k: 2')")
        st.top_k.append((int(got[0]), line, True))


def _shared_experts(st: CardState, line: CardLine) -> None:
    got = first_number(line.value)
    if got and got[0] > 0:
        st.note(f"line {line.no}: {fmt_num(got[0])} shared experts stated; cards carry routed "
                f"experts only, so shared experts are NOT counted")


def _ffn(st: CardState, line: CardLine) -> None:
    k = line.key or ""
    handle_ffn(st, line, dense_key=bool(re.search(r"dense", k) and not re.search(r"moe|expert", k)))


def _dense_layers(st: CardState, line: CardLine) -> None:
    v, _ = need_number(st, line, "model.num_dense_layers", "Dense layers: 1", True)
    st.set("num_dense_layers", int(v), line)


def _experts(st: CardState, line: CardLine) -> None:
    if first_number(line.value) is None:
        if re.search(r"^\s*(none|no|0)\b", line.value, re.IGNORECASE) or NO_EXPERTS.search(
                line.value):
            st.set("num_experts", 0, line)
        elif re.search(r"type|kind|activation|architecture|design|structure|style|form|function",
                       line.key or ""):
            st.note(f"line {line.no}: {line.text.strip()!r} describes the experts, not how many")
        else:
            raise st.error(line, "model.num_experts: no number (write e.g. 'Experts per "
                                 "Layer: 16')")
    else:
        v, _ = need_number(st, line, "model.num_experts", "Experts per Layer: 16", True)
        st.set("num_experts", int(v), line)
    scan_top_k(st, line)


def _hidden(st: CardState, line: CardLine) -> None:
    v, _ = need_number(st, line, "model.hidden_size", "Token Dimension: 512", integer=True)
    st.set("hidden_size", int(v), line)


def _layers(st: CardState, line: CardLine) -> None:
    val = line.value
    v, _ = need_number(st, line, "model.num_layers", "Layers: 16", integer=True)
    st.set("num_layers", int(v), line)
    rest = val[val.find(re.search(r"\d", val).group(0)) + 1:] if re.search(r"\d", val) else ""
    scan_experts(st, line, rest)
    scan_top_k(st, line)
    architecture_words(st, line, val)


def _architecture(st: CardState, line: CardLine) -> None:
    scan_experts(st, line, line.value)
    scan_top_k(st, line)
    architecture_words(st, line, line.value)


def _precision(st: CardState, line: CardLine) -> None:
    m = re.search(r"\b(?:mx|nv)?fp\d+\b|\bbf16\b|\bint\d+\b|\bfloat\d+\b|\bbfloat16\b"
                  r"|\bhalf\b|\be[45]m[23]\b|\bw4a16\b", line.value, re.IGNORECASE)
    if not m:
        raise st.error(line, "model.precision: not a precision (write e.g. 'Precision: FP16';"
                             " known: fp32, bf16, fp16, fp8, int8, fp4, int4, mxfp4)")
    try:
        st.set("precision", normalise_precision(m.group(0)), line)
    except InputError as e:
        raise st.error(line, f"model.precision: {e}") from None


def _params(st: CardState, line: CardLine) -> None:
    if re.search(r"\d\s*(?:[kmgt]i?b|bytes?)\b", line.value, re.IGNORECASE):
        st.note(f"line {line.no} ignored: {line.text.strip()!r} (a memory size, not a "
                f"parameter count)")
        return
    p = read_params_b(st, line)
    if p is not None:
        if re.search(r"activ", line.key or ""):
            st.note(f"line {line.no}: {fmt_num(p)}B active parameters noted (not carried)")
        else:
            st.set("declared_total_params_B", p, line)


def _vocab(st: CardState, line: CardLine) -> None:
    v, _ = need_number(st, line, "model.vocab_size", "Vocabulary: 32000", integer=True)
    st.set("vocab_size", int(v), line)


def _model_name(st: CardState, line: CardLine) -> None:
    st.set("model_name", line.value.strip().rstrip("."), line)


def _batch(st: CardState, line: CardLine) -> None:
    v, _ = need_number(st, line, "workload.batch_sequences", "Batch size: 128", True)
    st.set("batch_sequences", int(v), line)


def _output(st: CardState, line: CardLine) -> None:
    v, rest = need_number(st, line, "workload.output_tokens", "Output length: 256")
    st.set("output_tokens", read_tokens(st, line, v, rest), line)


def _prompt(st: CardState, line: CardLine) -> None:
    st.set("prompt_tokens", read_prompt(st, line), line)


def _is_ffn_key(k: str) -> bool:
    return bool((re.search(r"moe|expert|mlp|ffn|feed[\s-]?forward|dense", k)
                 and re.search(r"hidden|size|dim|width|intermediate", k)) or "intermediate" in k)


def _is_hidden_key(k: str) -> bool:
    return bool(re.search(r"token dim|dimension of (?:each )?token|hidden|d_?model|model dim"
                          r"|embedding (?:size|dim)|\bdim(?:ension)?$|width", k)
                and not re.search(r"layer", k))


#: (test on the lower-case key, handler), first match wins. Requirements come first: "Time per
#: output token" must not read as an output length.
INPUT_RULES = [
    (r"ttft|time to (?:the )?first token|first[\s-]token latency", read_ttft),
    (r"tpot|time per output token|inter[\s-]?token|\bitl\b|per[\s-]token latency", read_tpot),
    (r"request rate|arrival rate|requests? per (?:second|minute)|\bqps\b|\brps\b",
     read_request_rate),
    (r"throughput|\btps\b", _throughput),
    (r"\bmfu\b|flops util|compute util|model flops", _mfu),
    (r"(?:bandwidth|\bbw\b|\bmbu\b).*util|\bmbu\b", _bw_util),
    (r"comput|flops|\bpeak\b|\btops\b", _flops),
    (r"bandwidth|\bbw\b", _bandwidth),
    (r"vram|video memory|memory|\bhbm\b|gpu mem|capacity", _capacity),
    ((r"^(?:number of |num(?:ber)? ?|max(?:imum)? |total |available |the )?"
     r"(?:gpus?|cards?|accelerators?|devices?)(?: count| budget| limit"
     r"| available| number| type| model| name)?$"), lambda st, line: handle_gpus(st, line)),
    ((r"top[-_\s]?k|experts? per token|active experts|activated experts|experts? activated"
     r"|routing"), _top_k_key),
    (lambda k: bool(re.search(r"shared experts?", k)
                    and not re.search(r"size|dim|width|hidden", k)), _shared_experts),
    (_is_ffn_key, _ffn),
    (r"dense layers?|first .*dense|leading dense", _dense_layers),
    (r"\bparam", _params),
    (r"expert", _experts),
    (r"head|attention|\bmha\b|\bgqa\b|\bmqa\b", lambda st, line: handle_attention(st, line)),
    (_is_hidden_key, _hidden),
    (r"layers?|depth|blocks", _layers),
    (r"architecture|structure|^type$|model type|block", _architecture),
    (r"precision|dtype|data ?type|quanti[sz]", _precision),
    (r"weights|param", _params),
    (r"vocab", _vocab),
    (r"^(?:model(?: name)?|name)$", _model_name),
    (r"batch", _batch),
    (r"output|generat|decode len|\bosl\b|new tokens|\bout\b", _output),
    ((r"seq(?:uence)?[\s_-]*len|prompt|input[\s_-]*(?:len|tokens)|context[\s_-]*len"
     r"|\bisl\b|sequence"), _prompt),
]


def _rule_for(key: str):
    """The handler of the first rule of :data:`INPUT_RULES` whose test matches ``key``."""
    for test, handler in INPUT_RULES:
        if (re.search(test, key) if isinstance(test, str) else test(key)):
            return handler
    return None


def handle_input_line(st: CardState, line: CardLine) -> None:
    """One "Key: value" line of an input section (hardware, model, workload, requirements):
    the first rule of :data:`INPUT_RULES` whose test matches the key reads it."""
    handler = _rule_for(line.key or "")
    if handler is not None:
        handler(st, line)
        return
    if not scan_top_k(st, line):
        st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def handle_free_text(st: CardState, line: CardLine) -> None:
    """A line of an input section with no key: "Each layer has 64 experts", or a prose bullet
    ("48 decoder layers, each attention plus an MoE block", "Hidden dimension 4096", "32 query
    heads of size 128, 8 KV heads"): the words before the first number, else the words after
    it, are tried as the key. A prose line that no rule reads is noted, never an error."""
    got = scan_top_k(st, line)
    got = scan_experts(st, line, line.text) or got
    text = words_to_digits(line.text)
    if NO_EXPERTS.search(text):
        st.set("num_experts", 0, line)
        st.flags.setdefault("dense", line)
        text = NO_EXPERTS.sub(" ", text)
    elif got:
        return
    for key, value in _prose_keys(text):
        rule = _rule_for(key)
        if rule is None or rule in (_top_k_key, _model_name):
            continue
        probe = CardLine(line.no, line.raw, line.text, key, value, line.kind, line.heading)
        try:
            rule(st, probe)
        except ParseError:
            break
        return
    st.note(f"line {line.no} ignored: {line.text.strip()!r}")


def _prose_keys(text: str) -> list[tuple[str, str]]:
    """(key, value) guesses for a keyless line: the words before its first number (value: from
    the number on), then the words right after the number (value: the whole line)."""
    m = re.search(r"(?<![\w.])\d", text)
    if m is None:
        return []
    before = re.sub(r"\b(?:is|are|of|has|have|with|=|:)\s*$", "", text[:m.start()].strip(),
                    flags=re.IGNORECASE).strip(" ,;-").lower()
    after = re.match(r"[\d.,]*\s*[kKmM]?[\s-]*([A-Za-z][A-Za-z /-]*)", text[m.start():])
    out = []
    if re.search(r"[a-z]{3}", before):
        out.append((before, text[m.start():]))
    if after:
        out.append((after.group(1).strip().lower(), text))
    return out


