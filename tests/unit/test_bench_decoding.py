"""The decoding benchmark's own logic: its workload and how it turns a configuration into
`xllamacpp.CommonParams` (no model is loaded; timings are never asserted)."""

from __future__ import annotations

import json

import pytest
import xllamacpp as xlc

from tests.benchmarks import bench_decoding as bd


def test_prompts_share_the_instruction_block_and_number_their_evidence() -> None:
    prompts = bd.build_prompts()
    assert len(prompts) == len(bd.QUESTIONS) + 1  # + the fixed warm-up prompt
    bodies = [bd.request_body(user) for _, user in prompts]
    assert {b["messages"][0]["content"] for b in bodies} == {bd.INSTRUCTIONS}  # cacheable prefix
    for (question, user), body in zip(prompts, bodies):
        assert user.startswith("Evidence:\n[1] ") and user.endswith(f"Question: {question}")
        numbers = [line.split("]")[0] for line in user.splitlines() if line.startswith("[")]
        assert numbers == [f"[{k}" for k in range(1, len(numbers) + 1)] and 3 <= len(numbers) <= 6
        assert body["response_format"]["json_schema"]["schema"] == bd.ANSWER_SCHEMA
        assert body["temperature"] == 0 and body["stream"]


def test_a_new_prompt_variant_reorders_evidence_but_keeps_the_warmup() -> None:
    a, b = bd.build_prompts(0), bd.build_prompts(1)
    assert a[-1] == b[-1]
    assert [q for q, _ in a] == [q for q, _ in b]
    assert sum(x != y for x, y in zip(a[:-1], b[:-1])) >= len(a) // 2
    def evidence(user: str) -> set[str]:
        return {line.split("] ", 1)[1] for line in user.splitlines() if line.startswith("[")}

    for (_, x), (_, y) in zip(a, b):  # same evidence, maybe another order
        assert evidence(x) == evidence(y)


def test_compact_variant_sends_a_whitespace_free_grammar() -> None:
    body = bd.request_body("Evidence:\n[1] x\n\nQuestion: y", variant="compact")
    assert "response_format" not in body
    head, schema = body["grammar"].split("%json ", 1)
    assert head.startswith("%llguidance")
    assert json.loads(schema)["x-guidance"] == {"whitespace_flexible": False}
    with pytest.raises(ValueError, match="schema or compact"):
        bd.request_body("x", variant="pretty")


def test_overrides_set_nested_fields_and_enums_by_name() -> None:
    p = bd.baseline_params("/m.gguf", 1234)
    for name in ("draft_n8_p05", "flash_attn_off", "kv_q8_0", "mlock", "gen_threads_1"):
        bd.apply_overrides(p, bd.CONFIGS[name], "/draft.gguf")
    assert p.speculative.types == [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    assert p.speculative.draft.mparams.path == "/draft.gguf"
    assert (p.speculative.draft.n_max, p.speculative.draft.p_min) == (8, 0.5)
    assert p.cache_type_k == xlc.ggml_type.GGML_TYPE_Q8_0
    assert p.flash_attn_type == xlc.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED  # kv_q8_0 came last
    assert p.load_mode == xlc.llama_load_mode.LLAMA_LOAD_MODE_MMAP_MLOCK
    assert (p.cpuparams.n_threads, p.cpuparams_batch.n_threads) == (1, 2)
    with pytest.raises(KeyError):
        bd.apply_overrides(p, {"flash_attn_type": "LLAMA_FLASH_ATTN_TYPE_SOMETIMES"}, "")


def test_percentile_helpers() -> None:
    assert bd.med([3.0, 1.0, None, 2.0]) == 2.0
    assert bd.p95([float(x) for x in range(1, 21)]) == 19.0
