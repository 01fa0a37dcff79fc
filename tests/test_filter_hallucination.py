import json
from pathlib import Path

import pytest

from imitate.text.answers import answer_key, matches_reference
from imitate.text.arithmetic import false_equations
from imitate.filters.hallucination import Hallucination

F = Hallucination()


def rec(q, a, **kw):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], **kw}


@pytest.mark.parametrize("text", [
    "12 × 7 = 80", "15 + 27 = 43.", "so 9 x 9 = 82", "6 * 7 = 41", "3 · 4 = 13", "20 / 4 = 6",
    "20 ÷ 4 = 4", "10 − 3 = 6", "10 - 3 = 8", "2 + 2 = 4 + 1 = 6", "$12 + $30 = $43",
    "\\(9 \\times 6 = 56\\)", "(2 + 3) × 4 = 21", "1,250 × 4 = 4,000", "**7 × 8 = 54**",
])
def test_false_equations_found(text):
    bad = false_equations(text)
    assert len(bad) == 1, (text, bad)


@pytest.mark.parametrize("text", [
    "12 × 7 = 84", "2 + 7 = 5 + 4 = 9", "22/7 = 3.14", "1/3 = 0.33", "100 / 3 = 33.333",
    "5 km = 5000 m", "2^10 = 1024", "1990-2000 = the nineties", "The war lasted 1939-1945 = 6 years.",
    "pages 10-20 = 11 pages", "1. 3 + 4 = 7", "2) 3 + 4 = 7", "x + 5 = 12", "2x + 3 = 7", "10 ÷ 3 = 3 remainder 1",
    "Level 1 = 100 points", "20% of 50 = 10", "On 2024-01-15 = Monday", "1 + 1 = 10 in binary",
    "\\frac{1}{2} + \\frac{1}{4} = 0.75", "12 * 7 = 84km/h", "3 cm × 4 cm = 12 cm²",
    "The score was 3-2 = a close game", "Meeting at 10:30 = 30 minutes later",
])
def test_not_equations_or_true(text):
    assert false_equations(text) == [], text


def test_false_equation_drops_with_the_equation_as_evidence():
    drop = F.check(rec("What is 12 × 7?", "Let me compute: 12 × 7 = 80. The answer is 80."))
    assert drop.code == "false_equation" and "12 × 7 = 80" in drop.evidence


def test_equations_in_code_blocks_are_ignored():
    code = "```python\nx = 5 + 3 = 9\n```\nThat line is a syntax error on purpose."
    assert F.check(rec("Show a syntax error.", code)) is None


@pytest.mark.parametrize("answer,ref,ok", [
    ("So the answer is 84.", "84", True),
    ("12 × 7 is 80, so there are 80 apples in the boxes.", "84", False),
    ("\\boxed{0.5}", "1/2", True),
    ("The probability is 50%.", "0.5", True),
    ("That is one half, or 1/2.", "50%", True),
    ("The answer is 0.333", "1/3", True),
    ("It ended in 1945, on September 2.", "1945", True),
    ("It ended in 1944.", "1945", False),
    ("The capital is Canberra, not Sydney.", "Canberra", True),
    ("The capital of Australia is Sydney.", "Canberra", False),
    ("수도는 서울입니다.", "서울", True),
    ("It costs $1,250.", "1250", True),
    ("There are eight planets.", "8", True),
    ("All but 9 run away, so the answer is not 9.", "9", False),   # a denied number is no answer
    ("The total isn't equal to 12; it is 14.", "12", False),
    ("Not all of them left: 9 remain.", "9", True),
    ("It is not 12 but 14.", "14", True),
])
def test_reference(answer, ref, ok):
    assert matches_reference(answer, ref)[0] is ok


def test_wrong_answer_drop():
    drop = F.check(rec("Capital of Australia?", "The capital of Australia is Sydney.", reference="Canberra"))
    assert drop.code == "wrong_answer" and "Canberra" in drop.evidence
    assert F.check(rec("Capital of Australia?", "Canberra.", reference="Canberra")) is None


def test_any_of_a_list_of_references_will_do():
    ask = "What type of clothing is a sou'wester?"
    assert F.check(rec(ask, "A sou'wester is a kind of hat.", reference=["Hats", "Hat"])) is None
    drop = F.check(rec(ask, "It is a coat.", reference=["Hats", "Hat"]))
    assert drop.code == "wrong_answer" and "'Hats | Hat'" in drop.evidence
    assert matches_reference("It is a hat.", ["Hats", "Hat"], strict=True) == (True, "It is a hat.")
    assert matches_reference("It is a coat.", ["Hats", "Hat"], strict=True)[0] is False


def test_truncated():
    assert F.check(rec("Q?", "Fine answer.", finish_reason="length")).code == "truncated"
    cut = ("Photosynthesis happens in two stages. The light reactions capture energy and split water, and "
           "then the Calvin cycle uses that energy to fix carbon dioxide into")
    assert F.check(rec("Explain photosynthesis.", cut)).code == "truncated"
    ko = "블랙홀은 중력이 매우 강한 천체입니다. 무거운 별이 붕괴하면 만들어지며 그 경계를 사건의 지평선이라고 부르는데 그 안쪽에서는 빛도"
    assert F.check(rec("블랙홀을 설명해 주세요.", ko)).code == "truncated"
    assert F.check(rec("Code?", "```python\ndef f():\n    return")).code == "truncated"


@pytest.mark.parametrize("answer", [
    "Paris", "Brazil, Peru and Chile", "- eggs\n- flour\n- milk with a lot of sugar in it and more stuff",
    "The answer is 42", "```python\nprint(1)\n```", "Done! 🎉", "| a | b |\n|---|---|\n| 1 | 2 |",
])
def test_not_truncated(answer):
    assert F.check(rec("Q?", answer)) is None


CUT = ("Photosynthesis happens in two stages. The light reactions capture energy and split water, and "
       "then the Calvin cycle uses that energy to fix carbon dioxide into")


def test_truncated_trusts_finish_reason():
    assert F.check(rec("Q?", CUT, finish_reason="stop")) is None
    assert F.check(rec("Q?", CUT, finish_reason="end_turn")) is None
    assert F.check(rec("Q?", "A complete answer.", finish_reason="max_tokens")).code == "truncated"
    drop = F.check(rec("Code?", "Here it is:\n```python\ndef f():\n    return 1\n", finish_reason="stop"))
    assert drop.code == "truncated" and "code block" in drop.evidence


@pytest.mark.parametrize("answer,sign", [
    ("Plants turn light into chemical energy through a process that scientists call photosyn-", "cut word"),
    ("Plants turn light into chemical energy, which they store in sugars (such as glucose and", "bracket"),
    ("Plants turn light into chemical energy, which they store in sugars such as glucose and", "'and'"),
    ("Plants turn light into chemical energy, and they store that energy in the", "'the'"),
    ("Plants turn light into chemical energy, and they store that energy together with", "'with'"),
    ("Plants turn light into chemical energy. They store that energy in sugars such as glucose,", "','"),
    ("Plants need three things to turn light into chemical energy. Here they are:", "':'"),
    ("Plants need three things to make sugar from light:\n1. Sunlight for the energy.\n2.", "empty item"),
    ("식물은 빛을 화학 에너지로 바꿉니다. 이 과정에서 이산화탄소와 물을 이용해 포도당을", "particle"),
])
def test_truncated_strong_signs_without_finish_reason(answer, sign):
    drop = F.check(rec("How do plants make food?", answer))
    assert drop is not None and drop.code == "truncated" and sign in drop.evidence, (answer, drop)


@pytest.mark.parametrize("answer", [
    "He writes 2 letters of 6 pages each week, so he writes 12*52=624 pages a year",       # equation
    "Thank you for your kind invitation, I will gladly attend.\n\nYours sincerely, AI",       # signature
    "Here are three ideas for the weekend:\n1. Visit a museum\n2. Go hiking in the hills",   # list item
    "To look him up, call the search tool with his full name:\nwikipedia('Albert Einstein')",  # tool call
    "The car moves 10 minutes between the two angles, so it takes 5(1 + √3) minutes\nAnswer : A",
    "Both tasks are independent, so the probability of passing both is 0.8 x 0.5 = 0.4\nAnswer is A",
    "Renewable Energy Sources are the Future of the United States of America",                 # a title
    "Fresh summer jam made with the ripest berries of the season #homemade #delicious",         # hashtags
    "Add one cup of flour to the bowl and stir until smooth :(",                              # emoticon
])
def test_complete_answers_without_a_full_stop_are_kept(answer):
    assert F.check(rec("Q?", answer)) is None, answer


def group(answers, seed="s1"):
    return [rec("How many?", a, seed_id=seed) for a in answers]


def test_consistency_minority_and_no_consensus():
    recs = group(["The answer is 48.", "6 × 8 = 48", "**48**", "The answer is 54."])
    drops = F.check_all(recs)
    assert list(drops) == [3] and drops[3].code == "minority_answer" and "48" in drops[3].evidence
    recs = group(["The answer is 30.", "The answer is 32.", "The answer is 36."], seed="s2")
    drops = F.check_all(recs)
    assert sorted(drops) == [0, 1, 2] and {d.code for d in drops.values()} == {"no_consensus"}


def test_consistency_needs_three_and_ignores_free_text():
    assert F.check_all(group(["The answer is 48.", "The answer is 54."])) == {}
    essays = group(["Rome fell slowly.", "Many causes.", "Economic decline mattered most."])
    assert F.check_all(essays) == {}
    assert answer_key("It is 50%.") == answer_key("The answer is 1/2.") == "0.5"


@pytest.mark.parametrize("text", [
    "30% of 90 = 0.3 × 90 = 27.", "25% of 80 = 20", "12 percent of 50 = 6", "75% = 0.75", "3/4 = 75%",
    "2/5 = 40％", "half of 10 + 4 = 9", "3 times 5 + 2 = 17", "2 ^ 4 + 1 = 17",
])
def test_percentages_and_mid_expression_sides_are_not_false(text):
    assert false_equations(text) == [], text


def test_percent_of_is_read_as_a_product():
    bad = false_equations("30% of 90 = 30")
    assert len(bad) == 1 and "left side is 27" in bad[0]


def test_the_sum_of_an_expression_is_still_checked():
    assert len(false_equations("The sum of 5 + 6 = 12.")) == 1


@pytest.mark.parametrize("text,wrong", [
    ("그러므로 7 × 9 = 56입니다.", True), ("그러므로 7 × 9 = 63입니다.", False),
    ("5 + 8 = 14이므로 답은 14예요.", True), ("9 × 4 = 36개", False), ("9 × 4 = 35個です", True),
    ("40000 × 3 = 12만 원", False), ("1 ÷ 5 = 20퍼센트", False), ("1 ÷ 4 = 4분의 1", False),
    ("4000 × 3 = 12 thousand", False),
])
def test_numbers_followed_by_cjk_end_the_side(text, wrong):
    assert bool(false_equations(text)) is wrong, (text, false_equations(text))


MC = "A train covers 90 km in 1.5 hours. What is its speed?\n\nA)45 km/h\nB)60 km/h\nC)75 km/h\nD)90 km/h"


@pytest.mark.parametrize("answer,ref,ok", [
    ("90 / 1.5 = 60\nAnswer: B", "B", True),
    ("90 / 1.5 = 60\nANSWER:B", "B", True),
    ("Speed = distance / time = 90 / 1.5 = 60 km/h", "B", True),        # no letter: the value of B
    ("Speed = distance / time = 90 / 1.5 = 60 km/h", "(B)", True),
    ("Let's check each answer choice: (A) is too slow. The speed is 60 km/h, so (B) is right.", "B", True),
    ("It goes 90 km in an hour and a half.", "B", True),               # names no option: no contradiction
    ("90 / 1.5 = 60\nAnswer: C", "B", False),                          # picks another letter
    ("Speed = 90 / 1.2 = 75 km/h", "B", False),                        # states another option's value
])
def test_multiple_choice_reference(answer, ref, ok):
    assert matches_reference(answer, ref, MC)[0] is ok


@pytest.mark.parametrize("answer,ref,question,lenient,strict", [
    ("It goes 90 km in an hour and a half.", "B", MC, True, False),   # picks nothing: no contradiction, no answer
    ("The Roman Empire. The Roman Empire.", "B", "Who was a Roman emperor?\nA) Nero\nB) Augustus", True, False),
    ("90 / 1.5 = 60\nAnswer: B", "B", MC, True, True),
    ("90 / 1.5 = 60\nFinal Answer:\nB", "B", MC, True, True),       # the pick on the line after the label
    ("90 / 1.5 = 60. The Answer is, B.", "B", MC, True, True),
    ("Speed = 90 / 1.5 = 60 km/h", "B", MC, True, True),                 # states B's value
    ("Speed = 90 / 1.2 = 75 km/h", "B", MC, False, False),
    ("Speed = 90 / 1.5 = 60 km/h", "D", MC, True, False),               # 90 is D's value, but 60 is B's
    ("not 60 km/h; it is 75 km/h", "B", MC, True, False),               # the filter: B is stated, kept
    ("**B**", "B", MC, True, True),                                      # a last line that is only the letter
    ("B) 60 km/h", "B", MC, True, True),                                 # no pick, but B's value alone
    ("ANS:D", "B", MC, False, False),
    ("Hence, answer will be B.", "B", MC, True, True),
    ("A number that is 10.", "A", MC, True, False),                       # the article, not a pick
    ("The answer is:", "?", "Which mark ends a direct question?", True, False),   # no letters: as written
    ("Is it a full stop?", "?", "Which mark ends a direct question?", True, False),  # a question's own end
    ("A direct question ends with a question mark: ?", "?", "Which mark ends a direct question?", True, True),
])
def test_strict_reference_needs_the_answer_stated(answer, ref, question, lenient, strict):
    # the filter drops only what contradicts the reference; eval's accuracy counts only what states it
    assert matches_reference(answer, ref, question)[0] is lenient
    assert matches_reference(answer, ref, question, strict=True)[0] is strict


def test_strict_reference_on_crowd_written_rationales():
    # AQuA-RAT (public, every rationale right): eval's strict accuracy counts nearly all of them right,
    # and almost none right for a letter that is not the reference
    path = Path(__file__).parent / "fixtures/real/aqua_rat_test_sample.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    hits = [matches_reference(r["messages"][1]["content"], r["reference"], r["messages"][0]["content"],
                              strict=True)[0] for r in rows]
    assert len(hits) == 200 and sum(hits) >= 195, sum(hits)
    wrong = [matches_reference(r["messages"][1]["content"], letter, r["messages"][0]["content"], strict=True)[0]
             for r in rows for letter in "ABCDE" if letter != r["reference"]]
    assert len(wrong) == 800 and sum(wrong) <= 8, sum(wrong)   # another letter almost never counts


def test_options_of_a_question():
    from imitate.text.answers import options
    assert options(MC) == {"A": "45 km/h", "B": "60 km/h", "C": "75 km/h", "D": "90 km/h"}
    assert options("Pick one: (A) red (B) blue (C) green") == {"A": "red", "B": "blue", "C": "green"}
    assert options("Read this:\nA. Smith wrote it. Who wrote it?") == {}
    # a letter reference without options in the question stays a plain string
    assert matches_reference("Plan B is better.", "B")[0] is True


def test_multiple_choice_drop_in_the_filter():
    assert F.check(rec(MC, "90 / 1.5 = 60 km/h", reference="B")) is None
    drop = F.check(rec(MC, "90 / 1.5 = 60\nAnswer: D", reference="B"))
    assert drop is not None and drop.code == "wrong_answer"
