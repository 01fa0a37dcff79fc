import pytest

from imitate.filters.too_short import TooShort

F = TooShort()


def rec(q, a, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return {"messages": msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


@pytest.mark.parametrize("q,a", [
    ("Explain how a bicycle gear works.", "It changes the ratio."),
    ("Compare Rust and Go for web servers.", "Both are fast."),
    ("Why does ice float on water?", "Because of density."),
    ("Write a limerick about a cat.", "A cat sat."),
    ("인공지능의 장단점을 자세히 설명해 주세요.", "편리합니다."),
    ("¿Por qué llueve?", "Por las nubes."),
])
def test_too_short_for_the_question(q, a):
    drop = F.check(rec(q, a))
    assert drop is not None and drop.code == "words"
    assert "needs" in drop.evidence


def test_step_by_step_system_message_demands_working():
    drop = F.check(rec("What is 17 + 8?", "25.", system="Think step by step and show your work."))
    assert drop and drop.code == "words" and "system message" in drop.evidence
    ok = "Add the ones: 7 + 8 = 15, carry 1. Add the tens: 1 + 1 = 2. So 17 + 8 = 25."
    assert F.check(rec("What is 17 + 8?", ok, system="Think step by step and show your work.")) is None


@pytest.mark.parametrize("q,a", [
    ("What is the capital of Japan?", "Tokyo."),
    ("In one word, what colour is the sky on a clear day?", "Blue"),
    ("How many legs does a spider have? Just the number.", "8"),
    ("Is 7 a prime number? Answer yes or no.", "Yes"),
    ("일본의 수도는 어디인가요? 한 단어로 답하세요.", "도쿄"),
    ("Explain why the sky is blue in one word.", "Scattering"),
    ("How do you say 'cat' in French?", "Chat."),
])
def test_short_answers_that_are_enough(q, a):
    assert F.check(rec(q, a)) is None


def test_korean_is_counted_in_characters():
    long_ko = "빛의 산란 때문입니다. 태양빛이 대기 분자와 부딪히면 파장이 짧은 파란빛이 더 많이 흩어져 하늘 전체에서 보입니다."
    assert F.check(rec("하늘이 파란 이유를 설명해 주세요.", long_ko)) is None
    assert F.thresholds()["explain_words"] == F.explain_words


@pytest.mark.parametrize("q,a", [
    ("Write a SQL query that lists the customers who live in Seoul.",
     "SELECT * FROM customers WHERE city = 'Seoul';"),
    ("Write a shell command to show all files, hidden ones too, in detail.", "ls -la"),
    ("Explain how to reverse a string in JavaScript. Write a function to demonstrate.",
     "function reverse(s) {\n  return s.split('').reverse().join('');\n}"),
    ("Write a Python function that sorts a list from large to small.",
     "def desc(xs):\n    return sorted(xs, reverse=True)"),
    ("Call the weather tool for Seoul and describe what you send.",
     '{"name": "get_weather", "arguments": {"city": "Seoul"}}'),
    ("Explain how to look up the weather in detail.", 'get_weather(city="Seoul")'),
    ("Write a bash script that makes a folder and enters it.", "#!/bin/bash\nmkdir project\ncd project"),
    ("Describe the fix.", "```python\nx = 1\n```"),
    ("Fix the following object literal and return the fixed code.",
     "const car = {\n  'make': 'Kia',\n  'model': 'Rio',\n  'year': 2020\n};"),
])
def test_code_queries_calls_and_commands_need_no_prose(q, a):
    assert F.check(rec(q, a)) is None


def test_a_formula_alone_answers_a_request_for_one_but_not_an_explanation():
    assert F.check(rec("Write an equation for the change in temperature.", "ΔT = T2 - T1")) is None
    drop = F.check(rec("Explain the theory of special relativity.", "E=mc²."))
    assert drop is not None and drop.code == "words"


@pytest.mark.parametrize("q,a", [
    ("Rewrite this sentence in the active voice.\n\nThe ball was thrown by Sam.", "Sam threw the ball."),
    ("Sort these numbers from high to low: 9, -7, 15, 12", "15, 12, 9, -7"),
    ("Generate a headline for the following article.\n\nCities plan more bike lanes.", "Cities Bet on Bikes"),
    ("Generate a password of 8 characters.", "e9gKyd2D"),
    ("Create a title for a story about a lost dog.", "Finding Biscuit"),
    ("Describe the color red in 3 words.", "Bold, warm, urgent."),
    ("Generate three verbs that mean to run.", "Sprint, dash, race."),
    ("다음 문장을 더 간결하게 다시 작성하세요.\n\n나는 오늘 아침에 학교에 걸어서 갔습니다.", "오늘 아침 걸어서 등교했다."),
    ("Analyze the tone of the following sentence.\n\nI can't believe you did that!",
     "The tone of this sentence is angry and accusatory."),
])
def test_short_by_nature(q, a):
    assert F.check(rec(q, a)) is None


def test_a_named_count_caps_the_demand_but_still_counts():
    drop = F.check(rec("List five tips for staying productive at home.", "Make a schedule."))
    assert drop is not None and "names 5" in drop.evidence
    assert F.check(rec("Write a short story about a lost robot.", "The robot was lost. Then found.")) is not None
