"""System prompts: loading and validation, question kinds, the seeded choice of prompts per seed."""
from collections import Counter
from pathlib import Path

import pytest

from imitate.errors import UserError
from imitate.teacher.prompts import KINDS, SystemPrompt, choose_prompts, load_system_prompts, question_kind
from imitate.data.seeds import load_seeds

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped():
    return load_system_prompts()


@pytest.fixture(scope="module")
def seeds():
    return load_seeds(REPO / "seeds" / "seeds.jsonl")


def _write(tmp_path, text, name="p.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- loading

def test_shipped_prompts_load_and_are_well_formed(shipped):
    assert len(shipped) >= 14
    ids = [p.id for p in shipped]
    assert len(set(ids)) == len(ids)
    for p in shipped:
        assert isinstance(p, SystemPrompt) and len(p.text.split()) >= 15, p.id
        assert set(p.kinds) <= set(KINDS)
    by_id = {p.id: p for p in shipped}
    assert by_id["mc_eliminate"].kinds == ("multiple_choice",)
    assert by_id["code_explain"].categories == ("coding",)
    assert "ko" in by_id["answer_in_question_language"].languages
    assert by_id["step_by_step"].categories == () and by_id["step_by_step"].kinds == ()


def test_frozen(shipped):
    with pytest.raises(Exception):
        shipped[0].id = "other"


def test_explicit_path_and_plain_list_format(tmp_path):
    path = _write(tmp_path, "- id: a\n  text: Be brief.\n- id: b\n  text: Be thorough.\n"
                            "  suits: {kinds: open, categories: [math], languages: [ko]}\n")
    a, b = load_system_prompts(path)
    assert (a.id, a.text, a.kinds) == ("a", "Be brief.", ())
    assert (b.kinds, b.categories, b.languages) == (("open",), ("math",), ("ko",))


@pytest.mark.parametrize("text, message, line", [
    ("prompts:\n  - id: a\n    text: one\n  - id: a\n    text: two\n", "duplicate prompt id 'a' (first at line 2)", 4),
    ("prompts:\n  - id: a\n    text: '   '\n", "prompt 'a' has an empty text", 2),
    ("prompts:\n  - text: no id here\n", "prompt has no id", 2),
    ("prompts:\n  - id: a\n    text: t\n    suits: {kinds: [essay]}\n", "unknown kind(s) ['essay']", 2),
    ("prompts:\n  - id: a\n    text: t\n    suits: {category: [math]}\n", "unknown suits key(s) ['category']", 2),
    ("prompts:\n  - id: a\n    text: t\n    suits: {languages: [1, 2]}\n", "suits.languages must be a list", 2),
    ("prompts:\n  - id: a\n    text: [unclosed\n", "invalid YAML", None),
])
def test_validation_errors_name_file_and_line(tmp_path, text, message, line):
    path = _write(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_system_prompts(path)
    assert message in str(e.value)
    assert str(e.value).startswith(f"{path}:")
    if line is not None:
        assert e.value.line == line and str(e.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("text", ["", "prompts: []\n", "just a string\n"])
def test_empty_or_wrong_shape_is_an_error(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(UserError, match="non-empty list of prompts"):
        load_system_prompts(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_system_prompts(tmp_path / "nope.yaml")


# ---------------------------------------------------------------- question kinds

@pytest.mark.parametrize("question, kind", [
    ("Which is prime?\nA) 21\nB) 29\nC) 33", "multiple_choice"),
    ("Pick one:\n(a) red\n(b) blue", "multiple_choice"),
    ("Pick one:\nA. red\nB. blue\nC. green", "multiple_choice"),
    ("Pick one:\n1) red\n2) blue", "multiple_choice"),
    ("Which layer is thinnest? A) Crust B) Mantle C) Core", "multiple_choice"),
    ("What is the capital of Australia?", "short_answer"),
    ("How many legs does a spider have?", "short_answer"),
    ("In what year did the Berlin Wall fall?", "short_answer"),
    ("If today is Monday, what day is it in 10 days?", "short_answer"),
    ("A train goes 180 km in 2 hours. What is its speed in km/h?", "short_answer"),
    ("Explain how photosynthesis works.", "open"),
    ("Compare TCP and UDP.", "open"),
    ("Write a poem about the sea.", "open"),
    ("What are good habits for better sleep?", "open"),
    ("Why is the sky blue?", "open"),
    ("What is " + "very " * 40 + "long?", "open"),
    ("호주의 수도는 어디인가요?", "short_answer"),
    ("17 더하기 26은 얼마인가요?", "short_answer"),
    ("임진왜란이 일어난 해는 몇 년인가요?", "short_answer"),
    ("훈민정음을 만든 왕은 누구인가요?", "short_answer"),
    ("광합성의 원리를 설명해 주세요.", "open"),
    ("하늘은 왜 파란가요?", "open"),
    ("감기와 독감의 차이를 비교해 주세요.", "open"),
    ("다음 중 짝수는 무엇인가요?\nA) 15\nB) 22\nC) 37", "multiple_choice"),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def test_a_single_option_like_line_is_not_multiple_choice():
    assert question_kind("Read this:\nA. Smith wrote it. What is the author's name?") != "multiple_choice"


# ---------------------------------------------------------------- choosing

def test_mc_prompt_only_for_multiple_choice_seeds(shipped, seeds):
    mc_seen = 0
    for seed in seeds:
        ids = {p.id for p in choose_prompts(seed, shipped, n=len(shipped))}
        is_mc = question_kind(seed["question"]) == "multiple_choice"
        assert ("mc_eliminate" in ids) == is_mc, seed["id"]
        mc_seen += is_mc
    assert mc_seen >= 10


def test_suits_are_respected(shipped, seeds):
    for seed in seeds:
        for p in choose_prompts(seed, shipped, n=3):
            assert not p.categories or seed["category"] in p.categories
            assert not p.languages or seed["language"] in p.languages


def test_deterministic_and_rng_seed_changes_the_draw(shipped, seeds):
    first = [choose_prompts(s, shipped, n=2)[0].id for s in seeds]
    again = [choose_prompts(dict(s), list(shipped), n=2)[0].id for s in seeds]
    other = [choose_prompts(s, shipped, n=2, rng_seed=1)[0].id for s in seeds]
    assert first == again
    assert first != other


def test_choice_of_one_seed_does_not_depend_on_the_others(shipped, seeds):
    alone = choose_prompts(seeds[5], shipped, n=3)
    in_run = [choose_prompts(s, shipped, n=3) for s in seeds][5]
    assert alone == in_run


def test_spread_over_shipped_seeds(shipped, seeds):
    used = Counter(choose_prompts(s, shipped)[0].id for s in seeds)
    reachable = {p.id for s in seeds for p in choose_prompts(s, shipped, n=len(shipped))}
    assert reachable == {p.id for p in shipped}  # every shipped prompt suits some shipped seed
    assert set(used) == reachable
    assert max(used.values()) < len(seeds) / 4  # no prompt takes over


def test_n_gives_distinct_ids_and_is_capped(shipped, seeds):
    seed = next(s for s in seeds if s["category"] == "coding")
    five = choose_prompts(seed, shipped, n=5)
    assert len(five) == 5 and len({p.id for p in five}) == 5
    everything = choose_prompts(seed, shipped, n=1000)
    assert len(everything) == len({p.id for p in everything}) < len(shipped)
    assert choose_prompts(seed, shipped, n=2) == five[:2]  # the first n of one fixed order
    assert choose_prompts(seed, shipped, n=0) == []


def test_seed_without_id_uses_question_and_language_from_hangul():
    ko = SystemPrompt("ko", "Answer in Korean.", languages=("ko",))
    en = SystemPrompt("en", "Answer in English.", languages=("en",))
    got = choose_prompts({"question": "호주의 수도는 어디인가요?", "category": "general"}, [ko, en], n=2)
    assert [p.id for p in got] == ["ko"]


def test_relaxed_fallback_when_nothing_matches():
    coding = SystemPrompt("coding", "Code.", categories=("coding",))
    ko_open = SystemPrompt("ko_open", "Korean, open.", kinds=("open",), languages=("ko",))
    seed = {"id": "x", "question": "What is 2 + 2?", "category": "math", "language": "en"}
    assert [p.id for p in choose_prompts(seed, [coding, ko_open], n=2)] == ["coding"]
    assert [p.id for p in choose_prompts(seed, [ko_open])] == ["ko_open"]  # last resort: any prompt
    with pytest.raises(UserError, match="no system prompts"):
        choose_prompts(seed, [])


def test_specific_prompts_are_preferred_over_general_ones():
    general = [SystemPrompt(f"g{i}", "General.") for i in range(3)]
    mc = SystemPrompt("mc", "Eliminate.", kinds=("multiple_choice",))
    seeds = [{"id": f"q{i}", "question": "Pick:\nA) x\nB) y", "category": "c"} for i in range(400)]
    firsts = Counter(choose_prompts(s, general + [mc])[0].id for s in seeds)
    # weight 2 against three of weight 1: mc comes first in 2/5 of seeds (a plain hash order: 1/4)
    assert 0.3 < firsts["mc"] / len(seeds) < 0.5
